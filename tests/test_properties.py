"""Property-based tests: random case data, random breakdowns and random suppression policies.

Each example builds a small case file and a request through the public API (params parsed from a mapping,
the data read from a CSV), answers it, and tries to publish it. What is checked does not trust foikit's own
suppression or audit code: counts are recounted with plain pandas from the rows, and every withheld small
count is attacked with the independent MILP intruder of tests/intruder.py.

The profile is bounded and deterministic (derandomize: the same examples on every run), so CI sees the same
cases each time; set FOIKIT_HYPOTHESIS_EXAMPLES to explore more locally.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from hypothesis import HealthCheck, Phase, event, given, settings
from hypothesis import strategies as st
from scipy.optimize import Bounds, LinearConstraint, milp
from scipy.sparse import csr_array

import foikit
from foikit.exceptions import DisclosureError
from foikit.ledger.store import Ledger

from .intruder import Intruder

EXAMPLES = int(os.environ.get("FOIKIT_HYPOTHESIS_EXAMPLES", "60"))
# No shrinking: each example answers a request several times, so shrinking a failure could take many
# minutes; the failing example is printed as found.
PROFILE = settings(max_examples=EXAMPLES, derandomize=True, deadline=None, database=None,
                   phases=[Phase.explicit, Phase.generate],
                   suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
NOT_RECORDED = "Not recorded"
TABLE_SHAPES = {
    "a_by_year": (["a"], ["year"]),
    "b_by_year": (["b"], ["year"]),
    "a_by_b": (["a", "b"], []),
    "by_year": ([], ["year"]),
    "a_by_b_year": (["a"], ["b", "year"]),
}


@dataclass(frozen=True)
class Case:
    rows: pd.DataFrame  # a, b, date_recorded: the case data, one row per case
    tables: list[str]
    suppression: dict


@st.composite
def cases(draw: st.DrawFn) -> Case:
    n_a, n_b = draw(st.integers(1, 4)), draw(st.integers(1, 3))
    row = st.tuples(st.integers(0, n_a - 1), st.integers(-1, n_b - 1), st.sampled_from([2020, 2021]),
                    st.integers(1, 12), st.integers(1, 28))
    raw = draw(st.lists(row, min_size=1, max_size=45))
    frame = pd.DataFrame({
        "a": [f"a{a}" for a, *_ in raw],
        "b": [f"b{b}" if b >= 0 else "" for _, b, *_ in raw],  # '' = not recorded
        "date_recorded": [f"{y}-{m:02d}-{d:02d}" for *_, y, m, d in raw],
    })
    tables = draw(st.lists(st.sampled_from(sorted(TABLE_SHAPES)), min_size=1, max_size=3, unique=True))
    threshold = draw(st.integers(2, 6))  # the schema refuses 1: it would withhold nothing
    suppression: dict = {"threshold": threshold, "marker": "[xx]",
                         "secondary": {"method": draw(st.sampled_from(["fast", "fast", "exact"])),
                                       "cost": draw(st.sampled_from(["cells", "value"])),
                                       "marker_switch": draw(st.booleans()), "time_limit": 20}}
    if draw(st.integers(0, 3)) == 0:
        suppression["rounding"] = {"base": draw(st.integers(2, 6))}
    elif draw(st.booleans()):
        suppression["rule"] = "not_exact"
    return Case(frame, tables, suppression)


def request_for(case: Case, csv: Path) -> foikit.Request:
    years = sorted({int(d[:4]) for d in case.rows["date_recorded"]})
    tables = [{"name": t, "title": t, "rows": TABLE_SHAPES[t][0], "columns": TABLE_SHAPES[t][1]}
              for t in case.tables]
    # the rows are independent draws, so equal rows are distinct cases (issue 18.9: say so in a dictionary)
    dictionary = csv.with_name("dictionary.yaml")
    dictionary.write_text("name: p\nversion: 1\nduplicate_rows: allow\nunits: {rows: rows}\ncolumns: {}\n")
    return foikit.parse_request({
        "ref": "01.FOI.99.000042", "title": "Property test", "data": {"path": str(csv),
                                                                      "dictionary": str(dictionary)},
        "suppression": case.suppression,
        "parts": [{"name": "p", "title": "P", "years": years, "counting_unit": "rows", "tables": tables}],
    })


def answer(case: Case, rows: pd.DataFrame, folder: Path, name: str) -> foikit.Response:
    csv = folder / f"{name}.csv"
    rows.to_csv(csv, index=False)
    return foikit.answer(foikit.parse_request({**request_for(case, csv).model_dump(mode="json")}), ledger=Ledger())


def recount(rows: pd.DataFrame, cell: pd.Series) -> int:
    """The cell's count straight from the rows, with plain pandas."""
    keep = pd.Series(True, index=rows.index)
    if cell.get("year"):
        keep &= rows["date_recorded"].str[:4] == cell["year"]
    for dim in ("a", "b"):
        if cell.get(dim):
            keep &= rows[dim].replace("", NOT_RECORDED) == cell[dim]
    return int(keep.sum())


