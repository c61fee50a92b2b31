"""The joint audit: a new response checked, and protected, together with everything already published.

Cells from different responses count rows of the same dataset under different definitions (other periods,
other breakdowns, merged categories). Every definition is a rectangle in the same space — one axis per column
that any of them selects on, and the date axis split at every period boundary any of them uses — so the
finest partition they all induce (:class:`Partition`) turns every cell of every response into a sum of
partition cells, and the response-level model of :mod:`foikit.sdc.linear` applies unchanged. Earlier responses
are fixed (only the new one can change); a withheld count of an earlier response is protected like a new one.

Changed data. Figures move between responses (an 'Ongoing' outcome becomes final, late records arrive), so an
earlier figure may not equal today's count of its definition. The intruder still knows the figure and may
assume that little changed; the audit therefore keeps every earlier figure as a constraint, widened just
enough to include today's count: ``[min(stated, now), max(stated, now)]``, where 'stated' is what the figure
says (a value, or its marker's range). An unchanged figure stays exact; a changed one is never dropped; the
report lists every changed figure with both values.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import timedelta
from itertools import pairwise
from pathlib import Path

import numpy as np
import pandas as pd

from foikit.cube import sql
from foikit.cube.spec import COUNT, CubeSpec, DimSpec, PeriodSpec
from foikit.exceptions import DataError, DisclosureError, ParamsError
from foikit.layout import LEDGER_JSON, PARAMS_COPY
from foikit.ledger.store import (
    LEDGER_DIR,
    Interval,
    Ledger,
    LedgerEntry,
    PartRecord,
    Selection,
    check_readable,
    entry_of,
    load_ledger,
    next_version,
    read_report_entry,
)
from foikit.request.params import Request, parse_request, read_yaml
from foikit.request.policy import Policy
from foikit.response import Response, answer_alone, open_source_for
from foikit.sdc.audit import AuditResult, BoundEngine, ProtectionRule, audit
from foikit.sdc.linear import LinearModel, build_model
from foikit.sdc.secondary import UnprotectableError, protect
from foikit.source.data import CaseData
from foikit.suppress import is_small

PERIOD = "period__"
# Earlier responses' small counts are proved protected by witnesses where they can be, bounded where not
# (BoundEngine.run_audit's ``prove``): the same verdicts, far fewer LPs. Off only to compare (tests).
WITNESSES = True
REST = "(any other value)"


def _shown_value(v: str) -> str:
    return "(not recorded)" if v == "" else v


@dataclass(frozen=True)
class Partition:
    """The finest partition of the rows that a set of cell definitions induces: per column the classes of
    values no definition tells apart, and the date intervals between consecutive period boundaries."""

    date_column: str
    intervals: tuple[Interval, ...]
    classes: dict[str, tuple[tuple[str, ...], ...]]  # column -> per class its values (REST: all others)

    @classmethod
    def of(cls, definitions: Sequence[tuple[dict[str, Selection], tuple[Interval, ...]]], date_column: str
           ) -> Partition:
        bounds = sorted({d for _, periods in definitions for i in periods for d in i})
        covered = [(a, b) for a, b in pairwise(bounds)
                   if any(s <= a and b <= e for _, periods in definitions for s, e in periods)]
        selections: dict[str, list[Selection]] = {}
        for where, _ in definitions:
            for column, sel in where.items():
                if sel not in selections.setdefault(column, []):
                    selections[column].append(sel)
        classes = {}
        for column in sorted(selections):
            sels = selections[column]
            mentioned = sorted({v for s in sels for v in s.values})
            groups: dict[tuple[bool, ...], list[str]] = {}
            for v in mentioned:
                groups.setdefault(tuple(s.contains(v) for s in sels), []).append(v)
            groups.setdefault(tuple(s.negate for s in sels), []).append(REST)
            classes[column] = tuple(sorted(tuple(members) for members in groups.values()))
        return cls(date_column, tuple(covered), classes)

    def labels(self, column: str) -> tuple[str, ...]:
        if column == self.date_column:
            return tuple(f"{s.isoformat()}..{(e - timedelta(days=1)).isoformat()}" for s, e in self.intervals)
        return tuple("|".join(_shown_value(v) for v in members) for members in self.classes[column])

    @property
    def axes(self) -> dict[str, tuple[str, ...]]:
        return {self.date_column: self.labels(self.date_column), **{c: self.labels(c) for c in self.classes}}

    def coords(self, where: dict[str, Selection], periods: tuple[Interval, ...]
               ) -> dict[str, tuple[str, ...] | None]:
        """A definition as partition coordinates: per axis the classes it covers (None: all of them)."""
        out: dict[str, tuple[str, ...] | None] = {}
        dates = self.labels(self.date_column)
        inside = tuple(dates[k] for k, (a, b) in enumerate(self.intervals)
                       if any(s <= a and b <= e for s, e in periods))
        out[self.date_column] = None if len(inside) == len(dates) else inside
        for column, sel in where.items():
            labels = self.labels(column)
            chosen = tuple(labels[k] for k, members in enumerate(self.classes[column])
                           if sel.contains(members[0] if members[0] != REST else "\0rest"))
            out[column] = None if len(chosen) == len(labels) else chosen
        return out

    def cube_spec(self) -> CubeSpec:
        """The group-by that counts rows by partition cell (in codes, like any cube)."""
        dims = []
        for column, members in self.classes.items():
            labels = self.labels(column)
            codes = {v: labels[k] for k, vs in enumerate(members) for v in vs if v not in ("", REST)}
            rest = next(labels[k] for k, vs in enumerate(members) if REST in vs)
            missing = next((labels[k] for k, vs in enumerate(members) if "" in vs), rest)
            dims.append(DimSpec(name=column, column=column, codes=codes, categories=labels, other=rest,
                                missing=missing))
        starts = tuple(s for s, _ in self.intervals)
        ends = tuple(e for _, e in self.intervals)
        period = PeriodSpec(name=PERIOD, column=self.date_column, kind="range",
                            labels=self.labels(self.date_column), starts=starts, ends=ends)
        return CubeSpec(filters={}, period=period, dims=tuple(dims))


def count_partition(partition: Partition, data: CaseData, where: str) -> pd.DataFrame:
    """Rows per partition cell, counted where the data lives (in codes, as every cube is)."""
    spec = partition.cube_spec()
    missing = [c for c in spec.columns if c not in data.relation.names]
    if missing:
        raise DataError(f"{where}: columns {missing} that earlier responses select on are not in {data.where}")
    result, _ = sql.sql_cube(spec, data.relation, where, validate=False, allow_empty=True)
    return result


def partition_sums(partition: Partition, counts: pd.DataFrame,
                   coords: Sequence[dict[str, tuple[str, ...] | None]]) -> np.ndarray:
    """Each cell's count: the sum of the partition cells its coordinates cover."""
    axes = partition.axes
    names = {partition.date_column: PERIOD, **{c: c for c in partition.classes}}
    codes = {a: counts[names[a]].to_numpy(dtype=np.int64) for a in axes}
    n = counts[COUNT].to_numpy(dtype=np.int64)
    out = np.zeros(len(coords), dtype=np.int64)
    for i, cell in enumerate(coords):
        keep = np.ones(len(n), dtype=bool)
        for axis, chosen in cell.items():
            if chosen is not None:
                pos = {label: k for k, label in enumerate(axes[axis])}
                keep &= np.isin(codes[axis], [pos[c] for c in chosen])
        out[i] = n[keep].sum()
    return out


