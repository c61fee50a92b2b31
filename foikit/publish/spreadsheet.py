"""The spreadsheets of a response (tables.xlsx, tables.ods): one table model, laid out to the Analysis Function
standard (Releasing statistics in spreadsheets; Symbols in tables), written by two writers.

The model: a cover sheet, a contents sheet, a notes sheet, then one sheet per table. Every sheet has its title
in A1 and its other text one line to a cell in column A, with no blank row; a table is one header row (a
breakdown's name heads its own column) and then its rows, nothing below it. A number is a number, a withheld
cell is its marker's text (the cover and each table sheet say what each marker means), and notes are referred
to as ``[note N]`` and written out on the notes sheet. No cell is merged.

XLSX is written with openpyxl (gptables writes XLSX only, through XlsxWriter, and brings its own styling: one
model written by two writers is simpler here); ODS with odfpy. Both are normalised to fixed bytes.
"""

from __future__ import annotations

import io
import re
import zipfile
from dataclasses import dataclass
from datetime import datetime
from xml.etree import ElementTree

from odf import dc, meta
from odf.namespaces import nsdict
from odf.opendocument import OpenDocumentSpreadsheet
from odf.style import ParagraphProperties, Style, TableColumnProperties, TextProperties
from odf.table import Table, TableCell, TableColumn, TableRow
from odf.text import P
from openpyxl import Workbook
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE
from openpyxl.styles import Font
from openpyxl.utils import get_column_letter

from foikit.cube.tables import TOTAL
from foikit.exceptions import DataError
from foikit.publish.letter import reflow
from foikit.publish.ooxml import normalise_package
from foikit.response import Response

Value = str | int
LANGUAGE = "en-GB"
_FIXED_TIME = datetime(2000, 1, 1)  # stored in the XLSX instead of 'now', so the bytes do not vary
_FIXED_ZIP_TIME = (1980, 1, 1, 0, 0, 0)
_XML_DECLARATION = b'<?xml version="1.0" encoding="UTF-8"?>\n'
_FORMULA_START = ("=", "+", "-", "@")  # what a spreadsheet would take as the start of a formula
_CELL_LIMIT = 32_767  # the longest text a spreadsheet cell holds (Excel's limit; longer is a corrupt file)
_MIN_WIDTH, _MAX_WIDTH = 8, 60  # column widths in characters; a longer label wraps in the reader's view
NO_ROW_BREAKDOWN = "Figure"  # the first header of a table with no row breakdown (its one row is the total)
COVER, CONTENTS, NOTES = "Cover", "Contents", "Notes"
for _uri, _prefix in nsdict.items():  # ODF's prefixes, where ElementTree writes an ODF part (normalise_ods)
    ElementTree.register_namespace(_prefix, _uri)


@dataclass(frozen=True)
class Sheet:
    name: str
    title: str  # cell A1
    lines: tuple[str, ...]  # the text below the title, one line to a cell in column A
    header: tuple[str, ...] = ()  # the table's one header row; () for a sheet of text only
    rows: tuple[tuple[Value, ...], ...] = ()
    n_labels: int = 0  # how many columns of the table are labels (then come its figures)


@dataclass(frozen=True)
class Spreadsheet:
    title: str
    language: str
    sheets: tuple[Sheet, ...]


def _sheet_name(part: str, table: str, used: set[str]) -> str:
    base = f"{part}_{table}"[:31]
    name, n = base, 1
    while name in used:
        n += 1
        name = f"{base[: 31 - len(str(n)) - 1]}~{n}"
    used.add(name)
    return name


def _header(key: object) -> str:
    parts = key if isinstance(key, tuple) else (key,)
    return ", ".join(str(p) for p in parts if str(p) != "") or TOTAL


