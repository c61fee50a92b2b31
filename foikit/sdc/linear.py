"""Linear model of the published cells of one response part.

Every published cell is a sum of cells of the full count cube over the union
of the part's dimensions.  When the hypergraph of the maximal tables is
decomposable (acyclic) we use the much smaller *reduced* model of Dobra &
Fienberg: the variables are the inner cells of each maximal table, tied
together by equalities on the shared margins.  Bounds over the reduced model
equal those over the full cube, both for LP and for integers (joins on
separators are transportation problems, which are totally unimodular), so the
audit can work on a few hundred variables instead of tens of thousands.

Example
-------
>>> m = build_model({"year": ["2020", "2021"], "sex": ["F", "M"]},
...                 {"by_year": ["year"], "year_sex": ["year", "sex"]},
...                 [("by_year", {"year": "2020"}),
...                  ("year_sex", {"year": "2020", "sex": None})])
>>> m.kind, m.n_vars, m.groups.tolist()
('reduced', 4, [0, 0])
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from itertools import combinations

import numpy as np
import scipy.sparse as sp

__all__ = ["LinearModel", "build_model", "is_decomposable"]

Coords = Mapping[str, "str | tuple[str, ...] | None"]


@dataclass(frozen=True)
class Block:
    """Inner cells of one maximal table (or of the full cube)."""

    dims: tuple[str, ...]
    shape: tuple[int, ...]
    offset: int

    @property
    def size(self) -> int:
        return int(np.prod(self.shape, dtype=np.int64))


@dataclass(frozen=True, eq=False)
class LinearModel:
    """Published cells as linear functions ``A @ x`` of non-negative integers ``x``.

    ``E @ x == 0`` holds for every consistent ``x``; ``groups[i] == groups[j]``
    iff cells ``i`` and ``j`` have identical rows of ``A`` (one published
    quantity shown in several places).
    """

    kind: str
    n_vars: int
    A: sp.csr_matrix
    E: sp.csr_matrix
    groups: np.ndarray
    cells: tuple[tuple[str, dict[str, str | tuple[str, ...] | None]], ...]
    categories: dict[str, tuple[str, ...]]
    tables: dict[str, tuple[str, ...]]
    dims: tuple[str, ...]
    blocks: tuple[Block, ...]
    is_total: np.ndarray = field(repr=False)

    @property
    def n_cells(self) -> int:
        return len(self.cells)

    @property
    def n_groups(self) -> int:
        return int(self.groups.max()) + 1 if len(self.groups) else 0

    def group_members(self) -> list[np.ndarray]:
        """Cell indices of each group, ascending."""
        order = np.argsort(self.groups, kind="stable")
        bounds = np.searchsorted(self.groups[order], np.arange(self.n_groups + 1))
        return [order[bounds[g]:bounds[g + 1]] for g in range(self.n_groups)]

    def group_rows(self) -> sp.csr_matrix:
        """One row of ``A`` per group (its first member)."""
        first = np.full(self.n_groups, -1)
        for i in range(len(self.groups) - 1, -1, -1):
            first[self.groups[i]] = i
        return self.A[first]

    def label(self, i: int) -> str:
        """Human-readable name of cell ``i``, e.g. ``year_sex[year=2020, sex=Total]``."""
        table, coords = self.cells[i]
        def shown(c: str | tuple[str, ...] | None) -> str:
            return "Total" if c is None else "+".join(c) if isinstance(c, tuple) else c

        parts = [f"{d}={shown(coords.get(d))}" for d in self.tables[table]]
        return f"{table}[{', '.join(parts)}]"


def is_decomposable(edges: Sequence[Sequence[str]]) -> bool:
    """GYO reduction: True iff the hypergraph with these edges is acyclic.

    >>> is_decomposable([["a", "b"], ["b", "c"]]), is_decomposable([["a", "b"], ["b", "c"], ["a", "c"]])
    (True, False)
    """
    hyper = [set(e) for e in edges]
    changed = True
    while changed:
        changed = False
        counts: dict[str, int] = {}
        for e in hyper:
            for v in e:
                counts[v] = counts.get(v, 0) + 1
        for e in hyper:
            lonely = {v for v in e if counts[v] == 1}
            if lonely:
                e -= lonely
                changed = True
        keep: list[set[str]] = []
        for i, e in enumerate(hyper):
            # An edge inside another (or a duplicate seen earlier) is an "ear".
            if any((e < f) or (e == f and j < i) for j, f in enumerate(hyper) if j != i):
                changed = True
                continue
            keep.append(e)
        hyper = keep
    return len(hyper) <= 1


def _maximal_sets(tables: Mapping[str, Sequence[str]], order: Sequence[str]) -> list[tuple[str, ...]]:
    pos = {d: i for i, d in enumerate(order)}
    uniq: list[frozenset[str]] = []
    for dims in tables.values():
        s = frozenset(dims)
        if s not in uniq:
            uniq.append(s)
    maximal = [s for s in uniq if not any(s < t for t in uniq)]
    return [tuple(sorted(s, key=pos.__getitem__)) for s in maximal]


def _block_indices(block: Block, fixed: Mapping[str, list[int]]) -> np.ndarray:
    """Variable indices of ``block`` whose coordinates are among ``fixed`` (the rest summed over)."""
    grid = np.arange(block.size).reshape(block.shape)
    axes = [np.asarray(fixed[d]) if d in fixed else np.arange(n) for d, n in zip(block.dims, block.shape, strict=True)]
    return grid[np.ix_(*axes)].ravel() + block.offset


def build_model(categories: Mapping[str, Sequence[str]],
                tables: Mapping[str, Sequence[str]],
                cells: Sequence[tuple[str, Coords]],
                *, kind: str | None = None, totals: Sequence[bool] | np.ndarray | None = None,
                tags: Sequence[int] | np.ndarray | None = None) -> LinearModel:
    """Build the linear model of the published ``cells`` of one part.

    A coordinate is a category, None (summed over the dimension) or a tuple of categories (summed over
    those). ``kind=None`` picks "reduced" when the maximal tables form a decomposable hypergraph and
    "full" otherwise; ``kind="full"`` forces the full cube. ``totals`` overrides which cells count as
    totals (default: those with a None coordinate); cells with different ``tags`` never share a group
    (the disclosure ledger keeps earlier responses' cells apart from the new response's).

    >>> m = build_model({"a": ["x", "y"], "b": ["u", "v"]}, {"t": ["a", "b"]},
    ...                 [("t", {"a": "x", "b": "u"}), ("t", {"a": None, "b": None})])
    >>> m.A.toarray().tolist()
    [[1, 0, 0, 0], [1, 1, 1, 1]]
    """
    override = None if totals is None else np.asarray(totals, dtype=bool)
    if kind not in (None, "reduced", "full"):
        raise ValueError(f"kind must be None, 'reduced' or 'full', not {kind!r}")
    cats = {d: tuple(c) for d, c in categories.items()}
    tabs = {t: tuple(ds) for t, ds in tables.items()}
    dims: list[str] = []
    for t, ds in tabs.items():
        for d in ds:
            if d not in cats:
                raise ValueError(f"table {t!r}: unknown dimension {d!r}")
            if not cats[d]:
                raise ValueError(f"dimension {d!r} has no categories")
            if d not in dims:
                dims.append(d)
    cat_pos = {d: {c: i for i, c in enumerate(cats[d])} for d in dims}

    maximal = _maximal_sets(tabs, dims)
    if kind is None:
        kind = "reduced" if is_decomposable(maximal) else "full"
    if kind == "reduced" and not is_decomposable(maximal):
        raise ValueError("reduced model needs a decomposable design")
    block_dims = maximal if kind == "reduced" else [tuple(dims)]
    blocks: list[Block] = []
    offset = 0
    for bd in block_dims:
        b = Block(bd, tuple(len(cats[d]) for d in bd), offset)
        blocks.append(b)
        offset += b.size
    n_vars = offset

    # Each cell is the sum over the cube cells matching its set coordinates.
    # Dimensions with a single category are irrelevant to that sum; dropping
    # them makes equal quantities map to the same block, hence identical rows.
    rows, cols = [], []
    is_total = np.zeros(len(cells), dtype=bool)
    for i, (t, coords) in enumerate(cells):
        if t not in tabs:
            raise ValueError(f"cell {i}: unknown table {t!r}")
        extra = set(coords) - set(tabs[t])
        if extra:
            raise ValueError(f"cell {i} of {t!r}: coordinates for dims not in the table: {sorted(extra)}")
        fixed: dict[str, list[int]] = {}
        for d in tabs[t]:
            c = coords.get(d)
            if c is None:
                is_total[i] = True
                continue
            chosen = c if isinstance(c, tuple) else (c,)
            unknown = [x for x in chosen if x not in cat_pos[d]]
            if unknown or not chosen:
                raise ValueError(f"cell {i} of {t!r}: unknown category {unknown or c!r} of {d!r}")
            positions = sorted({cat_pos[d][x] for x in chosen})
            if len(positions) < len(cats[d]):
                fixed[d] = positions
        blk = next(b for b in blocks if set(fixed) <= set(b.dims))
        idx = _block_indices(blk, fixed)
        rows.append(np.full(len(idx), i))
        cols.append(idx)
    r = np.concatenate(rows) if rows else np.zeros(0, dtype=int)
    k = np.concatenate(cols) if cols else np.zeros(0, dtype=int)
    A = sp.csr_matrix((np.ones(len(r), dtype=np.int64), (r, k)), shape=(len(cells), n_vars))
    A.sort_indices()

    # Every pair of maximal tables must agree on its shared margin (for an
    # acyclic design pairwise agreement implies a joint table exists).
    erows, ecols, evals = [], [], []
    n_e = 0
    if kind == "reduced":
        for b1, b2 in combinations(blocks, 2):
            shared = [d for d in b1.dims if d in b2.dims]
            mshape = tuple(len(cats[d]) for d in shared)
            n_m = int(np.prod(mshape, dtype=np.int64))
            for blk, sign in ((b1, 1), (b2, -1)):
                multi = np.unravel_index(np.arange(blk.size), blk.shape)
                if shared:
                    key = np.ravel_multi_index(tuple(multi[blk.dims.index(d)] for d in shared), mshape)
                else:
                    key = np.zeros(blk.size, dtype=np.int64)
                erows.append(key + n_e)
                ecols.append(np.arange(blk.size) + blk.offset)
                evals.append(np.full(blk.size, sign))
            n_e += n_m
    if n_e:
        E = sp.csr_matrix((np.concatenate(evals), (np.concatenate(erows), np.concatenate(ecols))),
                          shape=(n_e, n_vars))
    else:
        E = sp.csr_matrix((0, n_vars), dtype=np.int64)

    if override is not None:
        is_total = override
    groups = _row_groups(A, tags)
    return LinearModel(kind=kind, n_vars=n_vars, A=A, E=E, groups=groups,
                       cells=tuple((t, dict(co)) for t, co in cells), categories=cats,
                       tables=tabs, dims=tuple(dims), blocks=tuple(blocks), is_total=is_total)


def _row_groups(A: sp.csr_matrix, tags: Sequence[int] | np.ndarray | None = None) -> np.ndarray:
    """Group ids of identical rows (with equal tags), numbered by first appearance."""
    seen: dict[bytes, int] = {}
    out = np.empty(A.shape[0], dtype=np.int64)
    for i in range(A.shape[0]):
        lo, hi = A.indptr[i], A.indptr[i + 1]
        key = A.indices[lo:hi].tobytes() + b"|" + A.data[lo:hi].tobytes() + (
            b"" if tags is None else b"#%d" % tags[i])
        out[i] = seen.setdefault(key, len(seen))
    return out
