"""`foikit run` end to end, plain papermill, and what happens to existing and failed reports."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
import yaml

from .conftest import EXAMPLE_PARAMS, EXAMPLE_REPORT, REVIEWER, ROOT, run_published
from .procs import work_left

REF = "01.FOI.23.032341"


def foikit(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "foikit.cli", *args], cwd=cwd, capture_output=True,
                          text=True, timeout=300)


@pytest.fixture(scope="module")
def fresh_report(tmp_path_factory) -> Path:
    reports = tmp_path_factory.mktemp("run") / "reports"
    done = run_published(EXAMPLE_PARAMS, reports)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [
        f"{reports.parent / 'drafts' / REF}: draft written (not published, not in the ledger); read its "
        f"report.html, then foikit publish {REF} --reviewer NAME --reports-dir {reports}",
        f"{reports / REF}: published, reviewed by {REVIEWER}; it is in the ledger"]
    # foikit's progress only: no kernel noise (jupyter's "Kernel is running over TCP without encryption")
    assert done.stderr.splitlines() == [f"running notebooks/conduct_allegations.ipynb for {REF}"], done.stderr
    return reports / REF


def test_run_writes_the_whole_report(fresh_report):
    assert sorted(p.name for p in fresh_report.iterdir()) == [
        "audit.json", "cells.json", "dictionary.yaml", "input.parquet", "ledger.json", "letter.docx",
        "letter.html", "manifest.json", "notebook.ipynb", "params.yaml", "published.csv",
        "published.csv-metadata.json", "report.html",
        "ro-crate-metadata.json",
        "signature.json", "tables.ods", "tables.xlsx", "witnesses.json",
    ]
    assert [p.name for p in fresh_report.parent.iterdir()] == [REF]  # no partial or failure left
    assert list((fresh_report.parent.parent / "drafts").iterdir()) == []  # the draft became the report
    assert work_left(fresh_report.parent.parent / ".foikit-work") == []


def test_run_reproduces_the_committed_example_byte_for_byte(fresh_report):
    for name in ("published.csv", "published.csv-metadata.json", "tables.xlsx", "audit.json", "letter.html",
                 "letter.docx", "cells.json"):
        assert (fresh_report / name).read_bytes() == (EXAMPLE_REPORT / name).read_bytes(), name
    # The record differs only in where this run was told to write (its output_dir parameter).
    for name in ("notebook.ipynb", "report.html"):
        new = (fresh_report / name).read_text().replace(f"{fresh_report.parent.parent}/", "")
        assert new == (EXAMPLE_REPORT / name).read_text(), name


def test_executed_notebook_records_parameters_and_outputs(fresh_report):
    nb = nbformat.read(fresh_report / "notebook.ipynb", as_version=4)
    injected = [c for c in nb.cells if "injected-parameters" in c.metadata.get("tags", [])]
    assert len(injected) == 1 and 'ref = "01.FOI.23.032341"' in injected[0].source
    assert nb.metadata.papermill.parameters["parts"][0]["years"] == [2020, 2022, 2023]
    assert "start_time" not in nb.metadata.papermill  # timings are not part of the record
    assert not any(o.get("output_type") == "error" for c in nb.cells for o in c.get("outputs", []))


def test_xlsx_holds_numbers_as_numbers_and_markers_as_text(fresh_report):
    from openpyxl import load_workbook

    wb = load_workbook(fresh_report / "tables.xlsx")
    assert wb.sheetnames[:5] == ["Cover", "Contents", "Notes", "domestic_abuse_by_year", "domestic_abuse_by_outcome"]
    assert len(wb.sheetnames) == 12
    ws = wb["indecent_exposure_by_outcome"]
    values = [c.value for row in ws.iter_rows() for c in row if c.value is not None]
    assert "[xx]" in values
    numbers = [v for v in values if isinstance(v, int)]
    assert numbers and not any(1 <= v <= 4 for v in numbers)
    assert ws["A1"].value.startswith("Officers investigated for indecent exposure")


def test_rerun_reports_reproduced_and_touches_nothing(fresh_report):
    before = {p.name: p.stat().st_mtime_ns for p in fresh_report.iterdir()}
    done = foikit("run", str(EXAMPLE_PARAMS), "--reports-dir", str(fresh_report.parent))
    assert done.returncode == 0, done.stderr
    assert "reproduced byte for byte" in done.stdout
    assert {p.name: p.stat().st_mtime_ns for p in fresh_report.iterdir()} == before


def test_a_differing_run_is_refused_unless_forced(tmp_path):
    reports = tmp_path / "reports"
    shutil.copytree(EXAMPLE_REPORT, reports / REF)
    raw = yaml.safe_load(EXAMPLE_PARAMS.read_text())
    raw["title"] = "Officers investigated for allegations of domestic abuse and of indecent exposure (corrected)"
    params = tmp_path / "p.yaml"
    params.write_text(yaml.safe_dump(raw), encoding="utf-8")

    refused = foikit("run", str(params), "--reports-dir", str(reports))
    assert refused.returncode == 1
    assert "differ; the earlier report is untouched" in refused.stderr
    assert (reports / REF / "published.csv").read_bytes() == (EXAMPLE_REPORT / "published.csv").read_bytes()
    assert sorted(p.name for p in reports.iterdir()) == [REF]

    assert not (tmp_path / "drafts").exists()  # no draft of a report that could not be published
    forced = run_published(params, reports, "--force")
    assert forced.returncode == 0, forced.stderr
    assert f"the earlier report is kept as {reports / REF}.v1 and stays in the ledger" in forced.stdout
    assert json.loads((reports / REF / "manifest.json").read_text())["review"]["supersedes"] == f"{REF}.v1"
    assert (reports / f"{REF}.v1" / "tables.xlsx").read_bytes() == (EXAMPLE_REPORT / "tables.xlsx").read_bytes()
    assert (reports / REF / "tables.xlsx").read_bytes() != (EXAMPLE_REPORT / "tables.xlsx").read_bytes()


def test_a_correction_that_would_disclose_with_the_superseded_report_is_refused(tmp_path):
    # What was published stays published: threshold 6 withholds counts of 5 that the superseded report shows,
    # and the correction would narrow counts that report already states to be 1 to 4 (e.g. 'Reduction in
    # rank' to [2, 4]), so --force refuses and writes nothing.
    reports = tmp_path / "reports"
    shutil.copytree(EXAMPLE_REPORT, reports / REF)
    raw = yaml.safe_load(EXAMPLE_PARAMS.read_text())
    raw["suppression"]["threshold"] = 6
    params = tmp_path / "p.yaml"
    params.write_text(yaml.safe_dump(raw), encoding="utf-8")
    forced = foikit("run", str(params), "--reports-dir", str(reports), "--force")
    assert forced.returncode == 1, forced.stderr
    assert f"that the earlier responses ({REF}.v1) already narrow would be narrowed further" in forced.stderr
    assert sorted(p.name for p in reports.iterdir()) == [REF]
    assert (reports / REF / "published.csv").read_bytes() == (EXAMPLE_REPORT / "published.csv").read_bytes()


def test_a_failing_template_keeps_its_notebook_and_writes_no_report(tmp_path):
    notebooks = tmp_path / "notebooks"
    notebooks.mkdir()
    nb = nbformat.read(ROOT / "notebooks" / "conduct_allegations.ipynb", as_version=4)
    nb.cells.insert(4, nbformat.v4.new_code_cell("raise RuntimeError('source system offline')"))
    nbformat.write(nb, notebooks / "conduct_allegations.ipynb")
    reports = tmp_path / "reports"

    done = foikit("run", str(EXAMPLE_PARAMS), "--reports-dir", str(reports), "--notebooks", str(notebooks))

    assert done.returncode == 1
    assert "RuntimeError: source system offline" in done.stderr.strip().splitlines()[-1]
    assert not (reports / REF).exists()
    kept = list((reports / ".failures").glob(f"{REF}-*.ipynb"))
    assert len(kept) == 1
    assert "source system offline" in kept[0].read_text()
    assert sorted(p.name for p in reports.iterdir()) == [".failures"]
    assert work_left(tmp_path / ".foikit-work") == []
    assert not (tmp_path / "drafts").exists()


def _plain_papermill(tmp_path, *extra: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "papermill", "notebooks/conduct_allegations.ipynb", str(tmp_path / "x.ipynb"),
         "-f", str(EXAMPLE_PARAMS), "-p", "output_dir", str(tmp_path / "out"), *extra, "--no-progress-bar"],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
    )


def test_plain_papermill_runs_the_template_on_the_params_file(tmp_path):
    (tmp_path / "reports").mkdir()  # the example was the first response from its dataset: nothing before it
    done = _plain_papermill(tmp_path, "-p", "ledger", str(tmp_path / "reports"))
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "out" / "published.csv").read_bytes() == (EXAMPLE_REPORT / "published.csv").read_bytes()


def test_plain_papermill_without_the_ledger_writes_nothing_publishable(tmp_path):
    done = _plain_papermill(tmp_path)
    assert done.returncode == 1
    assert "DisclosureError" in done.stderr and "was not checked against the disclosure ledger" in done.stderr
    assert not (tmp_path / "out").exists()


def test_template_defaults_run_on_the_embedded_data_and_write_nothing():
    nb = nbformat.read(ROOT / "notebooks" / "conduct_allegations.ipynb", as_version=4)
    params = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
    assert len(params) == 1 and "output_dir = None" in params[0].source
    last = nb.cells[-1].outputs[0]
    assert json.dumps(last).count("nothing written") == 1


def test_a_symlinked_reports_folder_is_refused_before_anything_is_written(tmp_path, monkeypatch, capsys):
    from foikit.cli import main

    elsewhere = tmp_path / "elsewhere" / "reports"
    elsewhere.mkdir(parents=True)
    project = tmp_path / "project"
    project.mkdir()
    (project / "reports").symlink_to(elsewhere, target_is_directory=True)
    monkeypatch.chdir(project)

    code = main(["run", str(EXAMPLE_PARAMS), "--reports-dir", "reports", "--force"])

    err = capsys.readouterr().err
    assert code == 1
    assert err == f"foikit: error: foikit run: reports_dir: reports is a symlink (to {str(elsewhere)!r}); refusing " \
        "to write through it: give the folder itself\n"
    assert [p.name for p in (tmp_path / "elsewhere").iterdir()] == ["reports"]  # no .foikit-work beside it
    assert list(elsewhere.iterdir()) == []
    assert [p.name for p in project.iterdir()] == ["reports"]


def test_a_symlinked_workspace_is_refused_before_anything_is_written(tmp_path, monkeypatch, capsys):
    from foikit.cli import main

    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (tmp_path / ".foikit-work").symlink_to(elsewhere, target_is_directory=True)
    monkeypatch.chdir(tmp_path)

    code = main(["run", str(EXAMPLE_PARAMS), "--reports-dir", "reports"])

    assert code == 1
    assert "'.foikit-work': " in capsys.readouterr().err
    assert list(elsewhere.iterdir()) == []
    assert sorted(p.name for p in tmp_path.iterdir()) == [".foikit-work", "elsewhere"]
