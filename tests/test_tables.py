"""Tables, totals and primary suppression on the hand-made file, against tables worked out by hand."""

from __future__ import annotations

import pandas as pd
import pytest

import foikit
from foikit.cube.tables import reconcile
from foikit.suppress import apply_primary

from .conftest import hand_request
from .intruder import Intruder


@pytest.fixture
def response(hand_csv):
    return foikit.answer(foikit.parse_request(hand_request(hand_csv)))


def test_outcome_by_year_true_counts(response):
    table = response.part("da").true_table("by_outcome")
    # By hand: 2020 = 1 dismissed, 5 no case, 0 ongoing; 2021 = 2, 1, 1. Categories sorted (no dictionary).
    expected = pd.DataFrame(
        [[1, 2, 3], [5, 1, 6], [0, 1, 1], [6, 4, 10]],
        index=pd.Index(["Dismissed", "No case", "Ongoing", "Total"], name="Outcome"),
        columns=pd.Index(["2020", "2021", "Total"], name="Year"),
    )
    pd.testing.assert_frame_equal(table.astype(int), expected)


def test_outcome_by_year_primary_suppression(response):
    cells = response.part("da").table_cells("by_outcome")
    primary = apply_primary(cells[["outcome", "year", "value"]], threshold=3, marker="[x]")
    grid = primary.pivot_table(index="outcome", columns="year", values="shown", aggfunc="first", sort=False)
    # By hand: counts 1 and 2 are withheld at threshold 3, zero is shown.
    assert grid.values.tolist() == [
        ["[x]", "[x]", "3"],
        ["5", "[x]", "6"],
        ["0", "[x]", "[x]"],
        ["6", "4", "10"],
    ]


def test_published_tables_withhold_every_small_count_and_pass_an_independent_intruder(response):
    pub = response.published()
    part = response.part("da")
    true = part.cells["value"].to_numpy()
    small = (true >= 1) & (true <= 2)
    assert (pub.loc[small, "value"] == "").all()
    assert pub.loc[small, "marker"].isin(["[x]", "[c]"]).all()
    intruder = Intruder(pub, "da", {"[x]": (1, 2), "[c]": (0, float("inf"))})
    for i in pub.index[small]:
        assert intruder.can_be(i, 1) and intruder.can_be(i, 2), pub.loc[i].to_dict()


def test_two_row_dimensions_with_not_recorded(response):
    table = response.part("da").true_table("by_sex")
    assert table.index.tolist() == [
        ("F", "F"), ("F", "M"), ("F", "Not recorded"),
        ("M", "F"), ("M", "M"), ("M", "Not recorded"),
        ("Total", ""),
    ]
    # The blank complainant sex of 2020-05-14 is counted as 'Not recorded', not dropped.
    assert table.astype(int).values.tolist() == [
        [1, 1, 2], [0, 0, 0], [0, 0, 0], [3, 3, 6], [1, 0, 1], [1, 0, 1], [6, 4, 10],
    ]


def test_grand_total_reconciles_with_rows_counted(response):
    part = response.part("da")
    assert part.cube.n_rows == 10  # ten DA rows in 2020-2021
    assert int(part.cube.counts.sum()) == 10


def test_reconcile_detects_a_total_that_does_not_add_up(response):
    part = response.part("da")
    spec = part.table_spec("by_outcome")
    cells = part.table_cells("by_outcome")
    cells.loc[(cells["outcome"] == "Dismissed") & (cells["year"] == ""), "value"] = 4
    with pytest.raises(foikit.DataError, match=r"by_outcome.*Dismissed.*= 4 but its cells sum to 3"):
        reconcile(cells, spec, part.cube)


@pytest.mark.parametrize(
    ("threshold", "values", "hidden"),
    [
        (5, [0, 1, 4, 5, 12], [False, True, True, False, False]),
        (3, [0, 1, 2, 3], [False, True, True, False]),
        (2, [0, 1, 2], [False, True, False]),
    ],
)
def test_primary_rule(threshold, values, hidden):
    cells = pd.DataFrame({"value": values})
    out = apply_primary(cells, threshold=threshold, marker="*")
    assert out["hidden"].tolist() == hidden
    assert out["shown"].tolist() == ["*" if h else str(v) for v, h in zip(values, hidden, strict=True)]


def test_published_long_form(response):
    pub = response.published()
    assert pub.columns.tolist() == [
        "part", "table", "outcome", "year", "officer_sex", "complainant_sex", "value", "marker",
    ]
    by_outcome = pub[pub["table"] == "by_outcome"]
    # Cells in display order; '' dims are totals; a hidden cell has no value and a marker.
    assert by_outcome[["outcome", "year"]].values.tolist() == [
        ["Dismissed", "2020"], ["Dismissed", "2021"], ["Dismissed", ""],
        ["No case", "2020"], ["No case", "2021"], ["No case", ""],
        ["Ongoing", "2020"], ["Ongoing", "2021"], ["Ongoing", ""],
        ["", "2020"], ["", "2021"], ["", ""],
    ]
    true = [1, 2, 3, 5, 1, 6, 0, 1, 1, 6, 4, 10]
    for (value, marker), t in zip(by_outcome[["value", "marker"]].values.tolist(), true, strict=True):
        assert (value == "" and marker in {"[x]", "[c]"}) or (value == str(t) and marker == "")
    assert set(by_outcome["officer_sex"]) == {""}