@dataclass
class JointSystem:
    """Cells of several responses over one partition, as one linear model. After the published cells come
    the ``structural`` ones: rows a response's exhaustive breakdown says do not exist (fixed at 0)."""

    partition: Partition
    model: LinearModel
    labels: list[str]
    owners: list[tuple[str, str]]  # (ref, part) of each cell
    values: np.ndarray  # today's counts
    stated_lo: np.ndarray
    stated_hi: np.ndarray
    fixed: np.ndarray  # an earlier response's cell (or a structural zero)
    withheld: np.ndarray = field(default_factory=lambda: np.zeros(0, bool))  # published as a marker
    structural: np.ndarray = field(default_factory=lambda: np.zeros(0, bool))
    # per part (by id) and broken-down dimension: its rows outside its categories today (what ledger.json keeps)
    outside: dict[int, dict[str, int]] = field(default_factory=dict)
    # per cell (ref, part, table, its coordinates in that table); a structural zero has table None
    ids: list[tuple[str, str, str | None, dict[str, str]]] = field(default_factory=list)

    def small(self, threshold: int) -> np.ndarray:
        """Withheld cells whose count (today's) is from 1 to threshold-1, whatever their marker."""
        return self.withheld & ~self.structural & (self.values >= 1) & (self.values <= threshold - 1)


def _exhaustive_zeros(partition: Partition, record: PartRecord
                      ) -> list[tuple[str, str, dict[str, tuple[str, ...] | None]]]:
    """The rectangles a part's breakdowns say are empty: within its population, the values of a column that
    none of its categories lists (a published total that is the sum of its categories says there are none).
    As (dimension, table, partition coordinates), one per broken-down column with a total over it."""
    out = []
    where, periods = record.definition({})
    base = partition.coords(where, periods)
    for dim, (column, labels) in record.dims.items():
        if dim == record.period_dim or column not in partition.classes:
            continue
        table = next((t for t, dims in record.tables.items() if dim in dims
                      and (record.cells.loc[record.cells["table"] == t, dim] == "").any()), None)
        if table is None:
            continue
        names = partition.labels(column)
        allowed = base.get(column) or names
        rest = tuple(names[k] for k, members in enumerate(partition.classes[column]) if names[k] in allowed
                     and not any(sel.contains(members[0] if members[0] != REST else "\0rest")
                                 for sel in labels.values()))
        if rest:
            out.append((dim, _table_key(record, table), {**base, column: rest}))
    return out


def _table_key(record: PartRecord, table: str) -> str:
    return f"{record.ref}/{record.part}/{table}"


def _cell_label(record: PartRecord, row: dict) -> str:
    dims = record.tables[row["table"]]
    coords = ", ".join(f"{d}={row[d] or 'Total'}" for d in dims)
    return f"{record.ref} {record.part}/{row['table']}[{coords}]"


