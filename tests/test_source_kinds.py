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
from foikit.source.data import embedded_data_path

from .conftest import EXAMPLE_PARAMS, EXAMPLE_REPORT, ROOT, postgres_url, run_published

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
    run = run_published(params, reports)
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


# --- one input, one answer or one refusal, whatever the engine (issue 12.8, 18.9) ------------------------

ENGINES = ["duckdb", "sqlite", "postgresql"]
TINY = {"ref": "01.FOI.99.000008", "title": "Engines", "data": {"path": "x.csv"},
        "parts": [{"name": "p", "title": "P", "years": [2020, 2021], "counting_unit": "rows",
                   "tables": [{"name": "t", "title": "T", "rows": ["a"], "columns": ["year"]}]}]}


def outcome(source: dict) -> tuple[str, object]:
    """('cube', {(a, year): n}) or ('refused', first line): open the source and count the tiny request."""
    from foikit.cube.engine import count_cube
    from foikit.request.params import DataSource
    from foikit.source.data import open_source

    data = None
    try:
        data = open_source(DataSource(**source))
        cube = count_cube(data, foikit.parse_request(TINY).parts[0], "params.parts.0")
        return "cube", {k: int(v) for k, v in cube.counts.items()}
    except foikit.DataError as exc:
        return "refused", str(exc)
    finally:
        if data is not None:
            data.relation.close()


def on_engine(engine: str, frame: pd.DataFrame, tmp_path, dictionary: str | None = None,
              sql_types: dict | None = None) -> tuple[str, object]:
    """The outcome of ``frame`` (None = missing) stored as each engine reads it: a Parquet file (DuckDB), an
    SQLite or a PostgreSQL table."""
    extra = {"dictionary": dictionary} if dictionary else {}
    if engine == "duckdb":
        path = tmp_path / f"cases-{uuid.uuid4().hex[:8]}.parquet"
        frame.to_parquet(path, index=False)
        return outcome({"path": str(path), "engine": engine, **extra})
    url = f"sqlite:///{tmp_path / 'cases.db'}" if engine == "sqlite" else postgres_url()
    table = f"cases_{uuid.uuid4().hex[:8]}"
    db = sa.create_engine(url)
    with db.begin() as conn:
        frame.to_sql(table, conn, index=False, dtype=sql_types)
    db.dispose()
    if engine == "sqlite":
        return outcome({"url": url, "table": table, **extra})
    os.environ["FOIKIT_TEST_SOURCE_URL"] = url  # a URL with a password is refused in params: url_env holds it
    return outcome({"url_env": "FOIKIT_TEST_SOURCE_URL", "table": table, **extra})


def of_file(path) -> tuple[str, object]:
    return outcome({"path": str(path)})


@pytest.mark.parametrize("engine", ENGINES)
def test_dates_are_iso_days_and_a_time_is_ignored(tmp_path, engine):
    """A date is YYYY-MM-DD, zero-padded; a time after 'T' or a space is ignored (a TIMESTAMP column reads
    so). '2020-1-5' is refused on every engine (pandas used to accept it, and refuse a time)."""
    frame = pd.DataFrame({"id": ["1", "2", "3"], "a": ["x", "y", "y"],
                          "date_recorded": ["2020-01-05 10:00", "2021-01-05T23:59:59", "2021-12-31"]})
    assert on_engine(engine, frame, tmp_path) == ("cube", {("x", "2020"): 1, ("x", "2021"): 0, ("y", "2020"): 0,
                                                           ("y", "2021"): 2})
    frame.loc[0, "date_recorded"] = "2020-1-5"
    kind, message = on_engine(engine, frame, tmp_path)
    assert kind == "refused"
    assert re.match(r"params\.parts\.0\.date_column: column 'date_recorded' of .* has 1 values that are not "
                    r"dates \(YYYY-MM-DD\): .*'2020-1-5'", message), message


@pytest.mark.parametrize("engine", ["duckdb", "postgresql"])
def test_boolean_columns_read_true_and_false(tmp_path, engine):
    """A boolean column's values are 'true' and 'false' (as SQL casts them; pandas used to say 'True')."""
    frame = pd.DataFrame({"id": [1, 2, 3, 4], "a": pd.array([True, False, True, None], dtype="boolean"),
                          "date_recorded": ["2020-01-01", "2020-02-01", "2021-01-01", "2021-02-01"]})
    types = {"a": sa.Boolean()} if engine == "postgresql" else None
    assert on_engine(engine, frame, tmp_path, sql_types=types) == ("cube", {
        ("false", "2020"): 1, ("false", "2021"): 0, ("true", "2020"): 1, ("true", "2021"): 1,
        ("Not recorded", "2020"): 0, ("Not recorded", "2021"): 1})


@pytest.mark.parametrize("engine", ENGINES)
def test_values_with_surrounding_spaces_are_refused(tmp_path, engine):
    """' x' is not 'x': a filter or category would pass over it silently; refused naming column and value."""
    frame = pd.DataFrame({"id": ["1", "2", "3"], "a": ["x", " x", "x\u00a0"],
                          "date_recorded": ["2020-01-01", "2021-01-01", "2021-02-01"]})
    kind, message = on_engine(engine, frame, tmp_path)
    assert kind == "refused"
    assert re.match(r"data: column 'a' of .* has 2 values with surrounding spaces: ' x' \(1 rows\), "
                    r"'x\\xa0' \(1 rows\)", message), message


