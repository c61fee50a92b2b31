"""What params and data say is shown as text everywhere a report shows it, never run as markup, a formula or
mathtext: one real `foikit run` whose params and case data carry payloads, its every file read back (HTML
parsed, and opened in headless Chromium; XLSX cells; DOCX text); and odd but valid text in every writer."""

from __future__ import annotations

import csv
import io
import warnings
import zipfile
from pathlib import Path

import pandas as pd
import pytest
import yaml
from bs4 import BeautifulSoup
from docx import Document
from nbconvert.filters.markdown_mistune import markdown2html_mistune
from odf import opendocument
from odf.namespaces import OFFICENS
from odf.table import TableCell
from odf.text import P
from openpyxl import load_workbook

from foikit import answer, parse_request
from foikit.exceptions import DataError
from foikit.publish import charts, display
from foikit.publish.letter import reflow, render_letter_docx

from .conftest import HAND_ROWS, ROOT, chromium_dom, hand_request, run_published

REF = "01.FOI.99.000001"


def pwn(tag: str) -> str:
    """Script that marks <body> if it runs: what the browser check looks for."""
    return f"document.body.setAttribute('data-pwned','{tag}')"


# Params payloads, one per field shown; each must appear as this very text.
TITLE = f"=HYPERLINK(\"http://evil.example\",\"click\") <script>{pwn('title')}</script> {{{{ 7*7 }}}} $\\alpha$"
REQUEST = (f"<iframe src=\"javascript:{pwn('iframe')}\"></iframe>\n"
           f"<img src=x onerror=\"{pwn('img')}\">\n"
           "[a link](javascript:alert(1)) and <https://evil.example> and *not emphasis* _nor this_\n"
           "```\n"
           f"\"><svg onload=\"{pwn('svg')}\">\n"
           "1. not a list\n"
           "# not a heading")
PART_TITLE = f"+SUM(1) \"><svg onload=\"{pwn('part')}\"> `code`"
PART_REQUEST = f"<a href=\"javascript:{pwn('a')}\">a link</a> \\(x\\) $$y$$"
TABLE_TITLE = f"-2+3 <b>bold</b> $\\notacommand$ <img src=y onerror=\"{pwn('table')}\">"
NOTE = f"withheld <img src=z onerror=\"{pwn('note')}\"> {{% raw %}} | pipe | ~~strike~~"
ORGANISATION = f"the <i>force</i> <script>{pwn('org')}</script>"
# Case-data payloads: categories of the outcome column.
CATEGORY_IMG = f"<img src=c onerror=\"{pwn('category')}\">"
CATEGORY_FORMULA = "=HYPERLINK(\"http://evil.example\",\"x\") $\\alpha$"
CATEGORY_AT = "@SUM(1) \"><svg onload=\"" + pwn("category2") + "\">"
# Odd but valid text: unicode, emoji, right to left, a title near the 1,000-character limit, surrounding spaces.
ODD_TITLE = ("  \U0001f46e\u200d\u2640\ufe0f Zo\u00eb \u2013 \u8b66\u5bdf \u2013 \u05e9\u05dc\u05d5\u05dd \u2013 "
             "\u0645\u0631\u062d\u0628\u0627 \u2013 " + "long " * 190 + "end  ")
ODD_TABLE_TITLE = "  ✓ \u202eright to left\u202c  "
PARAMS_PAYLOADS = (TITLE, REQUEST, PART_TITLE, PART_REQUEST, TABLE_TITLE, NOTE)
DATA_PAYLOADS = (CATEGORY_IMG, CATEGORY_FORMULA, CATEGORY_AT)
# What only markup made from a payload would be: these tags, event handlers, script links.
FOREIGN_TAGS = ("iframe", "svg", "object", "embed", "b", "i")


def words(text: str) -> str:
    return " ".join(text.split())


