"""The leak check: every publishable file is read back, as it is about to be written, and refused if any
figure in it breaks the policy.

It is deliberately independent of the code that suppressed the response (foikit.suppress, .secondary,
.audit): it takes only the true counts, the set of cells the response says it withholds, and the policy
(threshold, markers, rounding), and parses each file's content itself (CSV text, XLSX, ODS and DOCX packages,
letter HTML, chart data). A cell is refused when

- it shows a number from 1 to threshold-1 (under any policy);
- it shows a number where the response withholds the cell (its true value where its marker should be);
- it shows a number that is not its count (or, under rounding, not its count rounded);
- it shows text that is neither a number nor one of the policy's markers, or a marker for a cell that is
  not withheld.

A refusal raises :class:`DisclosureError` naming the file and the first cell; the caller writes nothing.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import pandas as pd
from bs4 import BeautifulSoup

from foikit import proofcheck
from foikit.cube.tables import pivot
from foikit.exceptions import DisclosureError, capped
from foikit.publish.charts import chart_data
from foikit.request.policy import LeakPolicy
from foikit.response import PartResult, Response

_INTEGER = re.compile(r"[+-]?\d+(?:\.0*)?")


def _as_number(shown: object) -> int | None:
    if isinstance(shown, bool):
        return None
    if isinstance(shown, int | np.integer):
        return int(shown)
    if isinstance(shown, float | np.floating):
        return int(shown) if float(shown).is_integer() else None
    text = str(shown).strip()
    return int(float(text)) if _INTEGER.fullmatch(text) else None


def problem(shown: object, count: int, withheld: bool, policy: LeakPolicy) -> str | None:
    """What is wrong with publishing ``shown`` for a cell whose true count is ``count``, or None."""
    number = _as_number(shown)
    if number is not None:
        if 1 <= number < policy.threshold:
            return f"shows {number}, a count from 1 to {policy.threshold - 1}"
        if withheld:
            return f"shows {number} where its marker should be"
        if policy.rounding is None and number != count:
            return f"shows {number}, which is not its count"
        if policy.rounding is not None and (number % policy.rounding or abs(number - count) > policy.rounding // 2):
            return f"shows {number}, which is not its count rounded to {policy.rounding}"
        return None
    text = "" if shown is None else str(shown).strip()
    if text not in policy.markers:
        return f"shows {text!r}, neither a number nor a marker ({', '.join(sorted(policy.markers))})"
    if not withheld:
        return f"shows the marker {text!r} but the cell is not withheld"
    return None


def _refuse(file: str, problems: list[str], policy: LeakPolicy) -> None:
    if problems:
        raise DisclosureError(f"leak check: {file}: {len(problems)} cells break the policy (threshold "
                              f"{policy.threshold}), first {problems[0]}; nothing was written\n"
                              + "\n".join(problems[1:20]))


@dataclass(frozen=True)
class _Table:
    where: str
    counts: pd.DataFrame  # the table's true counts, laid out as published
    withheld: pd.DataFrame  # True where the response withholds the cell, same layout


def _tables(response: Response) -> Iterator[_Table]:
    for part in response.parts:
        for table in part.spec.tables:
            cells = part.table_cells(table.name)
            counts = pivot(cells, table, "value", part.data.dictionary)
            withheld = pivot(cells.assign(hidden=cells["hidden"].astype(bool)), table, "hidden",
                             part.data.dictionary)
            yield _Table(f"{part.spec.name}/{table.name}", counts, withheld)


def _grid_problems(where: str, shown: list[list[object]], table: _Table, policy: LeakPolicy) -> list[str]:
    counts, withheld = table.counts.to_numpy(), table.withheld.to_numpy()
    if len(shown) != counts.shape[0] or any(len(row) != counts.shape[1] for row in shown):
        return [f"{where}: the table does not have the layout of {table.where} "
                f"({counts.shape[0]} x {counts.shape[1]} cells)"]
    out = []
    for i, row in enumerate(shown):
        for j, value in enumerate(row):
            why = problem(value, int(counts[i, j]), bool(withheld[i, j]), policy)
            if why:
                out.append(f"{where}: {table.where}[{table.counts.index[i]}, {table.counts.columns[j]}] {why}")
    return out


def check_csv(text: str, response: Response, file: str = "published.csv") -> None:
    """published.csv as text: one row per cell of every part, in order, each checked against its count."""
    policy = response.policy.leak_policy
    rows = list(csv.DictReader(io.StringIO(text)))
    cells = [(part, cell) for part in response.parts for cell in part.cells.to_dict("records")]
    problems = [] if len(rows) == len(cells) else [f"{len(rows)} rows for {len(cells)} cells"]
    for n, (row, (part, cell)) in enumerate(zip(rows, cells, strict=False), start=2):
        dims = part.table_spec(cell["table"]).dims
        if row.get("part") != part.spec.name or row.get("table") != cell["table"] or \
                any(row.get(d) != str(cell[d]) for d in dims):
            problems.append(f"line {n}: does not name the cell {part.spec.name}/{cell['table']} it should")
            continue
        shown = row.get("value") or row.get("marker")
        why = problem(shown, int(cell["value"]), bool(cell["hidden"]), policy)
        if why:
            problems.append(f"line {n} ({part.spec.name}/{cell['table']}) {why}")
    _refuse(file, problems, policy)


def _sheet_problems(sheets: list[tuple[str, list[list[object]]]], response: Response,
                    policy: LeakPolicy) -> list[str]:
    """Every sheet as rows of values: no number on any sheet from 1 to threshold-1; after the cover, contents
    and notes sheets, one sheet per table, whose last rows are the table's rows (nothing is below a table),
    their figures right of the labels, cell by cell against the counts."""
    problems = [f"{name}: row {i + 1} shows {v}, a count from 1 to {policy.threshold - 1}"
                for name, rows in sheets for i, row in enumerate(rows) for v in row
                if isinstance(v, int | float | np.integer | np.floating) and not isinstance(v, bool)
                and 1 <= v < policy.threshold]
    tables = list(_tables(response))
    table_sheets = sheets[3:]
    if len(table_sheets) != len(tables):
        problems.append(f"{len(table_sheets)} table sheets for {len(tables)} tables")
    for (name, rows), table in zip(table_sheets, tables, strict=False):
        n_labels, n_values = table.counts.index.nlevels, table.counts.shape[1]
        block = rows[len(rows) - table.counts.shape[0]:] if len(rows) >= table.counts.shape[0] else []
        shown = [list(r[n_labels:]) for r in block]
        problems += _grid_problems(name, shown, table, policy)
        if any(len(r) != n_labels + n_values for r in block):
            problems.append(f"{name}: a row of {table.where} has more or fewer cells than its labels and figures")
    return problems


def check_xlsx(data: bytes, response: Response, file: str = "tables.xlsx") -> None:
    """The XLSX package, read with openpyxl: see :func:`_sheet_problems`."""
    from openpyxl import load_workbook

    policy = response.policy.leak_policy
    wb = load_workbook(io.BytesIO(data))
    sheets = []
    for ws in wb.worksheets:
        rows = [list(r) for r in ws.iter_rows(values_only=True)]
        sheets.append((ws.title, [r[:max((i + 1 for i, v in enumerate(r) if v is not None), default=0)]
                                  for r in rows]))  # without the empty cells right of a row's last one
    _refuse(file, _sheet_problems(sheets, response, policy), policy)


def check_ods(data: bytes, response: Response, file: str = "tables.ods") -> None:
    """The OpenDocument spreadsheet, read with pandas' odf reader: see :func:`_sheet_problems`."""
    policy = response.policy.leak_policy
    try:
        frames = pd.read_excel(io.BytesIO(data), sheet_name=None, header=None, engine="odf", dtype=object,
                               keep_default_na=False)
    except (ValueError, KeyError, OSError) as exc:
        raise DisclosureError(f"leak check: {file}: not a readable OpenDocument spreadsheet ({exc}); nothing "
                              "was written") from None
    sheets = []
    for name, frame in frames.items():
        rows = [list(r) for r in frame.itertuples(index=False)]
        sheets.append((str(name), [r[:max((i + 1 for i, v in enumerate(r) if v != ""), default=0)]
                                   for r in rows]))
    _refuse(file, _sheet_problems(sheets, response, policy), policy)


