"""The disclosure log: a static, offline website of every published response, built from the published files only.

``build_site("reports/", "site/")`` writes

* ``index.html``: every response (reference, title, date published, dataset, periods), newest first, with
  search and filters run by a small inline script over a JSON index embedded in the page (no network; the
  filters are read from the query too: ``index.html?q=abuse&dataset=conduct_allegations``);
* ``responses/<ref>/index.html``: the letter (the published ``letter.html``, copied beside the page and shown in
  an ``<iframe sandbox>``, so that nothing in it runs), every table of ``published.csv`` and the downloads;
* ``datasets/<name>.html``: what has been published from each dataset, and for which periods (the ledger);
* ``feed.xml``: an Atom feed of the responses, newest first.

What a report folder holds is untrusted: every text is escaped by jinja2's autoescape (nothing from a report is
marked safe; the embedded index is ``tojson``, which escapes ``<``, ``>``, ``&`` and quotes), every name that
becomes a path is checked, and symlinks are refused. Only the files of :data:`foikit.layout.PUBLISHED_FILES`
(and ``tables.ods``) are read for what is shown or copied, but for two fields of ``manifest.json`` (when it was
published, and what it supersedes), read through the ledger's own reader. The site is built in a temporary
folder beside ``--out`` and renamed into place, and is the same bytes for the same reports.
"""

from __future__ import annotations

import base64
import csv
import hashlib
import io
import json
import os
import re
import shutil
import tempfile
import uuid
import xml.etree.ElementTree as ET
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import jinja2
from markupsafe import Markup

from foikit.exceptions import ParamsError, ReportError, capped, capped_text
from foikit.layout import (
    AUDIT_JSON,
    CELLS_JSON,
    LETTER_DOCX,
    LETTER_HTML,
    MANIFEST,
    PUBLISHED_CSV,
    PUBLISHED_CSVW,
    PUBLISHED_FILES,
    TABLES_ODS,
    TABLES_XLSX,
    WITNESSES_JSON,
)
from foikit.ledger.store import LedgerEntry, read_report_entry

TEMPLATES = Path(__file__).parents[1] / "templates" / "site"
COPIED = tuple(sorted(PUBLISHED_FILES))  # the only files of a report that reach the site
MARKER = ".foikit-site"  # says that a folder is a site foikit built, so a rebuild may replace it
MARKER_TEXT = "A disclosure log built by foikit site; rebuilt (replaced whole) by the next foikit site.\n"
MAX_FILE_BYTES = 256 * 2**20  # a published file larger than this is not read
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,199}")  # a ref or dataset: it names a folder or file of the site
_LABELS = {  # what each download is, in its link's text
    PUBLISHED_CSV: "Every published figure, as CSV",
    PUBLISHED_CSVW: "What each column of the CSV means (CSV on the Web metadata, JSON)",
    TABLES_XLSX: "The tables as a spreadsheet (Excel)",
    TABLES_ODS: "The tables as a spreadsheet (OpenDocument)",
    LETTER_HTML: "The response letter (web page)",
    LETTER_DOCX: "The response letter (Word)",
    AUDIT_JSON: "The disclosure audit: what can be worked out about each withheld figure (JSON)",
    CELLS_JSON: "Every published figure with its exact definition over the data (JSON)",
    WITNESSES_JSON: "The audit's proof, checkable without foikit (JSON)",
}


class SiteError(ReportError):
    """The disclosure log cannot be built: a report folder or the output folder is not as it must be."""


@dataclass(frozen=True)
class Table:
    id: str
    part: str
    name: str
    caption: str
    corner: tuple[str, ...]  # the header of each row-header column
    columns: tuple[dict[str, Any], ...]
    rows: tuple[dict[str, Any], ...]


@dataclass(frozen=True)
class Response:
    """One published response, as the site shows it."""

    ref: str
    title: str
    publisher: str
    published_at: str  # ISO date and time, from the review recorded by foikit publish
    dataset: str
    periods: tuple[str, ...]
    entry: LedgerEntry
    files: tuple[str, ...]  # the published files the folder holds (copied)
    parts: tuple[dict[str, Any], ...]
    marker_note: str
    supersedes: str | None
    superseded_by: str | None = None
    folder: Path = field(default=Path(), repr=False)

    @property
    def published_date(self) -> str:
        return self.published_at[:10]


