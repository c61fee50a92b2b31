"""The committed financial-year and officer-distinct variants of the example, checked with plain pandas."""

from __future__ import annotations

import pandas as pd
import pytest
import yaml

from foikit.source.data import embedded_data_path

from .conftest import ROOT


@pytest.fixture(scope="module")
def raw() -> pd.DataFrame:
    frame = pd.read_csv(embedded_data_path(), dtype=str, keep_default_na=False)
    frame["date"] = pd.to_datetime(frame["date_recorded"])
    return frame[frame["allegation_category"] == "Domestic abuse"]


def published(ref: str) -> pd.DataFrame:
    return pd.read_csv(ROOT / "reports" / ref / "published.csv", dtype=str, keep_default_na=False)


def test_financial_years_run_april_to_march(raw):
    pub = published("01.FOI.23.032341-financial-years")
    totals = pub[(pub["part"] == "domestic_abuse") & (pub["table"] == "by_year") & (pub["year"] != "")]
    expected = {}
    for start in (2020, 2022, 2023):
        window = (raw["date"] >= f"{start}-04-01") & (raw["date"] < f"{start + 1}-04-01")
        expected[f"{start}/{(start + 1) % 100:02d}"] = str(int(window.sum()))
    assert dict(zip(totals["year"], totals["value"], strict=True)) == expected


def test_officers_count_once_a_year_under_their_most_serious_outcome(raw):
    params = yaml.safe_load((ROOT / "params" / "01.FOI.23.032341-officers.yaml").read_text())
    priority = params["parts"][0]["resolve"]["outcome"]
    rows = raw[raw["date"].dt.year.isin([2020, 2022, 2023])].assign(year=lambda f: f["date"].dt.year.astype(str))
    rows = rows.assign(rank=rows["outcome"].map(priority.index))
    per_officer = rows.sort_values("rank").groupby(["officer_id", "year"]).first().reset_index()
    expected = per_officer.groupby(["outcome", "year"]).size()
    pub = published("01.FOI.23.032341-officers")
    cells = pub[(pub["part"] == "domestic_abuse") & (pub["table"] == "by_outcome") & (pub["value"] != "")]
    checked = 0
    for _, cell in cells.iterrows():
        if cell["outcome"] and cell["year"]:
            assert int(cell["value"]) == expected.get((cell["outcome"], cell["year"]), 0), cell.to_dict()
            checked += 1
        elif not cell["outcome"] and cell["year"]:
            assert int(cell["value"]) == rows[rows["year"] == cell["year"]]["officer_id"].nunique()
    assert checked > 15
    assert len(per_officer) < len(rows)  # some officers were investigated more than once in a year
