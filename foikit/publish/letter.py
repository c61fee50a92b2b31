"""The response letter, as HTML and DOCX, drafted from the editable templates templates/letter/letter.html.j2
and the Word template templates/letter/letter.docx, both given the same context.

The wording lives in the templates; this module only supplies what the response published. The refusal
notice (s.17, s.40(2)) appears exactly when a figure is withheld.
"""

from __future__ import annotations

import io
import re
import zipfile
from datetime import date
from pathlib import Path

import jinja2
import pandas as pd
from docx.opc.exceptions import PackageNotFoundError
from docxtpl import DocxTemplate
from jinja2.sandbox import SandboxedEnvironment
from markupsafe import Markup

from foikit.exceptions import DataError, capped, capped_text
from foikit.layout import LETTER_DOCX, LETTER_HTML
from foikit.publish.a11y import scoped_headers
from foikit.publish.leakcheck import check_letter
from foikit.publish.ooxml import normalise_package
from foikit.response import PartResult, Response

LETTER_TEMPLATE = Path(__file__).parents[1] / "templates" / "letter" / "letter.html.j2"
# the Word template (made by make_template.py beside it). A force restyles a copy in Word and keeps it in the
# project, as it keeps its policies: a fixed place, never a path from the params (which are untrusted)
LETTER_DOCX_TEMPLATE = LETTER_TEMPLATE.with_name("letter.docx")
PROJECT_LETTER_DOCX = Path("letters") / "letter.docx"  # relative to the folder foikit runs in (the project)


def letter_docx_template() -> Path:
    """The project's own Word template, letters/letter.docx, when there is one; else the shipped one."""
    return PROJECT_LETTER_DOCX if PROJECT_LETTER_DOCX.is_file() else LETTER_DOCX_TEMPLATE


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


def _shown(value: object) -> str:
    return "" if value is None or (isinstance(value, float) and pd.isna(value)) else str(value)


def _word_grid(table: pd.DataFrame) -> dict[str, list[dict[str, list[str]]]]:
    """The table as the Word template lays it out, each row its labels then its figures: a header row for each
    level of the column labels (the level's name above the row labels), then one naming the row dimensions
    (when they are named), then a row per row label, the label repeated on every row (so each row reads
    alone)."""
    n_labels = table.index.nlevels
    header = [{"labels": [""] * (n_labels - 1) + [_shown(name)],
               "figures": [_shown(v) for v in table.columns.get_level_values(level)]}
              for level, name in enumerate(table.columns.names)]
    if any(table.index.names):
        header.append({"labels": [_shown(n) for n in table.index.names], "figures": [""] * table.shape[1]})
    rows = [{"labels": [_shown(k) for k in (key if isinstance(key, tuple) else (key,))],
             "figures": [_shown(v) for v in values]}
            for key, values in zip(table.index, table.itertuples(index=False), strict=True)]
    return {"header": header, "rows": rows}


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
              "tables": [{"title": t.title, "grid": _grid(p.published_table(t.name)),
                          **_word_grid(p.published_table(t.name))} for t in p.spec.tables],
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


# characters XML 1.0 (so a Word document) cannot hold; docxtpl's parser would drop them without a word
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def _strings(value: object) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for k, v in value.items() for s in _strings(k) + _strings(v)]
    if isinstance(value, list | tuple):
        return [s for v in value for s in _strings(v)]
    return []


def render_letter_docx(response: Response, template: Path | None = None) -> bytes:
    """The letter as a Word document: the Word template rendered by docxtpl with the HTML letter's context.

    Autoescaped (a value is text, never markup) in a sandbox (a force's template is only a letter), and
    normalised so the same response gives the same bytes. ``template``: by default
    :func:`letter_docx_template`."""
    template = letter_docx_template() if template is None else template
    context = letter_context(response)
    for text in _strings(context):  # every value a template may show
        found = _NOT_XML.search(text)
        if found:
            around = text[max(0, found.start() - 40): found.end() + 40]
            raise DataError(f"{LETTER_DOCX}: {capped(around)} holds U+{ord(found.group(0)):04X}, which a Word "
                            "document cannot hold; nothing was written")
    env = SandboxedEnvironment(autoescape=True, undefined=jinja2.StrictUndefined)
    try:
        document = DocxTemplate(template)
        document.init_docx()  # opens the package (render would, inside its own errors)
    except (zipfile.BadZipFile, KeyError, ValueError, PackageNotFoundError) as exc:
        raise DataError(f"{template}: not a Word document (.docx) that can be a letter template: "
                        f"{capped_text(exc)}; nothing was written") from exc
    try:
        document.render(context, jinja_env=env, autoescape=True)
    except jinja2.TemplateError as exc:
        line = getattr(exc, "lineno", None)  # a syntax error knows its line; an undefined name does not
        where = f" (line {line} of its XML)" if line else ""
        raise DataError(f"{template}: the Word template fails{where}: {type(exc).__name__}: {capped_text(exc)}; "
                        "nothing was written") from exc
    buffer = io.BytesIO()
    document.save(buffer)
    return normalise_package(buffer.getvalue())


def write_letter(response: Response, out_dir: Path) -> list[Path]:
    html = render_letter(response)
    docx = render_letter_docx(response)
    check_letter(html, docx, response)  # refuses before either file is written
    (out_dir / LETTER_HTML).write_text(html, encoding="utf-8")
    (out_dir / LETTER_DOCX).write_bytes(docx)
    return [out_dir / LETTER_HTML, out_dir / LETTER_DOCX]
