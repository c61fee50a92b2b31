"""foikit: answer statistical Freedom of Information requests reproducibly and safely.

The public API, in the order a template uses it:

>>> import foikit
>>> request = foikit.load_request("params/01.FOI.23.032341.yaml")   # doctest: +SKIP
>>> data = foikit.open_source(request.data, request.template)        # doctest: +SKIP
>>> response = foikit.answer(request, data)                          # doctest: +SKIP
>>> response.part("domestic_abuse").published_table("by_outcome")    # doctest: +SKIP
>>> response.passed            # the disclosure audit: no small count can be worked out  # doctest: +SKIP
True
>>> foikit.write_publishable(response, "out/")                      # doctest: +SKIP
>>> earlier = foikit.load_ledger("reports/")    # everything published  # doctest: +SKIP
>>> foikit.answer(request, data, ledger=earlier).ledger.constrained   # doctest: +SKIP
()

``foikit.run_request("params/<ref>.yaml")`` does all of it through the notebook template and writes
reports/<ref>/ (what ``foikit run`` calls).
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

from foikit.audit import AuditResult, ProtectionRule, audit
from foikit.cube import Cube, count_cube
from foikit.dictionary import Dictionary, load_dictionary
from foikit.display import show_ledger, show_part, show_request, show_source, show_suppression, suppression_log
from foikit.exceptions import DataError, DisclosureError, FoikitError, ParamsError, ReportError
from foikit.joint import LedgerCheck, audit_entry, check_against_ledger
from foikit.ledger import Ledger, entry_of, load_ledger
from foikit.linear import LinearModel, build_model
from foikit.params import Request, load_request, parse_request
from foikit.publish import audit_record, check_audit, check_no_leak, write_publishable
from foikit.response import PartResult, Response, answer
from foikit.secondary import Pattern, SecondaryPolicy, UnprotectableError, protect
from foikit.sources import CaseData, open_source, read_cases
from foikit.suppress import Protection, apply_primary, is_small, protect_part
from foikit.tables import pivot, table_cells

try:
    __version__ = version("foikit")
except PackageNotFoundError:  # running from a source tree without installing
    __version__ = "0+unknown"

__all__ = [
    "AuditResult", "CaseData", "Cube", "DataError", "Dictionary", "DisclosureError", "FoikitError", "Ledger",
    "LedgerCheck", "LinearModel", "ParamsError", "PartResult", "Pattern", "Protection", "ProtectionRule",
    "ReportError", "Request", "Response", "SecondaryPolicy", "UnprotectableError", "__version__", "answer",
    "apply_primary", "audit", "audit_entry", "audit_record", "build_model", "check_against_ledger", "check_audit",
    "check_no_leak", "count_cube", "entry_of", "is_small", "load_dictionary", "load_ledger", "load_request",
    "open_source", "parse_request", "pivot", "protect", "protect_part", "read_cases", "show_ledger", "show_part",
    "show_request", "show_source", "show_suppression", "suppression_log", "table_cells", "write_publishable",
]
