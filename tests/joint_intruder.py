"""An intruder over several published responses at once, written for the tests independently of foikit.

It reads what a reader has: each response's published.csv and its request as published (the params: filter,
periods, merged categories), and optionally the extract's stated coverage (no rows after a date). It sets up
the counts as non-negative integer unknowns, one block per set of broken-down columns, each over
(fine date interval x population stratum x codes of the block's columns), with every block agreeing on the
(interval, stratum) margin; every published cell is a constraint (a shown value exactly, '[xx]' 1 to
threshold-1, '[c]' anything). A table whose total is the sum of its categories says its categories are
exhaustive: within that part's population, codes it does not list are empty. Ranges come from scipy's MILP.

The blocks' column sets must be pairwise disjoint (then the design is a star around (interval, stratum) and
the block model's integer bounds equal those of the full cube); :class:`JointIntruder` refuses otherwise.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from datetime import date, timedelta

import numpy as np
import pandas as pd
from scipy.optimize import Bounds, LinearConstraint, milp
from scipy.sparse import csr_array

META = {"part", "table", "value", "marker"}
REST = "\0other"  # a filter column's values that no part selects


def periods_of(part: dict) -> dict[str, tuple[date, date]]:
    """label -> [start, end) as the request states it."""
    kind = part.get("period", "calendar_year")
    if kind == "range":
        return {str(r["label"]): (_day(r["start"]), _day(r["end"]) + timedelta(days=1)) for r in part["ranges"]}
    if kind == "financial_year":
        return {f"{y}/{(y + 1) % 100:02d}": (date(y, 4, 1), date(y + 1, 4, 1)) for y in part["years"]}
    return {str(y): (date(y, 1, 1), date(y + 1, 1, 1)) for y in part["years"]}


def _day(v: object) -> date:
    return v if isinstance(v, date) else date.fromisoformat(str(v))


def _filter_of(part: dict) -> dict[str, list[str]]:
    return {c: [str(x) for x in (v if isinstance(v, list) else [v])] for c, v in (part.get("filter") or {}).items()}


def codes_of(part: dict, column: str, label: str) -> list[str]:
    """The data codes a published label counts: a merged label its members, 'Not recorded' the empty value."""
    merged = (part.get("merge") or {}).get(column, {})
    members = merged.get(label, [label])
    return ["" if m == "Not recorded" else m for m in members]


@dataclass
class Response:
    ref: str
    params: dict  # the request as published
    published: pd.DataFrame  # its published.csv (strings, '' for empty)
    coverage_end: date | None = None  # the extract has no rows on or after this day (None: not stated)


class JointIntruder:
    def __init__(self, responses: list[Response], row_unit: str = "allegations", threshold: int = 5,
                 use_coverage: bool = True) -> None:
        self.threshold = threshold
        parts = []  # (response, part params, period dim, periods, rows)
        for r in responses:
            for p in r.params["parts"]:
                if p.get("counting_unit", "allegations") != row_unit:
                    continue  # a distinct count is not a sum over finer cells: nothing to combine
                periods = periods_of(p)
                if use_coverage and r.coverage_end is not None:
                    periods = {k: (s, min(e, r.coverage_end)) for k, (s, e) in periods.items()}
                dim = "period" if p.get("period") == "range" else "year"
                rows = r.published[r.published["part"] == p["name"]]
                parts.append((r, p, dim, periods, rows))
        self.parts = parts
        bounds = sorted({d for *_, periods, _ in parts for iv in periods.values() for d in iv})
        self.intervals = [(a, b) for a, b in itertools.pairwise(bounds)
                          if any(s <= a and b <= e for *_, periods, _ in parts for s, e in periods.values())]
        filter_cols = sorted({c for _, p, *_ in parts for c in _filter_of(p)})
        values = {c: [*sorted({v for _, p, *_ in parts for v in _filter_of(p).get(c, [])}), REST]
                  for c in filter_cols}
        self.strata = list(itertools.product(*(values[c] for c in filter_cols)))
        self.filter_cols = filter_cols
        # broken-down columns: per table its non-period columns; blocks are the maximal sets
        cols_of = {}
        for k, (_, _p, dim, _, rows) in enumerate(parts):
            for t, g in rows.groupby("table", sort=False):
                cols_of[(k, t)] = tuple(c for c in g.columns if c not in META and c != dim and (g[c] != "").any())
        sets = sorted(set(cols_of.values()), key=len, reverse=True)
        blocks: list[tuple[str, ...]] = []
        for s in sets:
            if not any(set(s) <= set(b) for b in blocks):
                blocks.append(s)
        for a, b in itertools.combinations(blocks, 2):
            if set(a) & set(b):
                raise ValueError(f"blocks {a} and {b} share columns: not a star design")
        if not blocks:
            blocks = [()]
        codes: dict[str, set[str]] = {}
        for (k, t), cs in cols_of.items():
            _, p, _, _, rows = parts[k]
            g = rows[rows["table"] == t]
            for c in cs:
                for label in set(g[c]) - {""}:
                    codes.setdefault(c, set()).update(codes_of(p, c, label))
        self.codes = {c: sorted(v) for c, v in codes.items()}
        self.blocks = blocks
        offsets, n = [], 0
        self.block_cells = []
        for b in blocks:
            cells = list(itertools.product(range(len(self.intervals)), range(len(self.strata)),
                                           *(self.codes[c] for c in b)))
            self.block_cells.append(cells)
            offsets.append(n)
            n += len(cells)
        self.n, self.offsets = n, offsets
        A, lo, hi = [], [], []
        self.index: dict[tuple[str, str, int], int] = {}  # (ref, part, published row) -> constraint row

        def row_for(block: int, times: set[int], strata: set[int], sel: dict[str, set[str]]) -> np.ndarray:
            out = np.zeros(n)
            cols = blocks[block]
            for j, cell in enumerate(self.block_cells[block]):
                if cell[0] in times and cell[1] in strata and all(
                        cell[2 + cols.index(c)] in allowed for c, allowed in sel.items()):
                    out[offsets[block] + j] = 1.0
            return out

        for k, (r, p, dim, periods, rows) in enumerate(parts):
            filt = _filter_of(p)
            strata = {i for i, s in enumerate(self.strata)
                      if all(s[self.filter_cols.index(c)] in vs for c, vs in filt.items())}
            all_times = {i for i, (a, b) in enumerate(self.intervals)
                         if any(s <= a and b <= e for s, e in periods.values())}
            for idx, cell in rows.iterrows():
                cs = cols_of[(k, cell["table"])]
                block = next(i for i, b in enumerate(blocks) if set(cs) <= set(b))
                if cell[dim]:
                    s, e = periods[cell[dim]]
                    times = {i for i, (a, b) in enumerate(self.intervals) if s <= a and b <= e}
                else:
                    times = all_times
                sel = {c: set(codes_of(p, c, cell[c])) for c in cs if cell[c] != ""}
                A.append(row_for(block, times, strata, sel))
                if cell["value"] != "":
                    lo.append(float(cell["value"]))
                    hi.append(float(cell["value"]))
                else:
                    lo.append(1.0 if cell["marker"] == "[xx]" else 0.0)
                    hi.append(float(threshold - 1) if cell["marker"] == "[xx]" else np.inf)
                self.index[(r.ref, p["name"], idx)] = len(A) - 1
            # a table with a total over a column lists every code of its population: the others are empty
            for (kk, t), cs in cols_of.items():
                if kk != k:
                    continue
                g = rows[rows["table"] == t]
                for c in cs:
                    if not (g[c] == "").any():
                        continue
                    listed = {x for label in set(g[c]) - {""} for x in codes_of(p, c, label)}
                    unlisted = set(self.codes[c]) - listed
                    if unlisted:
                        block = next(i for i, b in enumerate(blocks) if c in b)
                        A.append(row_for(block, all_times, strata, {c: unlisted}))
                        lo.append(0.0)
                        hi.append(0.0)
        # every block counts the same rows: margins over (interval, stratum) agree
        for a, b in itertools.combinations(range(len(blocks)), 2):
            for t in range(len(self.intervals)):
                for s in range(len(self.strata)):
                    A.append(row_for(a, {t}, {s}, {}) - row_for(b, {t}, {s}, {}))
                    lo.append(0.0)
                    hi.append(0.0)
        self.A = csr_array(np.vstack(A))
        self.lo, self.hi = np.array(lo), np.array(hi)

    def range_of(self, ref: str, part: str, row: int) -> tuple[float, float]:
        j = self.index[(ref, part, row)]
        ends = []
        for sign in (1.0, -1.0):
            res = milp(sign * self.A[[j]].toarray()[0], constraints=LinearConstraint(self.A, self.lo, self.hi),
                       integrality=np.ones(self.n), bounds=Bounds(0, np.inf))
            assert res.status in (0, 3), res.message  # 3: unbounded above
            ends.append(sign * res.fun if res.status == 0 else np.inf)
        return ends[0], ends[1]


def true_count(data: pd.DataFrame, params: dict, part: str, cell: pd.Series) -> int:
    """The count a published cell stands for, with plain pandas over the case rows."""
    p = next(x for x in params["parts"] if x["name"] == part)
    dim = "period" if p.get("period") == "range" else "year"
    keep = np.ones(len(data), bool)
    for c, vs in _filter_of(p).items():
        keep &= data[c].isin(vs).to_numpy()
    periods = periods_of(p)
    chosen = [periods[cell[dim]]] if cell[dim] else list(periods.values())
    days = data[p.get("date_column", "date_recorded")].str[:10]
    keep &= np.logical_or.reduce([((days >= s.isoformat()) & (days < e.isoformat())).to_numpy() for s, e in chosen])
    for c in cell.index:
        if c in META or c == dim or c not in data.columns or cell[c] == "":
            continue
        keep &= data[c].isin(codes_of(p, c, cell[c])).to_numpy()
    return int(keep.sum())


def narrowed_small_counts(responses: list[Response], data: pd.DataFrame, threshold: int = 5,
                          use_coverage: bool = True, row_unit: str = "allegations") -> list[str]:
    """Every withheld small count (true count 1 to threshold-1, whatever its marker) whose derivable range
    misses 1 or threshold-1, as 'ref part/table[cell]: [lo, hi]'. ``responses`` are in publication order; a
    count that the responses before its own already narrow (a sum of their figures) is not counted."""
    intruder = JointIntruder(responses, row_unit=row_unit, threshold=threshold, use_coverage=use_coverage)

    def before(k: int) -> JointIntruder:
        # the responses published before the k-th, and the k-th with every figure withheld (it says nothing)
        blank = responses[k].published.assign(value="", marker="[c]")
        return JointIntruder([*responses[:k], Response(responses[k].ref, responses[k].params, blank,
                                                       responses[k].coverage_end)],
                             row_unit=row_unit, threshold=threshold, use_coverage=use_coverage)
    out = []
    for (ref, part, idx) in intruder.index:
        r = next(x for x in responses if x.ref == ref)
        cell = r.published.loc[idx]
        if cell["value"] != "":
            continue
        if not 1 <= true_count(data, r.params, part, cell) <= threshold - 1:
            continue
        lo, hi = intruder.range_of(ref, part, idx)
        if lo > 1 or hi < threshold - 1:
            k = next(i for i, x in enumerate(responses) if x.ref == ref)
            b_lo, b_hi = before(k).range_of(ref, part, idx) if k else (0, np.inf)
            if b_lo > 1 or b_hi < threshold - 1:
                continue  # already given away by what was published before it: nothing it could withhold helps
            coords = ", ".join(f"{c}={cell[c]}" for c in cell.index if c not in META and cell[c] != "")
            out.append(f"{ref} {part}/{cell['table']}[{coords}]: [{lo:g}, {hi:g}]")
    return out
