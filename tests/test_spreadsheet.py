"""tables.xlsx and tables.ods, read back (openpyxl; odfpy), follow the Analysis Function's rules for
spreadsheets: cover, contents and notes sheets, one table per sheet, a title in A1, no merged cell, no blank
row, one header row, numbers as numbers, markers as text in square brackets with their meaning, notes as
[note N], and the document's title and language. The expected figures are counted here from the raw data."""

from __future__ import annotations

import re
import zipfile
from pathlib import Path

import pandas as pd
import pytest
from odf import dc, opendocument
from odf.namespaces import OFFICENS, TABLENS
from odf.table import CoveredTableCell, Table, TableCell, TableRow
from odf.text import P
from openpyxl import load_workbook

import foikit
from foikit.exceptions import DataError, DisclosureError
from foikit.ledger.store import Ledger
from foikit.publish import files as publish
from foikit.publish import leakcheck
from foikit.publish.spreadsheet import Sheet, Spreadsheet, ods_bytes, xlsx_bytes

from .conftest import EXAMPLE_PARAMS, ROOT, ods_with_number

REF = "01.FOI.23.032341"
TITLE = "Officers investigated for allegations of domestic abuse and of indecent exposure"
OUTCOME_SHEET = "domestic_abuse_by_outcome"
OUTCOME_TITLE = "Officers investigated for allegations of domestic abuse: By year and outcome of investigation"
TABLE_SHEETS = [f"{p}_{t}" for p, ts in (("domestic_abuse", ("by_year", "by_outcome", "by_rank", "by_unit", "by_sex")),
                                         ("indecent_exposure", ("by_outcome", "by_rank", "by_unit", "by_sex")))
                for t in ts]
MARKER = re.compile(r"\[[a-z]+\]")


def raw_domestic_abuse() -> pd.DataFrame:
    """The embedded data the example params count (no filter but the category), read here with pandas."""
    data = pd.read_csv(ROOT / "foikit" / "data" / "conduct_allegations.csv", dtype=str)
    data = data[data["allegation_category"] == "Domestic abuse"]
    return data.assign(year=data["date_recorded"].str[:4])


@pytest.fixture(scope="module")
def written(tmp_path_factory) -> tuple[Path, Path]:
    response = foikit.answer(foikit.load_request(EXAMPLE_PARAMS), ledger=Ledger())
    runs = []
    for k in (1, 2):
        out = tmp_path_factory.mktemp(f"run{k}")
        runs.append((publish.write_xlsx(response, out), publish.write_ods(response, out)))
    assert runs[0][0].read_bytes() == runs[1][0].read_bytes()  # the same response, the same bytes
    assert runs[0][1].read_bytes() == runs[1][1].read_bytes()
    return runs[0]


def xlsx_sheets(path: Path) -> dict[str, list[list[object]]]:
    wb = load_workbook(path)
    return {ws.title: [list(r) for r in ws.iter_rows(values_only=True)] for ws in wb.worksheets}


def _ods_value(cell: TableCell) -> object:
    kind = cell.getAttrNS(OFFICENS, "value-type")
    if kind == "float":
        number = float(cell.getAttrNS(OFFICENS, "value"))
        return int(number) if number.is_integer() else number
    text = "\n".join(str(p) for p in cell.getElementsByType(P))
    return text if kind == "string" else None


def ods_sheets(path: Path) -> dict[str, list[list[object]]]:
    doc = opendocument.load(str(path))
    out = {}
    for table in doc.spreadsheet.getElementsByType(Table):
        rows = []
        for row in table.getElementsByType(TableRow):
            values: list[object] = []
            for cell in row.childNodes:
                repeat = int(cell.getAttrNS(TABLENS, "number-columns-repeated") or 1)
                values += [_ods_value(cell) if cell.qname[1] == "table-cell" else "<covered>"] * repeat
            rows.append(values)
        out[table.getAttrNS(TABLENS, "name")] = rows
    return out


