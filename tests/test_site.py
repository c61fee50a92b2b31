"""`foikit site`: the disclosure log built from the committed reports, read back with BeautifulSoup (and opened in
headless Chromium): every published response once, its figures as published.csv gives them, links that resolve,
nothing of the internal record, report text shown as text, the same bytes twice, and --out folders refused."""

from __future__ import annotations

import csv
import hashlib
import itertools
import json
import re
import shutil
import xml.etree.ElementTree as ET
from datetime import date, timedelta
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest
from bs4 import BeautifulSoup

from foikit.cli import main
from foikit.publish import site
from foikit.publish.site import SiteError, build_site

from .conftest import ROOT, chromium_dom

REPORTS = ROOT / "reports"
ATOM = "{http://www.w3.org/2005/Atom}"
# what the internal record is called: none of these names may appear in a file of the site
INTERNAL_NAMES = ("report.html", "notebook.ipynb", "input.parquet", "params.yaml", "manifest.json", "ledger.json",
                  "signature.json", "dictionary.yaml", "ro-crate-metadata.json")
PUBLIC = {"published.csv", "published.csv-metadata.json", "tables.xlsx", "tables.ods", "audit.json", "letter.html",
          "letter.docx", "cells.json", "witnesses.json"}


def published_reports() -> dict[str, dict]:
    """ref -> manifest, of every committed report that records a review (read here, not through foikit)."""
    out = {}
    for folder in sorted(REPORTS.iterdir()):
        manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
        if (manifest.get("review") or {}).get("reviewer"):
            out[folder.name] = manifest
    return out


def soup(path: Path) -> BeautifulSoup:
    return BeautifulSoup(path.read_text(encoding="utf-8"), "html.parser")


def words(text: str) -> str:
    return " ".join(text.split())


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("site") / "site"
    assert main(["site", str(REPORTS), "--out", str(out)]) == 0
    return out


def test_every_published_response_is_listed_once_in_the_index_and_the_feed_newest_first(built):
    reports = published_reports()
    assert len(reports) == 6
    index = soup(built / "index.html")
    rows = index.select("#responses tbody tr")
    assert sorted(r["data-ref"] for r in rows) == sorted(reports)
    newest_first = sorted(reports, key=lambda ref: (reports[ref]["review"]["published_at"], ref), reverse=True)
    assert [r["data-ref"] for r in rows] == newest_first
    for row in rows:
        ref = row["data-ref"]
        cells = [words(c.get_text(" ")) for c in row.find_all(["th", "td"])]
        meta = json.loads((REPORTS / ref / "published.csv-metadata.json").read_text(encoding="utf-8"))
        cells_json = json.loads((REPORTS / ref / "cells.json").read_text(encoding="utf-8"))
        assert cells[0] == ref
        assert cells[1] == words(meta["dc:title"])
        assert cells[2] == reports[ref]["review"]["published_at"][:10]
        assert cells[3] == cells_json["dataset"]
        labels = {label for p in cells_json["parts"] for label in p["periods"]["labels"]}
        assert set(cells[4].split(", ")) == labels
        assert row.find("a")["href"] == f"responses/{ref}/index.html"
    # each ref links to its page exactly once on the index
    for ref in reports:
        assert len(index.find_all("a", href=f"responses/{ref}/index.html")) == 1
    embedded = json.loads(index.find("script", id="index-data").string)
    assert [e["ref"] for e in embedded] == newest_first

    feed = ET.parse(built / "feed.xml").getroot()
    assert feed.tag == f"{ATOM}feed"
    entries = feed.findall(f"{ATOM}entry")
    assert [e.find(f"{ATOM}title").text.split(":")[0] for e in entries] == newest_first
    assert feed.find(f"{ATOM}updated").text == reports[newest_first[0]]["review"]["published_at"]
    for e, ref in zip(entries, newest_first, strict=True):
        assert e.find(f"{ATOM}updated").text == reports[ref]["review"]["published_at"]
        assert e.find(f"{ATOM}link").get("href") == f"responses/{ref}/index.html"
        assert e.find(f"{ATOM}id").text.startswith("urn:uuid:")
        assert e.find(f"{ATOM}author/{ATOM}name").text
    assert len({e.find(f"{ATOM}id").text for e in entries}) == len(entries)  # ids unique


