"""Apache Spark as a source (``engine: spark``, issue 16.4): the same cube query and the same checks as
DuckDB, run in a local Spark session shared by the whole module; and the cube query compiled for the
dialects that are not tested live (SQL Server, Oracle, Trino)."""

from __future__ import annotations

import uuid
from pathlib import Path
from types import SimpleNamespace

import pandas as pd
import pytest
import sqlalchemy as sa
import yaml
from sqlalchemy.dialects import mssql, oracle

import foikit
from foikit.cube.engine import count_cube
from foikit.cube.spec import CubeSpec, DimSpec, PeriodSpec
from foikit.cube.sql import cube_query, extract_query, population_query
from foikit.request.params import DataSource
from foikit.source import spark as spark_source
from foikit.source.data import embedded_data_path, open_source
from foikit.source.sql import SqlRelation

from .conftest import EXAMPLE_PARAMS, EXAMPLE_REPORT, ROOT, run_published, spark_session
from .test_source_kinds import TINY, outcome

PARAMS = sorted((ROOT / "params").glob("*.yaml"))  # every one reads an embedded CSV file


@pytest.fixture(scope="module")
def spark():
    return spark_session()


def _cubes(raw: dict, engine: str) -> dict[str, dict]:
    """Every part's cube of the request ``raw`` (its data source counted by ``engine``): counts by cell."""
    request = foikit.parse_request(raw)
    data = open_source(request.data.model_copy(update={"engine": engine}), request.template)
    assert data.relation is not None and data.relation.kind == {"duckdb": "DuckDB", "spark": "Spark"}[engine]
    try:
        return {part.name: {k: int(v) for k, v in count_cube(data, part, f"params.parts.{i}").counts.items()}
                for i, part in enumerate(request.parts)}
    finally:
        data.relation.close()


@pytest.mark.parametrize("params", PARAMS, ids=[p.stem for p in PARAMS])
def test_every_example_request_counts_the_same_in_spark_as_in_duckdb(spark, params):
    raw = yaml.safe_load(params.read_text(encoding="utf-8"))
    in_spark = _cubes(raw, "spark")
    assert in_spark == _cubes(raw, "duckdb")
    assert all(sum(cells.values()) > 0 for cells in in_spark.values())
    assert spark_source.views(spark) == []  # a closed relation leaves no view in the shared session
    if params == EXAMPLE_PARAMS:  # one figure worked out apart from foikit: Domestic abuse recorded in 2020
        cases = pd.read_csv(embedded_data_path(), dtype=str, keep_default_na=False)
        by_hand = int(((cases["allegation_category"] == "Domestic abuse")
                       & cases["date_recorded"].str.startswith("2020")).sum())
        assert sum(n for k, n in in_spark["domestic_abuse"].items() if k[0] == "2020") == by_hand > 0


def test_a_spark_catalog_table(spark):
    """``engine: spark`` with ``table:``: a table (here a temporary view) of the session's catalog, its
    values NULL where not recorded."""
    name = f"cases_{uuid.uuid4().hex[:8]}"
    frame = pd.DataFrame({"a": ["x", None, "y", "x"], "date_recorded": ["2020-01-05", "2020-02-01", "2021-03-01",
                                                                         "2019-12-31"]})
    spark.createDataFrame(frame).createOrReplaceTempView(name)
    try:
        data = open_source(DataSource(table=name, engine="spark"))
        try:
            cube = count_cube(data, foikit.parse_request(TINY).parts[0], "params.parts.0")
        finally:
            data.relation.close()
    finally:
        spark.catalog.dropTempView(name)
    assert data.label == f"database spark table {name}" and data.dictionary.name == name
    assert {k: int(v) for k, v in cube.counts.items()} == {
        ("x", "2020"): 1, ("x", "2021"): 0, ("y", "2020"): 0, ("y", "2021"): 1, ("Not recorded", "2020"): 1,
        ("Not recorded", "2021"): 0}


def test_a_run_with_engine_spark_publishes_the_same_csv_byte_for_byte(spark, tmp_path):
    """`foikit run` (a process of its own, with its own session) on the example with ``engine: spark``: the
    committed example's published.csv, which the pandas and DuckDB engines give too (test_run,
    test_source_kinds)."""
    raw = yaml.safe_load(EXAMPLE_PARAMS.read_text(encoding="utf-8"))
    raw["data"] = {**(raw.get("data") or {}), "engine": "spark"}
    params = tmp_path / "spark.yaml"
    params.write_text(yaml.safe_dump(raw, sort_keys=False), encoding="utf-8")
    done = run_published(params, tmp_path / "reports")
    assert done.returncode == 0, done.stderr[-3000:]
    report = tmp_path / "reports" / raw["ref"]
    assert (report / "published.csv").read_bytes() == (EXAMPLE_REPORT / "published.csv").read_bytes()
    assert "counted in Spark" in (report / "report.html").read_text(encoding="utf-8")


# --- the checks: one input, one refusal, whatever the engine -------------------------------------------

DICTIONARY = """name: tiny
version: 1
duplicate_rows: allow
units: {rows: rows}
columns:
  a: {type: category, label: A, categories: ["x", "y"]}
  date_recorded: {type: date, label: Recorded}
"""


def _outcome(path: Path, engine: str, dictionary: Path | None = None) -> tuple[str, object]:
    return outcome({"path": str(path), "engine": engine, "dictionary": str(dictionary) if dictionary else None})