def build_system(new: Sequence[PartRecord], earlier: Sequence[PartRecord], data: CaseData, where: str,
                 hidden_new: np.ndarray | None = None) -> JointSystem:
    """The joint model of the new parts' cells (free) and the earlier parts' cells (fixed).

    New cells carry their ``value``; an earlier cell its recorded ``now`` when the ledger snapshot has it,
    else today's count from ``data``. When ``data`` is counted, the new cells are counted over the partition
    too and must agree with their tables (a check that every definition says what its table shows)."""
    records = [*new, *earlier]
    defs, rows_of = [], []
    for r in records:
        for row in r.cells.to_dict("records"):
            defs.append(r.definition({d: row[d] for d in r.tables[row["table"]]}))
            rows_of.append((r, row))
    partition = Partition.of(defs, records[0].date_column)
    coords = [partition.coords(w, p) for w, p in defs]
    tables = {}
    for r in records:
        for t, dims in r.tables.items():
            columns = [*r.where, *(r.dims[d][0] for d in dims if d != r.period_dim)]
            tables[_table_key(r, t)] = tuple(dict.fromkeys([partition.date_column, *columns]))
    cells = [(_table_key(r, row["table"]), c) for (r, row), c in zip(rows_of, coords, strict=True)]
    n_new = sum(len(r.cells) for r in new)
    n_pub = len(cells)
    recorded = np.array([row.get("now", np.nan) if i >= n_new else row["value"] for i, (r, row) in
                         enumerate(rows_of)], dtype=float)
    # What the breakdowns say is empty, kept where today's data agrees: a new part's by construction (a foikit
    # table's total is the sum of its categories: a value outside them is refused), an earlier part's where
    # the ledger snapshot's count outside its categories (or today's data) is 0; a breakdown that is not
    # exhaustive (an import whose total holds more) says nothing.
    candidates = [(r, dim, key, c) for r in records for dim, key, c in _exhaustive_zeros(partition, r)]
    is_new = {id(r) for r in new}
    outside = np.array([0 if id(r) in is_new else r.outside_now.get(dim, np.nan) for r, dim, _, _ in candidates],
                       dtype=float)
    # counted only for what the ledger snapshot does not hold: a re-run from a snapshot, which holds only the
    # response's own columns and rows, finds everything about earlier responses recorded
    if np.isnan(recorded).any() or np.isnan(outside).any():
        counts = count_partition(partition, data, where)
        counted = partition_sums(partition, counts, coords)
        wrong = np.flatnonzero((np.arange(n_pub) < n_new) & (counted != recorded))
        if len(wrong):  # pragma: no cover - a definition that disagrees with its own table is a bug
            i = int(wrong[0])
            raise RuntimeError(f"internal error: {_cell_label(*rows_of[i])} counts {counted[i]} over the "
                               f"partition but {int(recorded[i])} in its table")
        recorded = np.where(np.isnan(recorded), counted, recorded)
        missing = np.flatnonzero(np.isnan(outside))
        if len(missing):
            outside[missing] = partition_sums(partition, counts, [candidates[i][3] for i in missing])
    counts_outside: dict[int, dict[str, int]] = {}
    for (r, dim, _, _), n in zip(candidates, outside, strict=True):
        counts_outside.setdefault(id(r), {})[dim] = int(n)
    zeros = [(r, (key, c)) for (r, _, key, c), n in zip(candidates, outside, strict=True) if n == 0]
    cells += [z for _, z in zeros]
    n = len(cells)
    fixed = np.arange(n) >= n_new
    totals = np.array([any(row[d] == "" for d in r.tables[row["table"]]) for r, row in rows_of] + [False] * len(zeros))
    tags = fixed.astype(int)
    if hidden_new is not None:  # a new cell that stays withheld is fixed too, apart from those that can change
        tags[:n_new] = np.where(hidden_new, 2, 0)
    model = build_model(partition.axes, tables, cells, totals=totals, tags=tags)
    structural = np.arange(n) >= n_pub
    pad = np.zeros(len(zeros))
    return JointSystem(
        partition=partition, model=model,
        labels=[_cell_label(r, row) for r, row in rows_of] + [f"{r.ref} {r.part}: no rows outside its categories"
                                                               for r, _ in zeros],
        owners=[(r.ref, r.part) for r, _ in rows_of] + [(r.ref, r.part) for r, _ in zeros],
        values=np.concatenate([recorded, pad]).astype(np.int64),
        stated_lo=np.concatenate([[row.get("lower", np.nan) for _, row in rows_of], pad]).astype(float),
        stated_hi=np.concatenate([[row.get("upper", np.nan) for _, row in rows_of], pad]).astype(float),
        fixed=fixed, structural=structural, outside=counts_outside,
        ids=[(r.ref, r.part, row["table"], {d: row[d] for d in r.tables[row["table"]]}) for r, row in rows_of]
        + [(r.ref, r.part, None, {}) for r, _ in zeros],
        withheld=np.array([not str(row.get("shown", "")).isdigit() for _, row in rows_of] + [False] * len(zeros)))


def _meet(a: Selection, b: Selection) -> bool:
    """Whether two selections of one column share a value."""
    if a.negate and b.negate:
        return True
    if a.negate or b.negate:
        pos, neg = (b, a) if a.negate else (a, b)
        return bool(set(pos.values) - set(neg.values))
    return bool(set(a.values) & set(b.values))


def _linked(a: PartRecord, b: PartRecord) -> bool:
    """Whether two parts can count a row in common: periods overlap and no filter excludes the other's."""
    periods = any(s < e2 and s2 < e for v in a.periods.values() for s, e in v
                  for w in b.periods.values() for s2, e2 in w)
    return periods and all(_meet(a.where[c], b.where[c]) for c in set(a.where) & set(b.where))


