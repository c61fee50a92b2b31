"""`foikit check-proof reports/<ref>`: the report's witnesses checked against its published.csv.

The arithmetic is the stand-alone checker's (:mod:`foikit.proofcheck`, which imports nothing of foikit);
this adds what needs the report folder: that the witnesses state the policy the report's recorded params
name (rule, threshold, markers' bands, rounding), so that the checker's bands are the publication's own.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from foikit import proofcheck
from foikit.exceptions import FoikitError
from foikit.layout import PARAMS_COPY, PUBLISHED_CSV, WITNESSES_JSON
from foikit.request.params import parse_request, read_yaml
from foikit.request.policy import Policy


def _policy_problems(head: dict, policy: Policy, where: Path) -> list[str]:
    rule = policy.protection_rule
    markers = {} if policy.rounding else {m: [int(lo), None if np.isinf(hi) else int(hi)]
                                          for m, (lo, hi) in policy.stated_ranges().items()}
    expected = {"rule": {"kind": rule.kind, "threshold": rule.threshold, "width": rule.min_width},
                "primary_marker": None if policy.rounding else policy.marker, "markers": markers,
                "rounding": policy.rounding}
    return [f"{where}: states {k} {head.get(k)!r}, but the report's {PARAMS_COPY} gives {v!r}"
            for k, v in expected.items() if head.get(k) != v]


def check_report(report: str | Path) -> list[str]:
    """Every reason the report's witnesses do not prove its audit, one line each (empty: they do)."""
    report = Path(report)
    witnesses, published = report / WITNESSES_JSON, report / PUBLISHED_CSV
    for path in (published, witnesses):
        if not path.is_file():
            return [f"{path}: missing"]
    text = witnesses.read_text(encoding="utf-8")
    try:
        head = json.loads(text)
        if not isinstance(head, dict):
            raise ValueError("not an object")
    except ValueError as exc:
        return [f"{witnesses}: not JSON ({exc})"]
    out: list[str] = []
    try:
        request = parse_request(read_yaml(report / PARAMS_COPY, "recorded params"), str(report / PARAMS_COPY))
        out += _policy_problems(head, Policy.of(request), witnesses)
    except FoikitError as exc:
        out.append(f"{report / PARAMS_COPY}: cannot be read ({str(exc).splitlines()[0]})")
    try:
        out += proofcheck.check(published.read_text(encoding="utf-8"), text)
    except (ValueError, KeyError, TypeError, IndexError, AttributeError) as exc:
        out.append(f"{witnesses}: cannot be read as witnesses ({type(exc).__name__}: {exc})")
    return out
