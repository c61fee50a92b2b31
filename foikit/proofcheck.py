"""Check a response's witnesses against its published.csv, with whole-number arithmetic and nothing else.

    python -m foikit.proofcheck published.csv witnesses.json

Stand-alone on purpose (standard library only, no other foikit module): what it checks can be read in a
sitting. Every relation comes from published.csv itself: a row is the sum of the cells its coordinates name
(an empty dimension sums over it), equal to its value, within its rounding band, or within its marker's band.
witnesses.json only supplies the tables (README, "Witnesses"). Exit 0 only when every witness satisfies every
relation and every listed withheld cell (every cell with the primary marker among them) has witnesses for every
value its rule requires; otherwise one line per failure, naming the cell.
"""

import argparse
import csv
import json
import sys
from itertools import product


def _acyclic(edges: list) -> bool:
    """GYO: consistent margins of an acyclic set of tables always join into one whole table."""
    hyper = [set(e) for e in edges]
    while True:
        n = sum(map(len, hyper)) + len(hyper)
        for e in hyper:
            e -= {v for v in e if sum(v in f for f in hyper) == 1}
        hyper = [e for i, e in enumerate(hyper) if not any(e < f or (e == f and j < i) for j, f in enumerate(hyper))]
        if sum(map(len, hyper)) + len(hyper) == n:
            return len(hyper) <= 1


def _is_int(v: object) -> bool:
    return type(v) is int


def _tables(name: str, cats: dict, entry: dict) -> tuple[list, list, list[str]]:
    """The blocks (dims, offset, every cell's coordinates) and the witnesses, decoded; or the failures."""
    blocks = entry["blocks"]
    if not all(d in cats for b in blocks for d in b) or not _acyclic(blocks):
        return [], [], [f"{name}: the witnesses' tables {blocks} are not a joinable set over {list(cats)}"]
    cells, start = [], 0
    for b in blocks:
        grid = list(product(*(cats[d] for d in b)))
        cells.append((b, start, grid))
        start += len(grid)
    base = entry["base"]
    if len(base) != start or not all(_is_int(v) for v in base):
        return [], [], [f"{name}: base has {len(base)} entries, the tables {start}"]
    ws = []
    for k, diff in enumerate(entry["witnesses"]):
        w = list(base)
        if len(diff) % 2 or not all(_is_int(v) for v in diff) or not all(0 <= i < start for i in diff[::2]):
            return [], [], [f"{name}: witness {k} is not a list of (index, value) pairs"]
        for i, v in zip(diff[::2], diff[1::2], strict=True):
            w[i] = v
        ws.append(w)
    return cells, ws, []


def _holds(name: str, cats: dict, entry: dict, relations: list, head: dict, out: list) -> set:
    """Check every witness against every relation (label, key, coordinates, lo, hi) and the required cells
    (key -> witnesses); returns the keys proved."""
    cells, ws, failed = _tables(name, cats, entry)
    out += failed
    if failed:
        return set()
    bad = {k for k, w in enumerate(ws) if min(w, default=0) < 0}  # a witness that breaks a relation proves nothing
    out += [f"{name}: witness {k} holds a negative count" for k in sorted(bad)]
    for (b1, o1, g1), (b2, o2, g2) in ((p, q) for i, p in enumerate(cells) for q in cells[i + 1:]):
        shared = [d for d in b1 if d in b2]
        for k, w in enumerate(ws):
            margins: list[dict] = [{}, {}]
            for m, (b, o, g) in enumerate(((b1, o1, g1), (b2, o2, g2))):
                for j, c in enumerate(g):
                    key = tuple(c[b.index(d)] for d in shared)
                    margins[m][key] = margins[m].get(key, 0) + w[o + j]
            if margins[0] != margins[1]:
                bad.add(k)
                out.append(f"{name}: witness {k}: tables {b1} and {b2} disagree on their margin over {shared}")
    sums = {}  # key -> (label, the variables it sums)
    for label, key, coords, lo, hi, shown in relations:
        fixed = {d: set(v) for d, v in coords.items()}
        where = next(((b, o, g) for b, o, g in cells if set(fixed) <= set(b)), None)
        if where is None:  # a dimension it takes whole need not be in the block
            fixed = {d: v for d, v in fixed.items() if d not in cats or v != set(cats[d])}
            where = next(((b, o, g) for b, o, g in cells if set(fixed) <= set(b)), None)
        if where is None:
            out.append(f"{label}: in none of the witnesses' tables")
            continue
        b, o, g = where
        idx = [o + j for j, c in enumerate(g) if all(c[b.index(d)] in v for d, v in fixed.items())]
        sums[key] = (label, idx)
        for k, w in enumerate(ws):
            s = sum(w[i] for i in idx)
            if s < lo or (hi is not None and s > hi):
                bad.add(k)
                out.append(f"{label}: witness {k} gives {s}, published {shown} ({lo} to {hi})")
    rule, proved = head["rule"], set()
    for *key, ks in entry["required"]:
        known = json.dumps(key, sort_keys=True) in sums
        if not known or not ks or not all(_is_int(k) and 0 <= k < len(ws) for k in ks):
            out.append(f"{key[0]}/{key[1]}{key[2]}: not a published cell, or names a witness that is not there")
            continue
        label, idx = sums[json.dumps(key, sort_keys=True)]
        proved.add(json.dumps(key, sort_keys=True))
        got = {sum(ws[k][i] for i in idx) for k in ks if k not in bad}
        need = set(range(1, rule["threshold"])) if rule["kind"] == "band" else None
        if (need - got) if need is not None else (not got or max(got) - min(got) < rule["width"]):
            want = sorted(need) if need is not None else f"two values {rule['width']} apart"
            out.append(f"{label}: witnesses give it only {sorted(got)}; rule {rule['kind']} needs {want}")
    return proved