def sheets_of(written: tuple[Path, Path], kind: str) -> dict[str, list[list[object]]]:
    return xlsx_sheets(written[0]) if kind == "xlsx" else ods_sheets(written[1])


def trimmed(rows: list[list[object]]) -> list[list[object]]:
    """Each row without the empty cells right of its last value."""
    out = []
    for row in rows:
        values = list(row)
        while values and values[-1] in (None, ""):
            values.pop()
        out.append(values)
    return out


def table_of(rows: list[list[object]]) -> tuple[list[object], list[object], list[list[object]]]:
    """(the lines above the table, its header row, its rows): the header is the first row of more than one
    cell; every line above it is one cell in column A."""
    rows = trimmed(rows)
    top = next(i for i, r in enumerate(rows) if len(r) > 1)
    assert all(len(r) == 1 for r in rows[:top])
    return [r[0] for r in rows[:top]], rows[top], rows[top + 1:]


KINDS = ["xlsx", "ods"]


@pytest.mark.parametrize("kind", KINDS)
def test_cover_contents_notes_then_one_sheet_per_table_each_titled_in_a1(written, kind):
    sheets = sheets_of(written, kind)
    assert list(sheets) == ["Cover", "Contents", "Notes", *TABLE_SHEETS]
    assert sheets["Cover"][0][0] == f"Freedom of information request {REF}"
    assert sheets["Contents"][0][0] == "Contents" and sheets["Notes"][0][0] == "Notes"
    assert sheets[OUTCOME_SHEET][0][0] == OUTCOME_TITLE
    assert sheets["domestic_abuse_by_year"][0][0] == "Officers investigated for allegations of domestic abuse: By year"
    for name, rows in sheets.items():
        assert isinstance(rows[0][0], str) and rows[0][0], name
    _, header, listed = table_of(sheets["Contents"])
    assert header == ["Sheet name", "Table title"]
    assert [r[0] for r in listed] == TABLE_SHEETS
    assert listed[1] == [OUTCOME_SHEET, OUTCOME_TITLE]


@pytest.mark.parametrize("kind", KINDS)
def test_no_blank_row_and_no_merged_cell(written, kind):
    for name, rows in sheets_of(written, kind).items():
        assert all(any(v not in (None, "") for v in row) for row in rows), name  # no blank row anywhere
        assert "<covered>" not in [v for row in rows for v in row], name
    if kind == "xlsx":
        assert all(not ws.merged_cells.ranges for ws in load_workbook(written[0]).worksheets)
    else:
        doc = opendocument.load(str(written[1]))
        assert doc.spreadsheet.getElementsByType(CoveredTableCell) == []
        cells = doc.spreadsheet.getElementsByType(TableCell)
        assert not any(c.getAttrNS(TABLENS, "number-columns-spanned") or c.getAttrNS(TABLENS, "number-rows-spanned")
                       for c in cells)


@pytest.mark.parametrize("kind", KINDS)
def test_one_header_row_numbers_as_numbers_and_markers_as_text(written, kind):
    raw = raw_domestic_abuse()
    lines, header, rows = table_of(sheets_of(written, kind)[OUTCOME_SHEET])
    assert header == ["Outcome", "2020", "2022", "2023", "Total"]  # the breakdown's name heads its own column
    by_label = {r[0]: r for r in rows}
    counted = raw[raw["year"] == "2020"]["outcome"].value_counts()
    assert counted["No case to answer"] == 51  # counted from the raw data
    assert by_label["No case to answer"][1] == 51 and type(by_label["No case to answer"][1]) is int
    assert counted["Would have been dismissed"] == 1  # a count from 1 to 4: withheld
    assert by_label["Would have been dismissed"][1] == "[xx]"
    totals = [int((raw["year"] == y).sum()) for y in ("2020", "2022", "2023")]
    assert rows[-1] == ["Total", *totals, sum(totals)] == ["Total", 120, 210, 250, 580]
    for row in rows:
        assert len(row) == len(header)
        assert all(isinstance(v, int) or MARKER.fullmatch(str(v)) for v in row[1:]), row
    assert "[xx]: a count from 1 to 4, withheld (s.40(2) FOIA)." in lines  # the marker with its meaning
    assert any(line.startswith("[c]: a small count, or a figure withheld") for line in lines)


