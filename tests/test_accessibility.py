"""Accessibility: axe-core (vendored in tests/vendor, see its README) run in headless Chromium on the pages the public
reads — the disclosure log's index, a response page, a dataset page, and a committed response letter — and on the
record of a fresh run of the example finds no violation of WCAG 2.0/2.1/2.2 at levels A and AA. A page with known
violations shows that the check can fail."""

from __future__ import annotations

import csv
import json
import re
import shutil
from pathlib import Path

import pandas as pd
import pytest
from bs4 import BeautifulSoup

from foikit.cli import main
from foikit.publish.a11y import scoped_headers
from foikit.publish.charts import chart_alt

from .conftest import ROOT, chromium_dom

VENDOR = Path(__file__).parent / "vendor"
TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa"]
# runs axe on the page as loaded and leaves the outcome in <pre id=axe-result> for --dump-dom; iframes are not
# entered (a response page frames its letter, which is checked on its own below)
RUNNER = """\
function axeResult(value) {
  var pre = document.createElement('pre');
  pre.id = 'axe-result';
  pre.textContent = JSON.stringify(value);
  document.body.appendChild(pre);
}
axe.run(document, {runOnly: {type: 'tag', values: TAGS}, iframes: false, resultTypes: ['violations']}).then(
  function (r) {
    axeResult({version: r.testEngine.version, passed: r.passes.map(function (p) { return p.id; }),
               violations: r.violations.map(function (v) {
                 return {id: v.id, impact: v.impact, targets: v.nodes.map(function (n) { return n.target; })};
               })});
  },
  function (e) { axeResult({error: String(e)}); });
""".replace("TAGS", json.dumps(TAGS))
CSP = re.compile(r'(<meta http-equiv="Content-Security-Policy" content="[^"]*?script-src )(&#39;none&#39;)?')


def vendored_version() -> str:
    match = re.match(r"/\*! axe v(\S+)", (VENDOR / "axe.min.js").read_text(encoding="utf-8"))
    assert match, "tests/vendor/axe.min.js does not start with axe-core's banner"
    return match[1]


def axe(page: Path, tmp_path: Path) -> dict:
    """axe's outcome on a copy of page (made beside it, so its relative links still resolve), with axe and the runner
    added as files before </body>. The site's Content-Security-Policy allows only its own hashed inline script:
    the copy (never the page) also allows scripts from 'self', so axe runs under the page's own style policy."""
    html = page.read_text(encoding="utf-8")
    html = CSP.sub(r"\1&#39;self&#39; ", html, count=1)
    assert html.count("</body>") == 1, page
    html = html.replace("</body>", '<script src="axe.min.js"></script><script src="axe-run.js"></script></body>')
    copy = page.with_name(f"axe-{page.name}")
    copy.write_text(html, encoding="utf-8")
    shutil.copyfile(VENDOR / "axe.min.js", page.with_name("axe.min.js"))
    page.with_name("axe-run.js").write_text(RUNNER, encoding="utf-8")
    # the virtual time budget lets the page (and axe's promises) settle before the DOM is dumped
    dom = chromium_dom(copy.as_uri(), tmp_path / "chromium", "--virtual-time-budget=10000")
    pre = BeautifulSoup(dom, "html.parser").find("pre", id="axe-result")
    assert pre is not None, f"axe left no result on {page} (blocked by the page's policy?)"
    result = json.loads(pre.get_text())
    assert "error" not in result, result
    assert result["version"] == vendored_version()
    return result


def violations(result: dict) -> dict[str, list]:
    return {v["id"]: v["targets"] for v in result["violations"]}


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("site") / "site"
    assert main(["site", str(ROOT / "reports"), "--out", str(out)]) == 0
    return out


@pytest.mark.parametrize("page", ["index.html", "responses/01.FOI.23.032341/index.html",
                                  "datasets/conduct_allegations.html"])
def test_a_page_of_the_disclosure_log_has_no_wcag_a_or_aa_violation(built, page, tmp_path):
    result = axe(built / page, tmp_path)
    assert violations(result) == {}
    # the rules that bear on these pages did run and pass (not a vacuous pass)
    assert {"html-has-lang", "document-title", "color-contrast", "link-name"} <= set(result["passed"]), page


def test_a_committed_response_letter_has_no_wcag_a_or_aa_violation(tmp_path):
    letter = tmp_path / "letter.html"  # a copy: the committed report is never written
    shutil.copyfile(ROOT / "reports" / "01.FOI.23.032341" / "letter.html", letter)
    result = axe(letter, tmp_path)
    assert violations(result) == {}
    assert {"html-has-lang", "document-title", "color-contrast", "td-headers-attr"} <= set(result["passed"])