def test_each_response_page_has_every_figure_of_its_published_csv(built):
    for ref in published_reports():
        with (REPORTS / ref / "published.csv").open(newline="", encoding="utf-8") as f:
            rows = list(csv.DictReader(f))
        dims = [c for c in rows[0] if c not in ("part", "table", "value", "marker")]
        page = soup(built / "responses" / ref / "index.html")
        groups: dict[tuple[str, str], list[dict]] = {}
        for r in rows:
            groups.setdefault((r["part"], r["table"]), []).append(r)
        assert len(page.select("main table")) == len(groups), ref
        for (part, table), group in groups.items():
            el = page.find("table", attrs={"data-part": part, "data-table": table})
            assert el is not None, (ref, part, table)
            assert el.caption and el.caption.get_text(strip=True), (ref, table)
            header = [words(th.get_text()) for th in el.thead.find_all("th")]
            body = el.tbody.find_all("tr")
            n_heads = len(body[0].find_all("th"))
            columns = header[n_heads:]
            # every figure, found by its labels (row headers and column header, 'Total' for a summed breakdown)
            grid = {}
            for tr in body:
                heads = [words(th.get_text()) for th in tr.find_all("th")]
                for label, td in zip(columns, tr.find_all("td"), strict=True):
                    key = tuple(sorted([*heads, *([] if label == "Figure" else [label])]))
                    grid[key] = words(td.get_text())
            used = [d for d in dims if any(r[d] for r in group)]
            expected = {tuple(sorted(r[d] or "Total" for d in used)) or ("Total",): r["value"] or r["marker"]
                        for r in group}
            assert grid == expected, (ref, part, table)
        # th scope everywhere
        assert all(th.get("scope") in ("col", "row") for th in page.find_all("th")), ref


def test_downloads_are_the_published_files_byte_for_byte_and_nothing_internal_reaches_the_site(built):
    reports = published_reports()
    files = sorted(p for p in built.rglob("*") if p.is_file())
    for path in files:
        rel = path.relative_to(built)
        if rel.parts[0] == "responses":
            assert len(rel.parts) == 3 and rel.parts[1] in reports, rel
            if rel.name != "index.html":
                assert rel.name in PUBLIC, rel
                assert path.read_bytes() == (REPORTS / rel.parts[1] / rel.name).read_bytes(), rel
        else:
            assert str(rel) in {"index.html", "feed.xml", ".foikit-site"} or (
                rel.parts[0] == "datasets" and rel.suffix == ".html"), rel
    for ref in reports:
        for name in PUBLIC:
            if (REPORTS / ref / name).exists():
                assert (built / "responses" / ref / name).is_file(), (ref, name)
    # no internal name, and no value only the internal record holds, in any file of the site
    secrets = {name.encode() for name in INTERNAL_NAMES}
    for manifest in reports.values():
        secrets |= {manifest["inputs"]["data"]["extract_sha256"].encode(), manifest["git"]["commit"].encode(),
                    manifest["inputs"]["params"]["sha256"].encode(), manifest["outputs"]["report.html"].encode(),
                    manifest["review"]["reviewer"].encode(), manifest["inputs"]["template"]["path"].encode()}
    for path in files:
        data = path.read_bytes()
        assert [s for s in secrets if s in data] == [], path.relative_to(built)


def _targets(page: Path) -> list[str]:
    tree = soup(page)
    return ([a["href"] for a in tree.find_all("a", href=True)] + [f["src"] for f in tree.find_all("iframe")]
            + [link["href"] for link in tree.find_all("link", href=True)]
            + [f["action"] for f in tree.find_all("form", action=True)])


def test_every_internal_link_resolves_to_a_file_of_the_site(built):
    pages = sorted(built.rglob("*.html"))
    checked = 0
    for page in pages:
        if page.name == "letter.html":  # the published letter itself, shown as it is
            continue
        for href in _targets(page):
            parts = urlsplit(href)
            assert not parts.scheme and not parts.netloc, (page, href)  # offline: nothing outside the site
            if parts.path == "":  # "#main"
                assert soup(page).find(id=parts.fragment), (page, href)
                continue
            target = (page.parent / unquote(parts.path)).resolve()
            assert target.is_file() and built.resolve() in target.parents, (page.relative_to(built), href)
            checked += 1
    feed = ET.parse(built / "feed.xml").getroot()
    for link in feed.iter(f"{ATOM}link"):
        assert (built / link.get("href")).is_file()
    assert checked > 100


