"""The count cube of a part: filter the case data to the part's population, then one group-by.

Every published cell, totals included, is a sum of cube cells, so everything downstream (tables,
suppression, audit, published files) works from the cube and never from case-level rows. The group-by is
described once (:class:`foikit.cubespec.CubeSpec`) and computed where the data lives: here with pandas, or
in the database (:mod:`foikit.sql`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta

import numpy as np
import pandas as pd

from foikit.cubespec import AFFECTED, COUNT, CubeSpec, DimSpec, PeriodSpec, empty_result
from foikit.dictionary import NOT_RECORDED, Dictionary
from foikit.exceptions import DataError
from foikit.params import Part
from foikit.sources import CaseData

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
    return PeriodSpec(name=part.period_dim, column=part.date_column, kind={"calendar_year": "calendar",
                      "financial_year": "financial", "range": "range"}[part.period],
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


def _period_codes(spec: PeriodSpec, raw: pd.Series, where: str, source: str) -> np.ndarray:
    """Index of the period each row falls in, -1 for none; unparseable dates are an error."""
    # Parse each distinct day once: a few thousand days stand for millions of rows.
    index, days = pd.factorize(raw.to_numpy(), use_na_sentinel=False)
    dates = pd.to_datetime(pd.Series(days, dtype=object), format="%Y-%m-%d", errors="coerce")
    bad_days = dates.isna().to_numpy() & (days != "")
    if bad_days.any():
        bad = raw[bad_days[index]]
        rows = ", ".join(f"row {i + 1} ({v!r})" for i, v in bad.head(5).items())
        raise DataError(f"{where}.date_column: column {spec.column!r} of {source} has {len(bad)} values that "
                        f"are not dates (YYYY-MM-DD): {rows}")
    day_codes = np.full(len(days), -1, dtype=np.int64)
    values = dates.to_numpy()
    for i, (start, end) in enumerate(zip(spec.starts, spec.ends, strict=True)):
        day_codes[(values >= np.datetime64(start)) & (values < np.datetime64(end))] = i
    return day_codes[index]


def _dim_codes(dim: DimSpec, raw: pd.Series, where: str, source: str) -> np.ndarray:
    index, values = pd.factorize(raw.to_numpy(), use_na_sentinel=False)  # map each distinct value once
    mapping = dim.code_of()
    value_codes = pd.Series(values, dtype=object).map(mapping)
    missing = values == ""
    if dim.missing in dim.categories:
        value_codes[missing] = dim.categories.index(dim.missing)
    unknown_values = value_codes.isna().to_numpy() & ~missing
    if unknown_values.any():
        if dim.other is None:
            unknown = unknown_values[index]
            counts = raw[unknown].value_counts().sort_index()
            listed = ", ".join(f"{v!r} ({n} rows)" for v, n in counts.head(20).items())
            first = ", ".join(str(i + 1) for i in raw.index[unknown][:5])
            raise DataError(f"{where}: column {dim.column!r} of {source} has values that are not in the data "
                            f"dictionary: {listed} (first at data rows {first})")
        value_codes[unknown_values] = dim.categories.index(dim.other)
    return value_codes.to_numpy(dtype=np.int64)[index]


def population(spec: CubeSpec, frame: pd.DataFrame, where: str, source: str) -> tuple[np.ndarray, np.ndarray]:
    """Which rows the part counts (filters passed, inside a period), and each row's period code."""
    keep = np.ones(len(frame), dtype=bool)
    for column, values in spec.filters.items():
        keep &= frame[column].isin(values).to_numpy()
    period = _period_codes(spec.period, frame[spec.period.column], where, source)
    return keep & (period >= 0), period


def pandas_cube(spec: CubeSpec, frame: pd.DataFrame, where: str, source: str = "data") -> pd.DataFrame:
    """Compute ``spec`` on case rows held in pandas (every value a string, '' for missing); the result is
    in codes, in the shape of :func:`foikit.cubespec.empty_result`."""
    keep, period = population(spec, frame, where, source)
    counted = list(dict.fromkeys([*(d.column for d in spec.dims), *spec.unit_key]))
    rows = frame.loc[keep, counted]  # only the columns counted, not the whole row
    coded = pd.DataFrame({spec.period.name: period[keep]}, index=rows.index)
    for dim in spec.dims:
        coded[dim.name] = _dim_codes(dim, rows[dim.column], where, source)
    by = [spec.period.name, *(d.name for d in spec.dims)]
    if not spec.unit_key:
        out = coded.groupby(by, sort=True).size().rename(COUNT).reset_index()
        out[AFFECTED] = 0
        return out.astype("int64") if len(out) else empty_result(spec)
    for key in spec.unit_key:
        coded[f"key:{key}"] = rows[key]
    keys = [f"key:{k}" for k in spec.unit_key]
    grouped = coded.groupby([*keys, spec.period.name], sort=True)
    units = grouped.agg({d.name: ("min" if d.resolve == "first" else "max") for d in spec.dims}) \
        if spec.dims else grouped.size().to_frame().iloc[:, :0]
    several = grouped.nunique()[[d.name for d in spec.dims]].gt(1).any(axis=1) if spec.dims else False
    units[AFFECTED] = np.asarray(several, dtype=np.int64) if spec.dims else 0
    units = units.reset_index()
    out = units.groupby(by, sort=True).agg(n=(AFFECTED, "size"), affected=(AFFECTED, "sum")).reset_index()
    return out.astype("int64") if len(out) else empty_result(spec)


