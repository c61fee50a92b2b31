"""The count cube of a part: filter the case data to the part's population, then one group-by.

Every published cell, totals included, is a sum of cube cells, so everything downstream (tables,
suppression, audit, published files) works from the cube and never from case-level rows.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from foikit.dictionary import NOT_RECORDED, YEAR
from foikit.exceptions import DataError
from foikit.params import Part
from foikit.sources import CaseData


@dataclass(frozen=True)
class Cube:
    """Counts by every dimension of a part, over the full product of their categories (zeros kept)."""

    counts: pd.Series  # MultiIndex over ``dims``; int64
    categories: dict[str, tuple[str, ...]]
    n_rows: int  # filtered rows that went into the counts
    unit: str  # counting unit name, from the data dictionary
    unit_description: str
    date_column: str

    @property
    def dims(self) -> tuple[str, ...]:
        return tuple(self.categories)


def _as_list(value: object) -> list[str]:
    return [str(v) for v in value] if isinstance(value, list) else [str(value)]


def _years(frame: pd.DataFrame, column: str, where: str, data: CaseData) -> pd.Series:
    raw = frame[column]
    dates = pd.to_datetime(raw, format="%Y-%m-%d", errors="coerce")
    bad = raw[dates.isna()]
    if len(bad):
        rows = ", ".join(f"row {i + 1} ({v!r})" for i, v in bad.head(5).items())
        raise DataError(
            f"{where}.date_column: column {column!r} of {data.path} has {len(bad)} values that are not "
            f"dates (YYYY-MM-DD): {rows}"
        )
    return dates.dt.year.astype(str)


def select(data: CaseData, part: Part, where: str) -> pd.DataFrame:
    """Rows of the part's population with a ``year`` column; errors name ``where`` (file and part)."""
    frame = data.frame
    columns = set(frame.columns)
    needed = {part.date_column: f"{where}.date_column"}
    needed.update({c: f"{where}.filter.{c}" for c in part.filter})
    for i, table in enumerate(part.tables):
        needed.update({d: f"{where}.tables.{i}" for d in table.dims if d != YEAR})
    for column, field in needed.items():
        if column not in columns:
            raise DataError(
                f"{field}: column {column!r} is not in {data.path} (columns: {', '.join(frame.columns)})"
            )
    if part.counting_unit not in data.dictionary.units:
        raise DataError(
            f"{where}.counting_unit: {part.counting_unit!r} is not a unit of dictionary "
            f"{data.dictionary.source} (units: {', '.join(data.dictionary.units)})"
        )

    keep = np.ones(len(frame), dtype=bool)
    for column, value in part.filter.items():
        wanted = _as_list(value)
        present = set(frame[column].unique())
        absent = [v for v in wanted if v not in present]
        if absent:
            raise DataError(
                f"{where}.filter.{column}: {absent} not found in column {column!r} of {data.path} "
                f"(values: {sorted(present)[:20]})"
            )
        keep &= frame[column].isin(wanted).to_numpy()

    years = _years(frame, part.date_column, where, data)
    recorded = (data.coverage or {}).get(part.date_column)
    covered = set(recorded) if recorded else set(years.unique())
    missing = [y for y in part.years if str(y) not in covered]
    if missing:
        raise DataError(
            f"{where}.years: no data for {missing} in {data.path} by {part.date_column} "
            f"(data covers {min(covered)}-{max(covered)})"
        )
    keep &= years.isin([str(y) for y in part.years]).to_numpy()
    rows = frame.loc[keep, [d for d in part.dims if d != YEAR]].copy()
    rows[YEAR] = years[keep]
    for column, groups in part.merge.items():
        if column not in part.dims or column == YEAR:
            raise DataError(f"{where}.merge.{column}: not a dimension of any table of this part "
                            f"(dimensions: {', '.join(part.dims)})")
        known = set(data.dictionary.categories(column) or frame[column].unique())
        for label, members in groups.items():
            absent = [m for m in members if m not in known]
            if absent:
                raise DataError(f"{where}.merge.{column}.{label}: {absent} are not categories of {column!r}")
        mapping = {old: new for new, olds in groups.items() for old in olds}
        rows[column] = rows[column].replace(mapping)
    return rows


def _merged(categories: list[str], groups: dict[str, list[str]]) -> list[str]:
    """Categories with each merged group in place of its first member, its other members gone."""
    label_of = {old: new for new, olds in groups.items() for old in olds}
    return list(dict.fromkeys(label_of.get(c, c) for c in categories))


def categories_for(data: CaseData, part: Part, rows: pd.DataFrame) -> dict[str, tuple[str, ...]]:
    """Categories of each dimension in table order: the dictionary's, else sorted observed values;
    'Not recorded' is added last where the data has missing values, so that no row is dropped."""
    out: dict[str, tuple[str, ...]] = {}
    for dim in part.dims:
        if dim == YEAR:
            out[dim] = tuple(str(y) for y in part.years)
            continue
        declared = data.dictionary.categories(dim)
        observed = set(rows[dim].unique())
        cats = list(declared) if declared else sorted(observed - {""})
        if dim in part.merge:
            cats = _merged(cats, part.merge[dim])
        if "" in observed and NOT_RECORDED not in cats:
            cats.append(NOT_RECORDED)
        out[dim] = tuple(cats)
    return out


def count_cube(data: CaseData, part: Part, where: str = "params") -> Cube:
    """Filter to the part's population and count by all its dimensions in one group-by.

    >>> cube = count_cube(open_source(DataSource()), part)  # doctest: +SKIP
    >>> int(cube.counts.sum()) == cube.n_rows
    True
    """
    rows = select(data, part, where)
    categories = categories_for(data, part, rows)
    dims = list(categories)
    for dim in dims:
        rows[dim] = pd.Categorical(rows[dim].replace("", NOT_RECORDED), categories=categories[dim])
    grouped = rows.groupby(dims, observed=False).size()
    index = grouped.index
    if not isinstance(index, pd.MultiIndex):
        index = pd.MultiIndex.from_arrays([index], names=dims)
    grouped.index = pd.MultiIndex.from_arrays([index.get_level_values(d).astype(str) for d in dims], names=dims)
    full = pd.MultiIndex.from_product([list(categories[d]) for d in dims], names=dims)
    counts = grouped.reindex(full, fill_value=0).astype(np.int64)
    return Cube(
        counts=counts,
        categories=categories,
        n_rows=len(rows),
        unit=part.counting_unit,
        unit_description=data.dictionary.units[part.counting_unit],
        date_column=part.date_column,
    )
