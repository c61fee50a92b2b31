"""The letter's DOCX, rendered from the Word template templates/letter/letter.docx by docxtpl: its content by
hand, the same bytes every time, values as text never template code, a project's own template, and the leak
check reading the DOCX's tables back."""

from __future__ import annotations

import csv
import datetime as dt
import importlib.util
import io
import zipfile
from pathlib import Path

import pytest
from docx import Document

import foikit
from foikit.exceptions import DataError, DisclosureError
from foikit.publish.leakcheck import check_letter
from foikit.publish.letter import LETTER_DOCX_TEMPLATE, render_letter, render_letter_docx
from foikit.run import verify
from foikit.run.execute import letter_template_input
from foikit.source.files import sha256_file

from .conftest import HAND_ROWS, hand_request

W = "{http://schemas.openxmlformats.org/wordprocessingml/2006/main}"
# a category label that is WordprocessingML and Jinja (docxtpl's own tags too): it must stay this text
HOSTILE = '</w:t></w:r><w:r><w:t>x</w:t> {{ 7*7 }} {%p if true %} {%tr endfor %} {{ "a" ~ "b" }} &amp; <br/>'


def _response(folder: Path, rename: dict[str, str] | None = None):
    path = folder / "cases.csv"
    with path.open("w", newline="", encoding="utf-8") as f:
        out = csv.writer(f)
        out.writerow(["case_ref", "officer_id", "allegation_category", "date_recorded", "outcome", "officer_sex",
                      "complainant_sex"])
        for i, (cat, day, outcome, osex, csex) in enumerate(HAND_ROWS):
            out.writerow([f"C{i:03d}", f"OF{i:04d}", cat, day, (rename or {}).get(outcome, outcome), osex, csex])
    return foikit.answer(foikit.parse_request(hand_request(path)))


def _rows(table) -> list[list[str]]:
    return [[c.text for c in row.cells] for row in table.rows]


def test_the_word_letter_holds_the_heading_the_tables_and_their_markers(tmp_path):
    document = Document(io.BytesIO(render_letter_docx(_response(tmp_path))))
    first = document.paragraphs[0]
    assert (first.style.name, first.text) == ("Title", "Freedom of information request reference no: "
                                                        "01.FOI.99.000001")
    headings = [(p.style.name, p.text) for p in document.paragraphs if p.style.name.startswith("Heading")]
    assert headings == [("Heading 1", "Decision"), ("Heading 1", "Reasons for the decision"),
                        ("Heading 1", "Disclosure"), ("Heading 2", "Domestic abuse"), ("Heading 3", "By outcome"),
                        ("Heading 3", "By sex"), ("Heading 1", "Your right to complain")]
    assert len(document.tables) == 2
    rows = _rows(document.tables[0])
    # DA cases by hand (HAND_ROWS): 2020 five No case and one Dismissed; 2021 one No case, two Dismissed,
    # one Ongoing. Threshold 3, marker [x]: No case 2021 (1) is withheld; its total (6) and the totals shown.
    assert rows[:2] == [["Year", "2020", "2021", "Total"], ["Outcome", "", "", ""]]
    by_label = {r[0]: r[1:] for r in rows[2:]}
    assert by_label["No case"][1:] == ["[x]", "6"]
    assert by_label["Dismissed"][0] == "[x]" and by_label["Ongoing"][0] == "0"
    assert by_label["Total"] == ["6", "4", "10"]
    # the header rows (column labels, then the rows' dimension) repeat on each page; the body rows do not
    repeat = [row._tr.find(f"{W}trPr/{W}tblHeader") is not None for row in document.tables[0].rows]
    assert repeat == [True, True, False, False, False, False]
    by_sex = _rows(document.tables[1])
    assert by_sex[:2] == [["", "Year", "2020", "2021", "Total"], ["Officer sex", "Complainant sex", "", "", ""]]
    assert by_sex[-1] == ["Total", "", "6", "4", "10"]
    notes = [p.text for p in document.paragraphs if p.style.name == "Note"]
    assert notes[-1].startswith("Key: [x] = a figure from 1 to 2, withheld") and notes[-1].endswith(
        "A figure of 0 means none.")
    assert not any("{%" in p.text or "{{" in p.text for p in document.paragraphs)


def test_the_word_letter_is_the_same_bytes_every_time_and_carries_no_save_time(tmp_path):
    response = _response(tmp_path)
    data = render_letter_docx(response)
    assert render_letter_docx(response) == data
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        core = z.read("docProps/core.xml").decode("utf-8")
        assert {i.date_time for i in z.infolist()} == {(1980, 1, 1, 0, 0, 0)}
    assert core.count("2000-01-01T00:00:00Z") == 2 and str(dt.date.today().year) not in core
    assert Document(io.BytesIO(data)).core_properties.title == "Freedom of information request 01.FOI.99.000001"


