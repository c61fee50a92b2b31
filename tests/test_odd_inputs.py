"""Large and odd inputs: each gives a correct result (checked against an independent count) or a clear
refusal, never a crash or a silently wrong table."""

from __future__ import annotations

import duckdb
import numpy as np
import pandas as pd
import pytest

import foikit
from foikit.exceptions import DataError
from foikit.ledger.store import Ledger

TABLE = {"name": "t", "title": "T", "rows": ["a"], "columns": ["year"]}


def request(path, years=(2020, 2021), tables=(TABLE,), threshold=5, engine="duckdb", **part):
    return foikit.parse_request({
        "ref": "01.FOI.99.000007", "title": "Odd input", "data": {"path": str(path), "engine": engine},
        "suppression": {"threshold": threshold},
        "parts": [{"name": "p", "title": "P", "years": list(years), "counting_unit": "rows", "tables": list(tables),
                   **part}],
    })


def shown_values(response) -> list[int]:
    return [int(v) for v in response.published()["value"] if v != ""]


def check_counts(response, expected: pd.Series) -> None:
    """Every shown inner cell of table t equals the independent count (a, year) -> n."""
    pub = response.published()
    inner = pub[(pub["table"] == "t") & (pub["a"] != "") & (pub["year"] != "") & (pub["value"] != "")]
    assert len(inner)
    for a, year, value in inner[["a", "year", "value"]].itertuples(index=False):
        assert int(value) == int(expected.get((a, year), 0)), (a, year)


def test_ten_million_rows_counted_in_duckdb(tmp_path):
    path = tmp_path / "big.parquet"
    duckdb.sql(f"""COPY (SELECT i AS id, 'c' || (hash(i) % 7)::VARCHAR AS a, 's' || (hash(i * 31) % 3)::VARCHAR AS b,
                   (DATE '2020-01-01' + (hash(i * 7) % 1096)::INTEGER)::VARCHAR AS date_recorded
                   FROM range(10000000) t(i)) TO '{path}' (FORMAT parquet)""")
    response = foikit.answer(request(path, years=(2020, 2021, 2022), engine="duckdb", tables=(
        TABLE, {"name": "u", "title": "U", "rows": ["a", "b"], "columns": ["year"]})))
    assert response.passed
    truth = duckdb.sql(f"SELECT a, substr(date_recorded, 1, 4) AS year, count(*) AS n FROM '{path}' "
                       "GROUP BY ALL").df().set_index(["a", "year"])["n"]
    assert truth.sum() == 10_000_000
    check_counts(response, truth)
    pub = response.published()
    assert int(pub.loc[(pub["table"] == "u") & (pub["a"] == "") & (pub["year"] == ""), "value"].iloc[0]) \
        == 10_000_000


def test_a_thousand_categories_in_one_dimension(tmp_path):
    # most cells are well above the threshold; every 200th category has a few cases (5 categories, 10 small
    # cells): the pattern is found across a 1,000-row table, one protection subproblem per small cell
    rng = np.random.default_rng(7)
    per_cell = rng.poisson(30, size=(1000, 2))
    per_cell[::200] = rng.integers(1, 5, size=(5, 2))
    cells = [(f"c{i:04d}", year) for i in range(1000) for year in (2020, 2021)]
    counts = per_cell.reshape(-1)
    cases = pd.DataFrame({"a": np.repeat([a for a, _ in cells], counts),
                          "date_recorded": np.repeat([f"{y}-03-01" for _, y in cells], counts)})
    cases = cases.sample(frac=1, random_state=7).reset_index(drop=True)
    cases.insert(0, "id", range(len(cases)))
    cases.to_csv(tmp_path / "k.csv", index=False)
    response = foikit.answer(request(tmp_path / "k.csv"))
    assert response.passed
    pub = response.published()
    assert pub["a"].nunique() == 1001  # every category and the total
    assert not [v for v in shown_values(response) if 1 <= v < 5]
    assert (pub["marker"] == "[xx]").any()  # small counts exist, and are withheld
    check_counts(response, cases.groupby([cases["a"], cases["date_recorded"].str[:4]]).size())


def test_a_dimension_with_a_single_category(tmp_path):
    pd.DataFrame({"id": range(12), "a": ["x"] * 12, "date_recorded": ["2020-01-01"] * 6 + ["2021-01-01"] * 6}).to_csv(
        tmp_path / "one.csv", index=False)
    pub = foikit.answer(request(tmp_path / "one.csv")).published()
    assert pub[["a", "year", "value"]].values.tolist() == [
        ["x", "2020", "6"], ["x", "2021", "6"], ["x", "", "12"], ["", "2020", "6"], ["", "2021", "6"],
        ["", "", "12"]]


def test_all_counts_zero_is_refused_clearly(tmp_path):
    pd.DataFrame({"a": ["x", "z", "x"], "date_recorded": ["2020-01-01", "2019-01-01", "2021-01-01"]}).to_csv(
        tmp_path / "zero.csv", index=False)
    with pytest.raises(DataError, match=r"^params: parts\.0: no rows of .*zero\.csv match the filter in the "
                       r"periods asked for \(filter \{'a': \('z',\)\}, periods 2020, 2021\)"):
        foikit.answer(request(tmp_path / "zero.csv", filter={"a": "z"}))


def test_all_counts_below_the_threshold_are_all_withheld(tmp_path, ):
    pd.DataFrame({"a": ["x", "y", "x"], "date_recorded": ["2020-01-01", "2021-01-01", "2021-02-02"]}).to_csv(
        tmp_path / "few.csv", index=False)
    response = foikit.answer(request(tmp_path / "few.csv"), ledger=Ledger())
    assert response.passed
    pub = response.published()
    assert shown_values(response) == [0] * len(shown_values(response))  # only zeros are shown
    assert set(pub.loc[pub["value"] == "", "marker"]) <= {"[xx]", "[c]"}
    assert (pub["value"] == "").sum() == 8  # every non-zero cell, totals included
    foikit.write_publishable(response, tmp_path / "out")  # and the leak check agrees it may be published
