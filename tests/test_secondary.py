import itertools

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from foikit.sdc.audit import ProtectionRule, audit
from foikit.sdc.linear import build_model
from foikit.sdc.secondary import Pattern, SecondaryPolicy, UnprotectableError, protect, withhold_tables


def make_part(categories, tables, cube, dims, kind=None):
    """All cells (inner + margins) of ``tables``, valued from a full ``cube`` over ``dims``."""
    cells = []
    for name, tdims in tables.items():
        for combo in itertools.product(*[[*categories[d], None] for d in tdims]):
            cells.append((name, dict(zip(tdims, combo, strict=True))))
    cube = np.asarray(cube)
    values = []
    for _, co in cells:
        sl = tuple(slice(None) if co.get(d) is None else categories[d].index(co[d]) for d in dims)
        values.append(int(cube[sl].sum()))
    return build_model(categories, tables, cells, kind=kind), np.array(values), cells


def find(cells, table, **coords):
    return next(i for i, (t, co) in enumerate(cells) if t == table and co == coords)


def check_pattern(model, values, sensitive, pat: Pattern, rule):
    """Independent re-audit of a pattern plus the basic invariants."""
    assert pat.audit.passed
    assert pat.hidden[sensitive].all()
    # whole groups are hidden together
    for g in np.unique(model.groups[pat.hidden]):
        assert pat.hidden[model.groups == g].all()
    assert all((m == "") == (not h) for m, h in zip(pat.markers, pat.hidden, strict=True))
    res = audit(model, values, pat.hidden, pat.band_lo, pat.band_hi, sensitive, rule)
    assert res.passed
    return res


# --- reference case 1: sdcTable sdc_testproblem ------------------------------------------
SDC_CATS = {"region": ["A", "B", "C", "D"], "gender": ["male", "female"]}
SDC_CUBE = [[18, 2], [14, 19], [12, 10], [11, 14]]


def sdc_problem():
    m, v, cells = make_part(SDC_CATS, {"t": ["region", "gender"]}, SDC_CUBE, ["region", "gender"])
    assert v[find(cells, "t", region=None, gender=None)] == 100
    sens = np.zeros(m.n_cells, bool)
    sens[find(cells, "t", region="A", gender="female")] = True
    return m, v, cells, sens


def inner_hidden(cells, pat):
    return {(co["region"], co["gender"]) for i, (_, co) in enumerate(cells) if pat.hidden[i]}


@pytest.mark.parametrize("rule", [ProtectionRule("not_exact", threshold=4),
                                  ProtectionRule("band", threshold=4)])
def test_sdc_testproblem_exact_value_cost(rule):
    m, v, cells, sens = sdc_problem()
    pol = SecondaryPolicy(threshold=4, rule=rule, method="exact", cost="value")
    pat = protect(m, v, sens, pol)
    check_pattern(m, v, sens, pat, rule)
    assert inner_hidden(cells, pat) == {("A", "male"), ("A", "female"), ("C", "male"), ("C", "female")}
    assert pat.stats["hidden_value"] == 42
    assert pat.stats["optimal"]
    assert pat.markers[find(cells, "t", region="A", gender="female")] == "[xx]"
    assert pat.markers[find(cells, "t", region="C", gender="male")] == "[c]"
    assert pat.reasons[find(cells, "t", region="C", gender="male")] == "secondary"


@pytest.mark.parametrize("method", ["exact", "fast"])
def test_sdc_testproblem_cell_cost(method):
    m, v, cells, sens = sdc_problem()
    rule = ProtectionRule("not_exact", threshold=4)
    pat = protect(m, v, sens, SecondaryPolicy(threshold=4, rule=rule, method=method))
    check_pattern(m, v, sens, pat, rule)
    hid = inner_hidden(cells, pat)
    assert len(hid) == 4 and pat.hidden.sum() == 4
    assert {("A", "male"), ("A", "female")} <= hid
    other = {r for r, _ in hid} - {"A"}
    assert len(other) == 1
    (r,) = other
    assert {(r, "male"), (r, "female")} <= hid


def test_sdc_testproblem_fast_value_cost_is_near_optimal():
    m, v, _cells, sens = sdc_problem()
    rule = ProtectionRule("not_exact", threshold=4)
    pat = protect(m, v, sens, SecondaryPolicy(threshold=4, rule=rule, cost="value"))
    check_pattern(m, v, sens, pat, rule)
    assert pat.stats["hidden_value"] <= 42 * 1.25