def _plain(value: object, what: str, where: str) -> str:
    if not isinstance(value, str) or not _NAME.fullmatch(value) or value in {".", ".."}:
        raise SiteError(f"{where}: {what} {capped(value)} is not a plain name (letters, digits, '.', '_', '-'; "
                        "at most 200): refusing to make a page of it")
    return value


def _regular(path: Path) -> Path:
    """``path``, refused when it is a symlink or not a regular file of a readable size."""
    if path.is_symlink():
        raise SiteError(f"{path}: is a symlink; a report's files are read only as themselves")
    if not path.is_file():
        raise SiteError(f"{path}: is missing or not a regular file")
    if path.stat().st_size > MAX_FILE_BYTES:
        raise SiteError(f"{path}: is larger than {MAX_FILE_BYTES // 2**20} MB")
    return path


def _json(path: Path) -> Any:
    try:
        return json.loads(_regular(path).read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        raise SiteError(f"{path}: is not readable JSON ({type(exc).__name__})") from None


def _text(value: object, where: str, default: str = "") -> str:
    if value is None:
        return default
    if not isinstance(value, str):
        raise SiteError(f"{where}: is {capped(value)}, not text")
    return " ".join(value.split()) or default


def _human(name: str) -> str:
    """``officer_rank`` as ``Officer rank``: a column or table name as a header."""
    words = name.replace("_", " ").strip()
    return words[:1].upper() + words[1:]


def _published_csv(path: Path) -> list[dict[str, str]]:
    try:
        text = _regular(path).read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise SiteError(f"{path}: is not UTF-8 text") from None
    try:
        rows = list(csv.DictReader(io.StringIO(text, newline="")))
    except csv.Error as exc:
        raise SiteError(f"{path}: is not CSV ({capped_text(exc)})") from None
    header = list(rows[0]) if rows else []
    missing = [c for c in ("part", "table", "value", "marker") if c not in header]
    if missing:
        raise SiteError(f"{path}: has no column {', '.join(missing)} (columns: {capped(header)})")
    if any(None in row or None in row.values() for row in rows):
        raise SiteError(f"{path}: a row has more or fewer fields than the header")
    return rows


def _rank(values: list[str]) -> dict[str, tuple[int, int]]:
    """Labels in the order the CSV gives them, the total ('') last."""
    order: dict[str, tuple[int, int]] = {}
    for v in values:
        order.setdefault(v, (1, 0) if v == "" else (0, len(order)))
    return order


def _tables(rows: list[dict[str, str]], period_dims: dict[str, str], where: Path) -> tuple[dict[str, Any], ...]:
    """Each table of published.csv as a grid: the period across (when there is another breakdown), the other
    breakdowns down, every figure as published (its value, or its marker)."""
    dims = [c for c in (rows[0] if rows else {}) if c not in ("part", "table", "value", "marker")]
    groups: dict[tuple[str, str], list[dict[str, str]]] = {}
    for row in rows:
        groups.setdefault((row["part"], row["table"]), []).append(row)
    parts: dict[str, list[Table]] = {}
    for n, ((part, name), group) in enumerate(groups.items()):
        used = [d for d in dims if any(r[d] for r in group)]
        period = period_dims.get(part)
        across = (period if period in used else used[-1]) if len(used) >= 2 else None
        down = [d for d in used if d != across]
        ranks = {d: _rank([r[d] for r in group]) for d in used}
        grid: dict[tuple[tuple[str, ...], str], str] = {}
        for r in group:
            key = (tuple(r[d] for d in down), r[across] if across else "")
            if key in grid:
                raise SiteError(f"{where}: part {capped(part)}, table {capped(name)}: two rows for the same "
                                f"figure ({', '.join(f'{d}={r[d]!r}' for d in used) or 'the total'})")
            grid[key] = r["value"] if r["value"] != "" else r["marker"]
        keys = sorted({k[0] for k in grid}, key=lambda k: tuple(ranks[d][k[i]] for i, d in enumerate(down)))
        cols = sorted({k[1] for k in grid}, key=lambda c: ranks[across][c]) if across else [""]
        caption = f"{_human(part)}: {_human(name)}" + (f", by {' and '.join(_human(d).lower() for d in used)}"
                                                       if used else "")
        parts.setdefault(part, []).append(Table(
            id=f"t{n + 1}", part=part, name=name, caption=caption,
            corner=tuple(_human(d) for d in down) or ("",),
            columns=tuple({"label": (c or "Total") if across else "Figure", "total": across is not None and c == ""}
                          for c in cols),
            rows=tuple({"heads": tuple(v or "Total" for v in k) or ("Total",), "total": "" in k,
                        "cells": tuple(grid.get((k, c), "") for c in cols)} for k in keys)))
    return tuple({"name": p, "title": _human(p), "tables": ts} for p, ts in parts.items())


def read_response(folder: Path) -> Response:
    """A published report folder as the site shows it, or a SiteError naming the folder and what is wrong."""
    ref = _plain(folder.name, "the folder name", str(folder))
    if folder.is_symlink() or not folder.is_dir():
        raise SiteError(f"{folder}: is a symlink or not a folder; a report is read only as itself")
    for name in (*COPIED, MANIFEST):
        if (folder / name).is_symlink():
            raise SiteError(f"{folder / name}: is a symlink; a report's files are read only as themselves")
    try:
        entry = read_report_entry(folder)  # the ledger's reader: published (reviewed) reports only
    except ParamsError as exc:
        raise SiteError(f"{folder}: cannot be read as a published report ({capped_text(exc)})") from None
    _plain(entry.dataset, "the dataset", str(folder / "cells.json"))
    try:
        published = datetime.fromisoformat(entry.published_at)
    except ValueError:
        raise SiteError(f"{folder / MANIFEST}: review.published_at {capped(entry.published_at)} is not an ISO "
                        "date and time") from None
    if published.tzinfo is None:
        raise SiteError(f"{folder / MANIFEST}: review.published_at {capped(entry.published_at)} has no time zone")
    review = _json(folder / MANIFEST).get("review") or {}
    supersedes = review.get("supersedes") if isinstance(review, dict) else None
    if supersedes is not None:
        supersedes = _plain(supersedes, "review.supersedes", str(folder / MANIFEST))
    meta = _json(folder / PUBLISHED_CSVW)
    if not isinstance(meta, dict):
        raise SiteError(f"{folder / PUBLISHED_CSVW}: is not a JSON object")
    columns = (meta.get("tableSchema") or {}).get("columns") or []
    marker = next((c for c in columns if isinstance(c, dict) and c.get("name") == "marker"), {})
    note = _text(marker.get("dc:description"), f"{folder / PUBLISHED_CSVW}: marker: dc:description")
    rows = _published_csv(folder / PUBLISHED_CSV)
    starts: dict[str, Any] = {}
    for p in entry.parts:
        for label, intervals in p.periods.items():
            starts[label] = min([starts.get(label, intervals[0][0]), *(s for s, _ in intervals)])
    periods = tuple(sorted(starts, key=lambda label: (starts[label], label)))  # in time order
    return Response(
        ref=ref, title=_text(meta.get("dc:title"), f"{folder / PUBLISHED_CSVW}: dc:title", ref),
        publisher=_text(meta.get("dc:publisher"), f"{folder / PUBLISHED_CSVW}: dc:publisher", "the publisher"),
        published_at=published.isoformat(), dataset=entry.dataset, periods=periods, entry=entry,
        files=tuple(n for n in COPIED if (folder / n).exists()),
        parts=_tables(rows, {p.part: p.period_dim for p in entry.parts}, folder / PUBLISHED_CSV),
        marker_note=note.split(". ", 1)[1] if note.startswith("Why the figure is withheld") and ". " in note
        else note, supersedes=supersedes, folder=folder)


def read_responses(reports: Path) -> list[Response]:
    """Every published report under ``reports``, newest first; a folder that is not one is refused, never
    skipped (a site without it would silently omit a response). Hidden folders (.failures) are not reports."""
    if reports.is_symlink() or not reports.is_dir():
        raise SiteError(f"{reports}: is not a folder of reports (or is a symlink)")
    found = [read_response(p) for p in sorted(reports.iterdir()) if not p.name.startswith(".")
             and (p.is_dir() or p.is_symlink())]
    by_ref = {r.ref: r for r in found}
    later = {r.supersedes: r.ref for r in found if r.supersedes in by_ref}
    out = [replace(r, superseded_by=later.get(r.ref)) for r in found]
    return sorted(out, key=lambda r: (r.published_at, r.ref), reverse=True)


# -- writing ---------------------------------------------------------------------------------------------------
def _size(n: int) -> str:
    return f"{n:,} bytes" if n < 10_000 else f"{n / 1024:,.0f} KB" if n < 10 * 2**20 else f"{n / 2**20:,.1f} MB"


def _csp(script: str | None) -> str:
    """The pages load nothing from anywhere: only their own inline style and script (by hash), and a response
    page's letter frame."""
    def digest(text: str) -> str:
        return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode()).digest()).decode() + "'"

    style = (TEMPLATES / "style.css").read_text(encoding="utf-8")
    scripts = f"script-src {digest(script)}" if script else "script-src 'none'"
    return (f"default-src 'none'; {scripts}; style-src {digest(style)}; frame-src 'self'; img-src 'none'; "
            "form-action 'self'; base-uri 'none'")


