"""Write letter.docx, the Word template the letter's DOCX is rendered from (by docxtpl), beside this script.

Run once, when the wording changes: ``python foikit/templates/letter/make_template.py``; commit both files.
The wording is letter.html.j2's, sentence for sentence. The tags are docxtpl's: ``{%p %}`` a paragraph that
holds only a tag, ``{%tr %}`` / ``{%tc %}`` a table row / cell that holds only a tag (the loops over rows and
cells). A force may restyle the result in Word (its own letterhead in the page header, fonts, the styles
Title, Heading 1-3, Quote, List Bullet, Note, Table Heading, Table Figure and the table style) and point its
requests at the copy; the leak check requires the body's tables to be exactly the letter's tables.
"""

from __future__ import annotations

import datetime as dt
import io
import sys
from pathlib import Path

from docx import Document
from docx.enum.style import WD_STYLE_TYPE
from docx.enum.text import WD_ALIGN_PARAGRAPH
from docx.oxml import OxmlElement
from docx.shared import Pt

from foikit.publish.ooxml import normalise_package

OUT = Path(__file__).with_name("letter.docx")

WITHHELD = [
    ("I have today decided to disclose most of the information you asked for. Some figures have been withheld "
     "because they are exempt from disclosure, so this letter is also a refusal notice under section 17 of the "
     "Act for those figures. The exemption that applies is:"),
    ("List Bullet", "Section 40(2) and (3A)(a) \u2013 Personal information"),
    ("Heading 1", "Reasons for the decision"),
    ("Where a count is very small, publishing it could allow the people it describes to be identified, by those "
     "who know them or by combining it with other information. In the tables below, counts {{ small_range }} are "
     "therefore withheld, and shown as {{ primary_marker }} or {{ secondary_marker }}."),
    ("Withholding a small count is not enough if it can be worked out from what is published: by subtracting the "
     "other figures from a total, or by comparing two tables that share the same totals. Some further figures are "
     "therefore withheld only to stop a small count being calculated, and shown as {{ secondary_marker }}. A small "
     "count is shown as {{ secondary_marker }} too where showing it as {{ primary_marker }} would help work out "
     "another: so a {{ secondary_marker }} is either a small count or a figure withheld to protect one."),
    ("The information withheld is personal data as defined in the Data Protection Act 2018. Its disclosure would "
     "not be fair or lawful, and so would contravene the first data protection principle (Article 5(1)(a) of the "
     "UK General Data Protection Regulation); section 40(2) of the Act therefore applies, by section 40(3A)(a). "
     "This is an absolute exemption (section 2(3)(fa) of the Act), so no public interest test is needed."),
]

CLOSING = [
    ("Heading 1", "Your right to complain"),
    ("If you are dissatisfied with this response, you may ask for an internal review. Please write to us within 40 "
     "working days of {% if date %}the date of this letter{% else %}receiving this letter{% endif %}, quoting the "
     "reference number above, and say which parts of the response you would like reviewed and why."),
    ("If you remain dissatisfied after the internal review, you may complain to the Information Commissioner under "
     "section 50 of the Act: the Information Commissioner's Office (ICO), Wycliffe House, Water Lane, Wilmslow, "
     "Cheshire SK9 5AF. The ICO will normally expect you to have completed our internal review first."),
    "Yours sincerely,",
    "Freedom of Information team, {{ organisation }}",
]


def _add(doc, item) -> None:  # a paragraph, or (style, text)
    style, text = item if isinstance(item, tuple) else ("Normal", item)
    doc.add_paragraph(text, style=style)


def _row_cells(row, repeat_header: bool, label_style: str, figure_style: str) -> None:
    """One template row: the row's labels, then its figures, each a {%tc for %} loop of three cells."""
    texts = ["{%tc for c in row.labels %}", "{{ c }}", "{%tc endfor %}",
             "{%tc for c in row.figures %}", "{{ c }}", "{%tc endfor %}"]
    for i, (cell, text) in enumerate(zip(row.cells, texts, strict=True)):
        cell.paragraphs[0].text = text
        cell.paragraphs[0].style = figure_style if i >= 3 else label_style
    if repeat_header:  # Word repeats the row at the top of each page, and reads it as the column headers
        row._tr.get_or_add_trPr().append(OxmlElement("w:tblHeader"))


