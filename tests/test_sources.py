"""Periods, counting units, dictionaries with codes, file types, and bad data (issue 5), worked by hand."""

from __future__ import annotations

import re

import pandas as pd
import pytest
import yaml

import foikit
from foikit.request.dictionary import Dictionary
from foikit.request.params import DataSource

from .conftest import HAND_ROWS, hand_request, read_back


def _answer(raw: dict):
    return foikit.answer(foikit.parse_request(raw))


def _part(hand_csv, **changes) -> dict:
    part = hand_request(hand_csv)["parts"][0]
    part.update(changes)
    return part


def test_financial_years_april_to_march(hand_csv):
    part = _part(hand_csv, period="financial_year", years=[2019, 2020, 2021])
    table = _answer(hand_request(hand_csv, parts=[part])).part("da").true_table("by_outcome")
    # By hand: 2019/20 = Jan-Mar 2020 (3 no case); 2020/21 = Apr 2020-Mar 2021; 2021/22 = the April 2021 case
    assert table.columns.tolist() == ["2019/20", "2020/21", "2021/22", "Total"]
    assert table.astype(int).values.tolist() == [[0, 3, 0, 3], [3, 3, 0, 6], [0, 0, 1, 1], [3, 6, 1, 10]]


def test_explicit_date_ranges(hand_csv):
    ranges = [{"label": "H1 2020", "start": "2020-01-01", "end": "2020-06-30"},
              {"label": "2021", "start": "2021-01-01", "end": "2021-12-31"}]
    tables = [{"name": "by_outcome", "title": "t", "rows": ["outcome"], "columns": ["period"]}]
    part = _part(hand_csv, period="range", years=[], ranges=ranges, tables=tables)
    table = _answer(hand_request(hand_csv, parts=[part])).part("da").true_table("by_outcome")
    assert table.columns.tolist() == ["H1 2020", "2021", "Total"]
    assert table.astype(int).values.tolist() == [[1, 2, 3], [5, 1, 6], [0, 1, 1], [6, 4, 10]]


def test_overlapping_ranges_are_refused(hand_csv):
    ranges = [{"label": "a", "start": "2020-01-01", "end": "2020-06-30"},
              {"label": "b", "start": "2020-06-30", "end": "2020-12-31"}]
    part = _part(hand_csv, period="range", years=[], ranges=ranges,
                 tables=[{"name": "t", "title": "t", "columns": ["period"]}])
    with pytest.raises(foikit.ParamsError, match="ranges 'a' and 'b' overlap"):
        foikit.parse_request(hand_request(hand_csv, parts=[part]))


@pytest.fixture
def officers(tmp_path):
    """Officer A: two outcomes in 2020, one in 2021; B: one in 2020; C: one in 2021."""
    rows = [("A", "2020-02-01", "No case"), ("A", "2020-05-01", "Dismissed"), ("B", "2020-03-01", "No case"),
            ("A", "2021-02-01", "Ongoing"), ("C", "2021-06-01", "Dismissed")]
    csv = tmp_path / "officers.csv"
    csv.write_text("case_ref,officer_id,allegation_category,date_recorded,outcome,officer_sex,complainant_sex\n" +
                   "".join(f"C{i},{o},DA,{d},{out},M,F\n" for i, (o, d, out) in enumerate(rows)))
    dictionary = tmp_path / "dict.yaml"
    dictionary.write_text(yaml.safe_dump({"name": "officers", "version": 1, "key": ["case_ref"], "columns": {},
                                          "units": {"officers": {"description": "officers (distinct)",
                                                                 "key": ["officer_id"]}}}))
    return csv, dictionary


def _officers_request(officers, resolve):
    csv, dictionary = officers
    raw = hand_request(csv, data={"path": str(csv), "dictionary": str(dictionary)})
    raw["parts"][0].update(counting_unit="officers", resolve=resolve,
                           tables=[{"name": "by_outcome", "title": "t", "rows": ["outcome"], "columns": ["year"]}])
    return raw


def test_distinct_officers_first_in_dictionary_order(officers):
    part = _answer(_officers_request(officers, {})).part("da")
    # categories sorted: Dismissed, No case, Ongoing; A in 2020 has Dismissed and No case -> Dismissed
    assert part.true_table("by_outcome").astype(int).values.tolist() == [
        [1, 1, 2], [1, 0, 1], [0, 1, 1], [2, 2, 4]]
    assert part.cube.affected == 1
    assert "counts once per period" in part.cube.rule