def range_of(intruder: Intruder, row: int, true_value: int) -> tuple[float, float]:
    """The intruder's smallest and largest value for a withheld cell. The true table satisfies every
    constraint, so a maximisation HiGHS calls 'infeasible or unbounded' is unbounded."""
    assert intruder.can_be(row, true_value)
    j = intruder.index.index(row)
    ends = []
    for sign in (1.0, -1.0):
        res = milp(sign * intruder.A[j], constraints=LinearConstraint(csr_array(intruder.A), intruder.lo,
                                                                      intruder.hi),
                   integrality=np.ones(intruder.n), bounds=Bounds(0, np.inf))
        assert res.status == 0 or sign < 0, res.message  # counts are >= 0: the minimum always exists
        ends.append(sign * res.fun if res.status == 0 else np.inf)
    return ends[0], ends[1]


def check_against_intruder(published: pd.DataFrame, truth: list[int], policy: dict) -> None:
    """Every withheld small count: the intruder's derivable range still satisfies the rule."""
    t = policy["threshold"]
    if t < 2:
        return
    bands = {"[xx]": (1.0, float(t - 1)), "[c]": (0.0, np.inf)}
    intruder = Intruder(published, "p", bands, unknowns="cube")
    for i, row in published.iterrows():
        if row["value"] == "" and 1 <= truth[i] < t:
            lo, hi = range_of(intruder, i, truth[i])
            if policy.get("rule") == "not_exact":
                assert lo < hi, (row.to_dict(), truth[i], lo, hi)
            else:
                assert lo <= 1 and hi >= t - 1, (row.to_dict(), truth[i], lo, hi)


@PROFILE
@given(cases(), st.randoms(use_true_random=False))
def test_random_requests_publish_nothing_small_and_only_what_the_audit_proves(case, rnd):
    threshold = case.suppression["threshold"]
    rounding = case.suppression.get("rounding", {}).get("base")
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        try:
            response = answer(case, case.rows, folder, "cases")
        except DisclosureError as exc:  # a clear refusal: no pattern protects every small count
            assert "refusing to publish" in str(exc).splitlines()[0]
            event("refused: no protecting pattern")
            return
        published = response.published()

        # Deterministic, and blind to row order and to rows the request does not count.
        assert answer(case, case.rows, folder, "again").published().equals(published)
        shuffled = case.rows.sample(frac=1, random_state=rnd.randint(0, 2**31))
        assert answer(case, shuffled, folder, "shuffled").published().equals(published)
        outside = case.rows.assign(date_recorded=case.rows["date_recorded"].str.replace("202", "201", n=1))
        extra = pd.concat([outside, case.rows, outside], ignore_index=True)
        assert answer(case, extra, folder, "extra").published().equals(published)

        # Every shown figure is the count of its rows (rounded, under rounding), totals included.
        truth = [recount(case.rows, cell) for _, cell in published.iterrows()]
        assert [int(v) for p in response.parts for v in p.cells["value"]] == truth
        for cell, count in zip(published.to_dict("records"), truth, strict=True):
            if cell["value"] != "":
                shown = int(cell["value"])
                assert shown == count if rounding is None else (shown % rounding == 0
                                                                and abs(shown - count) <= rounding // 2)
            else:
                assert cell["marker"] in {"[xx]", "[c]"}
                assert cell["marker"] == "[c]" or 1 <= count < threshold

        # Published only when the audit passed and no figure is small; then the intruder agrees.
        out = folder / "out"
        try:
            foikit.write_publishable(response, out)
        except DisclosureError:
            small = [v for v in published["value"] if v != "" and 1 <= int(v) < threshold]
            assert not response.passed or small
            assert not out.exists() or not any(out.iterdir())
            event("refused at publication")
            return
        assert response.passed
        written = pd.read_csv(out / "published.csv", dtype=str, keep_default_na=False)
        values = [int(v) for v in written["value"] if v != ""]
        assert not [v for v in values if 1 <= v < threshold]
        event("published" + (" (rounded)" if rounding else ""))
        if rounding is None:
            check_against_intruder(written, truth, case.suppression)
