"""The auditable record: manifest, snapshot, `foikit verify`, and reports that a killed run cannot touch."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import pandas as pd
import pytest
import yaml

from foikit.run.signing import load_key, sign_report
from foikit.run.verify import find_reports

from .conftest import EXAMPLE_PARAMS, EXAMPLE_REPORT, ROOT, run_published
from .procs import work_left

REF = "01.FOI.23.032341"


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def foikit(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "foikit.cli", *args], cwd=cwd, capture_output=True,
                          text=True, timeout=600)


def tree(folder: Path) -> dict[str, str]:
    """Every file under ``folder`` with its hash: to prove that nothing changed."""
    return {str(p.relative_to(folder)): sha(p) for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.mark.parametrize("report", find_reports(ROOT / "reports"), ids=lambda p: p.name)
def test_every_committed_report_is_reproduced(report):
    done = foikit("verify", str(report.relative_to(ROOT)))
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.splitlines()[0] == f"{report.relative_to(ROOT)}: reproduced"


def test_manifest_records_inputs_outputs_versions_and_run():
    manifest = json.loads((EXAMPLE_REPORT / "manifest.json").read_text())
    inputs = manifest["inputs"]
    assert inputs["params"] == {"path": f"params/{REF}.yaml", "sha256": sha(EXAMPLE_PARAMS)}
    assert inputs["template"] == {"path": "notebooks/conduct_allegations.ipynb",
                                  "sha256": sha(ROOT / "notebooks" / "conduct_allegations.ipynb")}
    assert inputs["data"]["source_sha256"] == sha(ROOT / "foikit" / "data" / "conduct_allegations.csv")
    assert inputs["data"]["snapshot"] == "input.parquet"
    for name, digest in manifest["outputs"].items():
        assert sha(EXAMPLE_REPORT / name) == digest, name
    assert set(manifest["outputs"]) == {p.name for p in EXAMPLE_REPORT.iterdir()} - {"manifest.json",
                                                                                     "signature.json"}
    assert {"python", "foikit", "pandas", "papermill", "nbconvert", "nbclient", "ipykernel", "kernel"} <= \
        set(manifest["versions"])
    assert manifest["versions"]["kernel"] == "python3"
    assert len(manifest["git"]["commit"]) == 40 and isinstance(manifest["git"]["dirty"], bool)
    run = manifest["run"]
    assert run["started"] <= run["ended"] and run["duration_seconds"] > 0 and run["user"]
    assert manifest["suppression"]["threshold"] == 5
    assert "input.parquet" in manifest["internal_record"]["files"]


def test_snapshot_holds_the_extract_used_and_nothing_identifying():
    snapshot = pd.read_parquet(EXAMPLE_REPORT / "input.parquet")
    raw = pd.read_csv(ROOT / "foikit" / "data" / "conduct_allegations.csv", dtype=str, keep_default_na=False)
    year = raw["date_recorded"].str[:4]
    used = raw[((raw["allegation_category"] == "Domestic abuse") & year.isin(["2020", "2022", "2023"]))
               | ((raw["allegation_category"] == "Indecent exposure") & year.isin(["2020", "2021", "2022", "2023"]))]
    assert len(snapshot) == len(used)
    assert "officer_id" not in snapshot.columns and "case_ref" not in snapshot.columns
    pd.testing.assert_frame_equal(snapshot, used[list(snapshot.columns)].reset_index(drop=True))


def test_html_shows_the_provenance_block_at_its_top():
    html = (EXAMPLE_REPORT / "report.html").read_text()
    body = html[html.index("<body"):]
    top = body[:body.index("</section>")]  # the first section of the page, before any cell
    assert "INTERNAL RECORD" in top and "jp-Cell" not in top
    assert sha(EXAMPLE_PARAMS) in top and "papermill" in top and "threshold 5" in top


@pytest.fixture
def copied_report(tmp_path, built_report) -> Path:
    """A signed copy of the example report (built in tmp: the committed ones are signed by the lead's key)."""
    report = tmp_path / REF
    shutil.copytree(built_report, report)
    return report


def test_an_edited_published_cell_is_named(copied_report):
    path = copied_report / "published.csv"
    lines = path.read_text().splitlines()
    assert lines[1] == "domestic_abuse,by_year,2020,,,,,,120,"
    lines[1] = "domestic_abuse,by_year,2020,,,,,,121,"
    path.write_text("\n".join(lines) + "\n")
    done = foikit("verify", str(copied_report))
    assert done.returncode == 1
    assert f"{copied_report}/published.csv: tampered" in done.stdout
    assert "domestic_abuse/by_year[year=2020]: published 121, re-executed 120" in done.stdout


def test_an_edited_snapshot_byte_is_named(copied_report):
    path = copied_report / "input.parquet"
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    done = foikit("verify", str(copied_report))
    assert done.returncode == 1
    assert f"{copied_report}/input.parquet: tampered" in done.stdout


def test_an_edited_params_value_is_named_with_the_cells_it_changes(copied_report):
    path = copied_report / "params.yaml"
    path.write_text(path.read_text().replace("years: [2020, 2022, 2023]", "years: [2020, 2021, 2023]"))
    done = foikit("verify", str(copied_report))
    assert done.returncode == 1
    assert f"{copied_report}/params.yaml: tampered" in done.stdout
    assert "domestic_abuse/by_year[year=2022]: published 210, re-executed (absent)" in done.stdout


def test_a_changed_source_params_file_is_named(tmp_path, built_report):
    project = tmp_path / "project"
    for folder in ("params", "notebooks"):
        shutil.copytree(ROOT / folder, project / folder)
    shutil.copytree(built_report, project / "reports" / REF)
    params = project / "params" / f"{REF}.yaml"
    params.write_text(params.read_text().replace("threshold: 5 ", "threshold: 6 "))
    done = foikit("verify", f"reports/{REF}", cwd=project)
    assert done.returncode == 1
    assert f"params/{REF}.yaml: changed since the report was made" in done.stdout


def test_a_new_package_version_is_named_not_left_unexplained(copied_report, signing_key):
    path = copied_report / "manifest.json"
    manifest = json.loads(path.read_text())
    manifest["versions"]["foikit"] = "0.0.1"
    path.write_text(json.dumps(manifest))
    sign_report(copied_report, load_key(signing_key))  # a report signed when foikit was 0.0.1
    done = foikit("verify", str(copied_report))
    assert done.returncode == 0, done.stdout
    assert "note: foikit version changed since the report: 0.0.1 -> " in done.stdout


def test_no_snapshot_stores_only_the_hash_and_still_verifies(tmp_path):
    reports = tmp_path / "reports"
    done = run_published(EXAMPLE_PARAMS, reports, "--no-snapshot")
    assert done.returncode == 0, done.stderr
    report = reports / REF
    assert not (report / "input.parquet").exists()
    manifest = json.loads((report / "manifest.json").read_text())
    assert manifest["inputs"]["data"]["snapshot"] is None
    assert manifest["inputs"]["data"]["extract_sha256"] == \
        json.loads((EXAMPLE_REPORT / "manifest.json").read_text())["inputs"]["data"]["extract_sha256"]
    assert foikit("verify", str(report)).returncode == 0


def test_verify_all_in_parallel_prints_a_summary(tmp_path, built_report):
    reports = tmp_path / "reports"
    shutil.copytree(built_report, reports / REF)
    shutil.copytree(built_report, reports / "broken")
    (reports / "broken" / "tables.xlsx").unlink()
    done = foikit("verify", "--all", str(reports), "--jobs", "2")
    assert done.returncode == 1
    assert f"{reports / 'broken'}/tables.xlsx: missing" in done.stdout
    assert done.stdout.strip().splitlines()[-1] == "1 reproduced, 1 not reproduced"
    assert "verifying" in done.stderr  # the progress bar


def _slow_template(tmp_path: Path, seconds: int) -> Path:
    notebooks = tmp_path / "notebooks"
    notebooks.mkdir()
    nb = nbformat.read(ROOT / "notebooks" / "conduct_allegations.ipynb", as_version=4)
    nb.cells.insert(4, nbformat.v4.new_code_cell(f"import time\ntime.sleep({seconds})"))
    nbformat.write(nb, notebooks / "conduct_allegations.ipynb")
    return notebooks


def _start(tmp_path: Path, notebooks: Path, reports: Path) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "foikit.cli", "run", str(EXAMPLE_PARAMS), "--reports-dir",
                             str(reports), "--notebooks", str(notebooks), "--force"], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _wait_for_kernel(tmp_path: Path, proc: subprocess.Popen) -> None:
    notebook = tmp_path / ".foikit-work" / f"{REF}.partial" / "notebook.ipynb"
    deadline = time.monotonic() + 120
    while not notebook.exists():  # papermill writes it as soon as the kernel runs the first cell
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline
        time.sleep(0.2)
    time.sleep(1.0)


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGTERM], ids=["SIGKILL", "SIGTERM"])
def test_a_run_killed_midway_leaves_reports_exactly_as_they_were(tmp_path, sig):
    reports = tmp_path / "reports"
    shutil.copytree(EXAMPLE_REPORT, reports / REF)
    before = tree(reports)
    notebooks = _slow_template(tmp_path, 60)
    proc = _start(tmp_path, notebooks, reports)
    _wait_for_kernel(tmp_path, proc)
    os.kill(proc.pid, sig)
    proc.wait(timeout=60)
    assert proc.returncode != 0
    assert tree(reports) == before
    if sig == signal.SIGTERM:  # a catchable signal also cleans the workspace
        assert work_left(tmp_path / ".foikit-work") == []


