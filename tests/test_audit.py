import itertools
import math

import numpy as np
import pytest

from foikit.sdc.audit import ProtectionRule, audit
from foikit.sdc.linear import build_model

INF = np.inf


def grid(rows, cols, inner):
    """A two-way table with all margins: (model, values, index lookup)."""
    cats = {"r": list(rows), "c": list(cols)}
    cells, values = [], []
    inner = np.asarray(inner)
    for i, r in enumerate([*rows, None]):
        for j, c in enumerate([*cols, None]):
            cells.append(("t", {"r": r, "c": c}))
            rs = slice(None) if r is None else i
            cs = slice(None) if c is None else j
            values.append(int(inner[rs, cs].sum()))
    m = build_model(cats, {"t": ["r", "c"]}, cells)

    def idx(r, c):
        return next(k for k, (_, co) in enumerate(cells) if co == {"r": r, "c": c})

    return m, np.array(values), idx


def c_bands(n):
    return np.zeros(n), np.full(n, INF)


def test_problemdata_derives_hidden_cell_exactly():
    # sdcTable's problemdata: every row and column has >= 2 hidden cells, yet w/b is exact.
    inner = [[30, 47, 64, 89], [90, 124, 5, 31], [92, 100, 59, 85], [800, 991, 651, 685]]
    m, v, idx = grid("wxyz", "abcd", inner)
    assert v[idx(None, None)] == 3943
    assert [v[idx(None, c)] for c in "abcd"] == [1012, 1262, 779, 890]
    hidden_cells = ["wa", "wb", "wc", "xa", "xc", "yb", "yd", "zb", "zd"]
    hidden = np.zeros(m.n_cells, bool)
    for rc in hidden_cells:
        hidden[idx(rc[0], rc[1])] = True
    sens = np.zeros(m.n_cells, bool)
    sens[idx("w", "b")] = True
    lo, hi = c_bands(m.n_cells)
    res = audit(m, v, hidden, lo, hi, sens, ProtectionRule("not_exact"))
    wb = idx("w", "b")
    assert (res.lower[wb], res.upper[wb]) == (47, 47)
    assert not res.passed
    assert [f.index for f in res.failures()] == [wb]
    assert math.isnan(res.lower[idx("w", "d")])
    hidden[idx("x", "b")] = True
    res2 = audit(m, v, hidden, lo, hi, sens, ProtectionRule("not_exact"))
    assert res2.lower[wb] < 47 < res2.upper[wb]
    assert res2.passed


def test_sdc_testproblem_rectangle_audit():
    m, v, idx = grid("ABCD", ["male", "female"], [[18, 2], [14, 19], [12, 10], [11, 14]])
    hidden = np.zeros(m.n_cells, bool)
    for r in "AC":
        for c in ["male", "female"]:
            hidden[idx(r, c)] = True
    lo, hi = c_bands(m.n_cells)
    af = idx("A", "female")
    lo[af], hi[af] = 1, 3
    sens = np.zeros(m.n_cells, bool)
    sens[af] = True
    res = audit(m, v, hidden, lo, hi, sens, ProtectionRule("not_exact", threshold=4))
    assert res.passed
    assert (res.lower[af], res.upper[af]) == (1, 3)
    # A/male = 20 - A/female, so it ranges over [17, 19]
    assert (res.lower[idx("A", "male")], res.upper[idx("A", "male")]) == (17, 19)


def one_way(values_inner):
    cats = {"k": [f"k{i}" for i in range(len(values_inner))]}
    cells = [("t", {"k": k}) for k in cats["k"]] + [("t", {"k": None})]
    m = build_model(cats, {"t": ["k"]}, cells)
    return m, np.array([*values_inner, sum(values_inner)])


def test_four_xx_under_xx_total_are_exactly_one():
    m, v = one_way([1, 1, 1, 1])
    n = m.n_cells
    hidden = np.ones(n, bool)
    res = audit(m, v, hidden, np.ones(n), np.full(n, 4.0), np.ones(n, bool), ProtectionRule())
    assert res.lower.tolist() == [1, 1, 1, 1, 4]
    assert res.upper.tolist() == [1, 1, 1, 1, 4]
    assert not res.passed
    assert len(res.failures()) == 5


def test_three_xx_under_xx_total_are_at_most_two():
    m, v = one_way([1, 1, 2])
    n = m.n_cells
    res = audit(m, v, np.ones(n, bool), np.ones(n), np.full(n, 4.0), np.ones(n, bool), ProtectionRule())
    assert res.lower.tolist() == [1, 1, 1, 3]
    assert res.upper.tolist() == [2, 2, 2, 4]
    assert not res.passed
    # the not_exact rule is still met
    res2 = audit(m, v, np.ones(n, bool), np.ones(n), np.full(n, 4.0), np.ones(n, bool),
                 ProtectionRule("not_exact"))
    assert res2.passed