# --- reference case 3: two tables sharing the outcome margin ------------------------------
def two_table_part():
    cats = {"outcome": ["o1", "o2", "o3"], "rank": ["r1", "r2", "r3"], "sex": ["F", "M"]}
    # cube outcome x rank x sex; o1 has 3 cases, all rank r2 and sex M
    cube = np.zeros((3, 3, 2), int)
    cube[0, 1, 1] = 3
    cube[1] = [[4, 6], [5, 7], [8, 7]]
    cube[2] = [[9, 11], [2, 7], [5, 6]]
    tables = {"X": ["outcome", "rank"], "Y": ["outcome", "sex"]}
    m, v, cells = make_part(cats, tables, cube, ["outcome", "rank", "sex"])
    return m, v, cells


def test_cross_table_recovery_and_fix():
    m, v, cells = two_table_part()
    assert m.kind == "reduced"
    sens = (v >= 1) & (v <= 4)
    x_o1 = find(cells, "X", outcome="o1", rank=None)
    y_o1 = find(cells, "Y", outcome="o1", sex=None)
    assert m.groups[x_o1] == m.groups[y_o1]
    assert v[x_o1] == 3 and sens[x_o1]
    # primary suppression only: the o1 total is recovered (e.g. from X's visible zeros
    # and column totals), and so is Y's o1/M
    hidden = sens.copy()
    lo = np.where(hidden, 1.0, 0.0)
    hi = np.where(hidden, 4.0, np.inf)
    res = audit(m, v, hidden, lo, hi, sens, ProtectionRule())
    assert not res.passed
    assert res.lower[y_o1] == res.upper[y_o1] == 3
    ym = find(cells, "Y", outcome="o1", sex="M")
    assert res.lower[ym] == res.upper[ym] == 3
    pat = protect(m, v, sens, SecondaryPolicy())
    check_pattern(m, v, sens, pat, ProtectionRule())
    sec_tables = {cells[i][0] for i in np.flatnonzero(np.array(pat.reasons) == "secondary")}
    assert sec_tables == {"X", "Y"}


def test_protect_is_deterministic():
    m, v, _cells = two_table_part()
    sens = (v >= 1) & (v <= 4)
    a = protect(m, v, sens, SecondaryPolicy())
    b = protect(m, v, sens, SecondaryPolicy())
    assert a.markers == b.markers and a.reasons == b.reasons


def test_withhold_table():
    m, v, cells = two_table_part()
    sens = (v >= 1) & (v <= 4)
    pat = withhold_tables(m, v, sens, SecondaryPolicy(), ["X"])
    xs = [i for i, (t, _) in enumerate(cells) if t == "X"]
    assert all(pat.reasons[i] == "withheld" for i in xs)
    assert pat.audit.passed
    assert not any(pat.reasons[i] == "withheld" for i, (t, _) in enumerate(cells) if t == "Y")


# --- reference case 4: two [xx] alone in a row whose total is 2 -------------------------
def test_two_xx_with_row_total_two():
    cats = {"r": ["r1", "r2"], "c": ["a", "b"]}
    m, v, cells = make_part(cats, {"t": ["r", "c"]}, [[1, 1], [10, 12]], ["r", "c"])
    sens = np.zeros(m.n_cells, bool)
    sens[find(cells, "t", r="r1", c="a")] = sens[find(cells, "t", r="r1", c="b")] = True
    pat = protect(m, v, sens, SecondaryPolicy())
    res = check_pattern(m, v, sens, pat, ProtectionRule())
    assert pat.stats["n_secondary"] >= 1
    for c in "ab":
        i = find(cells, "t", r="r1", c=c)
        assert res.lower[i] <= 1 and res.upper[i] >= 4
    # the row total 2 cannot stay visible (it would cap both cells at 2... or pin them)
    assert pat.hidden[find(cells, "t", r="r1", c=None)]


# --- reference case 5: [xx] cells under an [xx] total -------------------------------------
def one_way(inner):
    cats = {"k": [f"k{i}" for i in range(len(inner))]}
    return make_part(cats, {"t": ["k"]}, inner, ["k"])


def test_four_xx_under_xx_total_needs_honest_markers():
    m, v, _cells = one_way([1, 1, 1, 1])
    sens = np.ones(m.n_cells, bool)
    pat = protect(m, v, sens, SecondaryPolicy())
    check_pattern(m, v, sens, pat, ProtectionRule())
    assert pat.hidden.all()
    assert "[c]" in pat.markers
    assert set(pat.reasons) == {"primary"}
    with pytest.raises(UnprotectableError) as err:
        protect(m, v, sens, SecondaryPolicy(allow_marker_switch=False))
    msg = str(err.value)
    assert "t[k=k0]: derivable range [1, 1]" in msg
    assert "merge" in msg and "withhold" in msg
    assert isinstance(err.value, ValueError)
    assert {c.index for c in err.value.cells} == set(range(5))


