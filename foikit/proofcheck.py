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


def check_part(rows: list, dims: list, entry: dict, head: dict) -> list:
    name, cats, blocks = entry["part"], entry["dims"], entry["blocks"]
    out = []
    for d in dims:
        used = {r[d] for r in rows} - {""}
        if used and (d not in cats or set(cats[d]) != used):
            out.append(f"{name}: dimension {d}: witnesses' categories {cats.get(d)} are not those published "
                       f"{sorted(used)}")
    if out or not all(d in cats for b in blocks for d in b) or not _acyclic(blocks):
        return out or [f"{name}: the witnesses' tables {blocks} are not a joinable set over {list(cats)}"]
    cells, start = [], 0  # per block: (dims, offset, every cell's coordinates)
    for b in blocks:
        grid = list(product(*(cats[d] for d in b)))
        cells.append((b, start, grid))
        start += len(grid)
    base = entry["base"]
    if len(base) != start or not all(_is_int(v) for v in base):
        return [f"{name}: base has {len(base)} entries, the tables {start}"]
    ws, bad = [], set()  # a witness that breaks a relation proves nothing
    for k, diff in enumerate(entry["witnesses"]):
        w = list(base)
        if len(diff) % 2 or not all(_is_int(v) for v in diff) or not all(0 <= i < start for i in diff[::2]):
            return [f"{name}: witness {k} is not a list of (index, value) pairs"]
        for i, v in zip(diff[::2], diff[1::2], strict=True):
            w[i] = v
        if min(w, default=0) < 0:
            out.append(f"{name}: witness {k} holds a negative count")
            bad.add(k)
        ws.append(w)
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
    sums = {}  # row -> the variables it sums
    for r in rows:
        fixed = {d: r[d] for d in dims if r[d] != ""}
        where = next(((b, o, g) for b, o, g in cells if set(fixed) <= set(b)), None)
        label = f"{name}/{r['table']}[{', '.join(f'{d}={v}' for d, v in fixed.items()) or 'grand total'}]"
        if where is None:
            out.append(f"{label}: in none of the witnesses' tables")
            continue
        b, o, g = where
        idx = [o + j for j, c in enumerate(g) if all(c[b.index(d)] == v for d, v in fixed.items())]
        sums[(r["table"], *(r[d] for d in dims))] = (label, idx)
        if r["value"] != "":
            v, base_ = int(r["value"]), head["rounding"] or 0
            lo, hi = (max(0, v - base_ // 2), v + (base_ - 1) // 2) if base_ else (v, v)
        elif r["marker"] in head["markers"]:
            lo, hi = head["markers"][r["marker"]]
        else:
            out.append(f"{label}: neither a value nor a marker the witnesses know ({r['marker']!r})")
            continue
        for k, w in enumerate(ws):
            s = sum(w[i] for i in idx)
            if s < lo or (hi is not None and s > hi):
                bad.add(k)
                out.append(f"{label}: witness {k} gives {s}, published {r['value'] or r['marker']} ({lo} to {hi})")
    rule, proved = head["rule"], set()
    for table, coords, ks in entry["required"]:
        key = (table, *(coords.get(d, "") for d in dims))
        if key not in sums or not ks or not all(_is_int(k) and 0 <= k < len(ws) for k in ks):
            out.append(f"{name}/{table}{coords}: not a published cell, or names a witness that is not there")
            continue
        label, idx = sums[key]
        proved.add(key)
        got = {sum(ws[k][i] for i in idx) for k in ks if k not in bad}
        need = set(range(1, rule["threshold"])) if rule["kind"] == "band" else None
        if (need - got) if need is not None else (not got or max(got) - min(got) < rule["width"]):
            want = sorted(need) if need is not None else f"two values {rule['width']} apart"
            out.append(f"{label}: witnesses give it only {sorted(got)}; rule {rule['kind']} needs {want}")
    for key, (label, _) in sums.items():
        row = next(r for r in rows if (r["table"], *(r[d] for d in dims)) == key)
        if head["primary_marker"] and row["marker"] == head["primary_marker"] and key not in proved:
            out.append(f"{label}: withheld as {row['marker']} but has no witnesses")
    return out


def check(published_csv: str, witnesses_json: str) -> list:
    """Every failure, one line each (empty: the proof holds)."""
    rows = list(csv.DictReader(published_csv.splitlines()))
    head = json.loads(witnesses_json)
    dims = [c for c in (rows[0].keys() if rows else []) if c not in ("part", "table", "value", "marker")]
    out = []
    names = [p["part"] for p in head["parts"]]
    out += [f"{p}: published but has no witnesses" for p in dict.fromkeys(r["part"] for r in rows) if p not in names]
    for entry in head["parts"]:
        out += check_part([r for r in rows if r["part"] == entry["part"]], dims, entry, head)
    return out


def main(argv: list | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m foikit.proofcheck", description=__doc__.splitlines()[0])
    ap.add_argument("published_csv")
    ap.add_argument("witnesses_json")
    args = ap.parse_args(argv)
    try:
        with open(args.published_csv, encoding="utf-8") as f, open(args.witnesses_json, encoding="utf-8") as g:
            failures = check(f.read(), g.read())
    except (OSError, ValueError, KeyError, TypeError, IndexError, AttributeError) as exc:
        failures = [f"{args.witnesses_json}: cannot be read as witnesses ({type(exc).__name__}: {exc})"]
    for line in failures:
        print(line)
    if not failures:
        print(f"{args.witnesses_json}: every witness holds and every listed withheld cell is covered")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