def _feed(responses: list[Response], site_title: str) -> bytes:
    """Atom (RFC 4287), newest first; ids are name-based UUIDs of the refs, links relative to the feed."""
    atom = "http://www.w3.org/2005/Atom"
    ET.register_namespace("", atom)

    def sub(parent: ET.Element, tag: str, text: str | None = None, **attrs: str) -> ET.Element:
        el = ET.SubElement(parent, f"{{{atom}}}{tag}", attrs)
        if text is not None:
            el.text = text
        return el

    root = ET.Element(f"{{{atom}}}feed")
    sub(root, "title", site_title)
    sub(root, "id", f"urn:uuid:{uuid.uuid5(uuid.NAMESPACE_URL, 'foikit:disclosure-log')}")
    sub(root, "updated", responses[0].published_at if responses else "1970-01-01T00:00:00+00:00")
    sub(root, "link", href="index.html", rel="alternate", type="text/html")
    sub(root, "generator", "foikit")
    author = sub(root, "author")
    publishers = sorted({r.publisher for r in responses})
    sub(author, "name", publishers[0] if len(publishers) == 1 else "foikit disclosure log")
    for r in responses:
        entry = sub(root, "entry")
        sub(entry, "title", f"{r.ref}: {r.title}")
        sub(entry, "id", f"urn:uuid:{uuid.uuid5(uuid.NAMESPACE_URL, 'foikit:response:' + r.ref)}")
        sub(entry, "updated", r.published_at)
        sub(entry, "published", r.published_at)
        sub(entry, "link", href=f"responses/{r.ref}/index.html", rel="alternate", type="text/html")
        sub(sub(entry, "author"), "name", r.publisher)
        sub(entry, "summary", f"Dataset {r.dataset}; periods {', '.join(r.periods)}.")
    ET.indent(root)
    return ET.tostring(root, encoding="utf-8", xml_declaration=True) + b"\n"