def test_a_category_that_is_markup_or_template_code_is_shown_as_that_text(tmp_path):
    document = Document(io.BytesIO(render_letter_docx(_response(tmp_path, {"Dismissed": HOSTILE}))))
    labels = [r.cells[0] for r in document.tables[0].rows]
    cell = next(c for c in labels if "7*7" in c.text)
    assert cell.text == HOSTILE  # whole, in one cell, one run: not split into runs, not evaluated
    assert len(cell._tc.findall(f".//{W}r")) == 1
    text = " ".join(c.text for t in document.tables for r in t.rows for c in r.cells)
    assert "49" not in text and "ab" not in text.replace(HOSTILE, "")


def test_the_committed_word_template_is_what_its_script_makes():
    spec = importlib.util.spec_from_file_location("make_template", LETTER_DOCX_TEMPLATE.with_name("make_template.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert module.build() == LETTER_DOCX_TEMPLATE.read_bytes()


def test_a_projects_own_word_template_is_used_and_a_broken_one_named(tmp_path, monkeypatch):
    response = _response(tmp_path)
    own = Document(str(LETTER_DOCX_TEMPLATE))
    own.sections[0].header.paragraphs[0].text = "Westshire Constabulary, {{ organisation }}"  # a letterhead
    project = tmp_path / "project"
    (project / "letters").mkdir(parents=True)
    own.save(str(project / "letters" / "letter.docx"))
    monkeypatch.chdir(project)
    document = Document(io.BytesIO(render_letter_docx(response)))
    assert document.sections[0].header.paragraphs[0].text == "Westshire Constabulary, the force"
    assert _rows(document.tables[0])[0] == ["Year", "2020", "2021", "Total"]

    (project / "letters" / "letter.docx").write_text("not a zip", encoding="utf-8")
    with pytest.raises(DataError, match=r"^letters/letter\.docx: not a Word document \(\.docx\)"):
        render_letter_docx(response)
    broken = Document(str(LETTER_DOCX_TEMPLATE))
    broken.add_paragraph("{{ no_such_field }}")
    broken.save(str(project / "letters" / "letter.docx"))
    with pytest.raises(DataError, match=r"^letters/letter\.docx: the Word template fails.*UndefinedError"):
        render_letter_docx(response)


def _tampered(data: bytes, change) -> bytes:
    document = Document(io.BytesIO(data))
    change(document)
    buffer = io.BytesIO()
    document.save(buffer)
    return buffer.getvalue()


def test_a_word_letter_showing_a_withheld_figure_is_refused(tmp_path):
    response = _response(tmp_path)
    html, data = render_letter(response), render_letter_docx(response)
    check_letter(html, data, response)  # as rendered: passes

    def show(document) -> None:  # No case, 2021: 1 case, withheld as [x]
        cell = next(r.cells for r in document.tables[0].rows if r.cells[0].text == "No case")[2]
        cell.paragraphs[0].runs[0].text = "1"

    with pytest.raises(DisclosureError, match=r"^leak check: letter\.docx: 1 cells .* first table 1: "
                                              r"da/by_outcome\[No case, 2021\] shows 1, a count from 1 to 2"):
        check_letter(html, _tampered(data, show), response)

    def drop(document) -> None:  # a row gone: the figures below it would be read against the wrong cells
        tr = document.tables[0].rows[2]._tr
        tr.getparent().remove(tr)

    with pytest.raises(DisclosureError, match=r"^leak check: letter\.docx: .* table 1 row 3: labelled"):
        check_letter(html, _tampered(data, drop), response)

    def extra(document) -> None:  # a force's table in the body: the tables no longer match the response's
        document.add_table(rows=1, cols=1)

    with pytest.raises(DisclosureError, match=r"^leak check: letter\.docx: .* first 3 tables for 2"):
        check_letter(html, _tampered(data, extra), response)



def test_a_projects_word_template_is_recorded_and_verify_names_a_change(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert letter_template_input(tmp_path) == {}  # the shipped template: the manifest is as before

    def problems(inputs: dict) -> list[str]:
        result = verify.Verification(tmp_path)
        verify._check_inputs({"inputs": {"params": {"path": "no-such.yaml", "sha256": "0"}, **inputs},
                              "environment": None}, result)
        return [p for p in result.problems if p.startswith("letter template")]

    assert problems({}) == []
    (tmp_path / "letters").mkdir()
    (tmp_path / "letters" / "letter.docx").write_bytes(LETTER_DOCX_TEMPLATE.read_bytes())
    recorded = letter_template_input(tmp_path)
    assert recorded == {"letter_template": {"path": "letters/letter.docx",
                                            "sha256": sha256_file(LETTER_DOCX_TEMPLATE)}}
    assert problems(recorded) == []
    assert problems({}) == ["letter template: the report's letter.docx came from the shipped Word template; a "
                            "re-run now uses letters/letter.docx, added since"]
    (tmp_path / "letters" / "letter.docx").write_bytes(b"changed")
    assert problems(recorded)[0].endswith("a re-run now uses letters/letter.docx, changed since")
    (tmp_path / "letters" / "letter.docx").unlink()
    assert problems(recorded)[0].endswith("a re-run now uses the shipped one (there is no letters/letter.docx)")
