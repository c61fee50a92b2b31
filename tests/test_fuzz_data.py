"""Fuzz (issue 12, "Also build"): generated data files, CSV and Parquet, opened and counted against one fixed
valid request. Every case must give a cube (for a CSV: the counts an independent reading of the file with
Python's csv module gives) or a refusal of a known kind, as a FoikitError whose message is one line; nothing
else may be raised, nothing written, and no case may hang (a 20 s alarm per case: a guard, not a timing
assertion). Derandomized: the same 1,000+ cases on every run."""

from __future__ import annotations

import csv
import datetime
import io
import os
import re
import signal
import tempfile
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import foikit
from foikit.cube.engine import count_cube
from foikit.exceptions import FoikitError
from foikit.request.params import DataSource
from foikit.source.data import open_source

CASES = int(os.environ.get("FOIKIT_FUZZ_CASES", "1000"))
REQUEST = foikit.parse_request({
    "ref": "01.FOI.99.000009", "title": "Fuzz", "data": {"path": "x.csv"},
    "parts": [{"name": "p", "title": "P", "years": [2020, 2021], "counting_unit": "rows",
               "tables": [{"name": "t", "title": "T", "rows": ["a"], "columns": ["year"]}]}]})

# what a refusal is about, from its message: every refusal must be one of these
KINDS = [("utf8", r"not UTF-8"), ("empty", r"the file is empty"),
         ("header", r": header: |: column names: |has no header row"),
         ("ragged", r"fields where the header has"), ("unreadable", r"cannot read the file|cannot be parsed"),
         ("spaces", r"surrounding spaces"), ("dates", r"not dates"), ("column", r"(is|are) not in "),
         ("duplicates", r"repeat an earlier row|repeats an earlier row"), ("nodata", r"\.years: no data for"),
         ("nothing", r"no rows of")]

NAMES = st.one_of(st.sampled_from(["a", "date_recorded", "id", "b", " a", "a ", "", "é", "A", "date recorded",
                                   "x.y", 'q"uote', "a,b", "line\nbreak"]),
                  st.text(max_size=6))
DATES = st.sampled_from(["2020-01-05", "2021-12-31", "2020-1-5", "05/01/2020", "2021-06-01 10:00",
                         "2021-06-01T10:00:00Z", "2020-02-30", "20200105", "2021-13-01", "", " 2020-01-05",
                         "2020-01-05 ", "\uff12\uff10\uff12\uff10-01-05", "2019-12-31", "2022-01-01",
                         "2020-01-05t10", "9" * 3000])
CATEGORIES = st.sampled_from(["x", "X", "y", " x", "x ", "é", "e\u0301", "\u00a0x", "", "Not recorded", "true",
                              "a,b", 'say "hi"', "multi\nline", "9" * 3000, "ﬁ", "\t"])
VALUES = st.one_of(DATES, CATEGORIES, st.text(max_size=8))


GOOD_DATES = st.sampled_from(["2020-01-05", "2021-12-31", "2021-06-01 10:00", "2021-06-01T10:00:00Z",
                              "2020-02-29", "2019-12-31", "2022-01-01", ""])
GOOD_CATEGORIES = st.sampled_from(["x", "X", "y", "é", "e\u0301", "", "Not recorded", "true", "a,b", 'say "hi"',
                                   "multi\nline", "9" * 3000, "ﬁ", "0", "nan"])
EXTRA_NAMES = ["b", "é", "x.y", 'q"uote', "a,b", "line\nbreak", "date recorded", "Ab"]
FLAWS = ["none", "none", "none", "bad date", "padded", "duplicate row", "ragged", "encoding", "repeated name",
         "missing column"]