def _overlapping(new: Sequence[PartRecord], candidates: Sequence[PartRecord]) -> list[PartRecord]:
    """Earlier parts that can count rows the new ones count, directly or through each other (a part over
    other rows, say indecent exposure against domestic abuse, can tell an intruder nothing about them)."""
    reached = list(new)
    chosen: list[PartRecord] = []
    taken: set[int] = set()  # by identity: two versions of a response may hold equal parts
    changed = True
    while changed:
        changed = False
        for r in candidates:
            if id(r) not in taken and any(_linked(r, q) for q in reached):
                chosen.append(r)
                taken.add(id(r))
                reached.append(r)
                changed = True
    return chosen


@dataclass(frozen=True)
class LedgerCheck:
    """What the joint audit did for a response (shown in its record; summarised in audit.json)."""

    dataset: str
    considered: tuple[str, ...] = ()  # every earlier response over the dataset
    combined: tuple[str, ...] = ()  # those audited together with this one
    not_combined: dict[str, str] = field(default_factory=dict)  # ref -> why not
    constrained: tuple[str, ...] = ()  # those that made further suppression necessary
    exposed_without: tuple[str, ...] = ()  # cells the ledger check protected: would be derivable without it
    added: tuple[str, ...] = ()  # cells withheld because of the ledger
    stale: pd.DataFrame = field(default_factory=pd.DataFrame)  # earlier figures that today's data changes
    exposed_before: tuple[str, ...] = ()  # small counts that earlier responses already give away
    unrecorded: tuple[str, ...] = ()  # reports without a ledger entry: published, but not checked against
    passed: bool = True
    # per group of parts audited jointly: the joint model and the new parts it holds, in order (for witnesses)
    systems: tuple[tuple[JointSystem, tuple[str, ...]], ...] = ()

    def summary(self) -> dict:
        """For audit.json: refs and counts only, never a count of a withheld cell."""
        return {"dataset": self.dataset, "considered": list(self.considered), "combined": list(self.combined),
                "not_combined": dict(self.not_combined), "constrained": list(self.constrained),
                "cells_withheld_because_of_the_ledger": len(self.added),
                "earlier_figures_changed_since": len(self.stale),
                "small_counts_already_derivable_from_earlier": len(self.exposed_before),
                "reports_without_ledger_entry": list(self.unrecorded), "passed": self.passed}


