"""A whole response: for each part, its cube, its tables and their suppression, from one request."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import pandas as pd

from foikit.cube.engine import Cube, count_cube
from foikit.cube.tables import pivot, reconcile, table_cells
from foikit.exceptions import FoikitError
from foikit.request.params import Part, Request, Table
from foikit.request.policy import Policy
from foikit.sdc.audit import AuditResult
from foikit.source.data import CaseData, open_source
from foikit.suppress import protect_part

if TYPE_CHECKING:
    from foikit.ledger.joint import LedgerCheck


@dataclass(frozen=True)
class PartResult:
    """One part of a response: its cube and the long-form cells of all its tables."""

    spec: Part
    cube: Cube
    cells: pd.DataFrame  # table, <part dims>, value, hidden, marker, reason, shown, lower, upper
    data: CaseData = field(repr=False)
    audit: AuditResult = field(repr=False)
    stats: dict = field(default_factory=dict, repr=False)

    def table_cells(self, name: str) -> pd.DataFrame:
        table = self.table_spec(name)
        return self.cells.loc[self.cells["table"] == name, [*table.dims, "value", "hidden", "marker",
                                                            "reason", "shown", "lower", "upper"]
                              ].reset_index(drop=True)

    def table_spec(self, name: str) -> Table:
        for table in self.spec.tables:
            if table.name == name:
                return table
        raise KeyError(f"part {self.spec.name!r} has no table {name!r}")

    def true_table(self, name: str) -> pd.DataFrame:
        """The table's true counts, for the internal record (never published)."""
        return self._pivot(name, "value")

    def published_table(self, name: str) -> pd.DataFrame:
        """The table as published: small counts replaced by their marker."""
        return self._pivot(name, "shown")

    def _pivot(self, name: str, column: str) -> pd.DataFrame:
        return pivot(self.table_cells(name), self.table_spec(name), column, self.data.dictionary)


@dataclass(frozen=True)
class Response:
    """Every part of an answered request. ``published()`` is the long-form published.csv."""

    request: Request
    data: CaseData
    parts: list[PartResult]
    ledger: LedgerCheck | None = None  # the joint audit with earlier responses, when a ledger was given

    @property
    def policy(self) -> Policy:
        """The request's suppression policy: everything else about it derives from this."""
        return Policy.of(self.request)

    def part(self, name: str) -> PartResult:
        for part in self.parts:
            if part.spec.name == name:
                return part
        raise KeyError(f"response has no part {name!r}")

    @property
    def passed(self) -> bool:
        """True when the disclosure audit passes for every part: the gate for publishing."""
        return all(part.audit.passed for part in self.parts)

    def published(self) -> pd.DataFrame:
        """One row per published cell: part, table, a column per dimension ('' = summed over), value
        ('' when withheld) and marker."""
        dims = list(self.request.dims)
        frames = []
        for part in self.parts:
            cells = part.cells.reindex(columns=["table", *dims, "value", "hidden", "marker"], fill_value="")
            cells.insert(0, "part", part.spec.name)
            frames.append(cells)
        out = pd.concat(frames, ignore_index=True)
        shown = pd.concat([part.cells["shown"] for part in self.parts], ignore_index=True)
        # a rounded cell is published as its rounded value; a withheld one with no value
        out["value"] = shown.where(~out["hidden"].astype(bool), "")
        return out.drop(columns="hidden").astype(str)


def part_cells(cube: Cube, part: Part) -> pd.DataFrame:
    """Every cell of every table of ``part`` in long form (table, <part dims>, true value), in the order
    published.csv lists them, each table proved to add up to the cube."""
    frames = []
    for table in part.tables:
        cells = table_cells(cube, table)
        reconcile(cells, table, cube)
        cells.insert(0, "table", table.name)
        frames.append(cells)
    cells = pd.concat(frames, ignore_index=True)
    dims = list(part.dims)
    cells[dims] = cells[dims].fillna("")
    return cells


def answer_part(data: CaseData, part: Part, policy: Policy, where: str) -> PartResult:
    cube = count_cube(data, part, where)
    cells = part_cells(cube, part)
    protection = protect_part(cells, cube.categories, {t.name: t.dims for t in part.tables},
                              policy.secondary_policy(part.withhold_tables), policy.rounding, where=where)
    return PartResult(spec=part, cube=cube, cells=protection.cells, data=data, audit=protection.audit,
                      stats=protection.stats)


def open_source_for(request: Request, source: str = "params") -> CaseData:
    """The case data ``request`` names; errors are prefixed with ``source`` and the field ``data``."""
    try:
        return open_source(request.data, request.template)
    except FoikitError as exc:
        raise exc.within(f"{source}: data") from None


def answer_alone(request: Request, data: CaseData | None = None, source: str = "params") -> Response:
    """Count, tabulate and suppress every part of ``request`` on its own (:func:`foikit.ledger.joint.answer`
    adds the earlier responses of a ledger). ``source`` names the params file in error messages."""
    if data is None:
        data = open_source_for(request, source)
    policy = Policy.of(request)
    parts = [
        answer_part(data, part, policy, f"{source}: parts.{i}")
        for i, part in enumerate(request.parts)
    ]
    return Response(request=request, data=data, parts=parts)
