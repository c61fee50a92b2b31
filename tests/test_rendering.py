"""What the record, the XLSX and the letter show (issue 20): charts with bars, every row of the record's
tables, a dated and addressed letter, fitted XLSX columns; and a private PostgreSQL for each CI job."""

from __future__ import annotations

import csv
import io
import json
import os
import shlex
import subprocess
import zipfile
from pathlib import Path
from types import SimpleNamespace

import nbformat
import numpy as np
import pandas as pd
import yaml
from bs4 import BeautifulSoup
from docx import Document
from IPython.core.formatters import DisplayFormatter
from openpyxl import load_workbook

from foikit.cube.tables import pivot
from foikit.ledger.joint import answer
from foikit.ledger.store import Ledger, load_ledger
from foikit.publish import display
from foikit.publish.charts import chart_data, chart_figure
from foikit.publish.files import write_publishable, write_xlsx
from foikit.publish.letter import render_letter, render_letter_docx
from foikit.request.params import parse_request
from foikit.run.record import export_html

from .conftest import ROOT, hand_request

REPORTS = sorted(p for p in (ROOT / "reports").iterdir() if (p / "published.csv").is_file())
_NAMES = SimpleNamespace(label=lambda dim: dim)  # pivot only asks the dictionary for axis names


def _published_tables(report: Path):
    """Every table of a committed report as published, rebuilt from its published.csv alone."""
    request = parse_request(yaml.safe_load((report / "params.yaml").read_text(encoding="utf-8")), report.name)
    csv = pd.read_csv(report / "published.csv", dtype=str, keep_default_na=False)
    for part in request.parts:
        for table in part.tables:
            cells = csv[(csv["part"] == part.name) & (csv["table"] == table.name)].copy()
            assert len(cells), f"{report.name}: {part.name}.{table.name} missing from published.csv"
            cells["shown"] = cells["value"].where(cells["value"] != "", cells["marker"])
            yield f"{report.name}/{part.name}.{table.name}", table, pivot(cells, table, "shown", _NAMES)


def test_every_chart_of_every_committed_report_draws_something():
    """A chart with no bar and no withheld marker is an empty axis: the 'By year' tables (one Total row)
    drew nothing at all before."""
    assert len(REPORTS) >= 6
    checked = 0
    for where, table, grid in _published_tables_all():
        data = chart_data(grid)
        drawn = np.isfinite(data.heights) & (np.nan_to_num(data.heights) > 0)
        assert drawn.any() or (data.markers != "").any(), f"{where}: the chart draws nothing"
        # each bar drawn is a published cell of the table: its height is the figure shown in that cell
        shown = grid.astype(str).to_numpy()
        figures = {int(v) for v in shown.ravel() if v.isdigit()}
        assert {int(h) for h in data.heights[drawn]} <= figures, where
        ax = chart_figure(grid, table.title).axes[0]
        if drawn.any():
            assert ax.get_ylim()[1] >= data.heights[drawn].max() > 0, where
        checked += 1
    assert checked >= 20


def _published_tables_all():
    for report in REPORTS:
        yield from _published_tables(report)


def test_a_table_with_no_breakdown_down_the_side_is_charted_from_its_total_row():
    grid = pd.DataFrame([["12", "[xx]", "30", "42"]], index=pd.Index(["Total"], name=""),
                        columns=pd.Index(["2020", "2021", "2022", "Total"], name="Year"))
    data = chart_data(grid)
    assert data.categories == ["Total"]
    assert data.series == ["2020", "2021", "2022"]
    assert np.array_equal(data.heights[[0, 2], 0], [12.0, 30.0]) and np.isnan(data.heights[1, 0])
    assert data.markers[1, 0] == "[xx]"


def _record_html(monkeypatch, tmp_path: Path, *shows) -> BeautifulSoup:
    """The record's HTML of what ``shows`` display, exported as foikit exports a run's notebook."""
    shown: list = []
    monkeypatch.setattr(display, "display", shown.append)
    for show in shows:
        show()
    formatter = DisplayFormatter()
    outputs = []
    for obj in shown:
        data, metadata = formatter.format(obj)
        outputs.append(nbformat.v4.new_output("display_data", data=data, metadata=metadata))
    cell = nbformat.v4.new_code_cell("foikit.show_suppression(response)", outputs=outputs)
    nb = nbformat.v4.new_notebook(cells=[cell])
    path = export_html(nb, tmp_path / "report.html", "record")
    return BeautifulSoup(path.read_text(encoding="utf-8"), "html.parser")