def check_letter(html: str, docx: bytes, response: Response) -> None:
    """The letter: each table of the HTML (pandas' ``dataframe`` tables, in order) and each table of the DOCX
    (its body's tables, in order: a letterhead belongs in the page header), cell by cell against the counts."""
    from docx import Document

    policy = response.policy.leak_policy
    soup = BeautifulSoup(html, "html.parser")
    grids = soup.find_all("table", class_="dataframe")
    tables = list(_tables(response))
    problems = [] if len(grids) == len(tables) else [f"{len(grids)} tables for {len(tables)}"]
    for k, (grid, table) in enumerate(zip(grids, tables, strict=False), start=1):
        body = grid.find("tbody") or grid
        shown: list[list[object]] = [[td.get_text(strip=True) for td in tr.find_all("td")]
                                     for tr in body.find_all("tr")]
        problems += _grid_problems(f"table {k}", shown, table, policy)
    _refuse("letter.html", problems, policy)

    # the DOCX read back on its own (not against the HTML): below each table's header rows, the row labels and
    # then the figures, cell by cell against the counts
    doc_tables = Document(io.BytesIO(docx)).tables
    problems = [] if len(doc_tables) == len(tables) else [f"{len(doc_tables)} tables for {len(tables)}"]
    for k, (doc_table, table) in enumerate(zip(doc_tables, tables, strict=False), start=1):
        rows = [[c.text for c in row.cells] for row in doc_table.rows]
        index, n_labels = table.counts.index, table.counts.index.nlevels
        first = table.counts.columns.nlevels + (1 if any(index.names) else 0)
        labels = [[str(v) for v in (key if isinstance(key, tuple) else (key,))] for key in index]
        wrong = [i for i, (row, want) in enumerate(zip(rows[first:], labels, strict=False)) if row[:n_labels] != want]
        if wrong:  # a row moved or a table of another layout: its figures cannot be matched to their cells
            i = wrong[0]
            problems.append(f"table {k} row {first + i + 1}: labelled {capped(rows[first + i][:n_labels])} where "
                            f"{table.where}'s row is {capped(labels[i])}")
            continue
        problems += _grid_problems(f"table {k}", [r[n_labels:] for r in rows[first:]], table, policy)
    _refuse("letter.docx", problems, policy)