def model(response: Response) -> Spreadsheet:
    """The spreadsheet of ``response``: only what it publishes (each cell as ``published_table`` shows it)."""
    request, policy = response.request, response.policy
    notes: dict[str, int] = {}  # note text -> its number, in order of first use

    def note(text: str) -> str:
        return f"[note {notes.setdefault(text, len(notes) + 1)}]"

    used = {COVER, CONTENTS, NOTES}
    tables: list[Sheet] = []
    for part in response.parts:
        cube = part.cube
        for table in part.spec.tables:
            grid = part.published_table(table.name)
            refs = [note(f"Counting unit: {cube.unit_description}."),
                    note(f"Periods: {', '.join(cube.periods)} ({cube.period_words}, by {cube.date_column})."),
                    note(f"'{TOTAL}' sums over a breakdown: a row or column labelled {TOTAL} is the figure over "
                         "every value of it.")]
            if cube.rule:
                refs.append(note(f"Rule: {cube.rule}."))
            if policy.rounding:
                refs.append(note(policy.sheet_rounding_note()))
            row_names = [n for n in grid.index.names if n]
            header = (*(row_names or [NO_ROW_BREAKDOWN]), *map(_header, grid.columns))
            rows = []
            for key, row in grid.iterrows():
                labels = key if isinstance(key, tuple) else (key,)
                rows.append((*(str(v) if str(v) != "" else TOTAL for v in labels),
                             *(int(v) if str(v).isdigit() else str(v) for v in row)))
            across = [n for n in grid.columns.names if n]
            lines = ["This worksheet contains one table. Its notes are on the Notes sheet: " + ", ".join(refs) + ".",
                     *([f"The columns are by {' and '.join(across).lower()}."] if across else []),
                     "A withheld figure is shown as a symbol in square brackets:", *policy.sheet_notes()]
            tables.append(Sheet(_sheet_name(part.spec.name, table.name, used), f"{part.spec.title}: {table.title}",
                                tuple(lines), header, tuple(rows), len(header) - grid.shape[1]))
    text = request.request_text.strip() or "\n\n".join(p.spec.request_text.strip() for p in response.parts)
    cover = Sheet(COVER, f"Freedom of information request {request.ref}", (
        request.title, f"Published by {request.organisation}.", "The request:",
        *reflow(text),
        "Symbols used in the tables (a withheld figure):", *policy.sheet_notes(),
        *([policy.sheet_rounding_note()] if policy.rounding else []),
        f"The {CONTENTS} sheet lists the tables, one to a sheet; the {NOTES} sheet holds the notes they refer to "
        "as [note N]."))
    contents = Sheet(CONTENTS, "Contents", ("This worksheet contains one table: one row for each table sheet.",),
                     ("Sheet name", "Table title"), tuple((t.name, t.title) for t in tables), 1)
    notes_sheet = Sheet(NOTES, "Notes", ("This worksheet contains one table: the notes the tables refer to.",),
                        ("Note number", "Note text"), tuple((f"[note {n}]", t) for t, n in notes.items()), 1)
    return Spreadsheet(f"{request.ref}: {request.title}", LANGUAGE, (cover, contents, notes_sheet, *tables))


def _check_text(book: Spreadsheet, file: str) -> None:
    """Refuse text a spreadsheet cannot hold, naming it, before either writer sees it."""
    for sheet in book.sheets:
        for value in (book.title, sheet.title, *sheet.lines, *sheet.header, *(v for r in sheet.rows for v in r)):
            if not isinstance(value, str):
                continue
            if len(value) > _CELL_LIMIT:
                raise DataError(f"{file}: {value[:60]!r}... has {len(value):,} characters; a spreadsheet cell "
                                f"holds at most {_CELL_LIMIT:,}; nothing was written")
            found = ILLEGAL_CHARACTERS_RE.search(value)
            if found:
                raise DataError(f"{file}: {value[:80]!r} holds U+{ord(found.group(0)):04X}, which a spreadsheet "
                                "cannot hold; nothing was written")


def _lines(sheet: Sheet) -> list[tuple[Value, ...]]:
    return [(sheet.title,), *((line,) for line in sheet.lines)]


def _widths(sheet: Sheet) -> list[int]:
    """Each table column as wide as its longest entry (the lines above run across columns and are left out)."""
    widths = [0] * len(sheet.header)
    for row in (sheet.header, *sheet.rows):
        for i, value in enumerate(row):
            widths[i] = max(widths[i], len(str(value)))
    return [min(_MAX_WIDTH, max(_MIN_WIDTH, w + 2)) for w in widths]


