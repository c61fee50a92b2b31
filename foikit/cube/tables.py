"""Tables as views of the cube: every cell (totals included) is a sum of cube cells.

A table's cells are held in long form, one row per cell: a column per dimension of the table holding the
category, or '' where the cell sums over that dimension (a total), and the true ``value``.
"""

from __future__ import annotations

import itertools

import pandas as pd

from foikit.cube.engine import Cube
from foikit.exceptions import DataError
from foikit.request.dictionary import Dictionary
from foikit.request.params import Table

TOTAL = "Total"


def _keys(dims: list[str], cube: Cube) -> list[tuple[str, ...]]:
    """Category combinations of ``dims`` in table order, then the all-'' total key."""
    if not dims:
        return [()]
    inner = list(itertools.product(*(cube.categories[d] for d in dims)))
    return [*inner, ("",) * len(dims)]


def _margin(cube: Cube, kept: tuple[str, ...]) -> dict[tuple[str, ...], int]:
    if not kept:
        return {(): int(cube.counts.sum())}
    summed = cube.counts.groupby(level=list(kept)).sum()
    full = pd.MultiIndex.from_product([list(cube.categories[d]) for d in kept], names=list(kept))
    if len(kept) == 1:
        summed.index = pd.MultiIndex.from_arrays([summed.index], names=list(kept))
    summed = summed.reindex(full, fill_value=0)
    return {tuple(k): int(v) for k, v in summed.items()}


def table_cells(cube: Cube, table: Table) -> pd.DataFrame:
    """All cells of ``table`` in display order (rows, then the Total row; columns, then Total).

    >>> table_cells(cube, Table(name="t", title="t", rows=["outcome"], columns=["year"]))  # doctest: +SKIP
    """
    rows, cols = list(table.rows), list(table.columns)
    margins: dict[tuple[str, ...], dict[tuple[str, ...], int]] = {}
    records = []
    for rkey in _keys(rows, cube):
        for ckey in _keys(cols, cube):
            coords = dict(zip(rows + cols, rkey + ckey, strict=True))
            kept = tuple(d for d in table.dims if coords[d] != "")
            if kept not in margins:
                margins[kept] = _margin(cube, kept)
            value = margins[kept][tuple(coords[d] for d in kept)]
            records.append({**coords, "value": value})
    return pd.DataFrame.from_records(records, columns=[*table.dims, "value"])


def reconcile(cells: pd.DataFrame, table: Table, cube: Cube) -> None:
    """Prove the table adds up: its grand total is the number of rows counted, and every total equals
    the sum of the cells it covers. Raises ``DataError`` naming the table and the cell otherwise."""
    dims = list(table.dims)
    is_total = cells[dims].eq("")
    grand = cells.loc[is_total.all(axis=1), "value"]
    if len(grand) != 1 or int(grand.iloc[0]) != cube.n_rows:
        raise DataError(
            f"table {table.name!r}: grand total {grand.tolist()} does not equal the {cube.n_rows} rows counted"
        )
    inner = cells.loc[~is_total.any(axis=1)]
    for _, cell in cells.loc[is_total.any(axis=1)].iterrows():
        match = inner
        for d in dims:
            if cell[d] != "":
                match = match.loc[match[d] == cell[d]]
        if int(match["value"].sum()) != int(cell["value"]):
            coords = {d: cell[d] or TOTAL for d in dims}
            raise DataError(f"table {table.name!r}: total {coords} = {cell['value']} but its cells sum to "
                            f"{int(match['value'].sum())}")


def pivot(cells: pd.DataFrame, table: Table, column: str, dictionary: Dictionary,
          unit_label: str = TOTAL) -> pd.DataFrame:
    """Lay out long-form cells as the printed table: row dims down, column dims across, with totals."""
    def labels(frame: pd.DataFrame, dims: list[str]) -> list[tuple[str, ...]]:
        if not dims:
            return [(unit_label,)] * len(frame)
        out = []
        for values in frame[dims].itertuples(index=False):
            is_total = all(v == "" for v in values)
            out.append((TOTAL, *[""] * (len(dims) - 1)) if is_total else tuple(values))
        return out

    rows, cols = list(table.rows), list(table.columns)
    row_labels, col_labels = labels(cells, rows), labels(cells, cols)
    row_order = list(dict.fromkeys(row_labels))
    col_order = list(dict.fromkeys(col_labels))
    grid = pd.DataFrame(index=range(len(row_order)), columns=range(len(col_order)), dtype=object)
    r_at = {k: i for i, k in enumerate(row_order)}
    c_at = {k: i for i, k in enumerate(col_order)}
    for r, c, v in zip(row_labels, col_labels, cells[column], strict=True):
        grid.iat[r_at[r], c_at[c]] = v
    row_names = [dictionary.label(d) for d in rows] or [""]
    col_names = [dictionary.label(d) for d in cols] or [""]
    grid.index = pd.MultiIndex.from_tuples(row_order, names=row_names) if len(rows) > 1 else \
        pd.Index([k[0] for k in row_order], name=row_names[0])
    grid.columns = pd.MultiIndex.from_tuples(col_order, names=col_names) if len(cols) > 1 else \
        pd.Index([k[0] for k in col_order], name=col_names[0])
    return grid