def test_three_xx_under_xx_total():
    m, v, _cells = one_way([1, 1, 2])
    sens = np.ones(m.n_cells, bool)
    pat = protect(m, v, sens, SecondaryPolicy())
    check_pattern(m, v, sens, pat, ProtectionRule())
    # not_exact is met by the [xx] bands alone: no marker needs changing
    pat2 = protect(m, v, sens, SecondaryPolicy(rule=ProtectionRule("not_exact")))
    assert pat2.markers == ["[xx]"] * 4


def test_unprotectable_when_totals_must_stay_visible():
    m, v, _cells = one_way([2, 10])
    sens = np.array([True, False, False])
    with pytest.raises(UnprotectableError, match=r"t\[k=k0\]: derivable range \[2, 2\]"):
        protect(m, v, sens, SecondaryPolicy(), keep_visible=np.array([False, True, True]))
    pat = protect(m, v, sens, SecondaryPolicy(), keep_visible=np.array([False, False, True]))
    assert pat.reasons == ["primary", "secondary", ""]


def test_no_sensitive_cells_hides_nothing():
    m, v, _cells = one_way([7, 10])
    pat = protect(m, v, np.zeros(3, bool), SecondaryPolicy())
    assert not pat.hidden.any() and pat.audit.passed


def test_sensitive_value_outside_band_gets_honest_marker():
    m, v, _cells = one_way([0, 10, 9])
    sens = np.array([True, False, False, False])  # caller protects a zero
    pat = protect(m, v, sens, SecondaryPolicy())
    assert pat.markers[0] == "[c]"
    assert pat.audit.passed


# --- reference case 6: property test on small random tables -------------------------------
DESIGNS = {
    "2way": {"t": ["a", "b"]},
    "chain": {"ab": ["a", "b"], "bc": ["b", "c"], "by_b": ["b"]},
    "star": {"ab": ["a", "b"], "ac": ["a", "c"], "a": ["a"]},
    "3way": {"abc": ["a", "b", "c"], "ab": ["a", "b"]},
}


@st.composite
def small_parts(draw):
    tables = DESIGNS[draw(st.sampled_from(sorted(DESIGNS)))]
    dims = sorted({d for ds in tables.values() for d in ds})
    sizes = {d: draw(st.integers(2, 3)) for d in dims}
    cats = {d: [f"{d}{i}" for i in range(sizes[d])] for d in dims}
    shape = tuple(sizes[d] for d in dims)
    n = int(np.prod(shape))
    flat = draw(st.lists(st.sampled_from([0, 0, 1, 2, 3, 5, 8, 13]), min_size=n, max_size=n))
    return cats, tables, np.array(flat).reshape(shape), dims


@settings(max_examples=40, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(small_parts(), st.sampled_from(["band", "not_exact"]))
def test_property_protect_passes_and_models_agree(part, kind):
    cats, tables, cube, dims = part
    m, v, _cells = make_part(cats, tables, cube, dims)
    rule = ProtectionRule(kind)
    sens = (v >= 1) & (v <= 4)
    pat = protect(m, v, sens, SecondaryPolicy(rule=rule))
    check_pattern(m, v, sens, pat, rule)
    assert not (sens & ~pat.hidden).any()
    assert m.kind == "reduced"
    full, v_full, _ = make_part(cats, tables, cube, dims, kind="full")
    assert (v_full == v).all()
    r_red = audit(m, v, pat.hidden, pat.band_lo, pat.band_hi, sens, rule, exact_all=True)
    r_full = audit(full, v, pat.hidden, pat.band_lo, pat.band_hi, sens, rule, exact_all=True)
    np.testing.assert_array_equal(r_red.lower, r_full.lower)
    np.testing.assert_array_equal(r_red.upper, r_full.upper)


def test_exact_mode_never_worse_than_fast_on_two_tables():
    m, v, _cells = two_table_part()
    sens = (v >= 1) & (v <= 4)
    fast = protect(m, v, sens, SecondaryPolicy())
    exact = protect(m, v, sens, SecondaryPolicy(method="exact", time_limit=30))
    check_pattern(m, v, sens, exact, ProtectionRule())
    if exact.stats["optimal"]:
        assert exact.stats["cost"] <= fast.stats["cost"] + 1e-9
