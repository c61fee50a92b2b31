"""An intruder written for the tests, independently of foikit.sdc.linear and foikit.sdc.audit.

From a response's published.csv alone it sets up the counts of a part as non-negative integer unknowns,
adds every published cell as a constraint (a shown value exactly, a marker as the band it declares) and asks
scipy's MILP solver whether a withheld cell can take a given value.

Two ways to set up the unknowns:
- ``"cube"``: every cell of the full count cube over all the part's dimensions (always exact, slow when
  the cube is large);
- ``"tables"``: the inner cells of each table, with the tables' shared margins made to agree (exact when
  the tables' dimension sets form a decomposable design, such as tables that share only ``year``).
"""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
from scipy.optimize import Bounds, LinearConstraint, milp
from scipy.sparse import csr_array


def _dims_of(rows: pd.DataFrame, dim_cols: list[str]) -> list[str]:
    return [d for d in dim_cols if (rows[d] != "").any()]


class Intruder:
    """The system an intruder can write down for one part of a published response."""

    def __init__(self, published: pd.DataFrame, part: str, bands: dict[str, tuple[float, float]],
                 unknowns: str = "tables") -> None:
        rows = published[published["part"] == part]
        dim_cols = [c for c in published.columns if c not in {"part", "table", "value", "marker"}]
        self.rows = rows
        self.dims = _dims_of(rows, dim_cols)
        self.cats = {d: sorted(set(rows[d]) - {""}) for d in self.dims}
        table_dims = {t: tuple(_dims_of(g, self.dims)) for t, g in rows.groupby("table", sort=False)}
        if unknowns == "cube":
            blocks = {"cube": tuple(self.dims)}
        else:
            sets = sorted(set(table_dims.values()), key=len, reverse=True)
            blocks = {}
            for dims in sets:
                if not any(set(dims) <= set(b) for b in blocks.values()):
                    blocks["+".join(dims)] = dims
        # unknowns: the inner cells of each block
        self.block_cells: dict[str, np.ndarray] = {}
        offsets, n = {}, 0
        for name, dims in blocks.items():
            cells = np.array(list(itertools.product(*(self.cats[d] for d in dims))), dtype=object)
            self.block_cells[name] = cells.reshape(len(cells), len(dims))
            offsets[name] = n
            n += len(cells)
        self.n = n
        self.blocks, self.offsets = blocks, offsets

        def indicator(block: str, fixed: dict[str, str]) -> np.ndarray:
            dims, cells = blocks[block], self.block_cells[block]
            match = np.ones(len(cells), dtype=bool)
            for k, d in enumerate(dims):
                if d in fixed:
                    match &= cells[:, k] == fixed[d]
            row = np.zeros(n)
            row[offsets[block] : offsets[block] + len(cells)] = match
            return row

        A, lo, hi, self.index = [], [], [], []
        for i, cell in rows.iterrows():
            fixed = {d: cell[d] for d in self.dims if cell[d] != ""}
            block = next(b for b, dims in blocks.items() if set(table_dims[cell["table"]]) <= set(dims))
            A.append(indicator(block, fixed))
            if cell["value"] != "":
                lo.append(float(cell["value"]))
                hi.append(float(cell["value"]))
            else:
                lo.append(bands[cell["marker"]][0])
                hi.append(bands[cell["marker"]][1])
            self.index.append(i)
        # the tables count the same population: their shared margins agree
        names = list(blocks)
        for a, b in itertools.combinations(names, 2):
            shared = [d for d in blocks[a] if d in blocks[b]]
            for combo in itertools.product(*(self.cats[d] for d in shared)):
                fixed = dict(zip(shared, combo, strict=True))
                A.append(indicator(a, fixed) - indicator(b, fixed))
                lo.append(0.0)
                hi.append(0.0)
        self.A = np.vstack(A)
        self.lo, self.hi = np.array(lo), np.array(hi)

    def can_be(self, row: int, value: float) -> bool:
        """Is there a non-negative integer table, consistent with everything published, where the
        withheld cell ``row`` (a published.csv row index) equals ``value``?"""
        j = self.index.index(row)
        lo, hi = self.lo.copy(), self.hi.copy()
        lo[j] = hi[j] = value
        res = milp(np.zeros(self.n), constraints=LinearConstraint(csr_array(self.A), lo, hi),
                   integrality=np.ones(self.n), bounds=Bounds(0, np.inf))
        return res.status == 0

    def range_of(self, row: int) -> tuple[float, float]:
        """Smallest and largest value of the withheld cell ``row``."""
        j = self.index.index(row)
        ends = []
        for sign in (1.0, -1.0):
            res = milp(sign * self.A[j], constraints=LinearConstraint(csr_array(self.A), self.lo, self.hi),
                       integrality=np.ones(self.n), bounds=Bounds(0, np.inf))
            assert res.status in (0, 3), res.message  # 3: unbounded above
            ends.append(sign * res.fun if res.status == 0 else np.inf)
        return ends[0], ends[1]