def test_distinct_officers_with_a_priority_list(officers):
    part = _answer(_officers_request(officers, {"outcome": ["No case", "Dismissed", "Ongoing"]})).part("da")
    # A in 2020 now counts under 'No case'; rows stay in the dictionary's (sorted) order
    assert part.true_table("by_outcome").index.tolist() == ["Dismissed", "No case", "Ongoing", "Total"]
    assert part.true_table("by_outcome").astype(int).values.tolist() == [
        [0, 1, 1], [2, 0, 2], [0, 1, 1], [2, 2, 4]]


def test_dictionary_codes_merge_and_other_bucket(hand_csv, tmp_path):
    dictionary = tmp_path / "d.yaml"
    dictionary.write_text(yaml.safe_dump({
        "name": "hand", "version": 2, "units": {"rows": "rows"},
        "columns": {"outcome": {"type": "category", "label": "Outcome",
                                "categories": ["No case to answer", "Dismissed", "Other"],
                                "codes": {"No case": "No case to answer", "Dismissed": "Dismissed"},
                                "other": "Other"}}}))
    raw = hand_request(hand_csv, data={"path": str(hand_csv), "dictionary": str(dictionary)})
    table = _answer(raw).part("da").true_table("by_outcome")
    assert table.index.tolist() == ["No case to answer", "Dismissed", "Other", "Total"]
    assert table.astype(int).values.tolist() == [[5, 1, 6], [1, 2, 3], [0, 1, 1], [6, 4, 10]]


def test_unknown_code_without_other_bucket_is_listed_with_its_count(hand_csv, tmp_path):
    dictionary = tmp_path / "d.yaml"
    dictionary.write_text(yaml.safe_dump({
        "name": "hand", "version": 2, "units": {"rows": "rows"},
        "columns": {"outcome": {"type": "category", "label": "Outcome", "categories": ["Closed"],
                                "codes": {"No case": "Closed", "Dismissed": "Closed"}}}}))
    raw = hand_request(hand_csv, data={"path": str(hand_csv), "dictionary": str(dictionary)})
    with pytest.raises(foikit.DataError, match=r"column 'outcome': values not in dictionary .*'Ongoing' \(2 rows\)"):
        _answer(raw)


def test_xlsx_parquet_and_csv_give_the_same_published_tables(hand_csv, tmp_path):
    frame = pd.read_csv(hand_csv, dtype=str, keep_default_na=False)
    xlsx = tmp_path / "cases.xlsx"
    excel = frame.assign(date_recorded=pd.to_datetime(frame["date_recorded"]))  # real dates, as Excel holds them
    excel.to_excel(xlsx, index=False)
    parquet = tmp_path / "cases.parquet"
    frame.to_parquet(parquet, index=False)
    published = [_answer(hand_request(hand_csv, data={"path": str(p)})).published()
                 for p in (hand_csv, xlsx, parquet)]
    pd.testing.assert_frame_equal(published[0], published[1])
    pd.testing.assert_frame_equal(published[0], published[2])


def _bad(tmp_path, lines: list[str], **overrides) -> str:
    csv = tmp_path / "bad.csv"
    header = "case_ref,officer_id,allegation_category,date_recorded,outcome,officer_sex,complainant_sex"
    csv.write_text("\n".join([header, *lines]) + "\n", encoding="utf-8")
    with pytest.raises(foikit.FoikitError) as info:
        _answer(hand_request(csv, **overrides))
    return str(info.value)


GOOD = [f"C{i:03d},OF{i:04d},{c},{d},{o},{s},{cs}" for i, (c, d, o, s, cs) in enumerate(HAND_ROWS)]


def test_unparseable_date_names_column_and_row(tmp_path):
    message = _bad(tmp_path, [*GOOD[:3], "C900,OF900,DA,2020-13-45,No case,M,F", *GOOD[3:]])
    assert "column 'date_recorded'" in message and "row 4 ('2020-13-45')" in message


def test_duplicate_keys_name_the_rows(tmp_path):
    dictionary = tmp_path / "d.yaml"
    dictionary.write_text(yaml.safe_dump({"name": "k", "version": 1, "key": ["case_ref"], "columns": {},
                                          "units": {"rows": "rows"}}))
    csv = tmp_path / "bad.csv"
    csv.write_text("case_ref,officer_id,allegation_category,date_recorded,outcome,officer_sex,complainant_sex\n"
                   + "\n".join([*GOOD, GOOD[1]]) + "\n")
    expected = r"duplicate keys \(case_ref\) in 2 rows: \(C001\) at data rows \[2, 13\]"
    with pytest.raises(foikit.DataError, match=expected):
        _answer(hand_request(csv, data={"path": str(csv), "dictionary": str(dictionary)}))


