"""The publication gate of `foikit run`: the parent checks the files the kernel wrote, not an answer of its own.

The hand file (tests/conftest.py, threshold 3) gives, for domestic abuse by outcome and year: No case 5 and
1, Dismissed 1 and 2, Ongoing 0 and 1. The kernel's answer withholds No case 2020 as a secondary; published,
its 5 would give Dismissed 2020 away as 6 - 5 - 0 = 1.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

import nbformat
import pytest
import yaml

import foikit
from foikit.cube.engine import count_cube
from foikit.exceptions import DisclosureError
from foikit.ledger.store import Ledger
from foikit.run.gate import check_written

from .conftest import ROOT, hand_request, ods_with_number


@pytest.fixture
def written(hand_csv, tmp_path):
    """What a template writes for the hand request, and the parent's counts of its parts."""
    request = foikit.parse_request(hand_request(hand_csv))
    response = foikit.answer(request, ledger=Ledger())  # nothing published before it
    out = tmp_path / "out"
    foikit.write_publishable(response, out)
    cubes = [count_cube(response.data, part, f"parts.{i}") for i, part in enumerate(request.parts)]
    return out, request, response, cubes


def _csv_line(out, outcome: str, year: str) -> tuple[list[str], int]:
    lines = (out / "published.csv").read_text(encoding="utf-8").splitlines()
    at = next(i for i, line in enumerate(lines) if line.startswith(f"da,by_outcome,{outcome},{year},"))
    return lines, at


def test_the_files_as_written_pass_and_state_the_kernels_answer(written):
    out, request, response, cubes = written
    checked = check_written(out, request, response.data, cubes, ledger=Ledger())
    columns = ["table", *request.parts[0].dims, "value", "hidden", "marker", "shown"]
    assert checked.parts[0].cells[columns].astype(str).equals(response.parts[0].cells[columns].astype(str))
    assert checked.passed
    # read back from the file: No case 2020 is withheld with the secondary marker, its true count is 5
    cells = checked.parts[0].cells.set_index(["table", "outcome", "year"])
    assert cells.loc[("by_outcome", "No case", "2020"), ["value", "shown"]].tolist() == [5, "[c]"]


def test_a_secondary_published_by_the_template_is_refused_by_the_audit(written):
    out, request, response, cubes = written
    lines, at = _csv_line(out, "No case", "2020")
    assert lines[at].endswith(",,[c]")
    lines[at] = lines[at].removesuffix(",,[c]") + ",5,"
    (out / "published.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    with pytest.raises(DisclosureError) as refused:
        check_written(out, request, response.data, cubes, ledger=Ledger())
    first = str(refused.value).splitlines()[0]
    assert first.startswith("disclosure audit failed for ")
    assert "da.by_outcome[outcome=Dismissed, year=2020]: derivable range [1, 1]" in first


def test_a_figure_that_is_not_its_count_is_refused(written):
    out, request, response, cubes = written
    lines, at = _csv_line(out, "No case", "")
    assert lines[at].endswith(",6,")
    lines[at] = lines[at].removesuffix(",6,") + ",7,"
    (out / "published.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    with pytest.raises(DisclosureError, match=rf"^leak check: published\.csv: .*line {at + 1} .*shows 7, which is "
                                              "not its count"):
        check_written(out, request, response.data, cubes, ledger=Ledger())


def test_a_ledger_entry_that_misstates_the_report_is_refused(written):
    out, request, response, cubes = written
    entry = json.loads((out / "cells.json").read_text(encoding="utf-8"))
    cell = next(c for c in entry["parts"][0]["cells"] if c["shown"] == "[c]")
    cell["shown"], cell["lower"], cell["upper"] = "[x]", 1, 2
    (out / "cells.json").write_text(json.dumps(entry, indent=1) + "\n", encoding="utf-8")
    with pytest.raises(DisclosureError, match=r"^leak check: cells\.json: is not the ledger entry of what "):
        check_written(out, request, response.data, cubes, ledger=Ledger())


def test_an_audit_record_that_states_another_verdict_is_refused(written):
    out, request, response, cubes = written
    record = json.loads((out / "audit.json").read_text(encoding="utf-8"))
    record["parts"][0]["withheld_cells"].pop()
    (out / "audit.json").write_text(json.dumps(record, indent=1) + "\n", encoding="utf-8")
    with pytest.raises(DisclosureError, match=r"^leak check: audit\.json: does not state the verdict"):
        check_written(out, request, response.data, cubes, ledger=Ledger())


def test_a_withheld_cell_shown_as_a_number_in_the_ods_is_refused(written):
    out, request, response, cubes = written
    (out / "tables.ods").write_bytes(ods_with_number((out / "tables.ods").read_bytes(), "[c]", 5))
    with pytest.raises(DisclosureError, match=r"^leak check: tables\.ods: .*shows 5 where its marker should be"):
        check_written(out, request, response.data, cubes, ledger=Ledger())


def test_foikit_run_refuses_what_its_template_published_and_writes_nothing(tmp_path, hand_params):
    # a template that overwrites published.csv after writing the files: the gate reads what it wrote
    notebooks = tmp_path / "notebooks"
    notebooks.mkdir()
    nb = nbformat.read(ROOT / "notebooks" / "conduct_allegations.ipynb", as_version=4)
    nb.cells.append(nbformat.v4.new_code_cell(
        "p = Path(output_dir) / 'published.csv'\n"
        "p.write_text(p.read_text().replace('da,by_outcome,No case,2020,,,,[c]', "
        "'da,by_outcome,No case,2020,,,5,'))"))
    nbformat.write(nb, notebooks / "conduct_allegations.ipynb")
    raw = yaml.safe_load(hand_params.read_text())
    assert raw["ref"] == "01.FOI.99.000001"
    reports = tmp_path / "reports"
    done = subprocess.run([sys.executable, "-m", "foikit.cli", "run", str(hand_params), "--reports-dir",
                           str(reports), "--notebooks", str(notebooks)], cwd=ROOT, capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 1
    error = next(line for line in done.stderr.splitlines() if line.startswith("foikit: error: "))
    assert error.startswith("foikit: error: disclosure audit failed for ")
    assert "derivable range [1, 1]" in error
    assert not (reports / raw["ref"]).exists()
    shutil.rmtree(tmp_path / ".foikit-work", ignore_errors=True)