@pytest.fixture(scope="session")
def hostile_report(tmp_path_factory) -> Path:
    """One real run (once per test session) on a hand-made case file whose categories and params are payloads."""
    tmp = tmp_path_factory.mktemp("escaping")
    outcomes = {"Dismissed": CATEGORY_IMG, "Ongoing": CATEGORY_FORMULA}
    with (tmp / "cases.csv").open("w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(["case_ref", "officer_id", "allegation_category", "date_recorded", "outcome",
                         "officer_sex", "complainant_sex"])
        for i, (cat, date, outcome, osex, csex) in enumerate(HAND_ROWS):
            outcome = CATEGORY_AT if cat == "IE" else outcomes.get(outcome, outcome)
            writer.writerow([f"C{i:03d}", f"OF{i:04d}", cat, date, outcome, osex, csex])
    request = hand_request(tmp / "cases.csv", title=TITLE, request_text=REQUEST, organisation=ORGANISATION)
    part = request["parts"][0]
    part.update(title=PART_TITLE, request_text=PART_REQUEST)
    part["tables"][0]["title"] = TABLE_TITLE
    request["parts"].append({
        "name": "odd", "title": ODD_TITLE, "filter": {"allegation_category": "IE"}, "years": [2020, 2021],
        "counting_unit": "rows",
        "tables": [{"name": "by_outcome", "title": ODD_TABLE_TITLE, "rows": ["outcome"], "columns": ["year"]}],
    })
    request["suppression"]["secondary"] = {"marker": "[c]", "note": NOTE}
    params = tmp / "params.yaml"
    params.write_text(yaml.safe_dump(request, sort_keys=False, allow_unicode=True), encoding="utf-8")
    done = run_published(params, tmp / "reports")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Traceback" not in done.stderr
    return tmp / "reports" / REF


def html_files(report: Path) -> list[Path]:
    found = sorted(report.glob("*.html"))
    assert [p.name for p in found] == ["letter.html", "report.html"]
    return found


def assert_no_markup_from_payloads(soup: BeautifulSoup, where: str) -> None:
    for tag in soup.find_all(True):
        assert tag.name not in FOREIGN_TAGS, f"{where}: <{tag.name}> {tag}"[:300]
        for name, value in tag.attrs.items():
            assert not name.lower().startswith("on"), f"{where}: {name}= on <{tag.name}>"
            if name in ("href", "src", "action", "formaction", "data"):
                assert not str(value).strip().lower().startswith("javascript:"), f"{where}: {name}={value}"
        if tag.name == "img":  # only the record's charts, embedded
            assert tag["src"].startswith("data:image/png;base64,"), f"{where}: {tag}"
        if tag.name == "script":
            assert "pwned" not in tag.get_text(), f"{where}: {tag}"


def test_no_tag_or_attribute_from_params_or_data_survives_in_html(hostile_report):
    for path in html_files(hostile_report):
        assert_no_markup_from_payloads(BeautifulSoup(path.read_text(encoding="utf-8"), "html.parser"), path.name)


def test_the_record_shows_every_payload_as_its_text(hostile_report):
    text = words(BeautifulSoup((hostile_report / "report.html").read_text(encoding="utf-8"),
                               "html.parser").get_text(" "))
    for payload in (*PARAMS_PAYLOADS, *DATA_PAYLOADS, ODD_TITLE, ODD_TABLE_TITLE):
        assert words(payload) in text, payload[:80]


def test_the_letter_shows_every_payload_as_its_text(hostile_report):
    text = words(BeautifulSoup((hostile_report / "letter.html").read_text(encoding="utf-8"),
                               "html.parser").get_text(" "))
    for payload in (REQUEST, PART_TITLE, TABLE_TITLE, NOTE, *DATA_PAYLOADS, ORGANISATION, ODD_TITLE, ODD_TABLE_TITLE):
        assert words(payload) in text, payload[:80]  # the letter quotes the request, not its title


def test_no_injected_script_runs_in_a_browser(hostile_report, tmp_path):
    for path in html_files(hostile_report):
        dom = BeautifulSoup(chromium_dom(path.as_uri(), tmp_path / "chromium"), "html.parser")
        assert dom.body is not None and words(TABLE_TITLE) in words(dom.body.get_text(" ")), path.name
        assert [t.name for t in dom.find_all(attrs={"data-pwned": True})] == [], path.name
        assert_no_markup_from_payloads(dom, f"{path.name} in Chromium")


