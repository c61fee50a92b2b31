"""witnesses.json: the audit's verdict as something anyone can check with arithmetic (``python -m foikit.proofcheck``).

For every withheld cell that can take every value the rule requires (every small count among them), whole
tables consistent with everything the part publishes in which it takes those values (:mod:`foikit.sdc.witness`).
They are found from the published figures only, so the file discloses nothing the publication does not: it is
published beside audit.json. The format is described in the README ("Witnesses").
"""

from __future__ import annotations

import json
import time
import weakref
from pathlib import Path

import numpy as np

from foikit.layout import WITNESSES_JSON
from foikit.ledger.joint import JointSystem
from foikit.publish.leakcheck import check_witnesses
from foikit.response import PartResult, Response
from foikit.sdc.witness import WitnessSet, find_witnesses
from foikit.suppress import is_small

FORMAT = "foikit-witnesses/1"
# one computation per response (the record shows it, write_publishable writes it): id -> (response, record,
# per part its witnesses and stats)
_cache: dict[int, tuple[weakref.ref, dict, list[tuple[WitnessSet, dict]]]] = {}


def published_bounds(part: PartResult, response: Response) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(lo, hi, candidates) per cell of ``part``: what its publication says of each, and the cells whose
    witnesses are sought (withheld ones; under rounding, those whose band meets the small range)."""
    policy = response.policy
    cells = part.cells
    hidden = cells["hidden"].to_numpy(dtype=bool)
    if policy.rounding is not None:
        base = policy.rounding
        rounded = cells["shown"].astype(np.int64).to_numpy()
        lo = np.maximum(0, rounded - base // 2).astype(float)
        hi = (rounded + (base - 1) // 2).astype(float)
        return lo, hi, (lo <= policy.threshold - 1) & (hi >= 1)
    stated = policy.stated_ranges()
    # what is published, as published: a figure's text, a withheld one's marker (never its count)
    shown = [(v, v) if not h else stated[m] for v, m, h in
             zip((float(x) if x.isdigit() else np.nan for x in cells["shown"]), cells["marker"], hidden, strict=True)]
    lo = np.array([b[0] for b in shown], dtype=float)
    hi = np.array([b[1] for b in shown], dtype=float)
    return lo, hi, hidden


def part_witnesses(part: PartResult, response: Response) -> tuple[dict, WitnessSet]:
    """The part's entry of witnesses.json, and the witnesses it was made from."""
    lo, hi, candidates = published_bounds(part, response)
    model = part.audit.model
    small = is_small(part.cells["value"].to_numpy(), response.policy.threshold)
    # the true counts only name which cells must come out covered (a check), never what the MILP starts from
    found = find_witnesses(model, lo, hi, candidates, response.policy.protection_rule, must=small & candidates)
    base, diffs = _sparse(found, model.n_vars)
    cells = part.cells
    required = []
    for i, ks in found.covering.items():
        dims = part.table_spec(cells["table"].iat[i]).dims
        required.append([cells["table"].iat[i], {d: cells[d].iat[i] for d in dims}, ks])
    entry = {"part": part.spec.name,
             "dims": {d: list(model.categories[d]) for d in model.dims},
             "blocks": [list(b.dims) for b in model.blocks],
             "base": base, "witnesses": diffs, "required": required}
    return entry, found


def _sparse(found: WitnessSet, n_vars: int) -> tuple[list[int], list[list[int]]]:
    """Witness 0 whole, every other as (index, value) pairs where it differs from witness 0."""
    base = found.witnesses[0] if found.witnesses else np.zeros(n_vars, np.int64)
    diffs = []
    for w in found.witnesses:
        at = np.flatnonzero(w != base)
        diffs.append([int(v) for pair in zip(at, w[at], strict=True) for v in pair])
    return [int(v) for v in base], diffs