def test_two_xx_alone_in_row_with_total_two():
    m, v, idx = grid(["r1", "r2"], ["a", "b"], [[1, 1], [10, 12]])
    hidden = np.zeros(m.n_cells, bool)
    lo, hi = c_bands(m.n_cells)
    sens = np.zeros(m.n_cells, bool)
    for c in "ab":
        i = idx("r1", c)
        hidden[i] = sens[i] = True
        lo[i], hi[i] = 1, 4
    res = audit(m, v, hidden, lo, hi, sens, ProtectionRule())
    assert res.lower[idx("r1", "a")] == res.upper[idx("r1", "a")] == 1
    assert not res.passed


def test_visible_sensitive_cell_fails_and_twin_reveals():
    cats = {"y": ["2020", "2021"], "o": ["a", "b"]}
    tables = {"by_year": ["y"], "yo": ["y", "o"]}
    cells = [("by_year", {"y": "2020"}), ("by_year", {"y": "2021"}),
             ("yo", {"y": "2020", "o": "a"}), ("yo", {"y": "2020", "o": "b"}),
             ("yo", {"y": "2020", "o": None})]
    m = build_model(cats, tables, cells)
    v = np.array([3, 9, 1, 2, 3])
    assert m.groups[0] == m.groups[4]
    sens = np.zeros(5, bool)
    sens[0] = sens[4] = True
    hidden = np.zeros(5, bool)
    hidden[4] = True  # its twin in by_year stays visible
    lo, hi = c_bands(5)
    res = audit(m, v, hidden, lo, hi, sens, ProtectionRule())
    assert not res.cell_passed[0] and not res.cell_passed[4]
    assert res.lower[4] == res.upper[4] == 3


def test_min_width_rule_and_unbounded_upper():
    m, v = one_way([2, 9, 7])
    n = m.n_cells
    hidden = np.array([True, True, False, True])  # total hidden too: no upper bound
    sens = np.array([True, False, False, False])
    lo, hi = c_bands(n)
    res = audit(m, v, hidden, lo, hi, sens, ProtectionRule("min_width", width=5))
    assert res.lower[0] == 0 and res.upper[0] == INF
    assert res.passed
    hidden[3] = False
    res = audit(m, v, hidden, lo, hi, sens, ProtectionRule("min_width", width=12))
    assert (res.lower[0], res.upper[0]) == (0, 11)
    assert not res.passed
    assert "derivable range [0, 11]" in res.report()


def test_band_outside_true_value_is_rejected():
    m, v = one_way([7, 9])
    with pytest.raises(ValueError, match="outside the band"):
        audit(m, v, np.array([True, True, False]), np.array([1, 0, 0]), np.array([4, INF, INF]),
              np.array([True, False, False]), ProtectionRule())


def test_bounds_match_brute_force_on_non_decomposable_cube():
    # (a x b, b x c, a x c) over a 2x2x2 cube: the full-cube model.  Compare every
    # derivable range with an enumeration of all integer cubes (entries 0..4;
    # the visible a x b table caps each entry at 4).
    cats = {"a": ["0", "1"], "b": ["0", "1"], "c": ["0", "1"]}
    tables = {"ab": ["a", "b"], "bc": ["b", "c"], "ac": ["a", "c"]}
    cells = []
    for t, dims in tables.items():
        for combo in itertools.product(*[cats[d] for d in dims]):
            cells.append((t, dict(zip(dims, combo, strict=True))))
    m = build_model(cats, tables, cells)
    assert m.kind == "full"
    A = m.A.toarray()
    cubes = np.array(list(itertools.product(range(5), repeat=8)))
    published = cubes @ A.T
    rng = np.random.default_rng(7)
    for _ in range(25):
        x = rng.integers(0, 3, size=8)
        v = A @ x
        hidden = np.zeros(12, bool)
        hidden[4:] = rng.random(8) < 0.6
        xx = hidden & (v >= 1) & (v <= 4) & (rng.random(12) < 0.5)
        lo = np.where(xx, 1.0, 0.0)
        hi = np.where(xx, 4.0, INF)
        res = audit(m, v, hidden, lo, hi, xx, ProtectionRule(), exact_all=True)
        ok = np.all((published == v) | hidden, axis=1)
        ok &= np.all((published >= lo) & (published <= hi) | ~hidden, axis=1)
        for i in np.flatnonzero(hidden):
            assert (res.lower[i], res.upper[i]) == (published[ok, i].min(), published[ok, i].max())