def test_xlsx_holds_every_payload_as_text_never_a_formula(hostile_report):
    data = (hostile_report / "tables.xlsx").read_bytes()
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        sheets = [z.read(n) for n in z.namelist() if n.startswith("xl/worksheets/")]
    assert not any(b"<f>" in s or b"<f " in s for s in sheets)  # no formula element anywhere
    wb = load_workbook(io.BytesIO(data))
    cells = [c for ws in wb.worksheets for row in ws.iter_rows() for c in row if isinstance(c.value, str)]
    by_value = {c.value: c for c in cells}
    for value in (TITLE, CATEGORY_FORMULA, CATEGORY_AT, f"{PART_TITLE}: {TABLE_TITLE}"):
        cell = by_value[value]  # the literal text, whole
        assert cell.data_type == "s" and cell.quotePrefix, value
    assert by_value[f"[c]: {NOTE}."].data_type == "s"
    assert all(c.data_type == "s" for c in cells if c.value.startswith(("=", "+", "-", "@")))
    assert words(f"{ODD_TITLE}: {ODD_TABLE_TITLE}") in {words(v) for v in by_value}


def test_ods_holds_every_payload_as_text_never_a_formula(hostile_report):
    data = (hostile_report / "tables.ods").read_bytes()
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        content = z.read("content.xml")
    assert b"table:formula" not in content  # no formula attribute anywhere
    doc = opendocument.load(io.BytesIO(data))
    strings = {"\n".join(str(p) for p in c.getElementsByType(P)) for c in doc.spreadsheet.getElementsByType(TableCell)
               if c.getAttrNS(OFFICENS, "value-type") == "string"}
    for value in (TITLE, CATEGORY_FORMULA, CATEGORY_AT, f"{PART_TITLE}: {TABLE_TITLE}", f"[c]: {NOTE}."):
        assert value in strings, value  # the literal text, whole, as a string cell
    assert words(f"{ODD_TITLE}: {ODD_TABLE_TITLE}") in {words(v) for v in strings}


def test_docx_holds_every_payload_as_text(hostile_report):
    doc = Document(hostile_report / "letter.docx")
    text = words(" ".join([p.text for p in doc.paragraphs]
                          + [c.text for t in doc.tables for row in t.rows for c in row.cells]))
    for payload in (PART_TITLE, TABLE_TITLE, NOTE, ORGANISATION, *DATA_PAYLOADS, ODD_TITLE, ODD_TABLE_TITLE):
        assert words(payload) in text, payload[:80]
    for paragraph in reflow(REQUEST):  # the request's paragraphs, its lines joined (issue 20.5)
        assert any(p.text == paragraph for p in doc.paragraphs if p.style.name == "Quote"), paragraph


def test_published_csv_holds_the_categories_as_they_are(hostile_report):
    published = pd.read_csv(hostile_report / "published.csv", dtype=str, keep_default_na=False)
    assert set(DATA_PAYLOADS) <= set(published["outcome"])


# The escaping of the record's Markdown, checked against the renderer nbconvert uses, on each construct.
MARKDOWN_CASES = [
    "<script>alert(1)</script>", "<img src=x onerror=\"a()\">", "\"><svg onload=\"x()\">", "[l](javascript:alert(1))",
    "<a href='javascript:x'>y</a>", "{{ 7*7 }}", "$\\alpha$", "$$x$$", "\\(x\\)", "\\[x\\]",
    "\\begin{equation}x\\end{equation}", "=HYPERLINK(\"x\")", "*em* _em_ __b__ a_b_c snake_case", "# h", "3. list",
    "1) list", "- item", "+ item", "> quote", "a | b\n--|--\n1|2", "~~s~~", "https://evil.example/x",
    "<https://e.x>", "&amp; &lt;", "x\\", "`code` ``more``", "```\nfence", "    indented", "line  \nbreak",
    "Title #", "![i](x.png)", "[ ] task", "term\n: definition", "a\n===", "a\n---", "a\n- - -", "a\n1. b",
    "a\n\n3. b", "&#60;script&#62;", "Zoë 警察 ✓ \u202eRTL\u202c 👮", "  lead and trail  ", "\\$", "$", "a$b$c",
]