@pytest.mark.parametrize("suffix", ["csv", "parquet"])
def test_the_checks_refuse_in_spark_as_in_duckdb(spark, tmp_path, suffix):
    def write(frame: pd.DataFrame, name: str) -> Path:
        path = tmp_path / f"{name}.{suffix}"
        frame.to_csv(path, index=False) if suffix == "csv" else frame.to_parquet(path, index=False)
        return path

    good = pd.DataFrame({"a": ["x", "x", "y"], "date_recorded": ["2020-01-05", "2021-03-01", "2021-12-31"]})
    dictionary = tmp_path / "tiny.yaml"
    dictionary.write_text(DICTIONARY, encoding="utf-8")
    path = write(good, "good")
    assert _outcome(path, "spark", dictionary) == _outcome(path, "duckdb", dictionary) == (
        "cube", {("x", "2020"): 1, ("x", "2021"): 1, ("y", "2020"): 0, ("y", "2021"): 1})

    path = write(good.rename(columns={"a": "b"}), "missing")
    refused = _outcome(path, "spark")
    assert refused == _outcome(path, "duckdb")
    assert refused == ("refused", f"params.parts.0.tables.0: column 'a' is not in {path} (columns: b, "
                                  "date_recorded)")

    # the same refusal; DuckDB keeps a file's order, so it names the rows too (Spark's scan has no order)
    path = write(good.assign(a=["x", "zz", "y"]), "unknown")
    refused = _outcome(path, "spark", dictionary)
    assert refused == ("refused", f"{path}: column 'a': values not in dictionary {dictionary}: 'zz' (1 rows)")
    assert _outcome(path, "duckdb", dictionary) == ("refused", refused[1] + " (first at data rows 2, counting "
                                                               "from 1 after the header)")

    path = write(good.assign(date_recorded=["2020-01-05", "5 March 2021", "2021-12-31"]), "baddate")
    start = (f"params.parts.0.date_column: column 'date_recorded' of {path} has 1 values that are not dates "
             "(YYYY-MM-DD): ")
    assert _outcome(path, "spark") == ("refused", start + "'5 March 2021' (1 rows)")
    assert _outcome(path, "duckdb") == ("refused", start + "row 2 ('5 March 2021')")


def test_hostile_values_are_bound_never_formatted(spark, tmp_path):
    """A quote in a filter value or a column name reaches Spark as a parameter or a quoted identifier."""
    hostile = "x' OR '1'='1"
    frame = pd.DataFrame({"we`ird": [hostile, "y", hostile],
                          "date_recorded": ["2020-01-05", "2020-02-01", "2020-03-01"]})
    path = tmp_path / "hostile.parquet"
    frame.to_parquet(path, index=False)
    raw = {**TINY, "data": {"path": str(path), "engine": "spark"}}
    raw["parts"] = [{**TINY["parts"][0], "years": [2020], "filter": {"we`ird": hostile},
                     "tables": [{"name": "t", "title": "T", "rows": [], "columns": ["year"]}]}]
    data = open_source(DataSource(path=str(path), engine="spark"))
    try:
        cube = count_cube(data, foikit.parse_request(raw).parts[0], "params.parts.0")
    finally:
        data.relation.close()
    assert int(cube.counts.sum()) == 2
    assert "`we``ird`" in cube.query


# --- compile-only: the same statements in other dialects ------------------------------------------------

SPEC = CubeSpec(
    period=PeriodSpec(name="year", column="date", kind="calendar", labels=("2020", "2021"),
                      starts=(pd.Timestamp("2020-01-01").date(), pd.Timestamp("2021-01-01").date()),
                      ends=(pd.Timestamp("2021-01-01").date(), pd.Timestamp("2022-01-01").date())),
    dims=(DimSpec(name="order", column="order", categories=("x", "y"), codes={"x": "x", "y": "y"}),),
    filters={"group": ("it's",)}, unit_key=("case",))


def _dialects() -> dict[str, sa.Dialect]:
    from databricks.sqlalchemy import DatabricksDialect
    from trino.sqlalchemy.dialect import TrinoDialect

    return {"mssql": mssql.dialect(), "oracle": oracle.dialect(), "trino": TrinoDialect(),
            "databricks": DatabricksDialect()}


QUOTED = {"mssql": "[order]", "oracle": '"order"', "trino": '"order"', "databricks": "`order`"}


@pytest.mark.parametrize("name", sorted(QUOTED))
def test_the_cube_query_compiles_for_other_dialects(name):
    dialect = _dialects()[name]
    names = ("case", "date", "order", "group")
    # the statements need only the relation's columns and its dialect: no connection is made
    rel = SqlRelation(SimpleNamespace(dialect=dialect), sa.table("cases", *(sa.column(n) for n in names)),  # type: ignore[arg-type]
                      "cases", names)
    for statement in (cube_query(SPEC, rel), population_query(SPEC, rel), extract_query([SPEC], rel)):
        compiled = statement.compile(dialect=dialect, compile_kwargs={"render_postcompile": True})
        text = str(compiled)
        assert "it's" not in text and "it''s" not in text  # the value is a parameter
        assert "it's" in compiled.params.values()
        assert QUOTED[name] in text  # a reserved word quoted as the dialect quotes it
    assert "GROUP BY" in str(cube_query(SPEC, rel).compile(dialect=dialect))


def test_spark_master_from_the_environment(monkeypatch):
    monkeypatch.delenv(spark_source.MASTER_ENV, raising=False)
    assert spark_source.master() == "local[2]"
    monkeypatch.setenv(spark_source.MASTER_ENV, "sc://127.0.0.1:15002")
    assert spark_source.master() == "sc://127.0.0.1:15002"