def test_dataset_pages_list_what_was_published_from_each_and_for_which_periods(built):
    by_dataset: dict[str, dict[str, list[str]]] = {}
    for ref in published_reports():
        cells = json.loads((REPORTS / ref / "cells.json").read_text(encoding="utf-8"))
        for p in cells["parts"]:
            by_dataset.setdefault(cells["dataset"], {}).setdefault(ref, []).append(
                ", ".join(p["periods"]["labels"]))
    assert sorted(p.stem for p in (built / "datasets").iterdir()) == sorted(by_dataset)
    assert set(by_dataset) == {"conduct_allegations", "stop_search", "count_records"}
    for dataset, refs in by_dataset.items():
        page = soup(built / "datasets" / f"{dataset}.html")
        rows = page.select("main table tbody tr")
        seen: dict[str, list[str]] = {}
        for tr in rows:
            ref = tr.find("a")["href"].split("/")[2]
            cells = [words(td.get_text()) for td in tr.find_all("td")]
            title = json.loads((REPORTS / ref / "published.csv-metadata.json").read_text(encoding="utf-8"))["dc:title"]
            assert cells[0] == words(title)
            seen.setdefault(ref, []).append(cells[5])
        assert seen == refs, dataset


def test_pages_are_structured_for_assistive_technology(built):
    for page in sorted(built.rglob("index.html")) + sorted((built / "datasets").iterdir()):
        tree = soup(page)
        assert tree.html["lang"] == "en"
        for landmark in ("header", "nav", "main", "footer"):
            assert len(tree.find_all(landmark)) == 1, (page, landmark)
        assert len(tree.find_all("h1")) == 1, page
        levels = [int(h.name[1]) for h in tree.find_all(["h1", "h2", "h3", "h4", "h5", "h6"])]
        assert levels[0] == 1 and all(b <= a + 1 for a, b in itertools.pairwise(levels)), page
        for table in tree.find_all("table"):
            assert table.caption and table.caption.get_text(strip=True), page
            assert all(th.get("scope") in ("col", "row") for th in table.find_all("th")), page
        for a in tree.find_all("a"):
            assert a.get_text(strip=True), page  # every link says where it goes
        for label in tree.find_all("label"):
            assert tree.find(id=label["for"]), page
        # the letter's frame: titled, and sandboxed with no permission at all (bs4 reads sandbox as a token list)
        assert all(f.get("title") and f.has_attr("sandbox") and not f["sandbox"] for f in tree.find_all("iframe")), page
    css = (built / "index.html").read_text(encoding="utf-8")
    assert "a:focus" in css and "outline: 3px solid" in css  # a visible focus indicator


# -- untrusted report folders ------------------------------------------------------------------------------------
PAYLOAD = "<script>document.body.setAttribute('data-pwned','1')</script>\"><img src=x onerror=\"document.body." \
          "setAttribute('data-pwned','2')\">"
HOSTILE_REF = "01.FOI.24.000211"