def _chart_problems(part: PartResult, table: _Table, policy: LeakPolicy) -> list[str]:
    name = table.where.split("/", 1)[1]
    drawn = chart_data(part.published_table(name))
    # the chart's own selection of bars, applied to the counts and to the withheld flags
    counts = chart_data(table.counts.astype(str)).heights
    withheld = chart_data(table.withheld.map(lambda v: "1" if v else "0")).heights
    out = []
    for (i, j), height in np.ndenumerate(drawn.heights):
        shown = drawn.markers[i, j] if np.isnan(height) else height
        why = problem(shown, int(counts[i, j]), bool(withheld[i, j]), policy)
        if why:
            out.append(f"{table.where} bar {drawn.categories[j]} / {drawn.series[i]} {why}")
    return out


def check_charts(response: Response) -> None:
    """The chart data of every table (what the record's bar charts draw), bar by bar against the counts."""
    policy = response.policy.leak_policy
    by_name = {p.spec.name: p for p in response.parts}
    problems = []
    for table in _tables(response):
        problems += _chart_problems(by_name[table.where.split("/", 1)[0]], table, policy)
    _refuse("chart data", problems, policy)


def check_witnesses(text: str, published_csv: str, response: Response, file: str = "witnesses.json") -> None:
    """witnesses.json: the stand-alone checker (:mod:`foikit.proofcheck`) accepts it against published.csv, it
    states the response's policy, and it covers every withheld small count (the true counts say which: a
    '[c]' may hide one). Its numbers are tables consistent with the publication, not counts: they are not
    read as figures."""
    policy = response.policy
    try:
        head = json.loads(text)
        stated = (head["rule"]["kind"], head["rule"]["threshold"], head["rounding"], head["primary_marker"],
                  {m: tuple(b) for m, b in head["markers"].items()})
    except (ValueError, KeyError, TypeError) as exc:
        raise DisclosureError(f"leak check: {file}: not a witness file ({exc}); nothing was written") from None
    rule = policy.protection_rule
    markers = {} if policy.rounding else {m: (int(lo), None if np.isinf(hi) else int(hi))
                                          for m, (lo, hi) in policy.stated_ranges().items()}
    expected = (rule.kind, rule.threshold, policy.rounding, None if policy.rounding else policy.marker, markers)
    problems = [] if stated == expected else [f"states the policy {stated}, not the response's {expected}"]
    try:
        problems += proofcheck.check(published_csv, text)
    except (ValueError, KeyError, TypeError, IndexError, AttributeError) as exc:
        problems.append(f"cannot be checked ({type(exc).__name__}: {exc})")
    listed = {(p["part"], t, tuple(sorted(c.items()))) for p in head["parts"] for t, c, _ in p["required"]}
    jointly = {p: {(p, t, tuple(sorted(c.items()))) for j in head.get("joint", []) if "omitted" not in j
                   for q, t, c, _ in j["required"] if q == p}
               for j in head.get("joint", []) if "omitted" not in j for p in j["parts"]}
    for part in response.parts:
        cells = part.cells
        small = cells["hidden"].to_numpy(dtype=bool) & (cells["value"].to_numpy() >= 1) & \
            (cells["value"].to_numpy() < policy.threshold)
        if policy.rounding is not None:
            small = (cells["value"].to_numpy() >= 1) & (cells["value"].to_numpy() < policy.threshold)
        for i in np.flatnonzero(small):
            dims = part.table_spec(cells["table"].iat[i]).dims
            key = (part.spec.name, cells["table"].iat[i], tuple(sorted((d, cells[d].iat[i]) for d in dims)))
            coords = {d: cells[d].iat[i] for d in dims}
            if key not in listed:
                problems.append(f"{part.spec.name}/{key[1]}{coords}: a withheld small count with no witnesses")
            if part.spec.name in jointly and key not in jointly[part.spec.name]:
                problems.append(f"{part.spec.name}/{key[1]}{coords}: a withheld small count with no witnesses "
                                "together with the earlier responses")
    if problems:
        raise DisclosureError(f"leak check: {file}: {len(problems)} problems, first {problems[0]}; nothing was "
                              "written\n" + "\n".join(problems[1:20]))
