"""`foikit check-proof reports/<ref>`: the report's witnesses checked against its published.csv.

The arithmetic is the stand-alone checker's (:mod:`foikit.proofcheck`, which imports nothing of foikit);
this adds what needs the reports folder: that the witnesses state the policy the report's recorded params
name (rule, threshold, markers' bands, rounding), so that the checker's bands are the publication's own, and
that the joint witnesses list every figure of each earlier part they use as the earlier report beside it
published it (its value, or its marker's band).
"""

from __future__ import annotations

import csv
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


def _stated(folder: Path, policy: Policy) -> dict[str, tuple]:
    """Each row of the earlier report's published.csv: key -> (what it states, lo, hi)."""
    out = {}
    with (folder / PUBLISHED_CSV).open(encoding="utf-8", newline="") as f:
        for row in csv.DictReader(f):
            dims = {d: v for d, v in row.items() if d not in ("part", "table", "value", "marker") and v != ""}
            band: tuple[int, int | None]
            if row["value"] != "":
                v, base = int(row["value"]), policy.rounding or 0
                band = (max(0, v - base // 2), v + (base - 1) // 2) if base else (v, v)
            else:
                lo, hi = policy.stated_ranges().get(row["marker"], (0.0, np.inf))
                band = (int(lo), None if np.isinf(hi) else int(hi))
            out[json.dumps([row["part"], row["table"], dims], sort_keys=True)] = (row["value"] or row["marker"], *band)
    return out


def _unlisted(published: dict[str, dict[str, tuple] | None], listed: set[tuple[str, str]], seen: set[str]
              ) -> list[str]:
    """Figures of an earlier part the witnesses use that they do not list: every one must hold."""
    out = []
    for ref, rows in published.items():
        for key in rows or {}:
            part, table, coords = json.loads(key)
            if (ref, part) in listed and json.dumps([ref, key]) not in seen:
                out.append(f"{ref} {part}/{table}{coords}: published, but not among the joint witnesses' figures")
    return out


def _earlier_problems(report: Path, head: dict) -> list[str]:
    out: list[str] = []
    published: dict[str, dict[str, tuple] | None] = {}
    listed: set[tuple[str, str]] = set()
    seen: set[str] = set()
    for joint in head.get("joint") or []:
        for ref, part, table, coords, _, lo, hi in joint.get("earlier", []):
            label = f"{ref} {part}/{table}{coords}"
            listed.add((ref, part))
            if table is None:  # a breakdown's rows outside its categories: none, as its total says
                if (lo, hi) != (0, 0):
                    out.append(f"{report / WITNESSES_JSON}: {ref} {part}: rows outside its categories taken as {lo} "
                               f"to {hi}, not 0")
                continue
            if ref not in published:
                folder = report.parent / ref
                try:
                    earlier = parse_request(read_yaml(folder / PARAMS_COPY, "recorded params"), str(folder))
                    published[ref] = _stated(folder, Policy.of(earlier))
                except (FoikitError, OSError, ValueError, KeyError) as exc:
                    out.append(f"{folder}: cannot confirm the earlier figures the witnesses list ({exc})")
                    published[ref] = None
            rows = published[ref]
            if rows is None:
                continue
            key = json.dumps([part, table, {d: v for d, v in coords.items() if v != ""}], sort_keys=True)
            seen.add(json.dumps([ref, key]))
            if key not in rows:
                out.append(f"{label}: not a figure of {report.parent / ref / PUBLISHED_CSV}")
                continue
            shown, s_lo, s_hi = rows[key]
            if (lo, hi) != (s_lo, s_hi):  # as published: witnesses never widen a figure
                out.append(f"{label}: the witnesses take it as {lo} to {hi}, but {ref} published {shown} "
                           f"({s_lo} to {s_hi})")
    return out + _unlisted(published, listed, seen)


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
        out += _earlier_problems(report, head)
    except (ValueError, KeyError, TypeError) as exc:
        out.append(f"{witnesses}: its earlier figures cannot be read ({type(exc).__name__}: {exc})")
    try:
        out += proofcheck.check(published.read_text(encoding="utf-8"), text)
    except (ValueError, KeyError, TypeError, IndexError, AttributeError) as exc:
        out.append(f"{witnesses}: cannot be read as witnesses ({type(exc).__name__}: {exc})")
    return out


def proof_notes(report: str | Path) -> list[str]:
    """What the witnesses do not prove, and say so: joint proofs left out (the data changed since)."""
    try:
        head = json.loads((Path(report) / WITNESSES_JSON).read_text(encoding="utf-8"))
        return [f"not proved together with {', '.join(j['refs'])}: {j['omitted']}"
                for j in head.get("joint") or [] if "omitted" in j]
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return []