def _dataset_rows(responses: list[Response], dataset: str) -> list[dict[str, Any]]:
    rows = []
    for r in sorted((r for r in responses if r.dataset == dataset), key=lambda r: (r.published_at, r.ref)):
        for p in r.entry.parts:
            first, end = p.span
            rows.append({"ref": r.ref, "title": r.title, "published_at": r.published_at,
                         "published_date": r.published_date, "part": p.part, "unit": p.unit,
                         "date_column": p.date_column, "periods": list(p.periods),
                         "first": first.isoformat(), "last": (end - timedelta(days=1)).isoformat(),
                         "cells": len(p.cells), "withheld": p.n_withheld})
    return rows


def _write_site(responses: list[Response], dest: Path) -> None:
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATES), autoescape=True,
                             undefined=jinja2.StrictUndefined, keep_trailing_newline=True)
    script = (TEMPLATES / "search.js").read_text(encoding="utf-8")
    publishers = sorted({r.publisher for r in responses})
    site_title = f"Disclosure log of {publishers[0]}" if len(publishers) == 1 else "Disclosure log"
    datasets = sorted({r.dataset for r in responses})
    # the style and script are foikit's own files (never a report's): inserted as they are, allowed by hash
    common = {"site_title": site_title, "datasets": datasets,
              "style": Markup((TEMPLATES / "style.css").read_text(encoding="utf-8"))}

    def page(path: Path, template: str, root: str, script_text: str | None = None, **context: Any) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        html = env.get_template(template).render(**common, **context, root=root, csp=_csp(script_text),
                                                 script=Markup(script_text or ""))
        path.write_text(html, encoding="utf-8", newline="\n")

    index = [{"ref": r.ref, "title": r.title, "dataset": r.dataset, "published": r.published_date,
              "periods": list(r.periods)} for r in responses]
    page(dest / "index.html", "index.html.j2", "", script, responses=responses, index=index)
    for r in responses:
        folder = dest / "responses" / r.ref
        folder.mkdir(parents=True)
        for name in r.files:
            shutil.copyfile(_regular(r.folder / name), folder / name)
        downloads = [{"name": n, "label": _LABELS[n], "size": _size((folder / n).stat().st_size)}
                     for n in _LABELS if n in r.files]
        view = {**r.__dict__, "published_date": r.published_date, "downloads": downloads,
                "letter": LETTER_HTML if LETTER_HTML in r.files else None}
        page(folder / "index.html", "response.html.j2", "../../", r=view)
    for d in datasets:
        rows = _dataset_rows(responses, d)
        periods = list(dict.fromkeys(label for row in rows for label in row["periods"]))
        page(dest / "datasets" / f"{d}.html", "dataset.html.j2", "../", name=d, rows=rows,
             n_responses=len({row["ref"] for row in rows}), periods=periods)
    (dest / "feed.xml").write_bytes(_feed(responses, site_title))
    (dest / MARKER).write_text(MARKER_TEXT, encoding="utf-8")