def _bands(system: JointSystem, hidden_new: np.ndarray, marker_band: np.ndarray
           ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(hidden, lo, hi) for the audit: new cells by their pattern, earlier ones by what they state widened
    to today's count."""
    v = system.values.astype(float)
    lo = np.where(system.fixed, np.minimum(system.stated_lo, v), marker_band[0])
    hi = np.where(system.fixed, np.maximum(system.stated_hi, v), marker_band[1])
    return np.where(system.fixed, True, hidden_new), lo, hi


def answer(request: Request, data: CaseData | None = None, source: str = "params",
           ledger: Ledger | None = None) -> Response:
    """Count, tabulate and suppress every part of ``request``; with a ``ledger`` of earlier responses,
    audit (and protect) it together with them (:func:`check_against_ledger`).

    ``source`` names the params file in error messages.

    >>> response = answer(load_request("params/01.FOI.23.032341.yaml"))  # doctest: +SKIP
    >>> response.published().columns[:3].tolist()  # doctest: +SKIP
    ['part', 'table', 'year']
    """
    response = answer_alone(request, data, source)
    return response if ledger is None else check_against_ledger(response, ledger, source)


def check_against_ledger(response: Response, ledger: Ledger, where: str = "params") -> Response:
    """Audit ``response`` together with every overlapping earlier response in ``ledger`` and, where that
    fails, withhold further cells of ``response`` (earlier ones are fixed) until it passes.

    >>> checked = check_against_ledger(answer(request, data), load_ledger("reports/"))  # doctest: +SKIP
    >>> checked.ledger.constrained                                                     # doctest: +SKIP
    ('01.FOI.23.032341',)
    """
    request = response.request
    mine = entry_of(response)
    dataset = mine.dataset
    check_readable(ledger, dataset, where)  # a report that cannot be read is never silently left out
    earlier = ledger.for_dataset(dataset, exclude=request.ref)
    check = LedgerCheck(dataset=dataset, considered=tuple(e.ref for e in earlier.entries),
                        unrecorded=ledger.unrecorded)
    new_parts = [p for p in mine.parts if p.additive]
    if not earlier.entries or not new_parts:
        return replace(response, ledger=replace(check, not_combined={e.ref: "" for e in earlier.entries}))
    rule = response.policy.protection_rule
    combined: set[str] = set()
    not_combined: dict[str, str] = {}
    updates: dict[str, pd.DataFrame] = {}
    audits: dict[str, AuditResult] = {}
    facts: dict[str, list] = {"exposed_without": [], "added": [], "stale": [], "exposed_before": [],
                              "constrained": [], "systems": []}
    for date_column in dict.fromkeys(p.date_column for p in new_parts):
        group = [p for p in new_parts if p.date_column == date_column]
        for unit in dict.fromkeys(p.unit for p in group):
            parts = [p for p in group if p.unit == unit]
            candidates = []
            for e in earlier.entries:
                for r in e.parts:
                    if not r.additive:
                        not_combined.setdefault(e.ref, "counts distinct units: not a sum over a finer partition")
                    elif r.date_column != date_column or r.unit != unit:
                        not_combined.setdefault(e.ref, f"counts {r.unit} by {r.date_column}")
                    else:
                        candidates.append(r)
            linked = _overlapping(parts, candidates)
            if not linked:
                continue
            combined |= {r.ref for r in linked}
            _protect_group(response, parts, linked, where, rule, updates, audits, facts)
    for ref in combined:
        not_combined.pop(ref, None)
    for e in earlier.entries:
        if e.ref not in combined:
            not_combined.setdefault(e.ref, "no period in common")
    stale = pd.DataFrame(facts["stale"], columns=["cell", "published", "now"])
    check = replace(check, combined=tuple(r for r in check.considered if r in combined), not_combined=not_combined,
                    constrained=tuple(r for r in check.considered if r in set(facts["constrained"])),
                    exposed_without=tuple(facts["exposed_without"]), added=tuple(facts["added"]), stale=stale,
                    exposed_before=tuple(facts["exposed_before"]), systems=tuple(facts["systems"]))
    parts_out = []
    for part in response.parts:
        if part.spec.name in updates:
            part = replace(part, cells=updates[part.spec.name], audit=audits[part.spec.name],
                           stats={**part.stats, "ledger": True})
        parts_out.append(part)
    return replace(response, parts=parts_out, ledger=replace(check, passed=all(p.audit.passed for p in parts_out)))


def _protect_group(response: Response, parts: list[PartRecord], linked: list[PartRecord], where: str,
                   rule: ProtectionRule, updates: dict[str, pd.DataFrame], audits: dict[str, AuditResult],
                   facts: dict[str, list]) -> None:
    policy = response.policy
    results = {p.spec.name: p for p in response.parts}
    new = [replace(r, cells=r.cells.assign(value=results[r.part].cells["value"].to_numpy())) for r in parts]
    cells = pd.concat([results[r.part].cells for r in parts], ignore_index=True)
    kept = cells["hidden"].to_numpy(dtype=bool) & (cells["marker"] != policy.marker).to_numpy()
    system = build_system(new, linked, response.data, where, hidden_new=kept)
    facts["systems"].append((system, tuple(r.part for r in parts)))
    model, v, fixed = system.model, system.values, system.fixed
    n_new = int((~fixed).sum())
    for i in np.flatnonzero(fixed & ((v < system.stated_lo) | (v > system.stated_hi))):
        shown = system.stated_lo[i] if system.stated_lo[i] == system.stated_hi[i] else None
        facts["stale"].append((system.labels[i], _fmt_band(system.stated_lo[i], system.stated_hi[i], shown),
                               int(v[i])))
    # The pattern the response has on its own.
    hidden0 = np.zeros(len(v), bool)
    hidden0[:n_new] = cells["hidden"].to_numpy(dtype=bool)
    band0 = np.stack([np.zeros(len(v)), np.full(len(v), np.inf)])
    xx = np.zeros(len(v), bool)
    keep = fixed.copy()
    if policy.rounding is not None:
        base = policy.rounding
        shown = np.zeros(len(v))
        shown[:n_new] = pd.to_numeric(cells["shown"]).to_numpy()
        band0 = np.stack([np.maximum(0, shown - base // 2), shown + (base - 1) // 2])
        hidden0[:n_new] = True
    else:
        xx[:n_new] = (cells["marker"] == policy.marker).to_numpy()
        band0[0][xx], band0[1][xx] = policy.stated_ranges()[policy.marker]
    # Protected: every small count, new or earlier, whatever its marker ('[c]' too): the ledger knows an
    # earlier cell's count through today's count of its definition (and a band within the primary marker's).
    small_lo, small_hi = policy.stated_ranges()[policy.marker]
    small = fixed & (system.small(rule.threshold) | (system.withheld & (system.stated_lo >= small_lo)
                                                      & (system.stated_hi <= small_hi)))
    small[:n_new] = is_small(cells["value"].to_numpy(), policy.threshold)
    engine = BoundEngine(model, v, milp_time_limit=policy.settings.secondary.time_limit)
    new_hidden = hidden0 & ~fixed

    def check(hidden: np.ndarray, band: np.ndarray, sensitive: np.ndarray,
              ranges: bool = False) -> AuditResult:
        # Pass/fail needs integer optima only where they decide the rule; the ranges this response reports
        # for its own small counts are exact.
        hid, lo, hi = _bands(system, hidden, band)
        res = engine.run_audit(hid, lo, hi, sensitive, rule, bound_all=False, settle="rule",
                               also=new_hidden if ranges else None, prove=fixed if WITNESSES else None)
        if ranges:
            groups = model.groups
            for g in dict.fromkeys(groups[sensitive & new_hidden].tolist()):
                low, high, exact = engine.group_range(g, rule, settle="all")
                members = groups == g
                res.lower[members], res.upper[members], res.exact[members] = low, high, exact
        return res

    # Publishing more only narrows ranges (and less only widens them), so each step below need only look at
    # the counts that failed the step before.
    def exact_ranges(hidden: np.ndarray, band: np.ndarray, cells: np.ndarray) -> dict[int, tuple[float, float]]:
        check(hidden, band, cells)  # the engine's bounds for this pattern
        return {g: engine.group_range(g, rule, settle="all")[:2] for g in dict.fromkeys(model.groups[cells].tolist())}

    alone = check(hidden0, band0, small, ranges=True)
    failing = small & ~alone.cell_passed
    exposed = np.zeros(len(v), bool)
    exposed_range: dict[int, tuple[float, float]] = {}
    if failing.any():
        # Counts that earlier responses already give away between them, with nothing new published: no new
        # pattern can make them pass the rule; they are listed, stay withheld, and this response may not
        # narrow them further (checked below).
        nothing_new = np.stack([np.zeros(len(v)), np.full(len(v), np.inf)])
        before = check(np.ones(len(v), bool), nothing_new, failing)
        exposed = failing & ~before.cell_passed
        if exposed.any():
            exposed_range = exact_ranges(np.ones(len(v), bool), nothing_new, exposed)
        facts["exposed_before"] += [system.labels[i] for i in np.flatnonzero(exposed)]
        failing &= ~exposed
    targets = small & ~exposed
    if not failing.any():
        result = check(hidden0, band0, targets, ranges=True) if exposed.any() else alone
        hidden, markers, reasons = hidden0, None, None  # nothing more withheld
        muted = np.zeros(len(v), bool)
    else:
        facts["exposed_without"] += [system.labels[i] for i in np.flatnonzero(failing)]
        refs = dict.fromkeys(r.ref for r in linked)
        facts["constrained"] += _binding_refs(engine, system, hidden0, band0, failing, rule)
        if policy.rounding is not None:
            first = system.labels[int(np.flatnonzero(failing)[0])]
            raise DisclosureError(
                f"{where}: rounded figures combined with earlier responses ({', '.join(refs)}) give away "
                f"{int(failing.sum())} small counts, first {first}; "
                "refusing to publish (use suppression, or coarser tables)")
        # Withholding more never narrows a range: keep the response's own pattern (its secondaries fixed, its
        # small counts free to change marker) and protect the failing counts by withholding more.
        secondary = policy.secondary_policy()
        keep = fixed | (hidden0 & ~(xx & targets))
        # A new small count that earlier responses already give away keeps its '[xx]' unless that band (1 to
        # threshold-1) is what lets another count be narrowed: then it is shown as the secondary marker.
        given_away = xx & exposed & ~fixed
        for muted in [np.zeros(len(v), bool), *([given_away] if given_away.any() else [])]:
            band = band0.copy()
            band[0][muted], band[1][muted] = 0.0, np.inf
            _, lo, hi = _bands(system, hidden0, band)
            flo, fhi = np.where(keep, lo, np.nan), np.where(keep, hi, np.nan)
            try:
                pattern = protect(model, v, failing | (xx & targets), secondary, fixed=(flo, fhi))
                break
            except UnprotectableError as exc:
                if not muted.any() and given_away.any():
                    continue
                ranges = [f"  {system.labels[c.index]}: derivable range [{int(c.lower)}, {int(c.upper)}]"
                          for c in exc.cells]
                raise DisclosureError(
                    f"{where}: no suppression pattern protects every small count against the earlier responses "
                    f"({', '.join(refs)}); refusing to publish\n" + "\n".join(ranges)) from None
        band0 = band
        hidden = hidden0 | (pattern.hidden & ~fixed)
        markers = [pattern.markers[i] if hidden[i] and not keep[i] else
                   secondary.secondary_marker if muted[i] else "" for i in range(len(v))]
        changed = np.flatnonzero(hidden & ~keep)
        stated = policy.stated_ranges()
        band0[0][changed] = [stated[markers[i]][0] for i in changed]
        band0[1][changed] = [stated[markers[i]][1] for i in changed]
        new_hidden = hidden & ~fixed
        result = check(hidden, band0, targets, ranges=True)
        reasons = ["ledger" if hidden[i] and not hidden0[i] else "" for i in range(len(v))]
    if exposed_range:
        # A count the earlier responses already narrow must not be narrowed further by this one. This
        # pattern only adds to what the earlier responses alone say, so its range lies inside theirs: where
        # witnesses of this pattern reach both ends of theirs, the range is theirs (no bounds needed).
        _, glo, ghi = engine.group_pattern(*_bands(system, hidden, band0))
        engine.set_group_bounds(glo, ghi)
        ends = {g: engine.witness_range(g) for g in exposed_range}
        reached = {g for g, (lo, hi) in exposed_range.items() if WITNESSES and ends[g][0] <= lo and ends[g][1] >= hi}
        now = {**exposed_range, **exact_ranges(hidden, band0, exposed & ~np.isin(model.groups, list(reached)))}
        narrowed = [g for g, (lo, hi) in exposed_range.items() if now[g][0] > lo + 1e-6 or now[g][1] < hi - 1e-6]
        if narrowed:
            refs = dict.fromkeys(r.ref for r in linked)
            lines = [f"  {system.labels[int(np.flatnonzero(model.groups == g)[0])]}: derivable range "
                     f"[{_end(exposed_range[g][0])}, {_end(exposed_range[g][1])}] from the earlier responses, "
                     f"[{_end(now[g][0])}, {_end(now[g][1])}] with this one" for g in narrowed]
            raise DisclosureError(
                f"{where}: {len(narrowed)} small counts that the earlier responses ({', '.join(refs)}) already "
                "narrow would be narrowed further by this response; refusing to publish\n" + "\n".join(lines))
    start = 0
    for r in parts:
        part = results[r.part]
        n = len(part.cells)
        idx = np.arange(start, start + n)
        out = part.cells.copy()
        if markers is not None and reasons is not None:
            added = hidden[idx] & ~hidden0[idx]
            out["hidden"] = hidden[idx]
            switchable = ((xx & ~keep) | muted)[idx]  # small counts whose marker may have changed
            out["marker"] = np.where(switchable | added, [markers[i] for i in idx], out["marker"])
            out["reason"] = np.where(added, [reasons[i] for i in idx], out["reason"])
            out["shown"] = np.where(out["hidden"], out["marker"], out["value"].astype(str))
            facts["added"] += [system.labels[i] for i in idx[added]]
        out["lower"] = result.lower[idx]
        out["upper"] = result.upper[idx]
        updates[r.part] = out
        audits[r.part] = AuditResult(
            model=part.audit.model, lower=result.lower[idx], upper=result.upper[idx], exact=result.exact[idx],
            cell_passed=result.cell_passed[idx], hidden=out["hidden"].to_numpy(dtype=bool),
            sensitive=result.sensitive[idx], rule=rule,
            stats={**result.stats, "joint_cells": len(v), "joint_model": model.kind})
        start += n


def _binding_refs(engine: BoundEngine, system: JointSystem, hidden: np.ndarray, band: np.ndarray,
                  failing: np.ndarray, rule: ProtectionRule) -> list[str]:
    """The earlier responses whose figures an intruder's best derivation of a failing count uses (non-zero
    duals of its LP bounds, on the side where the rule fails)."""
    hid, lo, hi = _bands(system, hidden, band)
    _, glo, ghi = engine.group_pattern(hid, lo, hi)
    engine.set_group_bounds(glo, ghi)
    groups = system.model.groups
    refs: set[str] = set()
    for g in dict.fromkeys(groups[failing].tolist()):
        low, high, _ = engine.group_range(g, rule, settle="none")
        sides = [s for s, bad in ((+1, low > 1), (-1, high < rule.threshold - 1)) if bad]
        for sense in sides if rule.kind == "band" else (+1, -1):
            for b in engine.binding_groups(g, sense):
                refs |= {system.owners[i][0] for i in np.flatnonzero((groups == b) & system.fixed)}
    return sorted(refs)


def _end(x: float) -> str:
    return "any" if np.isinf(x) else str(int(x))


def _fmt_band(lo: float, hi: float, value: float | None) -> str:
    if value is not None:
        return str(int(value))
    return f"{int(lo)} to {'any' if np.isinf(hi) else int(hi)}"


@dataclass(frozen=True)
class ReportAudit:
    """`foikit audit`: a past response's withheld counts against everything published before and after it."""

    ref: str
    before: tuple[str, ...]
    after: tuple[str, ...]
    lines: tuple[str, ...]
    passed_before: bool
    passed_all: bool
    jointly: bool = True  # False when every part counts distinct units (nothing to combine)


def audit_entry(entry: LedgerEntry, ledger: Ledger, data: CaseData, where: str, rule: ProtectionRule) -> ReportAudit:
    """Re-run the joint audit of ``entry`` (fixed, as published) against the rest of ``ledger``, requiring
    ``rule`` (the one ``entry`` was published under) of its withheld small counts."""
    others = ledger.for_dataset(entry.dataset, exclude=entry.ref)
    before = tuple(e.ref for e in others.entries if e.published_at and e.published_at < entry.published_at)
    after = tuple(e.ref for e in others.entries if e.ref not in before)
    own = [r for r in entry.parts if r.additive]
    lines: list[str] = [f"{r.part}: counts distinct {r.unit}, not combined with other responses (a distinct count "
                        "is not a sum over a finer partition); its own audit is in audit.json"
                        for r in entry.parts if not r.additive]
    verdicts = []
    for label, refs in (("published before it", before), ("everything published", before + after)):
        ok = True
        for date_column in dict.fromkeys(r.date_column for r in own):
            parts = [r for r in own if r.date_column == date_column]
            pool = [r for e in others.only(refs).entries for r in e.parts
                    if r.additive and r.date_column == date_column and r.unit == parts[0].unit]
            linked = _overlapping(parts, pool)
            for_count = [replace(r, cells=r.cells.assign(now=np.nan)) for r in parts]
            system = build_system([], [*for_count, *linked], data, where)
            v = system.values.astype(float)
            mine = np.array([ref == entry.ref for ref, _ in system.owners])
            # every withheld small count (today's count from 1 to threshold-1, whatever its marker): its own
            # against what came before it; every response's against everything published
            threshold = rule.threshold
            marked = system.withheld & (system.stated_lo >= 1) & (system.stated_hi <= threshold - 1)
            sensitive = (system.small(threshold) | marked) & (mine if label != "everything published" else True)
            hid, lo, hi = _bands(system, np.ones(len(v), bool), np.zeros((2, len(v))))
            res = audit(system.model, system.values, hid, lo, hi, sensitive, rule)
            ok &= res.passed
            lines.append(f"against {label} ({', '.join(dict.fromkeys(r.ref for r in linked)) or 'nothing'}): "
                         f"{'passed' if res.passed else 'FAILED'}, {int((sensitive & mine).sum())} withheld small "
                         f"counts of its own" + ("" if label != "everything published" else
                                                 f", {int((sensitive & ~mine).sum())} of the others combined"))
            for i in np.flatnonzero(sensitive & ~res.cell_passed):
                lines.append(f"  {system.labels[i]}: derivable range [{int(res.lower[i])}, {int(res.upper[i])}]")
        verdicts.append(ok)
    return ReportAudit(entry.ref, before, after, tuple(lines), verdicts[0], verdicts[1], jointly=bool(own))


def with_counts(ledger: Ledger, data: CaseData, where: str = "ledger") -> Ledger:
    """``ledger`` with today's count of every additive cell's definition (``now``), from one group-by per
    date basis over the partition of all of them: what a report keeps as ledger.json."""
    records = [r for e in ledger.entries for r in e.parts if r.additive]
    nows: dict[int, np.ndarray] = {}
    outside: dict[int, dict[str, int]] = {}
    for date_column in dict.fromkeys(r.date_column for r in records):
        group = [r for r in records if r.date_column == date_column]
        stripped = [replace(r, cells=r.cells.drop(columns="now", errors="ignore"), outside_now={}) for r in group]
        system = build_system([], stripped, data, where)
        start = 0
        for r, s in zip(group, stripped, strict=True):
            nows[id(r)] = system.values[start:start + len(r.cells)]
            outside[id(r)] = system.outside.get(id(s), {})
            start += len(r.cells)
    entries = []
    for e in ledger.entries:
        parts = tuple(replace(r, cells=r.cells.assign(now=nows[id(r)]), outside_now=outside[id(r)]) if id(r) in nows
                      else r for r in e.parts)
        entries.append(replace(e, parts=parts))
    return replace(ledger, entries=tuple(entries))  # what was ignored stays listed


def _renamed(entry: LedgerEntry, ref: str) -> LedgerEntry:
    return replace(entry, ref=ref, parts=tuple(replace(p, ref=ref) for p in entry.parts))


def ledger_for_run(reports_dir: str | Path, request: Request, data: CaseData, force: bool = False,
                   where: str = "params", ignore: Sequence[str] = ()) -> Ledger:
    """What a run of ``request`` is audited against (:func:`select_ledger`), with today's counts."""
    return with_counts(select_ledger(reports_dir, request.ref, data.dictionary.name, force, where, ignore),
                       data, where)


def select_ledger(reports_dir: str | Path, ref: str, dataset: str, force: bool = False,
                  where: str = "params", ignore: Sequence[str] = ()) -> Ledger:
    """What a run of request ``ref`` over ``dataset`` is audited against: every report in ``reports_dir``
    (superseded versions ``<ref>.vN`` included: what was published stays published) and every import in
    ``ledger/`` beside it over the same dataset, except the request's own report. A re-run of an existing
    report keeps to the responses that report was audited against, so that it reproduces; ``force`` (a new
    publication) takes all of them, and the report it supersedes too, under the name it will be kept as.

    A report folder over the dataset (or over an unknown one) that cannot be read as a ledger entry stops the
    run, unless named in ``ignore`` (``--ignore REF``): then it is listed as not checked in the record."""
    reports_dir = Path(reports_dir)
    ledger = load_ledger(reports_dir, reports_dir.resolve().parent / LEDGER_DIR)
    ledger = check_readable(ledger, dataset, where, ignore)
    recorded = reports_dir / ref / LEDGER_JSON
    if force and (reports_dir / ref).is_dir():
        kept_as = next_version(reports_dir, ref)
        ledger = replace(ledger, entries=tuple(_renamed(e, kept_as) if e.ref == ref else e
                                               for e in ledger.entries))
    ledger = ledger.for_dataset(dataset, exclude=ref)
    if recorded.is_file() and not force:
        try:
            refs = [e["ref"] for e in json.loads(recorded.read_text(encoding="utf-8"))["entries"]]
        except (OSError, ValueError, KeyError, TypeError):
            raise DataError(f"{recorded}: cannot be read as the ledger this report was audited against; "
                            "nothing written (use --force to publish anew against everything)") from None
        ledger = ledger.only(refs)
    return ledger


def audit_report(report: str | Path, data: CaseData | None = None, ignore: Sequence[str] = ()) -> ReportAudit:
    """`foikit audit reports/<ref>`: the report's withheld counts against every other response in the
    reports folder it sits in (and ``ledger/`` beside it), published before it and after it. Today's counts
    come from ``data``, by default the source its recorded params name. Another report folder that cannot be
    read as a ledger entry stops the audit, as it stops a run, unless named in ``ignore``."""
    report = Path(report)
    if not (report / "cells.json").is_file():
        raise DataError(f"{report}: not a foikit report with a ledger entry (no cells.json)")
    try:
        entry = read_report_entry(report)
    except ParamsError as exc:
        raise DataError(f"{report}: cannot be read as a ledger entry ({exc})") from None
    ledger = load_ledger(report.parent, report.resolve().parent.parent / LEDGER_DIR)
    ledger = check_readable(ledger, entry.dataset, str(report), ignore)
    params = report / PARAMS_COPY
    request = parse_request(read_yaml(params, "recorded params"), str(params))  # the policy it was published under
    if data is None:
        data = open_source_for(request, str(params))
    return audit_entry(entry, ledger, data, str(report), Policy.of(request).protection_rule)