def _table(doc) -> None:
    table = doc.add_table(rows=6, cols=6)
    table.style = "Table Grid"
    rows = table.rows
    rows[0].cells[0].text = "{%tr for row in table.header %}"
    _row_cells(rows[1], True, "Table Heading", "Table Heading")
    rows[2].cells[0].text = "{%tr endfor %}"
    rows[3].cells[0].text = "{%tr for row in table.rows %}"
    _row_cells(rows[4], False, "Normal", "Table Figure")
    rows[5].cells[0].text = "{%tr endfor %}"


def build() -> bytes:
    """The template's bytes: the same every time (normalised), so the committed file can be checked against
    this source."""
    doc = Document()
    styles = doc.styles
    note = styles.add_style("Note", WD_STYLE_TYPE.PARAGRAPH)
    note.base_style, note.font.size = styles["Normal"], Pt(9)
    note.paragraph_format.space_after = Pt(2)
    heading = styles.add_style("Table Heading", WD_STYLE_TYPE.PARAGRAPH)
    heading.base_style, heading.font.bold = styles["Normal"], True
    heading.paragraph_format.space_after = Pt(0)
    figure = styles.add_style("Table Figure", WD_STYLE_TYPE.PARAGRAPH)
    figure.base_style = styles["Normal"]
    figure.paragraph_format.alignment = WD_ALIGN_PARAGRAPH.RIGHT
    figure.paragraph_format.space_after = Pt(0)
    core = doc.core_properties
    core.title, core.author, core.last_modified_by = "Freedom of information request {{ ref }}", "foikit", ""
    core.created = core.modified = dt.datetime(2000, 1, 1)
    core.revision = 1

    _add(doc, ("Title", "Freedom of information request reference no: {{ ref }}"))
    for item in ("{%p if date %}", "{{ date }}", "{%p endif %}",
                 'Dear {{ "requester" if requester == "the requester" else requester }},',
                 "Thank you for your request for information, which {{ organisation }} has considered under the "
                 "Freedom of Information Act 2000 (the Act).",
                 "I note you seek access to the following information:",
                 "{%p for paragraph in request_paragraphs %}", ("Quote", "{{ paragraph }}"), "{%p endfor %}",
                 ("Heading 1", "Decision"), "{%p if withheld %}", *WITHHELD, "{%p else %}",
                 "I have today decided to disclose the information you asked for in full. Nothing has been withheld.",
                 "{%p endif %}", ("Heading 1", "Disclosure"),
                 "Please find the information below. A response under the Act is not a private matter: what is "
                 "disclosed to one person is considered published for everyone, and this response may be published "
                 "on our website.",
                 "{%p for part in parts %}", ("Heading 2", "{{ part.title }}"), "{%p for table in part.tables %}",
                 ("Heading 3", "{{ table.title }}")):
        _add(doc, item)
    _table(doc)
    for item in ("{%p endfor %}", "{%p for note in part.notes %}", ("Note", "{{ note }}"), "{%p endfor %}",
                 "{%p endfor %}",
                 ("Note", "{% if markers %}Key: {% for marker, meaning in markers.items() %}{{ marker }} = "
                  "{{ meaning }}{% if not loop.last %}; {% endif %}{% endfor %}. {% endif %}A figure of 0 means "
                  "none."),
                 *CLOSING):
        _add(doc, item)
    buffer = io.BytesIO()
    doc.save(buffer)
    return normalise_package(buffer.getvalue())


if __name__ == "__main__":
    (OUT if len(sys.argv) < 2 else Path(sys.argv[1])).write_bytes(build())