def _labels(axes: dict, where: dict) -> dict:
    """A joint cell's partition cells, per axis positions in ``axes``, as their labels."""
    if not all(_is_int(k) and 0 <= k < len(axes[a]) for a, ks in where.items() for k in ks):
        raise ValueError(f"joint cell {where}: not positions in the axes")
    return {a: [axes[a][k] for k in ks] for a, ks in where.items()}


def _published(rows: list, dims: list, part: str, head: dict, out: list) -> dict:
    """Each published row of ``part`` as (label, lo, hi), by key [part, table, its coordinates]."""
    found = {}
    for r in rows:
        if r["part"] != part:
            continue
        coords = {d: r[d] for d in dims if r[d] != ""}
        label = f"{part}/{r['table']}[{', '.join(f'{d}={v}' for d, v in coords.items()) or 'grand total'}]"
        if r["value"] != "":
            v, base = int(r["value"]), head["rounding"] or 0
            lo, hi = (max(0, v - base // 2), v + (base - 1) // 2) if base else (v, v)
        elif r["marker"] in head["markers"]:
            lo, hi = head["markers"][r["marker"]]
        else:
            out.append(f"{label}: neither a value nor a marker the witnesses know ({r['marker']!r})")
            continue
        found[json.dumps([part, r["table"], coords], sort_keys=True)] = (label, lo, hi, r["value"] or r["marker"])
    return found


def check(published_csv: str, witnesses_json: str) -> list:
    """Every failure, one line each (empty: the proof holds)."""
    rows = list(csv.DictReader(published_csv.splitlines()))
    head = json.loads(witnesses_json)
    dims = [c for c in (rows[0].keys() if rows else []) if c not in ("part", "table", "value", "marker")]
    out: list[str] = []
    names = [p["part"] for p in head["parts"]]
    out += [f"{p}: published but has no witnesses" for p in dict.fromkeys(r["part"] for r in rows) if p not in names]
    primary = head["primary_marker"]
    for entry in head["parts"]:  # the part alone: the witnesses' cube cells, summed as published.csv says
        name, cats = entry["part"], entry["dims"]
        wrong = [f"{name}: dimension {d}: witnesses' categories {cats.get(d)} are not those published {sorted(used)}"
                 for d in dims if (used := {r[d] for r in rows if r["part"] == name} - {""})
                 and (d not in cats or set(cats[d]) != used)]
        out += wrong
        if wrong:
            continue
        rel = _published(rows, dims, name, head, out)
        entry = {**entry, "required": [[name, t, {d: v for d, v in c.items() if v != ""}, ks]
                                       for t, c, ks in entry["required"]]}
        proved = _holds(name, cats, entry, [(label, key, {d: [v] for d, v in json.loads(key)[2].items()}, lo, hi, m)
                                            for key, (label, lo, hi, m) in rel.items()], head, out)
        out += [f"{label}: withheld as {m} but has no witnesses" for key, (label, _, _, m) in rel.items()
                if primary and m == primary and key not in proved]
    for n, joint in enumerate(head.get("joint", [])):  # with earlier responses: over their common partition
        name = f"joint {n} ({', '.join(joint['parts'])} with {', '.join(joint['refs'])})"
        if "omitted" in joint:  # said on every run (main), never taken as proved
            continue
        own: dict = {}
        for part in joint["parts"]:
            own.update(_published(rows, dims, part, head, out))
        relations = []
        for part, table, coords, where in joint["own"]:
            key = json.dumps([part, table, {d: v for d, v in coords.items() if v != ""}], sort_keys=True)
            if key in own:  # the relation is published.csv's; only where it sums is the witnesses'
                relations.append((own[key][0], key, _labels(joint["axes"], where), *own[key][1:]))
        mapped = {key for _, key, *_ in relations}
        out += [f"{label}: published but not among the joint witnesses' cells" for key, (label, *_) in own.items()
                if key not in mapped]
        for ref, part, table, coords, where, lo, hi in joint["earlier"]:
            relations.append((f"{ref} {part}/{table}{coords}", json.dumps([ref, part, table, coords]),
                              _labels(joint["axes"], where), lo, hi, "earlier"))
        joint = {**joint, "required": [[p, t, {d: v for d, v in c.items() if v != ""}, ks]
                                       for p, t, c, ks in joint["required"]]}
        proved = _holds(name, joint["axes"], joint, relations, head, out)
        out += [f"{label} (with earlier responses): withheld as {m} but has no witnesses"
                for key, (label, _, _, m) in own.items() if primary and m == primary and key not in proved]
    return out


def main(argv: list | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m foikit.proofcheck", description=__doc__.splitlines()[0])
    ap.add_argument("published_csv")
    ap.add_argument("witnesses_json")
    args = ap.parse_args(argv)
    try:
        with open(args.published_csv, encoding="utf-8") as f, open(args.witnesses_json, encoding="utf-8") as g:
            text = g.read()
            failures = check(f.read(), text)
    except (OSError, ValueError, KeyError, TypeError, IndexError, AttributeError) as exc:
        failures = [f"{args.witnesses_json}: cannot be read as witnesses ({type(exc).__name__}: {exc})"]
    for line in failures:
        print(line)
    if not failures:
        print(f"{args.witnesses_json}: every witness holds and every listed withheld cell is covered")
        for joint in json.loads(text).get("joint", []):
            if "omitted" in joint:
                print(f"note: not proved together with {', '.join(joint['refs'])}: {joint['omitted']}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
