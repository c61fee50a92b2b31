"""The committed example report of 01.FOI.23.032341, checked from its files with plain pandas."""

from __future__ import annotations

import hashlib
import re

import pandas as pd
import pytest

from foikit.source.data import embedded_data_path

from .conftest import EXAMPLE_REPORT

DIMS = ["year", "outcome", "officer_rank", "unit", "officer_sex", "complainant_sex"]


@pytest.fixture(scope="module")
def published() -> pd.DataFrame:
    return pd.read_csv(EXAMPLE_REPORT / "published.csv", dtype=str, keep_default_na=False)


def test_report_files_are_there():
    for name in ("published.csv", "tables.xlsx", "report.html", "notebook.ipynb"):
        assert (EXAMPLE_REPORT / name).is_file(), name


def test_columns_and_markers(published):
    assert published.columns.tolist() == ["part", "table", *DIMS, "value", "marker"]
    hidden = published["value"] == ""
    assert (published.loc[hidden, "marker"] != "").all()
    assert (published.loc[~hidden, "marker"] == "").all()


def test_no_published_value_from_1_to_4(published):
    values = published.loc[published["value"] != "", "value"].astype(int)
    assert not values.between(1, 4).any()
    assert (values == 0).any()  # zeros are shown as 0


def test_years_asked_for(published):
    years = published.groupby("part")["year"].agg(lambda s: sorted(set(s) - {""}))
    assert years["domestic_abuse"] == ["2020", "2022", "2023"]
    assert years["indecent_exposure"] == ["2020", "2021", "2022", "2023"]


def test_totals_match_cells_where_nothing_is_hidden(published):
    checked = 0
    for (_, _), table in published.groupby(["part", "table"]):
        dims = [d for d in DIMS if (table[d] != "").any()]
        inner = table[(table[dims] != "").all(axis=1)]
        for _, total in table[(table[dims] == "").any(axis=1)].iterrows():
            covered = inner
            for d in dims:
                if total[d] != "":
                    covered = covered[covered[d] == total[d]]
            if total["value"] == "" or (covered["value"] == "").any():
                continue
            assert covered["value"].astype(int).sum() == int(total["value"]), total.to_dict()
            checked += 1
    assert checked > 20


def test_visible_values_equal_counts_from_the_case_data(published):
    raw = pd.read_csv(embedded_data_path(), dtype=str, keep_default_na=False)
    raw["year"] = raw["date_recorded"].str[:4]
    da = raw[(raw["allegation_category"] == "Domestic abuse") & raw["year"].isin(["2020", "2022", "2023"])]
    expected = da.groupby(["outcome", "year"]).size()
    cells = published[(published["part"] == "domestic_abuse") & (published["table"] == "by_outcome")]
    inner = cells[(cells["outcome"] != "") & (cells["year"] != "") & (cells["value"] != "")]
    assert len(inner) > 10
    for _, cell in inner.iterrows():
        assert int(cell["value"]) == expected.get((cell["outcome"], cell["year"]), 0), cell.to_dict()
    totals = cells[(cells["outcome"] == "") & (cells["year"] != "")].set_index("year")["value"].astype(int)
    assert totals.to_dict() == da.groupby("year").size().to_dict()
    # Blank complainant sex is published as 'Not recorded', not dropped.
    by_sex = published[(published["part"] == "domestic_abuse") & (published["table"] == "by_sex")]
    assert "Not recorded" in set(by_sex["complainant_sex"])


def test_html_record_shows_both_parts_tables_parameters_and_fingerprint():
    html = (EXAMPLE_REPORT / "report.html").read_text(encoding="utf-8")
    text_only = re.sub(r"<[^>]+>", "", html)
    for text in ("01.FOI.23.032341", "Officers investigated for allegations of domestic abuse",
                 "Officers investigated for indecent exposure", "By year, sex of the officer and sex of",
                 "By year and outcome", "threshold: 5", "sha256", "foikit.answer(request, cases, ledger=earlier)"):
        assert text in text_only, text
    assert hashlib.sha256(embedded_data_path().read_bytes()).hexdigest() in html
    assert "<script src=" not in html and "<link href=\"http" not in html