def _check_out(out: Path, reports: Path) -> None:
    """Refuse an --out that foikit may not replace: a symlink, a file, a folder holding anything but a site it
    built (an empty folder holds nothing to lose), or the reports folder or a folder inside it."""
    if out.is_symlink():
        raise SiteError(f"--out {out}: is a symlink; give the folder itself")
    resolved, base = out.resolve(), reports.resolve()
    if resolved == base or base in resolved.parents or resolved in base.parents:
        raise SiteError(f"--out {out}: is, holds or is inside the reports folder {reports}; give a folder of its own")
    if out.exists():
        if not out.is_dir():
            raise SiteError(f"--out {out}: exists and is not a folder; refusing to replace it")
        marker = out / MARKER
        made = (marker.is_file() and not marker.is_symlink() and marker.stat().st_size == len(MARKER_TEXT)
                and marker.read_text(encoding="utf-8", errors="replace") == MARKER_TEXT)
        if not made and any(out.iterdir()):
            raise SiteError(f"--out {out}: exists and is not a site made by foikit site (no {MARKER}); refusing to "
                            "replace it: give a new or empty folder, or the folder of an earlier site")


def build_site(reports: str | os.PathLike[str], out: str | os.PathLike[str],
               log: Callable[[str], None] | None = None) -> list[Response]:
    """Build the disclosure log of every published report under ``reports`` into ``out`` (replaced whole, only
    when it is a site foikit built); returns the responses, newest first."""
    reports, out = Path(reports), Path(out)
    _check_out(out, reports)
    responses = read_responses(reports)
    out.parent.mkdir(parents=True, exist_ok=True)
    build = Path(tempfile.mkdtemp(prefix=f".{out.name}.building-", dir=out.parent))
    try:
        _write_site(responses, build)
        build.chmod(0o755)  # mkdtemp's 0700 would hide the site from the web server's user
        if out.exists():
            old = Path(tempfile.mkdtemp(prefix=f".{out.name}.old-", dir=out.parent))
            out.rename(old / out.name)
            build.rename(out)
            shutil.rmtree(old)
        else:
            build.rename(out)
    finally:
        if build.exists():
            shutil.rmtree(build)
    if log:
        log(f"{out}: disclosure log of {len(responses)} responses written")
    return responses