def test_two_concurrent_runs_of_one_ref_one_wins_the_other_fails_clearly(tmp_path):
    reports = tmp_path / "reports"
    notebooks = _slow_template(tmp_path, 25)  # long enough that the second surely starts while it runs
    first = _start(tmp_path, notebooks, reports)
    _wait_for_kernel(tmp_path, first)
    second = _start(tmp_path, notebooks, reports)
    _, err2 = second.communicate(timeout=300)
    _, err1 = first.communicate(timeout=300)
    assert first.returncode == 0, err1
    assert second.returncode == 1
    assert f"another run of {REF} is in progress" in err2.strip().splitlines()[-1]
    assert sorted(p.name for p in (tmp_path / "drafts").iterdir()) == [REF]
    assert not reports.exists()


def test_after_a_killed_run_the_next_run_succeeds(tmp_path):
    reports = tmp_path / "reports"
    notebooks = _slow_template(tmp_path, 60)
    proc = _start(tmp_path, notebooks, reports)
    _wait_for_kernel(tmp_path, proc)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=60)
    done = foikit("run", str(EXAMPLE_PARAMS), "--reports-dir", str(reports))
    assert done.returncode == 0, done.stderr
    assert yaml.safe_load((tmp_path / "drafts" / REF / "params.yaml").read_text())["ref"] == REF