def test_the_letter_of_a_fresh_run_has_no_wcag_a_or_aa_violation(built_report, tmp_path):
    """As the committed letter, with each table in a box of its own that scrolls on a narrow screen."""
    letter = tmp_path / "letter.html"
    shutil.copyfile(built_report / "letter.html", letter)
    result = axe(letter, tmp_path)
    assert violations(result) == {}
    assert {"aria-allowed-attr", "color-contrast", "td-headers-attr"} <= set(result["passed"])


def test_the_record_of_a_fresh_run_has_no_wcag_a_or_aa_violation(built_report, tmp_path):
    """The record (nbconvert's lab template with foikit's): its code, prompts, scrolling tables and charts."""
    record = tmp_path / "report.html"
    shutil.copyfile(built_report / "report.html", record)
    result = axe(record, tmp_path)
    assert violations(result) == {}
    assert {"html-has-lang", "document-title", "color-contrast", "image-alt", "scrollable-region-focusable",
            "th-has-data-cells"} <= set(result["passed"])


def test_each_chart_of_the_record_states_its_figures_as_alt_text(built_report):
    """The first chart (domestic abuse by year) says what published.csv publishes for that table: 120, 210 and 250
    in 2020, 2022 and 2023 (the grand total, 580, is not a bar)."""
    with (built_report / "published.csv").open(encoding="utf-8", newline="") as f:
        by_year = [r for r in csv.DictReader(f) if (r["part"], r["table"]) == ("domestic_abuse", "by_year")]
    assert [(r["year"], r["value"]) for r in by_year] == [("2020", "120"), ("2022", "210"), ("2023", "250"),
                                                         ("", "580")]
    images = BeautifulSoup((built_report / "report.html").read_text(encoding="utf-8"), "html.parser")("img")
    assert len(images) == 9  # one chart per table: 5 tables of domestic abuse, 4 of indecent exposure
    assert images[0]["alt"] == "Bar chart, By year. Total: 2020 120, 2022 210, 2023 250."
    assert all(img["alt"].startswith("Bar chart, By ") for img in images)


def test_a_withheld_bar_is_told_by_its_marker_never_its_value():
    table = pd.DataFrame({"2020": ["5", "[x]", "7"], "2021": ["3", "4", "7"]}, index=["A", "B", "Total"])
    assert chart_alt(table, "T") == "Bar chart, T. A: 2020 5, 2021 3; B: 2020 [x] (withheld), 2021 4."
    assert chart_alt(table[["2020"]], "T") == "Bar chart, T. A: 5; B: [x] (withheld)."


def test_each_table_header_gets_the_scope_of_what_it_heads():
    html = ('<table><thead><tr><th colspan="2">year</th><th>x</th></tr></thead><tbody><tr><th rowspan="2">A</th>'
            '<th>a</th><td>1</td></tr><tr><th scope="col">kept</th><td>2</td></tr></tbody></table>')
    scopes = [(th.get_text(), th["scope"]) for th in BeautifulSoup(scoped_headers(html), "html.parser")("th")]
    assert scopes == [("year", "colgroup"), ("x", "col"), ("A", "rowgroup"), ("a", "row"), ("kept", "col")]
    # nothing else changes
    assert re.sub(r' scope="(col|row)(group)?"', "", scoped_headers(html)) == html.replace(' scope="col"', "")


def test_axe_finds_the_violations_put_into_a_page_of_the_log(built, tmp_path):
    """The index without its language, with an image that has no text alternative, and grey text on white (#aaa
    on #fff is 2.32:1, under AA's 4.5:1) — in the site's own CSS, so the page's styles are what axe measures."""
    page = tmp_path / "site" / "index.html"
    shutil.copytree(built, page.parent)
    html = page.read_text(encoding="utf-8")
    html = html.replace('<html lang="en">', "<html>", 1)
    html = html.replace('<main id="main">', '<main id="main"><img src="chart.png"><p class="faint">Faint</p>', 1)
    style = re.search(r"<style>(.*?)</style>", html, re.S)
    assert style is not None
    faint = style[1] + "\n.faint { color: #aaa; background: #fff; }\n"
    html = html.replace(style[0], f"<style>{faint}</style>")
    # the site allows its style by hash: the changed style is allowed here as inline
    html = re.sub(r"style-src &#39;sha256-[^&]*&#39;", "style-src &#39;unsafe-inline&#39;", html, count=1)
    page.write_text(html, encoding="utf-8")
    found = violations(axe(page, tmp_path))
    assert sorted(found) == ["color-contrast", "html-has-lang", "image-alt"]
    assert found["image-alt"] == [["img"]]
    assert found["color-contrast"] == [[".faint"]]
