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

# What a template calls, imported on first use (PEP 562): `import foikit` and the CLI start in well under a
# second, so `--help`, params validation and the signal handlers come before pandas, scipy and the kernel
# machinery load. Everything else is reached by its subpackage (foikit.sdc, foikit.cube, ...).
_MODULES = {
    "foikit.request.params": ["Request", "load_request", "parse_request"],
    "foikit.request.dictionary": ["load_dictionary"],
    "foikit.source.data": ["open_source"],
    "foikit.ledger.store": ["load_ledger"],
    "foikit.response": ["Response"],
    "foikit.ledger.joint": ["answer"],
    "foikit.publish.files": ["write_publishable"],
    "foikit.publish.display": ["show_ledger", "show_part", "show_request", "show_source", "show_suppression"],
    "foikit.exceptions": ["DataError", "DisclosureError", "FoikitError", "ParamsError", "ReportError"],
}
_API = {name: module for module, names in _MODULES.items() for name in names}


try:
    __version__ = version("foikit")
except PackageNotFoundError:  # running from a source tree without installing
    __version__ = "0+unknown"

__all__ = sorted([*_API, "__version__"])  # the template API; everything else by subpackage


def __getattr__(name: str) -> object:
    module = _API.get(name)
    if module is None:
        raise AttributeError(f"module 'foikit' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # once imported, an ordinary attribute
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_API))