@pytest.mark.parametrize("engine", ENGINES)
def test_exact_duplicate_rows_are_refused_unless_the_dictionary_allows_them(tmp_path, engine):
    rows = [("x", "2020-01-01"), ("x", "2020-01-01"), ("y", "2021-01-01"), ("x", "2020-01-01"),
            ("y", "2021-03-01")]
    frame = pd.DataFrame(rows, columns=["a", "date_recorded"])
    kind, message = on_engine(engine, frame, tmp_path)
    assert kind == "refused"
    rows_shown = " (first at data rows 2, 4)" if engine == "duckdb" else ""  # a table has no order
    assert message.endswith(f"2 rows repeat an earlier row in all 2 columns{rows_shown}: each would be counted "
                            "again; remove them, or set 'duplicate_rows: allow' in the data dictionary if they "
                            "are distinct cases"), message
    assert "'x'" not in message and "2020-01-01" not in message  # never the values of a case
    allow = tmp_path / "allow.yaml"
    allow.write_text(yaml.safe_dump({"name": "d", "version": 1, "duplicate_rows": "allow",
                                     "units": {"rows": "rows"}, "columns": {}}))
    assert on_engine(engine, frame, tmp_path, dictionary=str(allow)) == ("cube", {
        ("x", "2020"): 3, ("x", "2021"): 0, ("y", "2020"): 0, ("y", "2021"): 2})


def test_csv_structure_is_read_or_refused_by_name(tmp_path):
    """A ragged row, a repeated or empty column name: one refusal naming the line or the name (the pandas
    engine once counted a short row as 'Not recorded'); quoted newlines, a BOM and a header with spaces
    around its names are read as the file means them."""
    ragged = tmp_path / "ragged.csv"
    ragged.write_text("id,a,date_recorded\n1,x,2020-01-05\n2,y\n3,y,2021-01-01\n")
    assert of_file(ragged) == ("refused", f"{ragged}: line 3: 2 fields where the header has 3: every row must "
                                              "have one value per column")
    repeated = tmp_path / "repeated.csv"
    repeated.write_text("id,a,a ,date_recorded\n1,x,z,2020-01-05\n2,y,z,2021-01-05\n")
    assert of_file(repeated) == ("refused", f"{repeated}: header: column name 'a' appears 2 times "
                                                "(columns 2, 3)")
    cased = tmp_path / "cased.csv"  # SQL engines do not tell 'A' from 'a' (found by tests/test_fuzz_data.py)
    cased.write_text("id,A,a,date_recorded\n1,x,z,2020-01-05\n")
    assert of_file(cased) == ("refused", f"{cased}: header: column names 'A' and 'a' differ only in case")
    nameless = tmp_path / "nameless.csv"
    nameless.write_text("id,,a,date_recorded\n1,q,x,2020-01-05\n")
    assert of_file(nameless) == ("refused", f"{nameless}: header: column 2 has no name")
    odd = tmp_path / "odd.csv"
    odd.write_bytes('\ufeffid, a ,date_recorded\n1,"x\ny",2020-01-05\n2,y,2021-01-05\n'.encode())
    assert of_file(odd) == ("cube", {("x\ny", "2020"): 1, ("x\ny", "2021"): 0, ("y", "2020"): 0,
                                         ("y", "2021"): 1})


def test_parquet_column_names_are_checked(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = tmp_path / "dup.parquet"
    pq.write_table(pa.Table.from_arrays([pa.array(["1"]), pa.array(["x"]), pa.array(["2020-01-01"])],
                                        names=["a", "a", "date_recorded"]), path)
    assert of_file(path) == ("refused", f"{path}: column names: column name 'a' appears 2 times "
                                            "(columns 1, 2)")


@pytest.mark.parametrize("engine", ENGINES)
def test_a_value_the_dictionary_does_not_know_is_refused_in_any_row(tmp_path, engine):
    """A value outside the dictionary's categories (and no 'other' bucket)
    stops the run wherever it is, here in a year not asked for (DuckDB and SQL used to count around it)."""
    frame = pd.DataFrame({"id": ["1", "2", "3"], "a": ["x", "y", "z"],
                          "date_recorded": ["2020-01-01", "2021-01-01", "2019-06-01"]})
    dictionary = tmp_path / "d.yaml"
    dictionary.write_text(yaml.safe_dump({"name": "d", "version": 1, "units": {"rows": "rows"},
                                          "columns": {"a": {"type": "category", "label": "A",
                                                            "categories": ["x", "y"]}}}))
    kind, message = on_engine(engine, frame, tmp_path, dictionary=str(dictionary))
    assert kind == "refused"
    assert re.search(rf"column 'a': values not in dictionary {re.escape(str(dictionary))}: 'z' \(1 rows\)",
                     message), message