@pytest.fixture
def hostile_reports(tmp_path) -> Path:
    """One committed report, copied, with the payload in every field the site reads: its title and publisher
    (CSVW metadata), a category and a part name (published.csv) and a period label (cells.json)."""
    reports = tmp_path / "reports"
    shutil.copytree(REPORTS / HOSTILE_REF, reports / HOSTILE_REF)
    folder = reports / HOSTILE_REF
    meta = json.loads((folder / "published.csv-metadata.json").read_text(encoding="utf-8"))
    meta["dc:title"] = f"Title {PAYLOAD}"
    meta["dc:publisher"] = f"Force {PAYLOAD}"
    (folder / "published.csv-metadata.json").write_text(json.dumps(meta), encoding="utf-8")
    text = (folder / "published.csv").read_text(encoding="utf-8")
    assert "No case to answer" in text
    with (folder / "published.csv").open(newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    for r in rows:
        r["outcome"] = r["outcome"].replace("No case to answer", f"Label {PAYLOAD}")
    with (folder / "published.csv").open("w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]), lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)

    def swap(value):
        if isinstance(value, dict):
            return {swap(k): swap(v) for k, v in value.items()}
        if isinstance(value, list):
            return [swap(v) for v in value]
        return f"Period {PAYLOAD}" if value == "2020" else value

    cells = json.loads((folder / "cells.json").read_text(encoding="utf-8"))
    (folder / "cells.json").write_text(json.dumps(swap(cells)), encoding="utf-8")
    return reports


def assert_inert(tree: BeautifulSoup, where: str) -> None:
    scripts = tree.find_all("script")
    assert all(s.get("type") == "application/json" or (s.get("id") is None and "URLSearchParams" in s.get_text())
               for s in scripts), where
    assert tree.find_all("img") == [], where
    assert [t.name for t in tree.find_all(attrs={"onerror": True})] == [], where
    assert [t.name for t in tree.find_all(attrs={"data-pwned": True})] == [], where


def test_a_hostile_report_is_shown_as_text(hostile_reports, tmp_path):
    out = tmp_path / "site"
    build_site(hostile_reports, out)
    index = soup(out / "index.html")
    row = index.select_one("#responses tbody tr")
    assert words(row.find_all("td")[0].get_text()) == words(f"Title {PAYLOAD}")
    assert words(f"Period {PAYLOAD}") in words(row.find_all("td")[3].get_text())
    assert json.loads(index.find("script", id="index-data").string)[0]["title"] == f"Title {PAYLOAD}"
    assert "<script>document" not in (out / "index.html").read_text(encoding="utf-8")
    page = soup(out / "responses" / HOSTILE_REF / "index.html")
    assert words(page.h1.get_text()) == words(f"Title {PAYLOAD}")
    assert words(f"Force {PAYLOAD}") in words(page.find("dl").get_text(" "))
    assert words(page.select_one("tbody th").get_text()) == words(f"Label {PAYLOAD}")
    dataset = soup(out / "datasets" / "conduct_allegations.html")
    assert words(f"Period {PAYLOAD}") in words(dataset.find("tbody").get_text(" "))
    for tree, where in ((index, "index"), (page, "response"), (dataset, "dataset")):
        assert_inert(tree, where)
    feed = ET.parse(out / "feed.xml").getroot()
    assert feed.find(f"{ATOM}entry/{ATOM}title").text == f"{HOSTILE_REF}: Title {PAYLOAD}"


@pytest.mark.parametrize("change, message", [
    ("dataset", "the dataset '../x' is not a plain name"),
    ("supersedes", "review.supersedes '../../etc' is not a plain name"),
    ("published_at", "review.published_at 'yesterday' is not an ISO date and time"),
    ("draft", "manifest.json records no reviewer"),
    ("symlink", "published.csv: is a symlink"),
])
def test_a_report_the_site_cannot_show_safely_is_refused_naming_it(hostile_reports, tmp_path, change, message):
    folder = hostile_reports / HOSTILE_REF
    manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    if change == "dataset":
        cells = json.loads((folder / "cells.json").read_text(encoding="utf-8"))
        cells["dataset"] = "../x"
        (folder / "cells.json").write_text(json.dumps(cells), encoding="utf-8")
    elif change == "symlink":
        (tmp_path / "elsewhere.csv").write_bytes((folder / "published.csv").read_bytes())
        (folder / "published.csv").unlink()
        (folder / "published.csv").symlink_to(tmp_path / "elsewhere.csv")
    else:
        if change == "supersedes":
            manifest["review"]["supersedes"] = "../../etc"
        elif change == "published_at":
            manifest["review"]["published_at"] = "yesterday"
        else:
            del manifest["review"]
        (folder / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    with pytest.raises(SiteError, match="^" + re.escape(str(folder))) as err:
        build_site(hostile_reports, tmp_path / "site")
    assert message in str(err.value)
    assert not (tmp_path / "site").exists()
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".site")] == []


def test_a_symlinked_or_oddly_named_report_folder_is_refused(tmp_path):
    reports = tmp_path / "reports"
    reports.mkdir()
    (reports / HOSTILE_REF).symlink_to(REPORTS / HOSTILE_REF)
    with pytest.raises(SiteError, match="is a symlink or not a folder"):
        build_site(reports, tmp_path / "site")
    (reports / HOSTILE_REF).unlink()
    shutil.copytree(REPORTS / HOSTILE_REF, reports / "<img src=x>")
    with pytest.raises(SiteError, match=r"the folder name '<img src=x>' is not a plain name"):
        build_site(reports, tmp_path / "site")
    assert not (tmp_path / "site").exists()


# -- the output folder -------------------------------------------------------------------------------------------
def tree_bytes(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def test_two_builds_are_byte_identical_and_a_rebuild_replaces_the_earlier_site_whole(built, tmp_path):
    again = tmp_path / "elsewhere" / "log"
    build_site(REPORTS, again)
    assert tree_bytes(again) == tree_bytes(built)
    (again / "stale.html").write_text("from an earlier build", encoding="utf-8")
    build_site(REPORTS, again)
    assert tree_bytes(again) == tree_bytes(built)
    assert sorted(p.name for p in again.parent.iterdir()) == ["log"]  # no temporary folder left beside it
    assert oct(again.stat().st_mode & 0o777) == "0o755"


def test_an_out_folder_that_is_not_a_foikit_site_is_refused_and_left_alone(tmp_path, capsys):
    out = tmp_path / "mine"
    out.mkdir()
    (out / "notes.txt").write_text("my own file", encoding="utf-8")
    assert main(["site", str(REPORTS), "--out", str(out)]) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"foikit: error: --out {out}: exists and is not a site made by foikit site") \
        and err.count("\n") == 1
    assert sorted(p.name for p in out.iterdir()) == ["notes.txt"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mine"]
    # a file, a symlink, and the reports folder itself are refused too
    (tmp_path / "file").write_text("x", encoding="utf-8")
    (tmp_path / "link").symlink_to(out)
    for bad, why in ((tmp_path / "file", "exists and is not a folder"), (tmp_path / "link", "is a symlink"),
                     (REPORTS, "the reports folder"), (REPORTS / "site", "the reports folder"),
                     (ROOT, "holds or is inside the reports folder")):
        with pytest.raises(SiteError, match=why):
            build_site(REPORTS, bad)
    assert not (REPORTS / "site").exists()
    # an empty folder holds nothing to lose: it becomes the site
    empty = tmp_path / "empty"
    empty.mkdir()
    build_site(REPORTS, empty)
    assert (empty / "index.html").is_file()


def test_an_interrupted_build_leaves_the_earlier_site_as_it_was(built, tmp_path, monkeypatch):
    out = tmp_path / "log"
    build_site(REPORTS, out)
    before = tree_bytes(out)

    def interrupted(*_args, **_kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(site, "_feed", interrupted)  # the last step but one: every page is written by then
    with pytest.raises(KeyboardInterrupt):
        build_site(REPORTS, out)
    assert tree_bytes(out) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["log"]


# -- in a real browser -------------------------------------------------------------------------------------------
def dump_dom(url: str, tmp_path: Path) -> BeautifulSoup:
    return BeautifulSoup(chromium_dom(url, tmp_path / "chromium"), "html.parser")


def shown(dom: BeautifulSoup) -> list[str]:
    return [tr["data-ref"] for tr in dom.select("#responses tbody tr") if not tr.has_attr("hidden")]


def test_the_index_filters_from_the_query_in_chromium(built, tmp_path):
    titles = {ref: json.loads((REPORTS / ref / "published.csv-metadata.json").read_text(encoding="utf-8"))
              ["dc:title"] for ref in published_reports()}
    datasets = {ref: json.loads((REPORTS / ref / "cells.json").read_text(encoding="utf-8"))["dataset"]
                for ref in titles}
    index = (built / "index.html").as_uri()

    dom = dump_dom(index + "?q=indecent+EXPOSURE", tmp_path)
    expected = {ref for ref, t in titles.items() if "indecent exposure" in t.lower()}
    assert set(shown(dom)) == expected == {"01.FOI.23.032341", "01.FOI.23.032341-financial-years",
                                           "01.FOI.23.032341-officers"}
    assert words(dom.find(id="count").get_text()) == "Showing 3 of 6 responses."

    dom = dump_dom(index + "?dataset=conduct_allegations&ref=24", tmp_path)
    assert shown(dom) == [ref for ref in shown(dump_dom(index, tmp_path))
                          if datasets[ref] == "conduct_allegations" and "24" in ref] == ["01.FOI.24.000211"]

    days = {ref: m["review"]["published_at"][:10] for ref, m in published_reports().items()}
    first, last = min(days.values()), max(days.values())
    before = (date.fromisoformat(first) - timedelta(days=1)).isoformat()
    dom = dump_dom(index + f"?to={before}", tmp_path)  # the day before the first example was published
    assert shown(dom) == []
    assert words(dom.find(id="count").get_text()) == "Showing 0 of 6 responses."
    assert len(shown(dump_dom(index + f"?from={first}&to={last}", tmp_path))) == 6
    on_first = {ref for ref, day in days.items() if day == first}
    assert set(shown(dump_dom(index + f"?from={first}&to={first}", tmp_path))) == on_first


def test_a_hostile_response_page_runs_nothing_in_chromium(hostile_reports, tmp_path):
    out = tmp_path / "site"
    build_site(hostile_reports, out)
    for page in (out / "index.html", out / "responses" / HOSTILE_REF / "index.html",
                 out / "datasets" / "conduct_allegations.html"):
        dom = dump_dom(page.as_uri() + "?q=Title", tmp_path)
        assert dom.body is not None and words(f"Title {PAYLOAD}") in words(dom.body.get_text(" ")), page.name
        assert_inert(dom, f"{page.name} in Chromium")
    dom = dump_dom((out / "responses" / HOSTILE_REF / "index.html").as_uri(), tmp_path)
    frame = dom.find("iframe", src="letter.html")
    assert frame is not None and frame.has_attr("sandbox") and not frame["sandbox"]
    assert words(f"Label {PAYLOAD}") in words(dom.find("table").get_text(" "))
