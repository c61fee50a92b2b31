"""Params are data, never code: quotes, newlines, backslashes, Python and template syntax, very long and
non-ASCII text reach the template's kernel as the same literal values, and nothing in them runs."""

from __future__ import annotations

import ast
import re

import nbformat
import pytest
import yaml

from .procs import REF, make_project, run

PAYLOAD = "\"); __import__('os').system('touch PWNED'); (\""
HOSTILE = {
    "title": "Quotes \" ' \"\"\" ''' and a backslash \\ and \\n (not a newline)\nand a real one",
    "request_text": f"{PAYLOAD}\n{{{{ 7*7 }}}} {{% raw %}} <script>alert(1)</script> $(touch PWNED2) `id`\n"
                    "Zoë \u2013 警察 \u2013 ✓ \u2013 \u202eRTL\u202c \u2013 \U0001f46e\n"
                    "Long " + "x" * 20_000 + " end",  # within the 30,000 characters a request text may have
    "organisation": "Long " + "y" * 900 + " end",  # within the 1,000 of a one-line text
}
PART_TITLE = "__import__('os').system('touch PWNED3')"
TABLE_TITLE = "'''; import os; os.system('touch PWNED4'); '''"
MARKERS = {"marker": "«x»", "secondary": {"marker": "[c'\"\\]", "note": "withheld; \"quoted\" \\ note"}}


@pytest.fixture(scope="module")
def hostile_run(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("hostile")
    project = make_project(tmp, **HOSTILE)
    params = project / "params" / f"{REF}.yaml"
    raw = yaml.safe_load(params.read_text(encoding="utf-8"))
    raw["parts"][0]["title"] = PART_TITLE
    raw["parts"][0]["tables"][0]["title"] = TABLE_TITLE
    raw["suppression"].update(MARKERS)
    params.write_text(yaml.safe_dump(raw, allow_unicode=True), encoding="utf-8")
    done = run(project)
    assert done.returncode == 0, done.stderr
    return project, raw


def test_nothing_in_the_params_ran(hostile_run):
    project, _ = hostile_run
    assert not [p for p in project.rglob("PWNED*")]


def test_the_injected_cell_holds_the_same_literal_values(hostile_run):
    project, raw = hostile_run
    nb = nbformat.read(project / "drafts" / REF / "notebook.ipynb", as_version=4)
    cell = next(c for c in nb.cells if "injected-parameters" in c.metadata.get("tags", []))
    assigned = {node.targets[0].id: ast.literal_eval(node.value)  # literals only: never evaluated as code
                for node in ast.parse(cell.source).body if isinstance(node, ast.Assign)}
    for key in ("title", "request_text", "organisation", "suppression"):
        assert assigned[key] == (raw[key] if key != "suppression" else assigned[key]), key
    assert assigned["parts"][0]["title"] == PART_TITLE
    assert assigned["parts"][0]["tables"][0]["title"] == TABLE_TITLE
    assert assigned["suppression"]["marker"] == MARKERS["marker"]
    assert assigned["suppression"]["secondary"]["marker"] == MARKERS["secondary"]["marker"]


def test_the_kernel_saw_the_same_values(hostile_run):
    """What the kernel's parsed request printed (show_request's YAML) is what the params said."""
    project, raw = hostile_run
    nb = nbformat.read(project / "drafts" / REF / "notebook.ipynb", as_version=4)
    shown = next(o["data"]["text/markdown"] for c in nb.cells for o in c.get("outputs", [])
                 if "text/markdown" in o.get("data", {}) and "```yaml" in o["data"]["text/markdown"])
    seen = yaml.safe_load(re.search(r"```yaml\n(.*)\n```", shown, re.S).group(1))
    for key in HOSTILE:
        assert seen[key] == raw[key], key
    assert seen["parts"][0]["title"] == PART_TITLE
    assert seen["parts"][0]["tables"][0]["title"] == TABLE_TITLE
    assert seen["suppression"]["marker"] == MARKERS["marker"]
    assert seen["suppression"]["secondary"] == {**seen["suppression"]["secondary"], **MARKERS["secondary"]}


def test_the_letter_shows_the_text_escaped_not_interpreted(hostile_run):
    project, _ = hostile_run
    html = (project / "drafts" / REF / "letter.html").read_text(encoding="utf-8")
    assert "<script>alert(1)</script>" not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "{{ 7*7 }}" in html  # not rendered by the letter's template engine
    assert "Zoë \u2013 警察 \u2013 ✓" in html and "x" * 20_000 in html