def joint_witnesses(system: JointSystem, parts: list[PartResult], response: Response
                    ) -> tuple[dict, WitnessSet | None]:
    """The witnesses of ``parts`` together with the earlier responses they were audited with: over the cells of
    the finest partition of all their definitions, every earlier figure as it was published (a value, or its
    marker's band), every structural zero at 0.

    The joint audit widens an earlier figure that today's data contradicts to include today's count; witnesses
    do not, since the widened band would publish today's count of an earlier definition. Where no witnesses
    satisfy the figures as published (the data changed since), the entry says so instead (``omitted``)."""
    bounds = [published_bounds(part, response) for part in parts]
    n_new = sum(len(b[0]) for b in bounds)
    v = system.values.astype(float)
    lo, hi = system.stated_lo.copy(), system.stated_hi.copy()
    lo[:n_new] = np.concatenate([b[0] for b in bounds])
    hi[:n_new] = np.concatenate([b[1] for b in bounds])
    candidates = np.zeros(len(v), bool)
    candidates[:n_new] = np.concatenate([b[2] for b in bounds])
    must = candidates & (system.values >= 1) & (system.values < response.policy.threshold)
    model = system.model
    refs = list(dict.fromkeys(ref for ref, *_ in system.ids[n_new:] if ref != response.request.ref))
    try:
        found = find_witnesses(model, lo, hi, candidates, response.policy.protection_rule, must=must)
    except ValueError:
        changed = int(((v < system.stated_lo) | (v > system.stated_hi))[n_new:].sum())
        return {"parts": [p.spec.name for p in parts], "refs": refs,
                "omitted": f"no witnesses satisfy the {changed} earlier figures that changed since they were "
                           "published together with this response; the joint audit widened them to today's "
                           "counts, which witnesses would publish"}, None
    base, diffs = _sparse(found, model.n_vars)

    position = {a: {label: k for k, label in enumerate(model.categories[a])} for a in model.dims}

    def where(i: int) -> dict[str, list[int]]:  # the partition cells it sums: per axis, positions in "axes"
        return {a: sorted(position[a][x] for x in c) for a, c in model.cells[i][1].items() if c is not None}

    own = [[part, table, coords, where(i)] for i, (_, part, table, coords) in enumerate(system.ids[:n_new])]
    earlier = [[ref, part, table, coords, where(i), int(lo[i]), None if np.isinf(hi[i]) else int(hi[i])]
               for i, (ref, part, table, coords) in enumerate(system.ids) if i >= n_new]
    required = [[system.ids[i][1], system.ids[i][2], system.ids[i][3], ks] for i, ks in found.covering.items()]
    entry = {"parts": [p.spec.name for p in parts],
             "refs": refs,
             "axes": {a: list(model.categories[a]) for a in model.dims},
             "blocks": [list(b.dims) for b in model.blocks], "base": base, "witnesses": diffs,
             "own": own, "earlier": earlier, "required": required}
    return entry, found


def witnesses_record(response: Response) -> dict:
    """witnesses.json as data (computed once per response)."""
    return _computed(response)[0]


def part_witness_sets(response: Response) -> list[tuple[WitnessSet, dict]]:
    """Per part: its witnesses, and their stats (MILP solves, witnesses, candidates, seconds)."""
    return _computed(response)[1]


def _computed(response: Response) -> tuple[dict, list[tuple[WitnessSet, dict]]]:
    hit = _cache.get(id(response))
    if hit is not None and hit[0]() is response:
        return hit[1], hit[2]
    policy = response.policy
    rule = policy.protection_rule
    parts: list[dict] = []
    stats: list[tuple[WitnessSet, dict]] = []
    for part in response.parts:
        t0 = time.perf_counter()
        entry, found = part_witnesses(part, response)
        parts.append(entry)
        stats.append((found, {**found.stats, "seconds": round(time.perf_counter() - t0, 3)}))
    joint = []
    for system, names in response.ledger.systems if response.ledger is not None else ():
        t0 = time.perf_counter()
        entry, joint_found = joint_witnesses(system, [response.part(n) for n in names], response)
        joint.append(entry)
        if joint_found is not None:
            stats.append((joint_found, {**joint_found.stats, "seconds": round(time.perf_counter() - t0, 3),
                                        "joint": True}))
    record = {"format": FORMAT, "ref": response.request.ref,
              "rule": {"kind": rule.kind, "threshold": rule.threshold, "width": rule.min_width},
              "primary_marker": None if policy.rounding else policy.marker,
              "markers": {} if policy.rounding else {m: [int(lo), None if np.isinf(hi) else int(hi)]
                                                     for m, (lo, hi) in policy.stated_ranges().items()},
              "rounding": policy.rounding, "parts": parts, "joint": joint}
    for key in [k for k, v in _cache.items() if v[0]() is None]:  # responses gone
        del _cache[key]
    _cache[id(response)] = (weakref.ref(response), record, stats)
    return record, stats


def _compact(value: object) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def dumps(record: dict) -> str:
    """Deterministic text: the structure indented, each witness and each listed cell on a line of its own."""
    lines = []
    for k, value in record.items():
        if k not in ("parts", "joint"):
            lines.append(f" {json.dumps(k)}: {json.dumps(value, ensure_ascii=False)}")
            continue
        entries = []
        for entry in value:
            fields = []
            for f, x in entry.items():
                if f in ("witnesses", "required", "own", "earlier") and x:
                    fields.append(f"   {json.dumps(f)}: [\n" + ",\n".join(f"    {_compact(i)}" for i in x) + "\n   ]")
                else:
                    fields.append(f"   {json.dumps(f)}: {_compact(x)}")
            entries.append("  {\n" + ",\n".join(fields) + "\n  }")
        lines.append(f" {json.dumps(k)}: [" + ("\n" + ",\n".join(entries) + "\n ]" if entries else "]"))
    return "{\n" + ",\n".join(lines) + "\n}\n"


def write_witnesses_json(response: Response, out_dir: Path) -> Path:
    text = dumps(witnesses_record(response))
    published = response.published().to_csv(index=False, lineterminator="\n")  # as write_published_csv writes it
    check_witnesses(text, published, response, WITNESSES_JSON)
    path = Path(out_dir) / WITNESSES_JSON
    path.write_text(text, encoding="utf-8")
    return path
