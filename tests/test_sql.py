"""The SQL backend of the count cube: SQLite, DuckDB over CSV and Parquet, and PostgreSQL give the same coded
cube as an independent plain-pandas computation; bad data ends in one-line errors naming source and values.

PostgreSQL: set FOIKIT_TEST_POSTGRES_URL (``eval "$(bash .ci/postgres.sh)"``); without it those tests skip,
except under CI (env ``CI`` set), where they fail.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import sqlalchemy as sa

from foikit.cube.spec import CubeSpec, DimSpec, PeriodSpec, empty_result
from foikit.cube.sql import check, covered_periods, problems, sql_cube
from foikit.datasets import synth
from foikit.exceptions import DataError
from foikit.source.sql import SqlRelation, duplicate_keys, file_relation, observed_values, open_relation

from .conftest import postgres_url

ROWS, SEED = 3000, 11
NR = "Not recorded"
DATE_COLUMNS = ("date_recorded", "date_finalised")


# --- specs ---------------------------------------------------------------------------------------------


def periods(kind: str, years: range, column: str = "date_recorded") -> PeriodSpec:
    if kind == "calendar":
        return PeriodSpec("year", column, "calendar", tuple(str(y) for y in years),
                          tuple(date(y, 1, 1) for y in years), tuple(date(y + 1, 1, 1) for y in years))
    return PeriodSpec("financial_year", column, "financial", tuple(f"{y}/{(y + 1) % 100:02d}" for y in years),
                      tuple(date(y, 4, 1) for y in years), tuple(date(y + 1, 4, 1) for y in years))


# most serious first: "first" picks the most serious outcome of an officer in a period, "last" the least
OUTCOMES = ("Dismissed or would have been", "Reduction in rank", "Final written warning", "Written warning",
            "Management action", "Reflective practice", "Not proven", "No case to answer", "Resigned/retired",
            "Ongoing")
OUTCOME_CODES = {o: o for o in OUTCOMES[1:]} | {"Dismissed": OUTCOMES[0], "Would have been dismissed": OUTCOMES[0]}
UNITS = tuple(u for u in synth.UNITS if u)


def outcome(resolve: str = "first") -> DimSpec:
    return DimSpec("outcome", "outcome", OUTCOME_CODES, OUTCOMES, resolve=resolve)  # type: ignore[arg-type]


def rank() -> DimSpec:  # an 'other' bucket: ranks not listed fall into it
    return DimSpec("officer_rank", "officer_rank", {"PC": "PC", "PS": "PS", "Insp": "Inspector"},
                   ("PC", "PS", "Inspector", "Other ranks"), other="Other ranks")


def unit(resolve: str = "first") -> DimSpec:  # '' is missing; two public protection units merged
    codes = {u: ("Public protection" if u.startswith("Public protection") else u) for u in UNITS}
    cats = (*dict.fromkeys(codes.values()), NR)
    return DimSpec("unit", "unit", codes, cats, resolve=resolve)  # type: ignore[arg-type]


def sex(column: str, resolve: str = "first") -> DimSpec:
    return DimSpec(column, column, {"Male": "Male", "Female": "Female"}, ("Male", "Female", NR),
                   resolve=resolve)  # type: ignore[arg-type]


SPECS = {
    "rows_calendar_merge_other": CubeSpec(
        filters={"allegation_category": ("Domestic abuse",)}, period=periods("calendar", range(2019, 2024)),
        dims=(outcome(), rank(), unit())),
    "rows_financial_finalised": CubeSpec(  # date_finalised is '' for open cases: in no period
        filters={"allegation_category": ("Domestic abuse", "Other sexual misconduct")},
        period=periods("financial", range(2018, 2023), "date_finalised"),
        dims=(sex("officer_sex"), sex("complainant_sex"))),
    "officers_first": CubeSpec(
        filters={"allegation_category": ("Domestic abuse", "Other")}, period=periods("calendar", range(2017, 2024)),
        dims=(outcome("first"), unit("first")), unit_key=("officer_id",)),
    "officers_last_financial": CubeSpec(
        filters={}, period=periods("financial", range(2017, 2023)),
        dims=(outcome("last"), sex("complainant_sex", "last")), unit_key=("officer_id",)),
    "cases_by_period_only": CubeSpec(
        filters={"officer_sex": ("Female",)}, period=periods("calendar", range(2020, 2024)), dims=(),
        unit_key=("case_ref",)),
}


def expected_cube(spec: CubeSpec, frame: pd.DataFrame) -> pd.DataFrame:
    """The cube in plain pandas, row by row and unit by unit, written apart from both backends."""
    keep = pd.Series(True, index=frame.index)
    for column, values in spec.filters.items():
        keep &= frame[column].isin(values)
    dates = pd.to_datetime(frame[spec.period.column], format="%Y-%m-%d", errors="coerce")
    period = pd.Series(-1, index=frame.index)
    for i, (start, end) in enumerate(zip(spec.period.starts, spec.period.ends, strict=True)):
        period[(dates >= pd.Timestamp(start)) & (dates < pd.Timestamp(end))] = i
    keep &= period >= 0
    rows = frame[keep]
    coded = pd.DataFrame({spec.period.name: period[keep]})
    for dim in spec.dims:
        labels = rows[dim.column].map(lambda v, d=dim: d.missing if v == "" else d.codes.get(v, d.other))
        assert labels.notna().all(), f"test data has values outside {dim.name}"
        coded[dim.name] = labels.map(dim.categories.index)
    names = list(coded.columns)
    if not spec.unit_key:
        out = coded.groupby(names).size().rename("n").reset_index()
        out["affected"] = 0
    else:
        units = []
        for (*_key, p), group in coded.groupby([*(rows[k] for k in spec.unit_key), coded[spec.period.name]]):
            unit_row = {spec.period.name: p}
            for dim in spec.dims:
                values = group[dim.name]
                unit_row[dim.name] = values.min() if dim.resolve == "first" else values.max()
            unit_row["affected"] = int(any(group[d.name].nunique() > 1 for d in spec.dims))
            units.append(unit_row)
        per_unit = pd.DataFrame(units, columns=[*names, "affected"])
        out = per_unit.groupby(names).agg(n=("affected", "size"), affected=("affected", "sum")).reset_index()
    out = out[[*names, "n", "affected"]].sort_values(names).reset_index(drop=True).astype("int64")
    return out if len(out) else empty_result(spec)


# --- the backends --------------------------------------------------------------------------------------


def typed(frame: pd.DataFrame) -> pd.DataFrame:
    """As a database would hold it: dates as dates, NULL for '' (unit, complainant_sex, dates)."""
    out = frame.copy()
    for column in DATE_COLUMNS:
        out[column] = [date.fromisoformat(v) if v else None for v in out[column]]
    for column in ("unit", "complainant_sex"):
        out[column] = out[column].where(out[column] != "", None)
    return out


def sqlite_relation(frame: pd.DataFrame, folder: Path, table: str = "cases") -> SqlRelation:
    path = folder / "cases.db"
    engine = sa.create_engine(f"sqlite:///{path}")
    frame.to_sql(table, engine, index=False, if_exists="replace")
    engine.dispose()
    return open_relation(f"sqlite:///{path}", table=table)


@pytest.fixture(scope="module")
def cases() -> pd.DataFrame:
    return synth.generate(rows=ROWS, seed=SEED)


@pytest.fixture(scope="module", params=["sqlite", "duckdb_csv", "duckdb_parquet", "postgres"])
def relation(request: pytest.FixtureRequest, cases: pd.DataFrame,
             tmp_path_factory: pytest.TempPathFactory) -> Iterator[SqlRelation]:
    folder = tmp_path_factory.mktemp(request.param)
    if request.param == "sqlite":  # text everywhere, '' for missing: as pandas holds it
        rel = sqlite_relation(cases, folder)
    elif request.param == "duckdb_csv":  # '' read back as NULL by DuckDB
        rel = file_relation(synth.write(cases, folder / "cases.csv"))
    elif request.param == "duckdb_parquet":  # DATE columns and NULLs
        frame = typed(cases)
        fields = [pa.field(c, pa.date32() if c in DATE_COLUMNS else pa.string()) for c in frame.columns]
        table = pa.Table.from_pandas(frame, schema=pa.schema(fields), preserve_index=False)
        pq.write_table(table, folder / "cases.parquet")
        rel = file_relation(folder / "cases.parquet")
    else:  # DATE for date_recorded, text for date_finalised, NULLs
        url = postgres_url()
        name = f"foikit_test_{uuid.uuid4().hex[:10]}"
        engine = sa.create_engine(url)
        typed(cases).to_sql(name, engine, index=False, dtype={"date_recorded": sa.Date(),
                                                              "date_finalised": sa.Text()})
        rel = open_relation(url, table=name)
    yield rel
    rel.close()
    if request.param == "postgres":
        with engine.begin() as conn:
            conn.execute(sa.text(f'DROP TABLE "{name}"'))
        engine.dispose()


# --- same counts everywhere ----------------------------------------------------------------------------


@pytest.mark.parametrize("name", list(SPECS))
def test_cube_matches_plain_pandas(relation: SqlRelation, cases: pd.DataFrame, name: str) -> None:
    spec = SPECS[name]
    got, query = sql_cube(spec, relation, f"spec {name}")
    want = expected_cube(spec, cases)
    assert list(got.columns) == list(empty_result(spec).columns)
    assert (got.dtypes == "int64").all()
    pd.testing.assert_frame_equal(got, want)
    assert len(want) > 3
    if spec.unit_key and spec.dims:
        assert want["affected"].sum() > 0, "the data should have units with several values in a period"
    # the record: one statement, every value inlined, and it gives the same rows when run as it is
    assert query.lstrip().upper().startswith(("WITH", "SELECT")) and ";" not in query
    assert "%(" not in query and "?" not in query
    for value in spec.filters.get("allegation_category", ()):
        assert f"'{value}'" in query
    with relation.engine.connect() as conn:
        rerun = pd.DataFrame(conn.exec_driver_sql(query).fetchall(), columns=list(got.columns))
    pd.testing.assert_frame_equal(rerun.astype("int64"), got)


def test_column_profile_is_the_distinct_values(relation: SqlRelation, cases: pd.DataFrame) -> None:
    """One scan gives every column's distinct values (as observed_values) and each date column's days."""
    from foikit.cube.sql import column_profile

    found = column_profile(relation, ["unit", "outcome", "complainant_sex"], list(DATE_COLUMNS))
    for column in ("unit", "outcome", "complainant_sex"):
        assert found[("values", column)] == observed_values(relation, column) == sorted(set(cases[column]))
    for column in DATE_COLUMNS:
        assert found[("days", column)] == sorted(set(cases[column]))


def test_a_database_request_runs_few_statements(tmp_path: Path, cases: pd.DataFrame) -> None:
    """The checks come from the count itself: for the example request (every breakdown described by the
    dictionary), one scan for which columns are ever missing, one for values with surrounding spaces, one
    statement per part (a run counts each part once: the kernel's answer is checked from its files); the
    snapshot's years covered then take one scan, and the extract one."""
    from foikit.cube.engine import count_cube
    from foikit.request.params import load_request
    from foikit.run.snapshot import coverage, extract
    from foikit.source.data import CaseData, embedded_dictionary

    request = load_request(Path(__file__).resolve().parents[1] / "params" / "01.FOI.23.032341.yaml")
    rel = sqlite_relation(cases, tmp_path)
    data = CaseData(relation=rel, path=tmp_path / "cases", sha256="", dictionary=embedded_dictionary(),
                    embedded=False)
    statements: list[str] = []
    sa.event.listen(rel.engine, "before_cursor_execute", lambda *args: statements.append(args[2]))
    try:
        cubes = [count_cube(data, part, f"parts.{i}") for i, part in enumerate(request.parts)]
        # and one scan for values with surrounding spaces in the columns read (the parts read the same ones)
        assert len(statements) == 2 + len(request.parts)
        coverage(data, request)
        assert len(statements) == 3 + len(request.parts)
        extract(data, request)
        assert len(statements) == 4 + len(request.parts)  # the extract itself
    finally:
        rel.close()
    assert all(cube.spec is not None and cube.query for cube in cubes)


def test_unknown_value_hidden_inside_a_unit(sqlite_cases: tuple[SqlRelation, pd.DataFrame]) -> None:
    """With distinct units, a unit's min/max code passes over a row with no category: it is found apart."""
    from foikit.cube.sql import uncoded_rows

    rel, frame = sqlite_cases
    spec = SPECS["officers_first"]
    assert uncoded_rows(spec, rel, "x") == 0
    counted = frame.index[frame["allegation_category"].isin(["Domestic abuse", "Other"])
                          & frame["date_recorded"].between("2017", "2024")]
    frame.loc[counted[0], "outcome"] = "Code X"
    reload(rel, frame)
    assert uncoded_rows(spec, rel, "x") == 1
    assert "'Code X' (1 rows)" in error_of(spec, rel)


def test_query_relation_and_hostile_values(tmp_path: Path, cases: pd.DataFrame) -> None:
    """A SELECT as the relation; raw values with quotes and SQL in them are bound, never spliced."""
    frame = cases.copy()
    hostile = "x'); DROP TABLE cases; --"
    frame.loc[frame.index[:40], "allegation_category"] = hostile
    frame.loc[frame.index[:10], "unit"] = "Officers' mess"
    sqlite_relation(frame, tmp_path).close()
    spec = CubeSpec(filters={"allegation_category": (hostile, "Domestic abuse")},
                    period=periods("calendar", range(2017, 2024)),
                    dims=(DimSpec("unit", "unit", {u: u for u in (*UNITS, "Officers' mess")},
                                  (*UNITS, "Officers' mess", NR)),))
    url = f"sqlite:///{tmp_path / 'cases.db'}"
    with open_relation(url, query="SELECT * FROM cases WHERE officer_sex = 'Male';") as rel:
        assert rel.label == f"{url} query" and "unit" in rel.columns()
        got, query = sql_cube(spec, rel, "q")
    pd.testing.assert_frame_equal(got, expected_cube(spec, frame[frame["officer_sex"] == "Male"]))
    assert "'x''); DROP TABLE cases; --'" in query
    with open_relation(url, table="cases") as rel:
        assert sa.inspect(rel.engine).has_table("cases")
        pd.testing.assert_frame_equal(sql_cube(spec, rel, "t")[0], expected_cube(spec, frame))


def test_timestamps_and_helpers(tmp_path: Path, cases: pd.DataFrame) -> None:
    """A TIMESTAMP period column (late in the day: the date, not the instant, places a row), and the helpers
    that build a spec from a database: distinct values ('' for NULL) and the periods holding any row."""
    frame = typed(cases)
    frame["date_recorded"] = [None if d is None else pd.Timestamp(d) + pd.Timedelta(hours=23, minutes=59)
                              for d in frame["date_recorded"]]
    fields = [pa.field(c, pa.timestamp("us") if c == "date_recorded" else
                       pa.date32() if c in DATE_COLUMNS else pa.string()) for c in frame.columns]
    pq.write_table(pa.Table.from_pandas(frame, schema=pa.schema(fields), preserve_index=False),
                   tmp_path / "ts.parquet")
    spec = SPECS["officers_first"]
    with file_relation(tmp_path / "ts.parquet") as rel:
        pd.testing.assert_frame_equal(sql_cube(spec, rel, "ts")[0], expected_cube(spec, cases))
        assert observed_values(rel, "unit") == sorted(set(cases["unit"]))
        assert observed_values(rel, "unit")[0] == ""
        assert covered_periods(SPECS["rows_financial_finalised"], rel) == set(range(5))
        wide = periods("calendar", range(2010, 2030))
        assert covered_periods(CubeSpec(filters={}, period=wide, dims=()), rel) == set(range(7, 14))


# --- bad data: one line, naming the source, the column and the values -----------------------------------


@pytest.fixture
def sqlite_cases(tmp_path: Path, cases: pd.DataFrame) -> Iterator[tuple[SqlRelation, pd.DataFrame]]:
    yield from _with_frame(tmp_path, cases.copy())


def _with_frame(tmp_path: Path, frame: pd.DataFrame) -> Iterator[tuple[SqlRelation, pd.DataFrame]]:
    rel = sqlite_relation(frame, tmp_path)
    yield rel, frame
    rel.close()


def reload(rel: SqlRelation, frame: pd.DataFrame) -> None:
    frame.to_sql("cases", rel.engine, index=False, if_exists="replace")


def error_of(spec: CubeSpec, rel: SqlRelation) -> str:
    with pytest.raises(DataError) as info:
        sql_cube(spec, rel, "params.parts.0")
    message = str(info.value)
    assert "\n" not in message
    return message


def test_missing_column(sqlite_cases: tuple[SqlRelation, pd.DataFrame]) -> None:
    rel, _ = sqlite_cases
    spec = SPECS["rows_calendar_merge_other"]
    spec = CubeSpec(filters=spec.filters, period=spec.period,
                    dims=(*spec.dims, DimSpec("grade", "officer_grade", {}, (NR,))))
    message = error_of(spec, rel)
    assert message.startswith("params.parts.0: column 'officer_grade' is not in sqlite:///")
    assert "table cases (columns: case_ref, officer_id," in message


def test_filter_value_absent(sqlite_cases: tuple[SqlRelation, pd.DataFrame]) -> None:
    rel, _ = sqlite_cases
    spec = SPECS["rows_calendar_merge_other"]
    spec = CubeSpec(filters={"allegation_category": ("Domestic abuse", "Arson")}, period=spec.period,
                    dims=spec.dims)
    message = error_of(spec, rel)
    assert "params.parts.0.filter.allegation_category: ['Arson'] not found in column 'allegation_category'" \
        in message
    assert "(values: ['Domestic abuse', 'Indecent exposure', 'Other', 'Other sexual misconduct'])" in message


def test_unknown_values_with_counts(sqlite_cases: tuple[SqlRelation, pd.DataFrame]) -> None:
    rel, frame = sqlite_cases
    counted = frame.index[(frame["allegation_category"] == "Domestic abuse")
                          & frame["date_recorded"].between("2019", "2024")]
    for i in range(25):  # 25 unknown codes, code i on i + 1 rows
        frame.loc[counted[i * (i + 1) // 2: (i + 1) * (i + 2) // 2], "outcome"] = f"Code {i:02d}"
    frame.loc[frame["allegation_category"] == "Other", "outcome"] = "Not counted"  # outside the filter
    reload(rel, frame)
    message = error_of(SPECS["rows_calendar_merge_other"], rel)
    assert message.startswith("params.parts.0: column 'outcome' of sqlite:///")
    assert "has values that are not in the data dictionary: 'Code 00' (1 rows), 'Code 01' (2 rows)," in message
    assert message.endswith("'Code 19' (20 rows) and 5 more values")
    assert "Code 20" not in message and "Not counted" not in message
    # with an 'other' bucket the same data counts
    spec = SPECS["rows_calendar_merge_other"]
    lenient = CubeSpec(filters=spec.filters, period=spec.period,
                       dims=(DimSpec("outcome", "outcome", OUTCOME_CODES, (*OUTCOMES, "Other"), other="Other"),))
    got, _ = sql_cube(lenient, rel, "x")
    assert got["n"].sum() == expected_cube(lenient, frame)["n"].sum()


def test_missing_values_need_a_category(sqlite_cases: tuple[SqlRelation, pd.DataFrame]) -> None:
    rel, _ = sqlite_cases
    spec = CubeSpec(filters={}, period=periods("calendar", range(2020, 2022)),
                    dims=(DimSpec("unit", "unit", {u: u for u in UNITS}, UNITS),))
    message = error_of(spec, rel)
    assert "column 'unit' of sqlite:///" in message
    assert "missing values but 'Not recorded' is not a category of 'unit'" in message


def test_bad_dates(sqlite_cases: tuple[SqlRelation, pd.DataFrame], tmp_path: Path) -> None:
    rel, frame = sqlite_cases
    frame.loc[frame.index[[5, 6]], "date_recorded"] = "31/12/2021"
    frame.loc[frame.index[7], "date_recorded"] = "2021-02-30"
    frame.loc[frame.index[8], "date_recorded"] = "soon"
    reload(rel, frame)
    message = error_of(SPECS["rows_calendar_merge_other"], rel)
    assert message.startswith("params.parts.0.date_column: column 'date_recorded' of sqlite:///")
    assert message.endswith("has 4 values that are not dates (YYYY-MM-DD): '2021-02-30' (1 rows), "
                            "'31/12/2021' (2 rows), 'soon' (1 rows)")
    synth.write(frame, tmp_path / "bad.csv")
    with file_relation(tmp_path / "bad.csv") as csv:  # a file's rows have an order: named by row, as pandas
        assert [str(e) for e in problems(SPECS["rows_calendar_merge_other"], csv, "p")] == [
            f"p.date_column: column 'date_recorded' of {tmp_path / 'bad.csv'} has 4 values that are not dates "
            "(YYYY-MM-DD): row 6 ('31/12/2021'), row 7 ('31/12/2021'), row 8 ('2021-02-30'), row 9 ('soon')"]


def test_duplicate_keys(sqlite_cases: tuple[SqlRelation, pd.DataFrame]) -> None:
    rel, frame = sqlite_cases
    assert duplicate_keys(rel, ("case_ref", "officer_id"), "data.key") == []
    frame = pd.concat([frame, frame.iloc[[3, 3, 9]]], ignore_index=True)
    reload(rel, frame)
    (message,) = duplicate_keys(rel, ("case_ref", "officer_id"), "data.key")
    first, second = frame.iloc[3], frame.iloc[9]
    assert message.startswith("data.key: sqlite:///")
    assert message.endswith(f"table cases has 2 duplicated keys (case_ref, officer_id) in 5 rows: "
                            f"({first.case_ref}, {first.officer_id}) x3, ({second.case_ref}, {second.officer_id}) x2")
    assert duplicate_keys(rel, ("case_ref", "badge"), "data.key") == [
        f"data.key: key column 'badge' not in {rel.label} (columns: {', '.join(frame.columns)})"]


def test_empty_result(sqlite_cases: tuple[SqlRelation, pd.DataFrame]) -> None:
    rel, _ = sqlite_cases
    spec = CubeSpec(filters={"allegation_category": ("Indecent exposure",)},
                    period=periods("calendar", range(1990, 1992)), dims=(sex("officer_sex"),))
    message = error_of(spec, rel)
    assert message.startswith("params.parts.0: no rows of sqlite:///")
    assert "filter {'allegation_category': ('Indecent exposure',)}, periods 1990, 1991 by date_recorded" in message
    got, query = sql_cube(spec, rel, "x", allow_empty=True)
    pd.testing.assert_frame_equal(got, empty_result(spec))
    assert "'1990-01-01'" in query


def test_unknown_table_and_unreachable_database(tmp_path: Path, cases: pd.DataFrame) -> None:
    sqlite_relation(cases, tmp_path).close()
    with pytest.raises(DataError, match=r"^sqlite:///.*cases\.db table nope: cannot read the relation: "
                                        r"no such table: nope$"):
        open_relation(f"sqlite:///{tmp_path / 'cases.db'}", table="nope")
    url = "postgresql+psycopg://foikit:s3cret-pw@127.0.0.1:1/foikit"
    with pytest.raises(DataError) as info:
        open_relation(url, table="cases")
    message = str(info.value)
    assert message.startswith("postgresql+psycopg://foikit:***@127.0.0.1:1/foikit table cases: cannot connect: ")
    assert "s3cret" not in message and "\n" not in message
    with pytest.raises(DataError, match="cannot parse the database URL") as info:
        open_relation("postgresql://foikit:s3cret-pw@127.0.0.1:port/x", table="cases")
    assert "s3cret" not in str(info.value)
    with pytest.raises(DataError, match=r"nope\.csv: data file not found"):
        file_relation(tmp_path / "nope.csv")
    with pytest.raises(DataError, match=r"unsupported data file type '\.xls'"):
        file_relation(tmp_path / "cases.xls")
    (tmp_path / "broken.parquet").write_text("not parquet")
    with pytest.raises(DataError, match=r"broken\.parquet: cannot read the file: .*Parquet"):
        file_relation(tmp_path / "broken.parquet")


def test_postgres_wrong_password_and_unknown_table() -> None:
    url = sa.make_url(postgres_url())
    wrong = url.set(password="not-the-password-42")
    with pytest.raises(DataError) as info:
        open_relation(wrong.render_as_string(hide_password=False), table="cases")
    message = str(info.value)
    assert message.startswith(f"{url.render_as_string(hide_password=True)} table cases: cannot connect: ")
    assert "password authentication failed" in message and "not-the-password-42" not in message
    with pytest.raises(DataError, match=r"table no_such_table: cannot read the relation: .*no_such_table"):
        open_relation(url.render_as_string(hide_password=False), table="no_such_table")


def test_check_passes_on_good_data(relation: SqlRelation) -> None:
    for spec in SPECS.values():
        check(spec, relation, "ok")


@pytest.mark.parametrize("suffix", ["csv", "parquet"])
def test_a_duckdb_file_is_checked_on_the_rows_counted(tmp_path: Path, cases: pd.DataFrame, suffix: str) -> None:
    """A file read by DuckDB: a date that is not a date among the rows passing a part's filters stops it;
    outside them (another category) it cannot change a figure and the counts stand, as on the pandas engine.
    A duplicated key stops the run wherever it is, as on the pandas engine (issue 12.8)."""
    from foikit.cube.engine import count_cube
    from foikit.request.params import DataSource, load_request
    from foikit.source.data import open_source

    parts = load_request(Path(__file__).resolve().parents[1] / "params" / "01.FOI.23.032341.yaml").parts
    dictionary = str(Path(__file__).resolve().parents[1] / "foikit" / "data" / "conduct_allegations.yaml")
    counted = cases.index[(cases["allegation_category"] == "Domestic abuse")
                          & cases["date_recorded"].str[:4].isin(["2020", "2022", "2023"])]
    other = cases.index[cases["allegation_category"] == "Other"]

    def counts(frame: pd.DataFrame, name: str) -> list[int]:
        path = tmp_path / f"{name}.{suffix}"
        frame.to_csv(path, index=False) if suffix == "csv" else frame.to_parquet(path, index=False)
        data = open_source(DataSource(path=str(path), engine="duckdb", dictionary=dictionary))
        try:
            return [count_cube(data, part, f"params.parts.{i}").n_rows for i, part in enumerate(parts)]
        finally:
            data.relation.close()

    clean = counts(cases, "clean")
    outside = cases.copy()
    outside.loc[other[0], "date_recorded"] = "31/12/2021"
    assert counts(outside, "outside") == clean
    # named by row as the pandas engine names them: each repeated key at its first row and where it repeats
    a, b, n = cases.loc[other[0]], cases.loc[other[1]], len(cases)
    path = tmp_path / f"outside_dup.{suffix}"
    with pytest.raises(DataError) as info:
        counts(pd.concat([outside, outside.loc[other[:2]]], ignore_index=True), "outside_dup")
    assert str(info.value) == (
        f"{path}: duplicate keys (case_ref, officer_id, allegation_category) in 4 rows: ({a.case_ref}, "
        f"{a.officer_id}, Other) at data rows [{other[0] + 1}, {n + 1}]; ({b.case_ref}, {b.officer_id}, Other) at "
        f"data rows [{other[1] + 1}, {n + 2}]")
    first = cases.loc[counted[0]]
    with pytest.raises(DataError) as info:
        counts(pd.concat([cases, cases.loc[counted[:1]]], ignore_index=True), "dup")
    assert str(info.value) == (
        f"{tmp_path / f'dup.{suffix}'}: duplicate keys (case_ref, officer_id, allegation_category) in 2 rows: "
        f"({first.case_ref}, {first.officer_id}, Domestic abuse) at data rows [{counted[0] + 1}, {n + 1}]")
    inside = cases.copy()
    inside.loc[counted[0], "date_recorded"] = "soon"
    with pytest.raises(DataError, match=rf"^params\.parts\.0\.date_column: column 'date_recorded' of .* has 1 "
                                        rf"values that are not dates \(YYYY-MM-DD\): row {counted[0] + 1} \('soon'\)$"):
        counts(inside, "bad")