@st.composite
def data_files(draw: st.DrawFn) -> tuple[str, bytes | pa.Table]:
    """A CSV (bytes) or a Parquet table. Two in three are a valid file (unique names with the request's
    columns among them, an id per row, ISO dates in many spellings, categories with case, unicode, quotes,
    newlines and huge values, typed Parquet columns) with at most one flaw; the others are hostile (random
    names, values and dates, repeated rows, ragged rows, other encodings)."""
    if draw(st.integers(0, 2)) == 0:
        return draw(hostile_files())
    flaw = draw(st.sampled_from(FLAWS))
    extras = draw(st.lists(st.sampled_from(EXTRA_NAMES), max_size=3, unique=True))
    names = draw(st.permutations(["id", "a", "date_recorded", *extras]))
    rows = draw(st.integers(0, 15))
    dates = ["2020-03-01", "2021-03-01", *draw(st.lists(GOOD_DATES, min_size=rows, max_size=rows))]
    columns = {"id": [str(i) for i in range(len(dates))], "date_recorded": dates}
    for name in ["a", *extras]:
        columns[name] = draw(st.lists(GOOD_CATEGORIES, min_size=len(dates), max_size=len(dates)))
    at = draw(st.integers(0, len(dates) - 1))
    if flaw == "bad date":
        columns["date_recorded"][at] = draw(st.sampled_from([
            "2020-1-5", "05/01/2020", "2020-02-30", "20200105", "\uff12\uff10\uff12\uff10-01-05", "2020-01-05t10",
            "soon"]))
    elif flaw == "padded":
        column = draw(st.sampled_from(["a", "date_recorded"]))
        columns[column][at] = draw(st.sampled_from([" ", "\t", "\u00a0"])) + columns[column][at]
    if flaw == "missing column":
        names = [n for n in names if n != draw(st.sampled_from(["a", "date_recorded"]))]
    if flaw == "repeated name":
        names = [*names, draw(st.sampled_from(names))]
        columns[names[-1] + " "] = columns[names[-1]]
    records = [[columns[n][i] for n in names] for i in range(len(dates))]
    if flaw == "duplicate row":
        records.append(list(records[at]))
    if draw(st.booleans()):
        return "parquet", _parquet(draw, names, records, typed=flaw == "none")
    out = io.StringIO()
    writer = csv.writer(out, lineterminator=draw(st.sampled_from(["\n", "\r\n"])))
    writer.writerow(names)
    for i, record in enumerate(records):
        if flaw == "ragged" and i == at:
            record = record[:-1] if draw(st.booleans()) else [*record, "extra"]
        writer.writerow(record)
    text = out.getvalue() + draw(st.sampled_from(["", "\n", "\n\n"]))
    encoding = draw(st.sampled_from(["latin-1", "utf-16"])) if flaw == "encoding" else \
        draw(st.sampled_from(["utf-8", "utf-8-sig"]))
    return "csv", text.encode(encoding, errors="replace")


@st.composite
def hostile_files(draw: st.DrawFn) -> tuple[str, bytes | pa.Table]:
    """Random header (the request's columns often among it), random values by column, sometimes a repeated
    row, a ragged row, another encoding, a typed column."""
    names = draw(st.lists(NAMES, min_size=0, max_size=5))
    if draw(st.booleans()):
        names = ["a", "date_recorded", *names] if draw(st.booleans()) else [*names, "date_recorded", "a"]
    rows = draw(st.integers(0, 12))
    columns = []
    for name in names:
        kind = draw(st.sampled_from(["date", "category", "any"])) if name != "date_recorded" else \
            draw(st.sampled_from(["date", "date", "any"]))
        values = st.one_of(DATES if kind == "date" else CATEGORIES if kind == "category" else VALUES)
        columns.append(draw(st.lists(values, min_size=rows, max_size=rows)))
    records = [list(r) for r in zip(*columns, strict=True)] if names else []
    if records and draw(st.booleans()):  # a row repeated
        records.insert(draw(st.integers(0, len(records))), list(draw(st.sampled_from(records))))
    if draw(st.booleans()):
        return "parquet", _parquet(draw, names, records)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator=draw(st.sampled_from(["\n", "\r\n"])))
    writer.writerow(names)
    for record in records:
        if draw(st.integers(0, 9)) == 0:  # ragged: a field missing or one too many
            record = record[:-1] if record and draw(st.booleans()) else [*record, "extra"]
        writer.writerow(record)
    text = out.getvalue() + draw(st.sampled_from(["", "\n", "\n\n"]))
    encoding = draw(st.sampled_from(["utf-8", "utf-8", "utf-8", "utf-8-sig", "latin-1", "utf-16"]))
    return "csv", text.encode(encoding, errors="replace")


