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

import importlib
from importlib.metadata import PackageNotFoundError, version

# Imported on first use (PEP 562): `import foikit` and the CLI start in well under a second, so `--help`,
# params validation and the signal handlers come before pandas, scipy and the kernel machinery load.
_API = {
    "AuditResult": "foikit.audit", "CaseData": "foikit.sources", "Cube": "foikit.cube",
    "DataError": "foikit.exceptions", "Dictionary": "foikit.dictionary", "DisclosureError": "foikit.exceptions",
    "FoikitError": "foikit.exceptions", "Ledger": "foikit.ledger", "LedgerCheck": "foikit.joint",
    "LinearModel": "foikit.linear", "ParamsError": "foikit.exceptions", "PartResult": "foikit.response",
    "Pattern": "foikit.secondary", "Protection": "foikit.suppress", "ProtectionRule": "foikit.audit",
    "ReportError": "foikit.exceptions", "Request": "foikit.params", "Response": "foikit.response",
    "SecondaryPolicy": "foikit.secondary", "UnprotectableError": "foikit.secondary", "answer": "foikit.response",
    "apply_primary": "foikit.suppress", "audit": "foikit.audit", "audit_entry": "foikit.joint",
    "audit_record": "foikit.publish", "build_model": "foikit.linear", "check_against_ledger": "foikit.joint",
    "check_audit": "foikit.publish", "check_no_leak": "foikit.publish", "count_cube": "foikit.cube",
    "entry_of": "foikit.ledger", "is_small": "foikit.suppress", "load_dictionary": "foikit.dictionary",
    "load_ledger": "foikit.ledger", "load_request": "foikit.params", "open_source": "foikit.sources",
    "parse_request": "foikit.params", "pivot": "foikit.tables", "protect": "foikit.secondary",
    "protect_part": "foikit.suppress", "read_cases": "foikit.sources", "show_ledger": "foikit.display",
    "show_part": "foikit.display", "show_request": "foikit.display", "show_source": "foikit.display",
    "show_suppression": "foikit.display", "suppression_log": "foikit.display", "table_cells": "foikit.tables",
    "write_publishable": "foikit.publish",
}


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


def __getattr__(name: str) -> object:
    module = _API.get(name)
    if module is None:
        raise AttributeError(f"module 'foikit' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # once imported, an ordinary attribute
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_API))
