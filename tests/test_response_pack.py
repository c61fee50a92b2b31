"""The response pack (issue 6): the letter (HTML, DOCX), the XLSX as published, charts, `foikit new`."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from docx import Document
from openpyxl import load_workbook

import foikit
from foikit.publish.charts import chart_data
from foikit.publish.letter import render_letter, render_letter_docx

from .conftest import EXAMPLE_PARAMS, EXAMPLE_REPORT, ROOT, chromium_dom, hand_request, publish_run

REF = "01.FOI.23.032341"


def _docx_text(path: Path) -> str:
    doc = Document(str(path))
    cells = [c.text for t in doc.tables for row in t.rows for c in row.cells]
    return "\n".join([p.text for p in doc.paragraphs] + cells)


def test_example_letter_docx_reads_like_a_response():
    text = _docx_text(EXAMPLE_REPORT / "letter.docx")
    assert f"Freedom of information request reference no: {REF}" in text
    assert "I note you seek access to the following information:" in text
    assert "The number of Met police officers investigated for allegations of domestic abuse" in text
    assert "refusal notice under section 17" in text and "Section 40(2)" in text  # something was withheld
    assert "Information Commissioner" in text and "internal review" in text
    doc = Document(str(EXAMPLE_REPORT / "letter.docx"))
    assert len(doc.tables) == 9  # every published table
    published = pd.read_csv(EXAMPLE_REPORT / "published.csv", dtype=str, keep_default_na=False)
    by_year = published[(published["table"] == "by_year")].set_index("year")["value"]
    assert [c.text for c in doc.tables[0].rows[-1].cells][-4:] == [by_year["2020"], by_year["2022"],
                                                                   by_year["2023"], by_year[""]]


def test_refusal_notice_appears_exactly_when_something_is_withheld(hand_csv):
    withheld = foikit.answer(foikit.parse_request(hand_request(hand_csv)))
    by_year = [{"name": "by_year", "title": "By year", "columns": ["year"]}]  # 6 and 4: nothing below 2
    nothing = foikit.answer(foikit.parse_request(hand_request(
        hand_csv, suppression={"threshold": 2}, parts=[{**hand_request(hand_csv)["parts"][0], "tables": by_year}])))
    assert not any(p.cells["hidden"].any() for p in nothing.parts)
    for response, expected in ((withheld, True), (nothing, False)):
        html = render_letter(response)
        assert ("refusal notice" in html) is expected
        assert ("Section 40(2)" in html) is expected
        assert ("Nothing has been withheld" in html) is not expected
        document = Document(__import__("io").BytesIO(render_letter_docx(response)))
        assert any("refusal notice" in p.text for p in document.paragraphs) is expected


def test_letter_opens_in_a_browser():
    dom = chromium_dom((EXAMPLE_REPORT / "letter.html").as_uri(),
                       Path(os.environ.get("TMPDIR", "/tmp")) / "foikit-chromium")
    assert f"reference no: {REF}" in dom and dom.count("<table") == 9


def test_xlsx_has_a_cover_sheet_titles_notes_and_a_frozen_header():
    wb = load_workbook(EXAMPLE_REPORT / "tables.xlsx")
    assert wb.sheetnames[0] == "Cover"
    cover = [c.value for row in wb["Cover"].iter_rows() for c in row if c.value]
    assert f"Freedom of information request {REF}" in cover
    assert any(str(v).startswith("The number of Met police officers") for v in cover)
    assert wb.sheetnames[1:3] == ["Contents", "Notes"]
    ws = wb["domestic_abuse_by_outcome"]
    assert ws["A1"].value.endswith("By year and outcome of investigation")
    assert ws.freeze_panes == "B8"  # below the title, five lines and the one header row
    notes = [str(c.value) for row in ws.iter_rows() for c in row if c.value]
    assert any(n.startswith("[xx]: a count from 1 to 4") for n in notes)
    assert any(n.startswith("[c]: a small count, or a figure withheld to prevent") for n in notes)


def test_charts_show_published_values_only():
    response = foikit.answer(foikit.load_request(EXAMPLE_PARAMS))
    true = response.part("indecent_exposure").true_table("by_outcome")
    published = response.part("indecent_exposure").published_table("by_outcome")
    data = chart_data(published)
    inner_true = true.iloc[:-1, :-1].to_numpy(dtype=float).T
    inner_shown = published.iloc[:-1, :-1].to_numpy().T
    hidden = ~np.char.isdigit(inner_shown.astype(str))
    assert hidden.any()
    assert np.isnan(data.heights[hidden]).all()  # a withheld cell has no bar height at all
    assert (data.heights[~hidden] == inner_true[~hidden]).all()
    assert (data.markers[hidden] == inner_shown[hidden]).all()
    html = (EXAMPLE_REPORT / "report.html").read_text()
    assert html.count("data:image/png;base64") >= 9  # a chart per table in the record


@pytest.mark.parametrize("template", ["conduct_allegations", "stop_search", "count_records"])
def test_new_then_run_for_every_template(tmp_path, template):
    ref = "01.FOI.25.000123"
    env = {**os.environ}
    new = subprocess.run([sys.executable, "-m", "foikit.cli", "new", ref, "--template", template,
                          "--notebooks", str(ROOT / "notebooks")], cwd=tmp_path, capture_output=True, text=True,
                         env=env, timeout=120)
    assert new.returncode == 0, new.stderr
    params = tmp_path / "params" / f"{ref}.yaml"
    assert "# the request's reference; names the report folder" in params.read_text()
    run = subprocess.run([sys.executable, "-m", "foikit.cli", "run", str(params), "--notebooks",
                          str(ROOT / "notebooks")], cwd=tmp_path, capture_output=True, text=True, env=env,
                         timeout=600)
    assert run.returncode == 0, run.stderr
    assert not (tmp_path / "reports").exists()  # a try-out is a draft: nothing enters the ledger
    run = publish_run(run, tmp_path / "reports", cwd=tmp_path, env=env)
    assert run.returncode == 0, run.stderr
    report = tmp_path / "reports" / ref
    assert {"published.csv", "tables.xlsx", "letter.html", "letter.docx", "manifest.json"} <= \
        {p.name for p in report.iterdir()}


def test_new_refuses_a_ref_that_does_not_match_the_pattern(tmp_path):
    done = subprocess.run([sys.executable, "-m", "foikit.cli", "new", "FOI-2025-1", "--template",
                           "conduct_allegations"], cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert done.returncode == 1
    assert r"does not match the reference pattern \d{2}\.FOI\.\d{2}\.\d{6}" in done.stderr
    assert not (tmp_path / "params").exists()


def test_templates_lists_every_request_type():
    done = subprocess.run([sys.executable, "-m", "foikit.cli", "templates"], cwd=ROOT, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    names = [line.split(":")[0] for line in done.stdout.splitlines() if not line.startswith(" ")]
    assert names == ["conduct_allegations", "count_records", "stop_search"]
    assert "    parts = " in done.stdout