def _parquet(draw: st.DrawFn, names: list[str], records: list[list[str]], typed: bool = True) -> pa.Table:
    arrays = []
    for j, _ in enumerate(names):
        values = [r[j] for r in records]
        kind = draw(st.sampled_from(["string", "string", "bool", "int", "float", "date", "timestamp", "null"])) \
            if typed else "string"
        if kind == "bool":
            arrays.append(pa.array(draw(st.lists(st.one_of(st.none(), st.booleans()), min_size=len(values),
                                                 max_size=len(values))), pa.bool_()))
        elif kind == "int":
            arrays.append(pa.array(draw(st.lists(st.one_of(st.none(), st.integers(-10**12, 10**12)),
                                                 min_size=len(values), max_size=len(values))), pa.int64()))
        elif kind == "float":
            arrays.append(pa.array(draw(st.lists(st.one_of(st.none(), st.floats(allow_nan=True)),
                                                 min_size=len(values), max_size=len(values))), pa.float64()))
        elif kind in {"date", "timestamp"}:
            days = draw(st.lists(st.one_of(st.none(), st.integers(17_500, 19_500)), min_size=len(values),
                                 max_size=len(values)))
            arrays.append(pa.array(days, pa.int32()).cast(pa.date32()) if kind == "date" else
                          pa.array([None if d is None else d * 86_400_000_000 + 3_600_000_000 * (d % 24)
                                    for d in days], pa.int64()).cast(pa.timestamp("us")))
        else:
            arrays.append(pa.array([None if kind == "null" and v == "" else v for v in values], pa.string()))
    return pa.Table.from_arrays(arrays, names=names)


def kind_of(message: str) -> str:
    return next((kind for kind, pattern in KINDS if re.search(pattern, message)), "other")


def run(path: Path) -> tuple:
    data = None
    try:
        data = open_source(DataSource(path=str(path)))
        cube = count_cube(data, REQUEST.parts[0], "params.parts.0")
        names = list(cube.counts.index.names)
        return "cube", {(k[names.index("year")], k[names.index("a")]): int(v) for k, v in cube.counts.items()
                        if v}
    except FoikitError as exc:
        message = str(exc)
        assert message and "\n" not in message and len(message) < 5000, message[:500]
        return "refused", kind_of(message), message
    finally:
        if data is not None:
            data.relation.close()


DAY = re.compile(r"([0-9]{4})-([0-9]{2})-([0-9]{2})([T ].*)?", re.DOTALL)


def counted_by_hand(content: bytes) -> dict[tuple[str, str], int]:
    """Rows by (year, a) of a CSV, read with the csv module: a day is YYYY-MM-DD (a real one), optionally
    followed by T or a space and a time; an empty value of ``a`` is 'Not recorded'."""
    found: dict[tuple[str, str], int] = {}
    for row in csv.DictReader(io.StringIO(content.decode("utf-8-sig"), newline="")):
        match = DAY.fullmatch(row["date_recorded"])
        if not match:
            continue
        try:
            day = datetime.date(*(int(g) for g in match.groups()[:3]))
        except ValueError:
            continue
        if day.year in (2020, 2021):
            key = (str(day.year), row["a"] or "Not recorded")
            found[key] = found.get(key, 0) + 1
    return found


class Hang(Exception):
    pass


def _alarm(signum: int, frame: object) -> None:
    raise Hang("a case ran for more than 20 s")


seen: list[str] = []


@settings(max_examples=CASES, derandomize=True, database=None, deadline=None, print_blob=True,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.large_base_example])
@given(data_files())
def _one_case(case: tuple[str, bytes | pa.Table]) -> None:
    fmt, content = case
    with tempfile.TemporaryDirectory(prefix="foikit-fuzz-") as folder:
        path = Path(folder) / f"cases.{fmt}"
        path.write_bytes(content) if fmt == "csv" else pq.write_table(content, path)
        before = sorted(os.listdir(folder))
        previous = signal.signal(signal.SIGALRM, _alarm)
        signal.alarm(20)
        try:
            got = run(path)
        finally:
            signal.alarm(0)
            signal.signal(signal.SIGALRM, previous)
        assert sorted(os.listdir(folder)) == before  # nothing written beside the data
    if got[0] == "cube" and fmt == "csv":
        assert isinstance(content, bytes)
        assert got[1] == counted_by_hand(content), got
    else:
        assert got[0] == "cube" or got[1] != "other", got
    seen.append(got[0] if got[0] == "cube" else got[1])


def test_generated_data_files_give_a_cube_or_a_known_refusal() -> None:
    cwd = sorted(set(os.listdir(".")) - {".hypothesis"})  # (hypothesis' own folder)
    seen.clear()
    _one_case()
    assert len(seen) >= CASES
    assert sorted(set(os.listdir(".")) - {".hypothesis"}) == cwd  # nothing written where the run started either
    assert seen.count("cube") >= CASES // 20  # the generator reaches counting, not only refusals