def xlsx_bytes(book: Spreadsheet, file: str) -> bytes:
    _check_text(book, file)
    wb = Workbook()
    wb.remove(wb.active)
    bold = Font(bold=True)
    for sheet in book.sheets:
        ws = wb.create_sheet(sheet.name)
        for line in _lines(sheet):
            ws.append(line)
        ws["A1"].font = Font(bold=True, size=14)
        if sheet.header:
            ws.append(sheet.header)
            top = ws.max_row
            for column in range(1, len(sheet.header) + 1):
                ws.cell(row=top, column=column).font = bold
            for row in sheet.rows:
                ws.append(row)
            ws.freeze_panes = ws.cell(row=top + 1, column=sheet.n_labels + 1)
            for i, width in enumerate(_widths(sheet), start=1):
                ws.column_dimensions[get_column_letter(i)].width = width
        else:
            ws.column_dimensions["A"].width = 100
        for cell in ws._cells.values():  # the cells written (iter_rows would add empty ones to the file)
            # openpyxl takes '=...' for a formula; a title or a category from the data may start so
            if isinstance(cell.value, str) and cell.value.startswith(_FORMULA_START):
                cell.data_type = "s"
                cell.quotePrefix = True  # and it stays text when a reader edits the cell
    props = wb.properties
    props.title, props.language, props.creator = book.title, book.language, "foikit"
    props.created = props.modified = _FIXED_TIME
    buffer = io.BytesIO()
    wb.save(buffer)
    return normalise_package(buffer.getvalue())


def _ods_cell(value: Value, style: Style | None = None) -> TableCell:
    # a number is a float cell (ODF has no integer type); text a string cell, never a formula
    cell = TableCell(valuetype="float", value=value) if isinstance(value, int) else TableCell(valuetype="string")
    if style is not None:
        cell.setAttribute("stylename", style)
    cell.addElement(P(text=str(value)))
    return cell


def ods_bytes(book: Spreadsheet, file: str) -> bytes:
    _check_text(book, file)
    doc = OpenDocumentSpreadsheet()
    doc.meta.addElement(dc.Title(text=book.title))
    doc.meta.addElement(dc.Language(text=book.language))
    doc.meta.addElement(meta.InitialCreator(text="foikit"))
    title = Style(name="title", family="table-cell")
    title.addElement(TextProperties(fontweight="bold", fontsize="14pt"))
    head = Style(name="header", family="table-cell")
    head.addElement(TextProperties(fontweight="bold"))
    head.addElement(ParagraphProperties(textalign="start"))
    for style in (title, head):
        doc.automaticstyles.addElement(style)
    column_styles: dict[int, Style] = {}

    def column_style(width: int) -> Style:
        if width not in column_styles:
            style = Style(name=f"width{width}", family="table-column")
            style.addElement(TableColumnProperties(columnwidth=f"{width * 0.19:.2f}cm"))
            doc.automaticstyles.addElement(style)
            column_styles[width] = style
        return column_styles[width]

    for sheet in book.sheets:
        table = Table(name=sheet.name)
        for width in _widths(sheet) if sheet.header else [100]:
            table.addElement(TableColumn(stylename=column_style(width)))
        for k, line in enumerate(_lines(sheet)):
            row = TableRow()
            row.addElement(_ods_cell(line[0], title if k == 0 else None))
            table.addElement(row)
        if sheet.header:
            row = TableRow()
            for name in sheet.header:
                row.addElement(_ods_cell(name, head))
            table.addElement(row)
            for values in sheet.rows:
                row = TableRow()
                for value in values:
                    row.addElement(_ods_cell(value))
                table.addElement(row)
        doc.spreadsheet.addElement(table)
    buffer = io.BytesIO()
    doc.write(buffer)
    return normalise_ods(buffer.getvalue())


def normalise_ods(data: bytes) -> bytes:
    """Rewrite an ODF zip with fixed timestamps and no varying stamp; ``mimetype`` first and stored, as ODF
    requires."""
    src = zipfile.ZipFile(io.BytesIO(data))
    names = sorted(src.namelist(), key=lambda n: (n != "mimetype", n))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as dst:
        for name in names:
            fixed = zipfile.ZipInfo(name, date_time=_FIXED_ZIP_TIME)
            fixed.compress_type = zipfile.ZIP_STORED if name == "mimetype" else zipfile.ZIP_DEFLATED
            fixed.external_attr = 0o600 << 16
            content = src.read(name)
            if name == "meta.xml":  # odfpy names itself and its version here; a dependency update would show
                content = re.sub(rb"<meta:generator>[^<]*</meta:generator>", b"<meta:generator>foikit</meta:generator>",
                                 content)
            if name.endswith(".xml"):
                # odfpy declares every namespace it has met in the process (reading a file adds some):
                # ElementTree declares, on the root, only those the part uses, under ODF's own prefixes
                content = _XML_DECLARATION + ElementTree.tostring(ElementTree.fromstring(content), encoding="utf-8",
                                                                  xml_declaration=False)
            dst.writestr(fixed, content)
    return out.getvalue()