def test_wrong_encoding_is_named(tmp_path):
    csv = tmp_path / "latin.csv"
    csv.write_bytes(("case_ref,officer_id,allegation_category,date_recorded,outcome,officer_sex,complainant_sex\n"
                     "C1,O1,DA,2020-01-01,Révoqué,M,F\n").encode("latin-1"))
    with pytest.raises(foikit.DataError, match=r"latin\.csv: not UTF-8 text"):
        _answer(hand_request(csv))


def test_wrong_type_in_a_parquet_date_column(tmp_path, hand_csv):
    frame = pd.read_csv(hand_csv, dtype=str, keep_default_na=False)
    frame["date_recorded"] = range(20200101, 20200101 + len(frame))  # dates stored as integers
    parquet = tmp_path / "typed.parquet"
    frame.to_parquet(parquet, index=False)
    with pytest.raises(foikit.DataError, match=r"column 'date_recorded' .* not dates .*row 1 \('20200101'\)"):
        _answer(hand_request(hand_csv, data={"path": str(parquet)}))


def test_an_empty_result_is_refused(hand_csv):
    part = _part(hand_csv, filter={"allegation_category": "IE", "outcome": "Dismissed"})
    with pytest.raises(foikit.DataError, match=r"parts\.0: no rows of .* match the filter"):
        _answer(hand_request(hand_csv, parts=[part]))


def test_missing_column_is_named(hand_csv):
    part = _part(hand_csv, date_column="date_finalised")
    with pytest.raises(foikit.DataError, match=r"parts\.0\.date_column: column 'date_finalised' is not in"):
        _answer(hand_request(hand_csv, parts=[part]))


# --- the file reader: the values the file holds, as text ('' for empty or null) ---------------------------


def test_the_file_reader_gives_the_values_written(tmp_path):
    from foikit.datasets import synth

    frame = synth.generate(rows=3000, seed=5)
    frame.loc[frame.index[:7], "outcome"] = 'He said "no", then\nleft'  # quotes, comma, newline
    csv = synth.write(frame, tmp_path / "s.csv")
    pd.testing.assert_frame_equal(read_back(csv), frame.astype(str), check_dtype=False)
    # Parquet: nulls as '', a column that is not text as its digits
    typed = frame.replace({"": None}).assign(n=range(len(frame)))
    typed.to_parquet(tmp_path / "t.parquet", index=False)
    expected = frame.assign(n=[str(i) for i in range(len(frame))])
    pd.testing.assert_frame_equal(read_back(tmp_path / "t.parquet"), expected, check_dtype=False)


