"""Layout at a phone's and a desktop's width (issue 15 item 5): in headless Chromium, the letter, the record and
the site's pages do not scroll sideways on a 390 px wide screen nor on a 1280 px one (a wide table may scroll in
a box of its own, the page may not), and a screenshot at each width renders at that size. A page made too wide
shows that the check can fail."""

from __future__ import annotations

import json
import shutil
import struct
from pathlib import Path

import pytest
from bs4 import BeautifulSoup

from foikit.cli import main

from .conftest import ROOT, chromium_dom
from .test_accessibility import CSP

WIDTHS = (390, 1280)  # a phone (iPhone 12 to 15) and a desktop, in CSS pixels
HEIGHT = 900
# Headless Chromium lays a window out at least 500 px wide, so the page is measured in a frame of the exact width,
# which posts the page's widths to the frame's parent (a file: page cannot read its frame's DOM).
MEASURE = """\
var d = document.documentElement;
parent.postMessage(JSON.stringify({scrollWidth: d.scrollWidth, clientWidth: d.clientWidth}), '*');
"""
FRAME = """<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>frame</title></head>
<body style="margin:0"><iframe src="{page}" title="page" style="border:0;width:{width}px;height:{height}px"></iframe>
<script>window.addEventListener('message', function (e) {{
  var pre = document.createElement('pre'); pre.id = 'layout-result'; pre.textContent = e.data;
  document.body.appendChild(pre); }});</script></body></html>
"""


def widths(page: Path, width: int, tmp_path: Path) -> dict:
    """The page's scrollWidth and clientWidth in a frame ``width`` px wide, measured on a copy beside it (its
    relative links still resolve) that runs :data:`MEASURE` when loaded; its Content-Security-Policy, if any, also
    allows scripts from 'self' (as in test_accessibility)."""
    html = CSP.sub(r"\1&#39;self&#39; ", page.read_text(encoding="utf-8"), count=1)
    assert html.count("</body>") == 1, page
    copy = page.with_name(f"layout-{page.name}")
    copy.write_text(html.replace("</body>", '<script src="layout-measure.js"></script></body>'), encoding="utf-8")
    page.with_name("layout-measure.js").write_text(MEASURE, encoding="utf-8")
    frame = page.with_name(f"frame-{width}-{page.name}")
    frame.write_text(FRAME.format(page=copy.name, width=width, height=HEIGHT), encoding="utf-8")
    dom = chromium_dom(frame.as_uri(), tmp_path / f"chromium-{width}", f"--window-size={width + 100},{HEIGHT + 100}",
                       "--hide-scrollbars", "--virtual-time-budget=10000")
    pre = BeautifulSoup(dom, "html.parser").find("pre", id="layout-result")
    assert pre is not None, f"{page} posted no widths at {width} px (blocked by its policy?)"
    return json.loads(pre.get_text())


def screenshot_size(page: Path, width: int, tmp_path: Path) -> tuple[int, int]:
    """The pixel size of Chromium's screenshot of ``page`` in a window ``width`` x HEIGHT (PNG's IHDR)."""
    shot = tmp_path / f"shot-{width}.png"
    chromium_dom(page.as_uri(), tmp_path / f"chromium-shot-{width}", f"--window-size={width},{HEIGHT}",
                 "--hide-scrollbars", f"--screenshot={shot}")
    data = shot.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR", shot
    return struct.unpack(">II", data[16:24])


@pytest.fixture(scope="module")
def pages(tmp_path_factory, built_report) -> dict[str, Path]:
    """Copies: the letter and the record of a fresh run of the example, and the site's index and response page
    built from the committed reports (which are never written)."""
    folder = tmp_path_factory.mktemp("screens")
    site = folder / "site"
    assert main(["site", str(ROOT / "reports"), "--out", str(site)]) == 0
    (folder / "letter").mkdir()
    (folder / "record").mkdir()
    shutil.copyfile(built_report / "letter.html", folder / "letter" / "letter.html")
    shutil.copyfile(built_report / "report.html", folder / "record" / "report.html")
    return {"letter": folder / "letter" / "letter.html", "record": folder / "record" / "report.html",
            "index": site / "index.html", "response": site / "responses" / "01.FOI.23.032341" / "index.html"}


@pytest.mark.parametrize("width", WIDTHS)
@pytest.mark.parametrize("name", ["letter", "record", "index", "response"])
def test_a_page_does_not_scroll_sideways(pages, name, width, tmp_path):
    measured = widths(pages[name], width, tmp_path)
    assert measured["clientWidth"] == width  # laid out at the width asked for (no scrollbar: --hide-scrollbars)
    assert measured["scrollWidth"] <= measured["clientWidth"], (name, width, measured)


@pytest.mark.parametrize("width", WIDTHS)
def test_a_screenshot_of_the_letter_renders_at_the_window_size(pages, width, tmp_path):
    assert screenshot_size(pages["letter"], width, tmp_path) == (width, HEIGHT)


def test_a_page_made_too_wide_is_found_to_scroll_sideways(pages, tmp_path):
    """The letter with a 600 px wide block in it: wider than a phone (390 px), narrower than a desktop."""
    page = tmp_path / "letter.html"
    html = pages["letter"].read_text(encoding="utf-8")
    assert html.count("<body>") == 1
    page.write_text(html.replace("<body>", '<body><svg width="600" height="10" aria-hidden="true"></svg>'),
                    encoding="utf-8")
    phone = widths(page, 390, tmp_path)
    assert phone["clientWidth"] == 390 and phone["scrollWidth"] > 390
    desktop = widths(page, 1280, tmp_path)
    assert desktop["scrollWidth"] == desktop["clientWidth"] == 1280