def _rows(soup: BeautifulSoup, first_column: str) -> list[list[str]]:
    """The body rows of the record's table whose first column (after any index) is ``first_column``."""
    for table in soup.find_all("table"):
        head = [th.get_text().strip() for th in table.find("thead").find_all("th")] if table.find("thead") else []
        if first_column in head[:2]:
            return [[td.get_text() for td in tr.find_all("td")] for tr in table.find("tbody").find_all("tr")]
    raise AssertionError(f"no table with a column {first_column!r} in the record")


def test_the_record_lists_every_withheld_cell_and_every_changed_figure(monkeypatch, tmp_path):
    """01.FOI.24.000211 against the ledger it was audited with: every changed figure and every withheld cell
    (as published.csv and audit.json count them), each row whole (pandas' view showed 10 rows and cut names)."""
    report = ROOT / "reports" / "01.FOI.24.000211"
    request = parse_request(yaml.safe_load((report / "params.yaml").read_text(encoding="utf-8")), "params")
    response = answer(request, ledger=load_ledger(report / "ledger.json"))
    audit = json.loads((report / "audit.json").read_text(encoding="utf-8"))
    soup = _record_html(monkeypatch, tmp_path, lambda: display.show_suppression(response),
                        lambda: display.show_ledger(response))
    withheld = _rows(soup, "part")
    with open(report / "published.csv", newline="", encoding="utf-8") as fh:
        published_withheld = sum(1 for row in csv.DictReader(fh) if row["marker"])
    assert len(withheld) == sum(len(p["withheld_cells"]) for p in audit["parts"]) == published_withheld
    changed = _rows(soup, "cell")
    assert len(changed) == audit["ledger"]["earlier_figures_changed_since"] > 10  # more than pandas' view showed
    assert [row[0] for row in changed] == list(response.ledger.stale["cell"])  # whole, not cut
    assert max(len(row[0]) for row in changed) > 50  # pandas' notebook view cut text at 50 characters


def test_the_record_lists_all_115_withheld_cells_of_the_example(monkeypatch, tmp_path):
    report = ROOT / "reports" / "01.FOI.23.032341"
    request = parse_request(yaml.safe_load((report / "params.yaml").read_text(encoding="utf-8")), "params")
    response = answer(request)
    audit = json.loads((report / "audit.json").read_text(encoding="utf-8"))
    withheld = _rows(_record_html(monkeypatch, tmp_path, lambda: display.show_suppression(response)), "part")
    assert len(withheld) == sum(len(p["withheld_cells"]) for p in audit["parts"]) == 115
    log = display.suppression_log(response)
    assert withheld == log.astype(str).to_numpy().tolist()


def test_xlsx_by_year_table_has_no_empty_row_and_columns_fit(tmp_path):
    request = parse_request(yaml.safe_load((ROOT / "params" / "01.FOI.23.032341.yaml").read_text(encoding="utf-8")))
    response = answer(request)
    wb = load_workbook(write_xlsx(response, tmp_path))
    by_year = wb["domestic_abuse_by_year"]
    rows = [[c.value for c in row] for row in by_year.iter_rows()]
    published = response.part("domestic_abuse").published_table("by_year")
    years = [str(y) for y in published.columns]
    assert rows[-2][1:] == years  # the header: the years across, then straight away the figures
    assert rows[-1] == ["Total", *[int(v) for v in published.iloc[0]]]
    assert by_year.freeze_panes == f"B{by_year.max_row}"
    by_outcome = wb["domestic_abuse_by_outcome"]
    labels = [str(v) for v in response.part("domestic_abuse").published_table("by_outcome").index]
    # the longest outcome ('Would have been dismissed', 25 characters) fits in column A, with a margin
    assert max(map(len, labels)) == len("Would have been dismissed")
    assert by_outcome.column_dimensions["A"].width == len("Would have been dismissed") + 2
    assert by_outcome.column_dimensions["B"].width == 8  # a year and counts: the narrowest width
    for ws in wb.worksheets[1:]:
        header = next(r[0].row for r in ws.iter_rows() if r[1].value is not None)  # the lines above are in A only
        for row in ws.iter_rows(min_row=header):
            for cell in row:
                if cell.value is not None and len(str(cell.value)) < 58:
                    assert ws.column_dimensions[cell.column_letter].width >= len(str(cell.value)), ws.title


