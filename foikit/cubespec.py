"""What a part's count cube is, independent of where the data lives: one group-by, said once.

A ``CubeSpec`` is computed by a backend — pandas (:mod:`foikit.cube`) or SQL through SQLAlchemy, DuckDB
included (:mod:`foikit.sql`) — and every backend must give the same counts. The result is in *codes*: the
period as its index in ``period.labels``, each dimension as its index in ``DimSpec.categories``; the caller
turns codes into the full cube.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Literal

import pandas as pd

COUNT = "n"  # the count column of a computed cube
AFFECTED = "affected"  # units with more than one value of a dimension in a period (distinct units only)


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