def check_frame(spec: CubeSpec, part: Part, data: CaseData, where: str) -> None:
    """Refuse a request that does not fit the data: every error names the field, the column and values."""
    frame = data.frame
    needed = {spec.period.column: f"{where}.date_column", **{c: f"{where}.filter.{c}" for c in spec.filters}}
    for i, table in enumerate(part.tables):
        needed.update({d: f"{where}.tables.{i}" for d in table.dims if d != spec.period.name})
    needed.update({k: f"{where}.counting_unit" for k in spec.unit_key})
    for column, field in needed.items():
        if column not in frame.columns:
            raise DataError(f"{field}: column {column!r} is not in {data.where} "
                            f"(columns: {', '.join(frame.columns)})")
    for column, wanted in spec.filters.items():
        present = set(frame[column].unique())
        absent = [v for v in wanted if v not in present]
        if absent:
            raise DataError(f"{where}.filter.{column}: {absent} not found in column {column!r} of {data.where} "
                            f"(values: {sorted(present)[:20]})")
    recorded = (data.coverage or {}).get(spec.period.column)
    if recorded is not None:
        covered = {i for i, label in enumerate(spec.period.labels) if _label_year(spec.period, i) in recorded}
    else:
        covered = set(np.unique(_period_codes(spec.period, frame[spec.period.column], where, data.where)))
    if not set(range(len(spec.period.labels))) <= covered:
        years = sorted(set(frame[spec.period.column].str[:4]) - {""})
        raise _periods_without_data(spec, covered, data, where,
                                    f" (data covers {years[0]}-{years[-1]})" if years else " (data covers nothing)")


def _periods_without_data(spec: CubeSpec, covered: set[int], data: CaseData, where: str,
                          covers: str = "") -> DataError:
    missing = [label for i, label in enumerate(spec.period.labels) if i not in covered]
    field = "ranges" if spec.period.kind == "range" else "years"
    return DataError(f"{where}.{field}: no data for {', '.join(missing)} in {data.where} by "
                     f"{spec.period.column}{covers}")


def _nothing_counted(spec: CubeSpec, data: CaseData, where: str) -> DataError:
    return DataError(f"{where}: no rows of {data.where} match the filter in the periods asked for "
                     f"(filter {dict(spec.filters)}, periods {', '.join(spec.period.labels)})")


def spec_for(data: CaseData, part: Part, where: str) -> CubeSpec:
    """The part's group-by over ``data``; columns the dictionary does not describe take their categories from
    their distinct values, read where the data lives."""
    if data.relation is not None:
        from foikit import sql

        rel = data.relation
        return build_spec(part, data.dictionary,
                          lambda c: sql.observed_values(rel, c) if c in rel.names else [], where)
    frame = data.frame
    return build_spec(part, data.dictionary,
                      lambda c: sorted(set(frame[c].unique())) if c in frame.columns else [], where)


def _label_year(period: PeriodSpec, i: int) -> str:
    return str(period.starts[i].year)


def count_cube(data: CaseData, part: Part, where: str = "params") -> Cube:
    """Filter to the part's population and count by all its dimensions in one group-by.

    >>> cube = count_cube(open_source(DataSource()), part)  # doctest: +SKIP
    >>> int(cube.counts.sum()) == cube.n_rows
    True
    """
    if data.relation is not None:
        return _count_in_database(data, part, where)
    spec = spec_for(data, part, where)
    check_frame(spec, part, data, where)
    result = pandas_cube(spec, data.frame, where, data.where)
    if result.empty:
        raise _nothing_counted(spec, data, where)
    return cube_from_codes(spec, result, part, data.dictionary)


def _count_in_database(data: CaseData, part: Part, where: str) -> Cube:
    """The same cube, counted by one query where the rows live (:mod:`foikit.sql`)."""
    from foikit import sql

    rel = data.relation
    spec = spec_for(data, part, where)
    sql.check(spec, rel, where)
    covered = sql.covered_periods(spec, rel)
    if not set(range(len(spec.period.labels))) <= covered:
        raise _periods_without_data(spec, covered, data, where)
    result, query = sql.sql_cube(spec, rel, where, validate=False, allow_empty=True)
    if result.empty:
        raise _nothing_counted(spec, data, where)
    return cube_from_codes(spec, result, part, data.dictionary, query=query)


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
        affected=int(result[AFFECTED].sum()), query=query,
    )