def _start_postgres() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FOIKIT_PG_")}
    out = subprocess.run(["bash", str(ROOT / ".ci" / "postgres.sh")], env=env, capture_output=True, text=True,
                         check=True, timeout=300).stdout
    return dict(shlex.split(line.removeprefix("export "))[0].split("=", 1) for line in out.splitlines())


def test_two_ci_jobs_get_their_own_postgres_and_stop_only_their_own():
    first, second = _start_postgres(), _start_postgres()
    try:
        assert first["FOIKIT_PG_DIR"] != second["FOIKIT_PG_DIR"]
        assert first["FOIKIT_TEST_POSTGRES_URL"] != second["FOIKIT_TEST_POSTGRES_URL"]  # another port
        subprocess.run(["bash", str(ROOT / ".ci" / "postgres.sh"), "stop"], env={**os.environ, **first},
                       check=True, capture_output=True, timeout=120)
        assert not Path(first["FOIKIT_PG_DIR"]).exists()  # its private directory is gone with it
        assert (Path(second["FOIKIT_PG_DIR"]) / "data" / "postmaster.pid").is_file()  # the other still runs
    finally:
        for job in (first, second):
            subprocess.run(["bash", str(ROOT / ".ci" / "postgres.sh"), "stop"], env={**os.environ, **job},
                           capture_output=True, timeout=120)


def test_the_letter_is_dated_addressed_and_quotes_the_request_in_paragraphs(tmp_path, hand_csv):
    text = "Please provide the number of officers investigated\nbetween 2020 and 2021.\n\nBroken down\nby outcome."
    request = parse_request(hand_request(hand_csv, date="2024-03-05", requester="Ms A. Example",
                                         request_text=text))
    response = answer(request, ledger=Ledger())
    html = render_letter(response)
    soup = BeautifulSoup(html, "html.parser")
    assert soup.find("p", class_="date").get_text() == "5 March 2024"
    assert "Dear Ms A. Example," in [p.get_text() for p in soup.find_all("p")]
    quoted = [p.get_text() for p in soup.find("blockquote").find_all("p")]
    assert quoted == ["Please provide the number of officers investigated between 2020 and 2021.",
                      "Broken down by outcome."]
    assert "within 40 working days of the date of this letter" in html
    # statutory references as the Act numbers them since the Data Protection Act 2018
    assert "Section 40(2) and (3A)(a)" in html and "(3)(a)(i)" not in html and "34(1)(a)" not in html
    docx = Document(io.BytesIO(render_letter_docx(response)))
    paragraphs = [p.text for p in docx.paragraphs]
    assert "5 March 2024" in paragraphs and "Dear Ms A. Example," in paragraphs
    assert [p.text for p in docx.paragraphs if p.style.name == "Quote"] == quoted
    # the requester is named in the letter only
    written = write_publishable(response, tmp_path)
    for path in written:
        if path.name.startswith("letter"):
            continue
        body = path.read_bytes()
        if path.suffix in {".xlsx", ".ods"}:
            with zipfile.ZipFile(path) as z:
                body = b"".join(z.read(n) for n in z.namelist())
        assert b"Example" not in body, path.name
    assert "Ms A. Example" in (tmp_path / "letter.html").read_text(encoding="utf-8")


def test_an_undated_letter_does_not_point_at_its_date(hand_csv):
    html = render_letter(answer(parse_request(hand_request(hand_csv))))
    assert "the date of this letter" not in html and 'class="date"' not in html
    assert "within 40 working days of receiving this letter" in html
    assert "Dear requester," in [p.get_text() for p in BeautifulSoup(html, "html.parser").find_all("p")]