@pytest.mark.parametrize("kind", KINDS)
def test_two_row_breakdowns_head_their_own_columns_and_no_label_is_blank(written, kind):
    _, header, rows = table_of(sheets_of(written, kind)["domestic_abuse_by_sex"])
    assert header[2:] == ["2020", "2022", "2023", "Total"]
    assert all(isinstance(h, str) and h for h in header)
    assert rows[-1][:2] == ["Total", "Total"]
    assert all(isinstance(v, str) and v for row in rows for v in row[:2])
    _, header, rows = table_of(sheets_of(written, kind)["domestic_abuse_by_year"])
    assert header == ["Figure", "2020", "2022", "2023", "Total"] and rows == [["Total", 120, 210, 250, 580]]


@pytest.mark.parametrize("kind", KINDS)
def test_every_note_referred_to_is_on_the_notes_sheet(written, kind):
    sheets = sheets_of(written, kind)
    _, header, notes = table_of(sheets["Notes"])
    assert header == ["Note number", "Note text"]
    assert [r[0] for r in notes] == [f"[note {n}]" for n in range(1, len(notes) + 1)]
    text = dict((r[0], r[1]) for r in notes)
    referred = set()
    for name in TABLE_SHEETS:
        lines, _, _ = table_of(sheets[name])
        referred |= set(re.findall(r"\[note \d+\]", " ".join(lines)))
    assert referred == set(text)
    lines, _, _ = table_of(sheets[OUTCOME_SHEET])
    first = re.findall(r"\[note \d+\]", lines[1])  # lines[0] is the title
    assert text[first[1]] == "Periods: 2020, 2022, 2023 (calendar years, by date_recorded)."


def test_document_title_and_language(written):
    props = load_workbook(written[0]).properties
    assert (props.title, props.language) == (f"{REF}: {TITLE}", "en-GB")
    doc = opendocument.load(str(written[1]))
    assert [str(t) for t in doc.meta.getElementsByType(dc.Title)] == [f"{REF}: {TITLE}"]
    assert [str(t) for t in doc.meta.getElementsByType(dc.Language)] == ["en-GB"]


def test_ods_package_has_fixed_stamps_and_mimetype_first(written):
    with zipfile.ZipFile(written[1]) as z:
        infos = z.infolist()
        meta = z.read("meta.xml")
    assert infos[0].filename == "mimetype" and infos[0].compress_type == zipfile.ZIP_STORED
    assert {i.date_time for i in infos} == {(1980, 1, 1, 0, 0, 0)}
    assert b"<meta:generator>foikit</meta:generator>" in meta and b"ODFPY" not in meta.upper()
    assert b"creation-date" not in meta and b"<dc:date>" not in meta


def test_a_withheld_cell_shown_as_a_number_in_the_ods_is_refused(written):
    response = foikit.answer(foikit.load_request(EXAMPLE_PARAMS), ledger=Ledger())
    data = written[1].read_bytes()
    leakcheck.check_ods(data, response)  # as written: accepted
    with pytest.raises(DisclosureError, match=r"^leak check: tables\.ods: .*shows 3"):
        leakcheck.check_ods(ods_with_number(data, "[xx]", 3), response)


@pytest.mark.parametrize("write, file", [(xlsx_bytes, "tables.xlsx"), (ods_bytes, "tables.ods")])
def test_a_character_a_spreadsheet_cannot_hold_is_named(write, file):
    book = Spreadsheet("t", "en-GB", (Sheet("Cover", "Title", ("a\x0bb",)),))
    named = rf"^{re.escape(file)}: 'a\\x0bb' holds U\+000B, which a spreadsheet cannot hold"
    with pytest.raises(DataError, match=named):
        write(book, file)
