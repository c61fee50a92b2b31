"""The example request from every kind of source gives the same published.csv (issue 5)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import uuid

import pandas as pd
import pytest
import sqlalchemy as sa
import yaml

import foikit
from foikit.sources import embedded_data_path

from .conftest import EXAMPLE_PARAMS, EXAMPLE_REPORT, ROOT, postgres_url

DICTIONARY = str(ROOT / "foikit" / "data" / "conduct_allegations.yaml")


@pytest.fixture(scope="module")
def cases() -> pd.DataFrame:
    return pd.read_csv(embedded_data_path(), dtype=str, keep_default_na=False)


@pytest.fixture(scope="module")
def expected() -> pd.DataFrame:
    return pd.read_csv(EXAMPLE_REPORT / "published.csv", dtype=str, keep_default_na=False)


def _published(data: dict) -> pd.DataFrame:
    raw = yaml.safe_load(EXAMPLE_PARAMS.read_text())
    raw["data"] = {**data, "dictionary": DICTIONARY}
    response = foikit.answer(foikit.parse_request(raw))
    for part in response.parts:
        if data.get("url") or data.get("url_env") or data.get("engine") == "duckdb":
            assert part.cube.query and "GROUP BY" in part.cube.query  # counted where the data lives
    return response.published()


def _load_sql(url: str, cases: pd.DataFrame, table: str) -> None:
    engine = sa.create_engine(url)
    frame = cases.replace({"": None})  # missing values as NULLs, as a database holds them
    with engine.begin() as conn:
        frame.to_sql(table, conn, index=False, if_exists="replace")
    engine.dispose()


def test_parquet_and_xlsx_files(tmp_path, cases, expected):
    cases.to_parquet(tmp_path / "cases.parquet", index=False)
    pd.testing.assert_frame_equal(_published({"path": str(tmp_path / "cases.parquet")}), expected)
    small = cases[cases["allegation_category"].isin(["Domestic abuse", "Indecent exposure"])]
    small.to_excel(tmp_path / "cases.xlsx", index=False)
    pd.testing.assert_frame_equal(_published({"path": str(tmp_path / "cases.xlsx")}), expected)


@pytest.mark.parametrize("suffix", ["csv", "parquet"])
def test_duckdb_counts_a_file_without_loading_it(tmp_path, cases, expected, suffix):
    path = tmp_path / f"cases.{suffix}"
    cases.to_csv(path, index=False) if suffix == "csv" else cases.to_parquet(path, index=False)
    pd.testing.assert_frame_equal(_published({"path": str(path), "engine": "duckdb"}), expected)


def test_sqlite_table_and_query(tmp_path, cases, expected):
    url = f"sqlite:///{tmp_path / 'cases.db'}"
    _load_sql(url, cases, "conduct_cases")
    pd.testing.assert_frame_equal(_published({"url": url, "table": "conduct_cases"}), expected)
    query = "SELECT * FROM conduct_cases WHERE allegation_category IN ('Domestic abuse', 'Indecent exposure')"
    pd.testing.assert_frame_equal(_published({"url": url, "query": query}), expected)




def test_postgresql_gives_the_same_published_csv(cases, expected):
    url = postgres_url()
    table = f"cases_{uuid.uuid4().hex[:8]}"
    _load_sql(url, cases, table)
    os.environ["FOIKIT_TEST_SOURCE_URL"] = url
    try:
        pd.testing.assert_frame_equal(_published({"url_env": "FOIKIT_TEST_SOURCE_URL", "table": table}), expected)
    finally:
        del os.environ["FOIKIT_TEST_SOURCE_URL"]


def test_run_from_a_database_records_its_sql_and_verifies_from_the_snapshot(tmp_path, cases, expected):
    url = f"sqlite:///{tmp_path / 'cases.db'}"
    _load_sql(url, cases, "conduct_cases")
    raw = yaml.safe_load(EXAMPLE_PARAMS.read_text())
    raw["data"] = {"url": url, "table": "conduct_cases", "dictionary": DICTIONARY}
    params = tmp_path / "db.yaml"
    params.write_text(yaml.safe_dump(raw, sort_keys=False))
    reports = tmp_path / "reports"
    run = subprocess.run([sys.executable, "-m", "foikit.cli", "run", str(params), "--reports-dir", str(reports)],
                         cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr
    report = reports / raw["ref"]
    pd.testing.assert_frame_equal(pd.read_csv(report / "published.csv", dtype=str, keep_default_na=False),
                                  expected)
    assert "GROUP BY" in re.sub(r"<[^>]+>", "", (report / "report.html").read_text())
    queries = json.loads((report / "manifest.json").read_text())["inputs"]["data"]["queries"]
    assert set(queries) == {"domestic_abuse", "indecent_exposure"} and "GROUP BY" in queries["domestic_abuse"]
    (tmp_path / "cases.db").unlink()  # the live system is gone: the snapshot is enough
    verify = subprocess.run([sys.executable, "-m", "foikit.cli", "verify", str(report)], cwd=ROOT,
                            capture_output=True, text=True, timeout=600)
    assert verify.returncode == 0, verify.stdout + verify.stderr
