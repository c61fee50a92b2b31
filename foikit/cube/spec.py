"""What a part's count cube is, independent of where the data lives: one group-by, said once.

A ``CubeSpec`` is computed by a backend — pandas (:mod:`foikit.cube.engine`) or SQL through SQLAlchemy, DuckDB
included (:mod:`foikit.source.sql`) — and every backend must give the same counts. The result is in *codes*: the
period as its index in ``period.labels``, each dimension as its index in ``DimSpec.categories``; the caller
turns codes into the full cube.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date
from typing import Literal

import pandas as pd

COUNT = "n"  # the count column of a computed cube
AFFECTED = "affected"  # units with more than one value of a dimension in a period (distinct units only)
_ISO_DAY = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")  # ASCII digits only (\d also matches other scripts')
PAD = " \t\r\n\u00a0"  # characters that may not surround a value: the same set in every engine


def iso_day(value: str) -> date | None:
    """The calendar day a date value names, on every engine: ``YYYY-MM-DD`` zero-padded, optionally followed
    by ``T`` or a space and a time, which is ignored (a DATE or TIMESTAMP column as text reads so); None for
    anything else ('2021-1-5', '05/01/2021', '2021-02-30')."""
    if len(value) > 10 and value[10] not in "T ":
        return None
    day = value[:10]
    if not _ISO_DAY.fullmatch(day):
        return None
    try:
        return date.fromisoformat(day)
    except ValueError:
        return None


def padded(value: str) -> bool:
    """Whether a value begins or ends with a space (or tab, newline, no-break space)."""
    return bool(value) and (value[0] in PAD or value[-1] in PAD)


@dataclass(frozen=True)
class DimSpec:
    """A breakdown: source ``column`` -> published category, as the index into ``categories``.

    ``codes`` maps raw values to published labels (several raw values may share a label: that is a merge).
    A raw value that is not in ``codes`` is published as ``other`` when set, else it is an error
    (backends report each unknown value with its count). Null or empty values count as ``missing``.
    With distinct units, a unit with several values in one period takes the one that comes ``first`` or
    ``last`` in ``categories`` (e.g. the most serious outcome)."""

    name: str
    column: str
    codes: dict[str, str]
    categories: tuple[str, ...]
    other: str | None = None
    missing: str = "Not recorded"
    resolve: Literal["first", "last"] = "first"

    def code_of(self) -> dict[str, int]:
        """Raw value -> index of its published category."""
        at = {label: i for i, label in enumerate(self.categories)}
        return {raw: at[label] for raw, label in self.codes.items()}


@dataclass(frozen=True)
class PeriodSpec:
    """Which date places a row in which period: ``labels[i]`` covers ``starts[i] <= date < ends[i]``.

    Periods never overlap, so every row falls in at most one and tables stay additive."""

    name: str
    column: str
    kind: Literal["calendar", "financial", "range"]
    labels: tuple[str, ...]
    starts: tuple[date, ...]
    ends: tuple[date, ...]


@dataclass(frozen=True)
class CubeSpec:
    """One part's group-by: rows passing ``filters`` (column -> allowed raw values) and falling in a period,
    counted by period and every dimension; ``unit_key`` empty counts rows, else distinct units."""

    filters: dict[str, tuple[str, ...]]
    period: PeriodSpec
    dims: tuple[DimSpec, ...]
    unit_key: tuple[str, ...] = ()
    columns: tuple[str, ...] = field(default=())  # every source column the spec reads

    def __post_init__(self) -> None:
        used = [*self.filters, self.period.column, *(d.column for d in self.dims), *self.unit_key]
        object.__setattr__(self, "columns", tuple(dict.fromkeys(used)))


def empty_result(spec: CubeSpec) -> pd.DataFrame:
    """The shape every backend returns: period code, a code column per dimension, count, affected."""
    cols = [spec.period.name, *(d.name for d in spec.dims), COUNT, AFFECTED]
    return pd.DataFrame({c: pd.Series(dtype="int64") for c in cols})