@pytest.mark.parametrize("text", MARKDOWN_CASES)
def test_markdown_escaping_renders_exactly_the_text(text):
    _md, _code, _quote, _fence = display._md, display._code, display._quote, display._fence
    one_line = " ".join(text.splitlines()).strip()
    for markdown, container, expected in (
        (f"**Title:** {_md(text)}", "p", f"Title: {one_line}"),
        (f"## {_md(text)}", "h2", one_line),
        (f"- {_md(text, start=True)}", "li", one_line),
        (f"x {_code(text)}", "code", " ".join(text.splitlines())),
        (_quote(text), "blockquote", "\n".join(line.strip() for line in text.strip().splitlines() if line.strip())),
        (_fence(text, "yaml"), "pre", text.strip()),
    ):
        soup = BeautifulSoup(markdown2html_mistune(markdown), "html.parser")
        allowed = {"p", "br", "strong", "ul", "li", "blockquote", "div", "pre", "span", container} | \
            ({"a"} if container == "h2" else set())  # the heading's own anchor link
        tags = [t.name for t in soup.find_all(True) if t.name not in allowed or (t.name == "a" and t.get(
            "class") != ["anchor-link"])]
        assert tags == [], (markdown, str(soup))
        shown = soup.find(container) if container != "p" else soup
        got = shown.get_text().replace("¶", "")
        if container in ("blockquote", "pre"):
            got = "\n".join(line for line in got.strip().splitlines() if line.strip())
            expected = "\n".join(line for line in expected.splitlines() if line.strip())
        assert got.strip() == expected.strip(), (markdown, str(soup))


def test_the_example_request_is_escaped_without_a_change():
    """Plain text (the committed examples' request text) needs no escape: the record's bytes stay as they were."""
    request = yaml.safe_load((ROOT / "params" / "01.FOI.23.032341.yaml").read_text(encoding="utf-8"))
    _md, _quote = display._md, display._quote
    assert _md(request["title"]) == request["title"]
    assert _quote(request["request_text"]) == "\n".join(f"> {line}" for line in
                                                        request["request_text"].strip().splitlines())


# Charts: mathtext is never parsed, odd text never crashes.
CHART_TEXT = ["$\\notacommand$", "$x^2$", "a $ b", "$",
              "\U0001f46e Zo\u00eb \u05e9\u05dc\u05d5\u05dd \u0645\u0631\u062d\u0628\u0627",
              "long " * 600, "  spaces  ", "_under"]


@pytest.mark.parametrize("text", CHART_TEXT, ids=range(len(CHART_TEXT)))
def test_chart_draws_any_title_and_category_literally(text):
    published = pd.DataFrame({"2020": ["5", "[x]", "9"], text: ["7", "$\\y", "3"], "Total": ["12", "9", "12"]},
                             index=pd.Index([text, "_lead", "Total"], name="outcome"))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # nothing for the record to show but the chart
        png = charts.chart_png(published, text)
        ax = charts.chart_figure(published, text).axes[0]
    assert png.startswith(b"\x89PNG")
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    ticks = [t.get_text() for t in ax.get_xticklabels()]
    if len(text) <= 60:
        assert ax.title.get_text() == text and ticks == [text, "_lead"] and legend == ["2020", text]
    else:  # cut, not dropped: the record shows it whole above the chart
        assert ax.title.get_text().replace("\n", " ").startswith(text[:100].strip())
        assert ticks[0] == legend[1] == text[:59] + "\u2026"
    texts = [ax.title, *ax.get_xticklabels(), *ax.texts, *ax.get_legend().get_texts()]
    assert "$\\y" in [t.get_text() for t in ax.texts]  # a marker, drawn as it is
    assert not [t.get_text() for t in texts if t.get_parse_math()]


def test_docx_names_a_character_it_cannot_hold(tmp_path):
    rows = [(c, d, "On\x0bgoing" if o == "Ongoing" else o, s1, s2) for c, d, o, s1, s2 in HAND_ROWS]
    lines = ["case_ref,officer_id,allegation_category,date_recorded,outcome,officer_sex,complainant_sex",
             *(f"C{i:03d},OF{i:04d},{','.join(row)}" for i, row in enumerate(rows))]
    (tmp_path / "cases.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    response = answer(parse_request(hand_request(tmp_path / "cases.csv")))
    with pytest.raises(DataError, match=r"^letter\.docx: .*On\\x0bgoing.* holds U\+000B, which a Word document "
                                        r"cannot hold"):
        render_letter_docx(response)
