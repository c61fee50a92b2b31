import itertools

import numpy as np
import pytest
from scipy.optimize import linprog

from foikit.sdc.linear import build_model, is_decomposable


def all_cells(categories, tables):
    """Every cell of every table (inner cells and all margins), in a fixed order."""
    cells = []
    for name, dims in tables.items():
        for combo in itertools.product(*[[*categories[d], None] for d in dims]):
            cells.append((name, dict(zip(dims, combo, strict=True))))
    return cells


def test_gyo():
    assert is_decomposable([["a", "b"], ["b", "c"], ["b", "d"]])
    assert is_decomposable([["a", "b", "c"], ["b", "c", "d"], ["d", "e"]])
    assert is_decomposable([["a"], ["b"]])
    assert is_decomposable([])
    assert not is_decomposable([["a", "b"], ["b", "c"], ["a", "c"]])
    assert not is_decomposable([["a", "b"], ["b", "c"], ["c", "d"], ["d", "a"]])


def test_small_table_rows():
    cats = {"r": ["a", "b"], "c": ["m", "f"]}
    cells = all_cells(cats, {"t": ["r", "c"]})
    m = build_model(cats, {"t": ["r", "c"]}, cells)
    assert m.kind == "reduced" and m.n_vars == 4 and m.E.shape[0] == 0
    dense = m.A.toarray()
    # row (a, None) sums a/m and a/f; grand total sums everything
    assert dense[2].tolist() == [1, 1, 0, 0]
    assert dense[-1].tolist() == [1, 1, 1, 1]
    assert len(set(m.groups.tolist())) == 9
    assert m.is_total.tolist() == [False, False, True, False, False, True, True, True, True]


def test_groups_shared_across_tables():
    cats = {"year": ["2020", "2021"], "outcome": ["x", "y", "z"], "rank": ["p", "q"]}
    tables = {"by_year": ["year"], "yo": ["year", "outcome"], "yr": ["year", "rank"]}
    cells = all_cells(cats, tables)
    m = build_model(cats, tables, cells)
    assert m.kind == "reduced"
    assert m.n_vars == 2 * 3 + 2 * 2
    # shared margin: 'year' -> one equality per year
    assert m.E.shape[0] == 2

    def idx(t, **co):
        return next(i for i, (tt, c) in enumerate(cells) if tt == t and c == co)

    g = m.groups
    a = idx("by_year", year="2020")
    b = idx("yo", year="2020", outcome=None)
    c = idx("yr", year="2020", rank=None)
    assert g[a] == g[b] == g[c]
    grand = [idx("by_year", year=None), idx("yo", year=None, outcome=None), idx("yr", year=None, rank=None)]
    assert len({g[i] for i in grand}) == 1
    assert g[idx("yo", year="2020", outcome="x")] != g[a]
    assert (m.A[a] != m.A[c]).nnz == 0


def test_non_decomposable_uses_full_cube():
    cats = {"a": ["0", "1"], "b": ["0", "1", "2"], "c": ["0", "1"]}
    tables = {"ab": ["a", "b"], "bc": ["b", "c"], "ac": ["a", "c"]}
    m = build_model(cats, tables, all_cells(cats, tables))
    assert m.kind == "full"
    assert m.n_vars == 12
    assert m.E.shape[0] == 0


def test_single_category_dimension_groups_with_total():
    cats = {"a": ["only"], "b": ["x", "y"]}
    cells = [("t", {"a": "only", "b": "x"}), ("t", {"a": None, "b": "x"})]
    m = build_model(cats, {"t": ["a", "b"]}, cells)
    assert m.groups[0] == m.groups[1]


def test_rejects_bad_input():
    cats = {"a": ["0", "1"]}
    with pytest.raises(ValueError, match="unknown category"):
        build_model(cats, {"t": ["a"]}, [("t", {"a": "2"})])
    with pytest.raises(ValueError, match="unknown table"):
        build_model(cats, {"t": ["a"]}, [("u", {"a": "0"})])
    with pytest.raises(ValueError, match="not in the table"):
        build_model(cats, {"t": ["a"]}, [("t", {"a": "0", "b": "1"})])


def lp_bounds(model, values, visible, row):
    """min/max of ``row @ x`` given the visible cells, via scipy's linprog (independent of foikit.sdc.audit)."""
    A = model.A.toarray().astype(float)
    E = model.E.toarray().astype(float)
    A_eq = np.vstack([E, A[visible]])
    b_eq = np.concatenate([np.zeros(len(E)), np.asarray(values, float)[visible]])
    out = []
    for sign in (1, -1):
        r = linprog(sign * row, A_eq=A_eq, b_eq=b_eq, bounds=(0, None), method="highs")
        assert r.status == 0
        out.append(sign * r.fun)
    return out


def test_reduced_and_full_give_same_lp_bounds_three_tables():
    cats = {"year": ["y1", "y2", "y3"], "o": ["o1", "o2", "o3"], "r": ["r1", "r2"], "s": ["F", "M"]}
    tables = {"by_year": ["year"], "yo": ["year", "o"], "yr": ["year", "r"], "ys": ["year", "s"]}
    cells = all_cells(cats, tables)
    red = build_model(cats, tables, cells)
    full = build_model(cats, tables, cells, kind="full")
    assert red.kind == "reduced" and full.kind == "full"
    assert full.n_vars == 3 * 3 * 2 * 2 and red.n_vars == 9 + 6 + 6
    rng = np.random.default_rng(3)
    cube = rng.integers(0, 6, size=(3, 3, 2, 2))
    x_full = cube.ravel()
    values = full.A @ x_full
    visible = rng.random(len(cells)) < 0.5
    for i in np.flatnonzero(~visible)[:12]:
        lo_r, hi_r = lp_bounds(red, values, visible, red.A[i].toarray().ravel().astype(float))
        lo_f, hi_f = lp_bounds(full, values, visible, full.A[i].toarray().ravel().astype(float))
        assert lo_r == pytest.approx(lo_f, abs=1e-7)
        assert hi_r == pytest.approx(hi_f, abs=1e-7)
