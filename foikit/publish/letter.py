"""The response letter, as HTML and DOCX, drafted from the editable template templates/letter/letter.html.j2.

The wording lives in the template; this module only supplies what the response published. The refusal
notice (s.17, s.40(2)) appears exactly when a figure is withheld.
"""

from __future__ import annotations

import io
import re
from datetime import date, datetime
from pathlib import Path

import jinja2
import pandas as pd
from bs4 import BeautifulSoup, Tag
from docx import Document
from docx.shared import Pt
from markupsafe import Markup

from foikit.exceptions import DataError
from foikit.layout import LETTER_DOCX, LETTER_HTML
from foikit.publish.a11y import scoped_headers
from foikit.publish.leakcheck import check_letter
from foikit.publish.ooxml import normalise_package
from foikit.response import PartResult, Response

LETTER_TEMPLATE = Path(__file__).parents[1] / "templates" / "letter" / "letter.html.j2"


def _notes(part: PartResult) -> list[str]:
    cube = part.cube
    notes = [f"Counting unit: {cube.unit_description}.",
             f"Periods: {', '.join(cube.periods)} ({cube.period_words}), by {cube.date_column.replace('_', ' ')}."]
    if cube.rule:
        notes.append(f"Rule: {cube.rule}.")
    notes.append("'Total' is the sum over a breakdown.")
    return notes


def _grid(table: pd.DataFrame) -> Markup:
    return Markup(scoped_headers(table.to_html(border=0, na_rep="", escape=True)))


def reflow(text: str) -> list[str]:
    """Quoted text as its paragraphs: a blank line ends one; a single line break (where the params file was
    wrapped) is only a space."""
    return [" ".join(p.split()) for p in re.split(r"\n\s*\n", text.strip()) if p.strip()]


def _long_date(day: date | None) -> str:
    return f"{day.day} {day:%B %Y}" if day else ""


def letter_context(response: Response) -> dict:
    """Everything the letter template may use, from the published response only (no true values)."""
    request, policy = response.request, response.policy
    text = request.request_text.strip() or "\n\n".join(p.spec.request_text.strip() for p in response.parts)
    withheld = any(bool(part.cells["hidden"].any()) for part in response.parts)
    parts = [{"title": p.spec.title, "request_text": p.spec.request_text,
              "tables": [{"title": t.title, "grid": _grid(p.published_table(t.name))} for t in p.spec.tables],
              "notes": _notes(p)} for p in response.parts]
    markers = policy.letter_meanings()
    return {"ref": request.ref, "title": request.title, "organisation": request.organisation,
            "request_text": text, "request_paragraphs": reflow(text), "date": _long_date(request.date),
            "requester": request.requester.strip() or "the requester",
            "parts": parts, "withheld": withheld, "markers": markers if withheld else {},
            "threshold": policy.threshold, "small_range": policy.small_range, "primary_marker": policy.marker,
            "secondary_marker": policy.secondary_marker}


def render_letter(response: Response, template: Path = LETTER_TEMPLATE) -> str:
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(template.parent), autoescape=True,
                             undefined=jinja2.StrictUndefined, keep_trailing_newline=True)
    return env.get_template(template.name).render(**letter_context(response))


def _text(tag: Tag) -> str:
    return " ".join(tag.get_text(" ").split())


# characters XML 1.0 (so a Word document) cannot hold; python-docx refuses them without naming them
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def html_to_docx(html: str) -> bytes:
    """Lay the letter's HTML out as a Word document: headings, paragraphs, quotes, lists and tables."""
    found = _NOT_XML.search(html)
    if found:
        around = html[max(0, found.start() - 40): found.end() + 40]
        raise DataError(f"{LETTER_DOCX}: {around!r} holds U+{ord(found.group(0)):04X}, which a Word document "
                        "cannot hold; nothing was written")
    soup = BeautifulSoup(html, "html.parser")
    doc = Document()
    doc.core_properties.author = "foikit"
    doc.core_properties.created = doc.core_properties.modified = datetime(2000, 1, 1)
    doc.core_properties.title = _text(soup.title) if soup.title else ""
    levels = {"h1": 0, "h2": 1, "h3": 2, "h4": 3}
    body = soup.body if soup.body is not None else soup
    for node in body.find_all(["h1", "h2", "h3", "h4", "p", "blockquote", "li", "table"]):
        if node.find_parent(["table", "blockquote"]) is not None:
            continue
        if node.name in levels:
            doc.add_heading(_text(node), level=levels[node.name])
        elif node.name == "blockquote":
            for line in node.get_text().strip().splitlines():
                doc.add_paragraph(line.strip(), style="Quote")
        elif node.name == "li":
            doc.add_paragraph(_text(node), style="List Bullet")
        elif node.name == "p":
            paragraph = doc.add_paragraph(_text(node))
            if "note" in (node.get("class") or []):
                for run in paragraph.runs:
                    run.font.size = Pt(9)
        else:
            rows = node.find_all("tr")
            width = max(len(r.find_all(["th", "td"])) for r in rows)
            table = doc.add_table(rows=len(rows), cols=width)
            table.style = "Table Grid"
            for i, row in enumerate(rows):
                for j, cell in enumerate(row.find_all(["th", "td"])):
                    table.cell(i, j).text = _text(cell)
    buffer = io.BytesIO()
    doc.save(buffer)
    return normalise_package(buffer.getvalue())


def write_letter(response: Response, out_dir: Path) -> list[Path]:
    html = render_letter(response)
    docx = html_to_docx(html)
    check_letter(html, docx, response)  # refuses before either file is written
    (out_dir / LETTER_HTML).write_text(html, encoding="utf-8")
    (out_dir / LETTER_DOCX).write_bytes(docx)
    return [out_dir / LETTER_HTML, out_dir / LETTER_DOCX]