def test_duplicate_keys_in_a_large_file(tmp_path):
    """Above 200,000 rows the key screen hashes in DuckDB; the message is the same."""
    from foikit.source.data import check_keys

    n = 200_500
    frame = pd.DataFrame({"case_ref": [f"C{i:07d}" for i in range(n)], "cat": pd.Categorical(["a", "b"] * (n // 2)
                                                                                            + ["a"] * (n % 2))})
    dictionary = Dictionary(name="k", version=1, key=("case_ref", "cat"), units={"rows": "r"},
                                              columns={})
    check_keys(frame, dictionary, tmp_path / "x.csv")  # no duplicates
    frame.loc[n - 1, ["case_ref", "cat"]] = [frame.loc[4, "case_ref"], frame.loc[4, "cat"]]
    with pytest.raises(foikit.DataError, match=r"duplicate keys \(case_ref, cat\) in 2 rows: "
                                               rf"\(C0000004, a\) at data rows \[5, {n}\]"):
        check_keys(frame, dictionary, tmp_path / "x.csv")


# --- files that cannot be read: one line, exit 1, nothing written (issue 12.7); capped echoes (18.8) -----


def _xlsx_bytes(tmp_path) -> bytes:
    pd.DataFrame({"a": ["x"]}).to_excel(tmp_path / "whole.xlsx", index=False)
    return (tmp_path / "whole.xlsx").read_bytes()


UNREADABLE = [
    pytest.param("empty.csv", b"", r"empty\.csv: the file is empty \(no header row\)", id="empty-csv"),
    pytest.param("blank.csv", b"\n\n", r"blank\.csv: the file has no header row", id="blank-csv"),
    pytest.param("broken.parquet", b"PAR1 not really PAR1",
                 r"broken\.parquet: cannot read the file: not a readable Parquet file \(ArrowInvalid\)",
                 id="corrupt-parquet"),
    pytest.param("empty.parquet", b"", r"empty\.parquet: the file is empty", id="empty-parquet"),
    pytest.param("cut.xlsx", "truncated", r"cut\.xlsx: cannot read the file: not a readable XLSX workbook",
                 id="truncated-xlsx"),
    pytest.param("folder.csv", None, r"folder\.csv: is a directory, not a data file", id="directory"),
    pytest.param("latin.csv", "case_ref,date_recorded\nC1,2020-01-01\nC2,caf\xe9\n".encode("latin-1"),
                 r"latin\.csv: not UTF-8 text \(byte 44, line 3\): re-save the file as UTF-8", id="not-utf8"),
]


@pytest.mark.parametrize(("name", "content", "message"), UNREADABLE)
def test_an_unreadable_data_file_is_one_line_and_nothing_is_written(tmp_path, hand_csv, capsys, name, content,
                                                                    message):
    from foikit.cli import main

    path = tmp_path / name
    if content is None:
        path.mkdir()
    elif content == "truncated":
        path.write_bytes(_xlsx_bytes(tmp_path)[:300])
    else:
        path.write_bytes(content)
    params = tmp_path / "params.yaml"
    params.write_text(yaml.safe_dump(hand_request(path, data={"path": str(path)})))
    before = sorted(p.name for p in tmp_path.iterdir())
    code = main(["run", str(params), "--reports-dir", str(tmp_path / "reports")])
    err = capsys.readouterr().err.strip()
    assert code == 1
    assert len(err.splitlines()) == 1, err
    assert re.match(rf"foikit: error: .*params\.yaml: data: .*{message}", err), err
    assert sorted(p.name for p in tmp_path.iterdir()) == before  # nothing written


def test_a_system_file_is_never_quoted(tmp_path):
    """A data path that leads to a file that is no CSV (here a copy of a passwd file, one of whose lines
    DuckDB used to quote): the message says which line and what is wrong, never its content."""
    lines = ["root:x:0:0:root:/root:/bin/bash", "daemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin",
             "gecos,with,commas:x:1000:1000:A, B:/home/a:/bin/sh"]
    path = tmp_path / "cases.csv"
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(foikit.DataError) as info:
        foikit.open_source(DataSource(path=str(path)))
    assert str(info.value) == f"{path}: line 3: 4 fields where the header has 1: every row must have one value " \
                              "per column"


def test_a_huge_value_is_capped_in_messages(tmp_path):
    """A 1 MB bad date, a 1 MB category with a trailing space and a 1 MB column name: each message is one
    line of bounded length, the value cut at 200 characters (a column name in a list at 60)."""
    from tests.test_source_kinds import outcome

    huge = "9" * 1_000_000
    cases = [pd.DataFrame({"id": ["1"], "a": ["x"], "date_recorded": [huge]}),
             pd.DataFrame({"id": ["1"], "a": [huge + "\n "], "date_recorded": ["2020-01-01"]}),
             pd.DataFrame({"id": ["1"], "b\n" + huge: ["x"], "date_recorded": ["2020-01-01"]})]
    for i, frame in enumerate(cases):
        path = tmp_path / f"huge{i}.csv"
        frame.to_csv(path, index=False)
        kind, message = outcome({"path": str(path)})
        assert kind == "refused"
        assert "\n" not in message and len(message) < 1500, (i, len(message))
        assert 50 <= max(len(run) for run in re.findall("9+", message)) <= 200  # cut, but recognisable
        assert re.search(r"\.\.\. \(100000[0-9] characters\)", message)  # the repr: quotes, escapes


# --- the error as data (issue 13): where, what, and the offending values themselves -------------------------


def _error(raw: dict) -> foikit.DataError:
    with pytest.raises(foikit.DataError) as info:
        _answer(raw)
    return info.value


def test_a_missing_column_is_named_as_data(hand_csv):
    error = _error(hand_request(hand_csv, parts=[_part(hand_csv, date_column="date_finalised")]))
    assert (error.where, error.values) == ("params: parts.0.date_column", ("date_finalised",))
    assert str(error) == f"{error.where}: {error.problem}"


def test_bad_dates_and_absent_filter_values_are_given_as_data(tmp_path, hand_csv):
    csv = tmp_path / "bad.csv"
    header = "case_ref,officer_id,allegation_category,date_recorded,outcome,officer_sex,complainant_sex"
    csv.write_text("\n".join([header, *GOOD[:3], "C900,OF900,DA,2020-13-45,No case,M,F",
                              "C901,OF901,DA,soon,No case,M,F", *GOOD[3:]]) + "\n", encoding="utf-8")
    error = _error(hand_request(csv))
    assert (error.where, error.values) == ("params: parts.0.date_column", ("2020-13-45", "soon"))
    error = _error(hand_request(hand_csv, parts=[_part(hand_csv, filter={"allegation_category": ["DA", "XX"]})]))
    assert (error.where, error.values) == ("params: parts.0.filter.allegation_category", ("XX",))
    error = _error(hand_request(hand_csv, parts=[_part(hand_csv, years=[2020, 2031])]))
    assert (error.where, error.values) == ("params: parts.0.years", ("2031",))
