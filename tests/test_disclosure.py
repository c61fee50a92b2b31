"""Secondary suppression and the disclosure audit, end to end, checked by an independent intruder."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import yaml

import foikit
from foikit.cli import main
from foikit.ledger.store import Ledger
from foikit.source.data import embedded_data_path

from .conftest import EXAMPLE_PARAMS, EXAMPLE_REPORT, hand_request
from .intruder import Intruder

BANDS = {"[xx]": (1.0, 4.0), "[c]": (0.0, np.inf)}
DIMS = ["year", "outcome", "officer_rank", "unit", "officer_sex", "complainant_sex"]
CATEGORY = {"domestic_abuse": "Domestic abuse", "indecent_exposure": "Indecent exposure"}


@pytest.fixture(scope="module")
def published() -> pd.DataFrame:
    return pd.read_csv(EXAMPLE_REPORT / "published.csv", dtype=str, keep_default_na=False)


@pytest.fixture(scope="module")
def true_counts(published) -> pd.Series:
    """The true value of every published cell, counted from the case data with plain pandas."""
    raw = pd.read_csv(embedded_data_path(), dtype=str, keep_default_na=False)
    raw["year"] = raw["date_recorded"].str[:4]
    raw = raw.replace({"unit": {"": "Not recorded"}, "complainant_sex": {"": "Not recorded"}})
    years = {"domestic_abuse": {"2020", "2022", "2023"}, "indecent_exposure": {"2020", "2021", "2022", "2023"}}
    out = {}
    for i, cell in published.iterrows():
        rows = raw[(raw["allegation_category"] == CATEGORY[cell["part"]]) & raw["year"].isin(years[cell["part"]])]
        for d in DIMS:
            if cell[d] != "":
                rows = rows[rows[d] == cell[d]]
        out[i] = len(rows)
    return pd.Series(out)


def test_every_small_count_is_withheld_and_every_xx_is_a_small_count(published, true_counts):
    small = true_counts.between(1, 4)
    assert small.sum() > 50
    assert (published.loc[small, "value"] == "").all()
    xx = published["marker"] == "[xx]"
    assert true_counts[xx].between(1, 4).all()  # the letter's "[xx] = 1 to 4" stays true
    shown = published["value"] != ""
    assert (published.loc[shown, "value"].astype(int) == true_counts[shown]).all()


@pytest.mark.parametrize("part", ["domestic_abuse", "indecent_exposure"])
def test_example_passes_an_independent_intruder(published, true_counts, part):
    intruder = Intruder(published, part, BANDS)
    small = published.index[(published["part"] == part) & true_counts.between(1, 4)]
    for i in small:
        for value in (1, 4):
            assert intruder.can_be(i, value), (published.loc[i].to_dict(), value)


def test_primary_suppression_alone_would_disclose(published, true_counts):
    primary = published.copy()
    small = true_counts.between(1, 4)
    primary["value"] = np.where(small, "", true_counts.astype(str))
    primary["marker"] = np.where(small, "[xx]", "")
    ie = primary[primary["part"] == "indecent_exposure"]
    female_2020 = ie.index[(ie["table"] == "by_sex") & (ie["officer_sex"] == "Female") & (ie["year"] == "2020")]
    intruder = Intruder(primary, "indecent_exposure", BANDS)
    # 2020 total 8, male 7: a female officer count of exactly 1, by subtraction
    assert intruder.range_of(female_2020[0]) == (1, 1)


def test_the_example_was_protected_by_cross_table_secondary_suppression(published):
    secondary = published[(published["marker"] == "[c]")]
    assert len(secondary) > 0
    assert set(secondary["part"]) == {"domestic_abuse", "indecent_exposure"}


def test_audit_json_lists_every_withheld_cell_without_true_values(published):
    record = json.loads((EXAMPLE_REPORT / "audit.json").read_text())
    assert record["passed"] is True and record["rule"] == "band" and record["threshold"] == 5
    listed = sum(len(p["withheld_cells"]) for p in record["parts"])
    assert listed == int((published["value"] == "").sum())
    for part in record["parts"]:
        for cell in part["withheld_cells"]:
            assert set(cell) == {"table", "cell", "marker", "reason", "derivable_lower", "derivable_upper",
                                 "protected"}
            assert cell["protected"] is True
            if cell["marker"] == "[xx]":
                assert (cell["derivable_lower"], cell["derivable_upper"]) == (1, 4)


def test_suppression_is_deterministic():
    request = foikit.load_request(EXAMPLE_PARAMS)
    first = foikit.answer(request).published()
    second = foikit.answer(request).published()
    pd.testing.assert_frame_equal(first, second)


def _run(tmp_path, raw) -> tuple[int, str, object]:
    params = tmp_path / "params.yaml"
    params.write_text(yaml.safe_dump(raw), encoding="utf-8")
    reports = tmp_path / "reports"
    code = main(["run", str(params), "--reports-dir", str(reports)])
    return code, str(params), reports


def test_a_failing_audit_publishes_nothing(tmp_path, hand_csv, capsys):
    raw = hand_request(hand_csv, suppression={"threshold": 5, "marker": "[x]", "rule": "band",
                                              "rounding": {"base": 5}})
    code, _, reports = _run(tmp_path, raw)
    err = capsys.readouterr().err
    assert code == 1
    first = next(line for line in err.splitlines() if line.startswith("foikit: error: "))
    assert first.startswith("foikit: error: disclosure audit failed for ")
    assert "derivable range" in first
    assert not reports.exists()
    response = foikit.answer(foikit.parse_request(raw), ledger=Ledger())
    with pytest.raises(foikit.DisclosureError, match=r"^disclosure audit failed for "):
        foikit.write_publishable(response, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_rounding_policy_rounds_every_cell_and_totals_independently(hand_csv):
    raw = hand_request(hand_csv, suppression={"threshold": 3, "marker": "[x]", "rounding": {"base": 5}})
    response = foikit.answer(foikit.parse_request(raw))
    table = response.part("da").published_table("by_outcome")
    # true: Dismissed 1 2 | 3; No case 5 1 | 6; Ongoing 0 1 | 1; Total 6 4 | 10 -> nearest 5, half up
    assert table.values.tolist() == [["0", "0", "5"], ["5", "0", "5"], ["0", "0", "0"], ["5", "5", "10"]]
    assert response.passed  # rule not_exact: no small count is pinned down


def test_merging_categories_before_suppression(hand_csv):
    part = hand_request(hand_csv)["parts"][0]
    part["merge"] = {"outcome": {"Closed": ["Dismissed", "No case"]}}
    response = foikit.answer(foikit.parse_request(hand_request(hand_csv, parts=[part])))
    table = response.part("da").true_table("by_outcome")
    assert table.index.tolist() == ["Closed", "Ongoing", "Total"]
    assert table.astype(int).values.tolist() == [[6, 3, 9], [0, 1, 1], [6, 4, 10]]


def test_merging_an_unknown_category_is_refused(hand_csv):
    part = hand_request(hand_csv)["parts"][0]
    part["merge"] = {"outcome": {"Closed": ["Dismissed", "Sacked"]}}
    with pytest.raises(foikit.DataError, match=r"parts\.0\.merge\.outcome\.Closed: \['Sacked'\]"):
        foikit.answer(foikit.parse_request(hand_request(hand_csv, parts=[part])))


def test_withholding_a_table_as_a_whole(hand_csv):
    part = hand_request(hand_csv)["parts"][0]
    part["withhold_tables"] = ["by_sex"]
    response = foikit.answer(foikit.parse_request(hand_request(hand_csv, parts=[part])))
    cells = response.part("da").table_cells("by_sex")
    inner = cells[(cells["officer_sex"] != "") & (cells["complainant_sex"] != "")]
    assert inner["hidden"].all()
    assert response.passed
