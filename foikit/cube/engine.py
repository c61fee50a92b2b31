"""The count cube of a part: filter the case data to the part's population, then one group-by.

Every published cell, totals included, is a sum of cube cells, so everything downstream (tables,
suppression, audit, published files) works from the cube and never from case-level rows. The group-by is
described once (:class:`foikit.cube.spec.CubeSpec`) and computed where the data lives, by the query builder
of :mod:`foikit.cube.sql`: in DuckDB for a file or a frame, else in the source's database (or Spark).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Literal

import numpy as np
import pandas as pd

from foikit.cube import sql
from foikit.cube.spec import AFFECTED, COUNT, CubeSpec, DimSpec, PeriodSpec, empty_result
from foikit.exceptions import DataError
from foikit.request.dictionary import NOT_RECORDED, Dictionary
from foikit.request.params import Part
from foikit.source import sql as source_sql
from foikit.source.data import CaseData
from foikit.source.files import column_list

_PERIOD_KINDS: dict[str, Literal["calendar", "financial", "range"]] = {
    "calendar_year": "calendar", "financial_year": "financial", "range": "range"}
PERIOD_WORDS = {"calendar_year": "calendar years", "financial_year": "financial years (April to March)",
                "range": "date ranges"}


@dataclass(frozen=True)
class Cube:
    """Counts by every dimension of a part, over the full product of their categories (zeros kept)."""

    counts: pd.Series  # MultiIndex over ``dims``; int64
    categories: dict[str, tuple[str, ...]]
    n_rows: int  # rows (or distinct units) that went into the counts
    unit: str  # counting unit name, from the data dictionary
    unit_description: str
    date_column: str
    period_words: str = "calendar years"
    periods: tuple[str, ...] = ()
    rule: str = ""  # for distinct units: how a unit with several values of a breakdown is placed
    affected: int = 0  # units that rule placed
    query: str | None = None  # the SQL that ran, when the count ran in a database
    spec: CubeSpec | None = None  # the group-by that was computed

    @property
    def dims(self) -> tuple[str, ...]:
        return tuple(self.categories)


def _as_list(value: object) -> list[str]:
    return [str(v) for v in value] if isinstance(value, list) else [str(value)]


def period_spec(part: Part) -> PeriodSpec:
    """Labels and [start, end) bounds of every period the part asks for."""
    if part.period == "range":
        labels = tuple(r.label for r in part.ranges)
        starts = tuple(r.start for r in part.ranges)
        ends = tuple(r.end + timedelta(days=1) for r in part.ranges)
    elif part.period == "financial_year":
        labels = tuple(f"{y}/{(y + 1) % 100:02d}" for y in part.years)
        starts = tuple(date(y, 4, 1) for y in part.years)
        ends = tuple(date(y + 1, 4, 1) for y in part.years)
    else:
        labels = tuple(str(y) for y in part.years)
        starts = tuple(date(y, 1, 1) for y in part.years)
        ends = tuple(date(y + 1, 1, 1) for y in part.years)
    return PeriodSpec(name=part.period_dim, column=part.date_column, kind=_PERIOD_KINDS[part.period],
                      labels=labels, starts=starts, ends=ends)


def _merged(categories: list[str], groups: dict[str, list[str]]) -> list[str]:
    """Categories with each merged group in place of its first member, its other members gone."""
    label_of = {old: new for new, olds in groups.items() for old in olds}
    return list(dict.fromkeys(label_of.get(c, c) for c in categories))


def build_spec(part: Part, dictionary: Dictionary, observed: Callable[[str], list[str]], where: str) -> CubeSpec:
    """The part's group-by. ``observed(column)`` lists a column's distinct raw values ('' for missing);
    it supplies the categories of columns the dictionary does not describe."""
    if part.counting_unit not in dictionary.units:
        raise DataError(f"{where}.counting_unit: {part.counting_unit!r} is not a unit of dictionary "
                        f"{dictionary.source} (units: {', '.join(dictionary.units)})")
    period = period_spec(part)
    dims = []
    for dim in part.dims:
        if dim == period.name:
            continue
        spec = dictionary.columns.get(dim)
        raw = observed(dim)
        if spec is not None and spec.categories is not None:
            codes, categories, other = spec.code_map(), list(spec.categories), spec.other
        else:
            values = sorted(set(raw) - {""})
            codes, categories, other = {v: v for v in values}, values, None
        if dim in part.merge:
            groups = part.merge[dim]
            absent = {label: [m for m in members if m not in categories] for label, members in groups.items()}
            for label, members in absent.items():
                if members:
                    raise DataError(f"{where}.merge.{dim}.{label}: {members} are not categories of {dim!r}")
            into = {m: label for label, members in groups.items() for m in members}
            codes = {k: into.get(v, v) for k, v in codes.items()}
            other = into.get(other, other) if other else None
            categories = _merged(categories, groups)
        if "" in raw and NOT_RECORDED not in categories:
            categories.append(NOT_RECORDED)
        resolve = part.resolve.get(dim, "first")
        if isinstance(resolve, list):  # a priority order: compute in that order, first wins
            unknown = [c for c in resolve if c not in categories]
            if unknown:
                raise DataError(f"{where}.resolve.{dim}: {unknown} are not categories of {dim!r}")
            categories = [*resolve, *(c for c in categories if c not in resolve)]
            resolve = "first"
        dims.append(DimSpec(name=dim, column=dim, codes=codes, categories=tuple(categories), other=other,
                            missing=NOT_RECORDED, resolve=resolve))
    return CubeSpec(filters={c: tuple(_as_list(v)) for c, v in part.filter.items()}, period=period,
                    dims=tuple(dims), unit_key=tuple(dictionary.units[part.counting_unit].key))


def _value_codes(dim: DimSpec, values: np.ndarray) -> np.ndarray:
    """The category code of each distinct raw value: -1 for a missing value without a 'Not recorded'
    category, -2 for an unknown value without an 'other' bucket."""
    mapping = dim.code_of()
    missing_code = dim.categories.index(dim.missing) if dim.missing in dim.categories else -1
    other_code = dim.categories.index(dim.other) if dim.other is not None else -2
    return np.array([missing_code if v == "" and missing_code >= 0 else
                     mapping.get(v, -1 if v == "" else other_code) for v in values], dtype=np.int64)


def _count_cells(columns: list[np.ndarray], sizes: list[int], weights: np.ndarray | None = None
                 ) -> tuple[list[np.ndarray], np.ndarray]:
    """Non-empty cells of the product of ``columns`` (codes below ``sizes``), in sorted order, with counts
    (each row counts 1, or its positive weight): one integer key per row, counted with bincount (over unique
    keys when the product is large)."""
    key = np.zeros(len(columns[0]), dtype=np.int64)
    for codes, size in zip(columns, sizes, strict=True):
        key = key * size + codes
    total = int(np.prod(sizes, dtype=np.float64))
    if total <= 1 << 24:
        counts = np.bincount(key, weights=weights, minlength=total)
        cells = np.flatnonzero(counts)
        counts = counts[cells]
    else:
        cells, at = np.unique(key, return_inverse=True)
        counts = np.bincount(at, weights=weights, minlength=len(cells))
    cells_by_column = list(np.unravel_index(cells, sizes)) if len(cells) else [c[:0] for c in columns]
    return cells_by_column, counts.astype(np.int64)


def _row_count_result(spec: CubeSpec, columns: list[np.ndarray], weights: np.ndarray | None = None
                      ) -> pd.DataFrame:
    """The coded cube of a row count (shape of :func:`foikit.cube.spec.empty_result`) from each row's period
    and category codes."""
    sizes = [len(spec.period.labels), *(len(d.categories) for d in spec.dims)]
    cells, counts = _count_cells(columns, sizes, weights)
    names = [spec.period.name, *(d.name for d in spec.dims)]
    out = pd.DataFrame({n: c.astype(np.int64) for n, c in zip(names, cells, strict=True)})
    out[COUNT] = counts
    out[AFFECTED] = 0
    return out.astype("int64")


def _covers(years: list[str]) -> str:
    return f" (data covers {years[0]}-{years[-1]})" if years else " (data covers nothing)"


def check_columns(spec: CubeSpec, part: Part, data: CaseData, where: str) -> None:
    """Refuse a part that reads a column the data lacks, naming the field that asks for it."""
    names = list(data.relation.names)
    needed = {spec.period.column: f"{where}.date_column", **{c: f"{where}.filter.{c}" for c in spec.filters}}
    for i, table in enumerate(part.tables):
        needed.update({d: f"{where}.tables.{i}" for d in table.dims if d != spec.period.name})
    needed.update({k: f"{where}.counting_unit" for k in spec.unit_key})
    for column, field in needed.items():
        if column not in names:
            raise DataError(field, f"column {column!r} is not in {data.where} (columns: {column_list(names)})",
                            values=[column])


def check_padded(data: CaseData, spec: CubeSpec, where: str) -> None:
    """Refuse values with surrounding spaces in any column the part reads (in any row, on every engine):
    ' Upheld' is not 'Upheld', so a filter or a category would silently pass over it."""
    todo = [c for c in spec.columns if ("padded", c) not in _cache(data)]
    if todo:
        _cache(data).update({("padded", c): m for c, m in sql.padded_values(data.relation, todo, "data").items()})
    for column in spec.columns:
        message = _cache(data).get(("padded", column))
        if message:
            raise DataError(message)


def _periods_without_data(spec: CubeSpec, covered: set[int], data: CaseData, where: str,
                          covers: str = "") -> DataError:
    missing = [label for i, label in enumerate(spec.period.labels) if i not in covered]
    field = "ranges" if spec.period.kind == "range" else "years"
    return DataError(f"{where}.{field}", f"no data for {', '.join(missing)} in {data.where} by "
                     f"{spec.period.column}{covers}", values=missing)


def _nothing_counted(spec: CubeSpec, data: CaseData, where: str) -> DataError:
    return DataError(f"{where}: no rows of {data.where} match the filter in the periods asked for "
                     f"(filter {dict(spec.filters)}, periods {', '.join(spec.period.labels)})")


def _part_key(part: Part) -> str:
    return part.model_dump_json()


def _cache(data: CaseData) -> dict:
    """What was derived from these rows (a copy of ``data`` with other rows starts a cache of its own)."""
    return data.cache


def profile(data: CaseData, values: list[str], days: list[str]) -> dict[tuple[str, str], list[str]]:
    """Distinct values of database columns (``("values", column)``, NULL as '') and distinct days of date
    columns (``("days", column)``): the columns not seen before, read in one scan, then kept on ``data``."""
    rel = data.relation
    wanted = [("values", c) for c in values if c in rel.names] + [("days", c) for c in days if c in rel.names]
    todo = [w for w in dict.fromkeys(wanted) if ("profile", *w) not in _cache(data)]
    if todo:
        found = sql.column_profile(rel, [c for kind, c in todo if kind == "values"],
                                   [c for kind, c in todo if kind == "days"])
        for w in todo:
            _cache(data)[("profile", *w)] = found[w]
    return {w: _cache(data)[("profile", *w)] for w in wanted}


def missing_anywhere(data: CaseData, columns: list[str]) -> dict[str, bool]:
    """Whether each database column is ever NULL or '' (:func:`foikit.source.sql.missing_anywhere`), kept on
    ``data``."""
    todo = [c for c in columns if ("missing", c) not in _cache(data)]
    if todo:
        for c, found in source_sql.missing_anywhere(data.relation, todo).items():
            _cache(data)[("missing", c)] = found
    return {c: _cache(data)[("missing", c)] for c in columns if ("missing", c) in _cache(data)}


def spec_for(data: CaseData, part: Part, where: str) -> CubeSpec:
    """The part's group-by over ``data``; columns the dictionary does not describe take their categories from
    their distinct values, read where the data lives (once per run: the spec is kept on ``data``)."""
    key = ("spec", _part_key(part))
    if key in _cache(data):
        return _cache(data)[key]
    dims = [d for d in part.dims if d != part.period_dim]
    described = {d for d in dims if (c := data.dictionary.columns.get(d)) is not None and c.categories is not None}
    # a column the dictionary describes needs only whether it is ever missing (a 'Not recorded'
    # category); the others take their categories from their distinct values, read in one scan
    seen = profile(data, [d for d in dims if d not in described], [])
    missing = missing_anywhere(data, sorted(described))
    spec = build_spec(part, data.dictionary, lambda c: [""] if missing.get(c) else [] if c in described
                      else seen.get(("values", c), []), where)
    _cache(data)[key] = spec
    return spec


def _label_year(period: PeriodSpec, i: int) -> str:
    return str(period.starts[i].year)


def count_cube(data: CaseData, part: Part, where: str = "params") -> Cube:
    """Filter to the part's population and count by all its dimensions in one group-by.

    >>> cube = count_cube(open_source(DataSource()), part)  # doctest: +SKIP
    >>> int(cube.counts.sum()) == cube.n_rows
    True
    """
    spec, result, query = _count_in_database(data, part, where)
    return cube_from_codes(spec, result, part, data.dictionary, query=query)


def _count_in_database(data: CaseData, part: Part, where: str) -> tuple[CubeSpec, pd.DataFrame, str]:
    """The cube, counted where the rows live (DuckDB for a file, else the database) by one query over the part's
    population (the rows passing its filters): rows by period and by the raw value of each breakdown, and
    the distinct days of the date column. The checks are read from that small result and concern the rows
    that can change a figure: a date that is not a date in the population, a value with no category in a
    period asked for, a filter value that no row of the population holds (then looked up in the whole
    column). Only when one fails do the detailed queries of :func:`foikit.source.sql.check` run, so that its
    message is the same as ever. A period in which nothing was counted is then looked up in the whole
    source: 'no data' there is an error, else the 0 is real. Distinct units are then counted by the coded
    query (:func:`foikit.source.sql.sql_cube`)."""
    rel = data.relation
    spec = spec_for(data, part, where)
    check_columns(spec, part, data, where)
    # ('' as a filter value: NULL and '' are one value when counted, not in the filter)
    if sql.missing_columns(spec, rel, where) or any("" in wanted for wanted in spec.filters.values()):
        sql.check(spec, rel, where)
    check_padded(data, spec, where)
    cells, days, query = sql.population(spec, rel, where)
    bad = any(d and not sql.is_day(d) for d in days)
    inside = cells["p"] >= 0
    counted = {name: column[inside] for name, column in cells.items()}
    coded, uncoded = _coded(spec, counted)
    shown = sql._shown_filters(spec)
    seen = {c: set(cells[f"f{shown.index(c)}"].tolist()) if c in shown else set(wanted) if len(cells["p"])
            else set() for c, wanted in spec.filters.items()}
    unseen = [v for c, wanted in spec.filters.items() for v in wanted if v not in seen[c]]
    if bad or uncoded or (unseen and sql.absent_filter_values(spec, rel, where)):
        sql.check(spec, rel, where)
        raise DataError(f"{where}: {rel.label} has bad values in the rows counted")  # check names them
    covered = set(counted["p"].tolist())
    absent = [i for i in range(len(spec.period.labels)) if i not in covered]
    if absent:
        covered |= sql.covered_days(spec.period, rel, absent)
        if not set(range(len(spec.period.labels))) <= covered:
            column = spec.period.column
            raise _periods_without_data(spec, covered, data, where, _covers(
                sorted({v[:4] for v in profile(data, [], [column])[("days", column)]} - {""})))
    if coded.empty:
        raise _nothing_counted(spec, data, where)
    if spec.unit_key:  # a unit's rows are placed together: in the database, by the coded query
        result, query = sql.sql_cube(spec, rel, where, validate=False, allow_empty=True)
        return spec, result, query
    return spec, coded, query


def _coded(spec: CubeSpec, cells: dict[str, np.ndarray]) -> tuple[pd.DataFrame, bool]:
    """The coded cube (rows) from the population's cells in a period (columns as :func:`foikit.source.sql.population`
    gives them), raw values coded by :func:`_value_codes`; and whether some value has no category
    (unknown without 'other', or missing without 'Not recorded')."""
    columns = [cells["p"]]
    for i, dim in enumerate(spec.dims):
        codes, values = pd.factorize(cells[f"d{i}"], use_na_sentinel=False)
        row_codes = _value_codes(dim, np.asarray(values, dtype=object))[codes]
        if (row_codes < 0).any():
            return empty_result(spec), True
        columns.append(row_codes)
    if not len(cells["p"]):
        return empty_result(spec), False
    # merged raw values share a code: their counts add up in one cell
    return _row_count_result(spec, columns, np.asarray(cells[COUNT], dtype=np.float64)), False


def cube_from_codes(spec: CubeSpec, result: pd.DataFrame, part: Part, dictionary: Dictionary,
                    query: str | None = None) -> Cube:
    """The full cube (every category combination, zeros kept, in the part's dimension order) from a
    backend's coded result."""
    dim_of = {d.name: d for d in spec.dims}
    labels = {spec.period.name: spec.period.labels, **{d.name: d.categories for d in spec.dims}}
    # categories in published order: the dictionary's, not a resolve priority order
    order = {}
    for dim in part.dims:
        if dim in dim_of and dim in part.resolve and isinstance(part.resolve[dim], list):
            cats = list(dim_of[dim].categories)
            declared = dictionary.categories(dim)
            base = _merged(list(declared) if declared else sorted(c for c in cats if c != NOT_RECORDED),
                           part.merge.get(dim, {}))
            order[dim] = tuple([c for c in base if c in cats] + [c for c in cats if c not in base])
        else:
            order[dim] = tuple(labels[dim])
    dims = list(part.dims)
    computed = [spec.period.name, *dim_of]
    counts = pd.Series(result[COUNT].to_numpy(dtype=np.int64), index=pd.MultiIndex.from_arrays(
        [np.asarray(labels[d], dtype=object)[result[d].to_numpy(dtype=np.int64)] for d in computed],
        names=computed))
    if spec.period.name not in dims:  # no table breaks down by period: sum over it
        counts = counts.groupby(level=dims).sum() if len(counts) else counts.droplevel(spec.period.name)
        if not isinstance(counts.index, pd.MultiIndex):
            counts.index = pd.MultiIndex.from_arrays([counts.index], names=dims)
    full = pd.MultiIndex.from_product([list(order[d]) for d in dims], names=dims)
    cube = counts.reorder_levels(dims).reindex(full, fill_value=0).astype(np.int64)
    unit = dictionary.units[part.counting_unit]
    rule = ""
    if spec.unit_key:
        rules = [f"{d.name}: " + (f"the first of {', '.join(part.resolve[d.name])}" if isinstance(
            part.resolve.get(d.name), list) else f"the {d.resolve} in the dictionary's order") for d in spec.dims]
        singular = part.counting_unit.removesuffix("s")
        rule = (f"each {singular} counts once per period; one with several values of a breakdown in a period "
                f"is counted under one of them — " + "; ".join(rules))
    return Cube(
        counts=cube, categories={d: order[d] for d in dims}, n_rows=int(result[COUNT].sum()),
        unit=part.counting_unit, unit_description=unit.description, date_column=spec.period.column,
        period_words=PERIOD_WORDS[part.period], periods=spec.period.labels, rule=rule,
        affected=int(result[AFFECTED].sum()), query=query, spec=spec,
    )
