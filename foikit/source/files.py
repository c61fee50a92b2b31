"""Reading a data file (CSV, Parquet, XLSX) exactly as every engine reads it, and the wording of the refusals
that every engine shares: the same values, the same messages, whichever engine counts."""

from __future__ import annotations

import codecs
import csv
import hashlib
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq

from foikit.exceptions import DataError, capped_text

READERS = {".csv", ".parquet", ".xlsx"}
SAMPLE = 65_536  # rows looked at to decide whether a column is worth a dictionary (categorical) encoding
TEXT = pa.dictionary(pa.int32(), pa.string())
def sha256_file(path: str | Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def column_list(names: list[str] | tuple[str, ...]) -> str:
    """Column names as a message lists them: each capped, at most 30 (a header may be any line of a file)."""
    shown_names = [capped_text(n, 60) for n in names[:30]]
    return ", ".join(shown_names) + (f" and {len(names) - 30} more" if len(names) > 30 else "")


def shown(value: object) -> str:
    """A value as a message quotes it (its repr), capped."""
    return capped_text(repr(value))


def _data_file(path: Path) -> None:
    """Refuse what is not a readable, non-empty regular file (before any reader sees it)."""
    if path.is_dir():
        raise DataError(f"{path}: is a directory, not a data file")
    if not path.is_file():
        raise DataError(f"{path}: data file not found")
    if path.stat().st_size == 0:
        raise DataError(f"{path}: the file is empty (no header row)")


def check_names(names: list[str], path: Path, what: str = "header") -> None:
    """Refuse a column without a name, or a name given twice: a second column of the same name would be
    dropped or renamed by some readers and not others."""
    for i, name in enumerate(names):
        if not name:
            raise DataError(f"{path}: {what}: column {i + 1} has no name")
    seen: dict[str, list[int]] = {}
    for i, name in enumerate(names):
        seen.setdefault(name, []).append(i + 1)
    for name, at in seen.items():
        if len(at) > 1:
            raise DataError(f"{path}: {what}: column name {shown(name)} appears {len(at)} times "
                            f"(columns {', '.join(map(str, at[:5]))})")
    folded: dict[str, str] = {}
    for name in names:  # SQL engines (DuckDB among them) do not tell 'A' from 'a'
        other = folded.setdefault(name.lower(), name)
        if other != name:
            raise DataError(f"{path}: {what}: column names {shown(other)} and {shown(name)} differ only in case")


def _utf8_error(path: Path) -> DataError | None:
    """Where the file first stops being UTF-8 (byte offset and line), or None: never its content."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    offset, lines = 0, 1
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            try:
                decoder.decode(block)
            except UnicodeDecodeError as exc:
                at = max(exc.start - len(exc.object) + len(block), 0)
                return DataError(f"{path}: not UTF-8 text (byte {offset + at + 1}, line "
                                 f"{lines + block[:at].count(10)}): re-save the file as UTF-8")
            offset += len(block)
            lines += block.count(10)
    try:
        decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        return DataError(f"{path}: not UTF-8 text (the file ends inside a character): re-save it as UTF-8")
    return None


def _csv_header(path: Path) -> list[str]:
    """The first non-blank record of a CSV, as written (a UTF-8 BOM dropped)."""
    csv.field_size_limit(max(csv.field_size_limit(), 1 << 30))  # pyarrow reads any size: so must we
    try:
        with open(path, newline="", encoding="utf-8-sig") as fh:
            for row in csv.reader(fh):
                if row:
                    return row
    except UnicodeDecodeError:
        raise (_utf8_error(path) or DataError(f"{path}: not UTF-8 text")) from None
    except csv.Error:
        raise DataError(f"{path}: header: the first line cannot be read as CSV") from None
    raise DataError(f"{path}: the file has no header row")


def _csv_failure(path: Path, width: int) -> DataError:
    """Why pyarrow refused a CSV, said by line number and kind, never by quoting the file."""
    found = _utf8_error(path)
    if found is not None:
        return found
    try:
        with open(path, newline="", encoding="utf-8-sig") as fh:
            reader = csv.reader(fh)
            for row in reader:
                if row and len(row) != width:
                    return DataError(f"{path}: line {reader.line_num}: {len(row)} fields where the header has "
                                     f"{width}: every row must have one value per column")
    except csv.Error:
        return DataError(f"{path}: line {reader.line_num}: cannot be parsed as CSV")
    return DataError(f"{path}: cannot be parsed as comma-separated text with a header row")


def _few_values(sample: pa.Table) -> set[str]:
    """Columns with at most one distinct value in four rows of the sample: worth a dictionary."""
    return {name for name, column in zip(sample.column_names, sample.columns, strict=True)
            if len(pc.unique(column)) * 4 <= max(len(column), 1)}


def read_csv_table(path: str | Path) -> pa.Table:
    """The one CSV reader of every engine: comma-separated, a header row, every value as text ('' for
    empty), column names stripped of surrounding spaces, columns of few distinct values dictionary-encoded
    while parsed. A file that is empty, not UTF-8, has a nameless or repeated column name or a row with
    too few or too many fields is refused (a DataError naming the line, never quoting it)."""
    path = Path(path)
    _data_file(path)
    header = _csv_header(path)
    names = [n.strip() for n in header]
    check_names(names, path)
    text = {n: pa.string() for n in header}
    table = None
    # quoted newlines need the slower, exact parse; a row larger than a block (1 MB) a block as large as it
    for newlines, block in ((False, 1 << 20), (True, min(max(path.stat().st_size + 1, 1 << 20), 1 << 31 - 1))):
        read = pa_csv.ReadOptions(block_size=block)
        try:
            with pa_csv.open_csv(path, read_options=read,
                                 parse_options=pa_csv.ParseOptions(newlines_in_values=newlines),
                                 convert_options=pa_csv.ConvertOptions(
                                     column_types=text, strings_can_be_null=False,
                                     quoted_strings_can_be_null=False)) as reader:
                first = reader.read_next_batch()
            few = _few_values(pa.Table.from_batches([first]).slice(0, SAMPLE))
            table = pa_csv.read_csv(path, read_options=read,
                                    parse_options=pa_csv.ParseOptions(newlines_in_values=newlines),
                                    convert_options=pa_csv.ConvertOptions(
                                        column_types={n: TEXT if n in few else pa.string() for n in header},
                                        strings_can_be_null=False, quoted_strings_can_be_null=False))
            break
        except StopIteration:  # a header and no rows
            table = pa.table({n: pa.array([], pa.string()) for n in header})
            break
        except (pa.ArrowException, OSError):
            continue
    if table is None:
        raise _csv_failure(path, len(header))
    if table.column_names != header:
        raise DataError(f"{path}: header: the first line cannot be read as one column name per field")
    return table.rename_columns(names)


def parquet_schema(path: str | Path) -> pa.Schema:
    """A Parquet file's schema, its column names checked: a file that is not Parquet (or is empty) is a
    one-line DataError, and so is a name given twice, without a name or with surrounding spaces."""
    path = Path(path)
    _data_file(path)
    try:
        schema = pq.read_schema(path)
    except (pa.ArrowException, OSError) as exc:
        raise DataError(f"{path}: cannot read the file: not a readable Parquet file "
                        f"({type(exc).__name__})") from None
    if not schema.names:
        raise DataError(f"{path}: column names: the file has no columns")
    check_names(list(schema.names), path, "column names")
    for name in schema.names:
        if name != name.strip():
            raise DataError(f"{path}: column names: {shown(name)} has surrounding spaces")
    return schema


def read_xlsx(path: Path) -> pd.DataFrame:
    """A workbook's first sheet, every value as the text a CSV would hold."""
    _data_file(path)
    try:
        raw = pd.read_excel(path, dtype=object, engine="openpyxl", header=None)
    except Exception as exc:  # openpyxl and zipfile raise many kinds for a damaged workbook
        raise DataError(f"{path}: cannot read the file: not a readable XLSX workbook "
                        f"({type(exc).__name__})") from None
    if raw.empty:
        raise DataError(f"{path}: the workbook's first sheet has no header row")
    names = [_cell_text(v).strip() for v in raw.iloc[0]]
    check_names(names, path)
    frame = raw.iloc[1:].map(_cell_text).reset_index(drop=True)
    frame.columns = names
    return frame


def _cell_text(value: object) -> str:
    """A spreadsheet cell as the text a CSV would hold: dates as YYYY-MM-DD, whole numbers without '.0'."""
    if value is None or (isinstance(value, float) and pd.isna(value)):
        return ""
    if hasattr(value, "date") and hasattr(value, "year"):  # datetime / Timestamp
        return value.date().isoformat() if callable(value.date) else str(value)
    if isinstance(value, bool | np.bool_):  # as a Parquet boolean reads: 'true'/'false'
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def duplicate_rows_message(source: str, extra: int, columns: int, first: list[int] | None) -> str:
    """The refusal of exact duplicate rows, the same from every engine (row numbers, never values)."""
    at = f" (first at data rows {', '.join(map(str, first))})" if first else ""
    return (f"{source}: {extra} row{'s repeat' if extra != 1 else ' repeats'} an earlier row in all {columns} columns"
            f"{at}: each would be counted again; remove them, or set 'duplicate_rows: allow' in the data "
            f"dictionary if they are distinct cases")


SHOW_ROWS = 5  # row numbers listed in a message
def unknown_categories_message(source: str, column: str, dictionary: str, found: list[tuple[str, int]],
                               first: list[int] | None = None) -> str:
    """The refusal of values a dictionary does not know, the same from every engine (row numbers where the
    rows have an order)."""
    listed = ", ".join(f"{shown(v)} ({n} rows)" for v, n in found[:20]) + (
        " and more values" if len(found) > 20 else "")
    at = f" (first at data rows {', '.join(map(str, first))}, counting from 1 after the header)" if first else ""
    return f"{source}: column {column!r}: values not in dictionary {dictionary}: {listed}{at}"


