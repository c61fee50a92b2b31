"""Progress on long work: `foikit run` and `foikit publish` say each step on a terminal (FOIKIT_PROGRESS=1
forces it, as a terminal would); `--quiet` prints only the result; a CI log (no terminal) keeps the one-line
messages only (tests/test_run.py checks that stderr is just the 'running' line)."""

from __future__ import annotations

import subprocess
import sys

from .conftest import REVIEWER
from .procs import REF, env, make_project, run


def test_a_run_and_its_publication_show_each_step(tmp_path, monkeypatch):
    project = make_project(tmp_path)
    monkeypatch.setenv("FOIKIT_PROGRESS", "1")
    done = run(project)
    assert done.returncode == 0, done.stderr
    said = [line for line in done.stderr.splitlines() if line.startswith("foikit: ") or line.startswith("running")]
    assert said == [
        f"foikit: opening {project / 'cases.csv'}",
        "foikit: counting part 1 of 1: da",
        "foikit: reading the ledger: what was published from cases",
        "foikit: 0 earlier responses over cases to audit against",
        f"running notebooks/conduct_allegations.ipynb for {REF}",
        "foikit: checking the files the template wrote (the gate)",
        "foikit: writing the record: report.html, the RO-Crate and the manifest",
    ], done.stderr
    assert "Executing" in done.stderr  # papermill's bar over the template's cells
    published = subprocess.run([sys.executable, "-m", "foikit.cli", "publish", REF, "--reviewer", REVIEWER],
                               cwd=project, env=env(), capture_output=True, text=True, timeout=300)
    assert published.returncode == 0, published.stderr
    assert published.stderr.splitlines() == [
        f"foikit: checking drafts/{REF}: its files, and the gate again",
        f"foikit: checking the ledger has not changed since the draft, then signing and moving it to reports/{REF}",
    ]


def test_quiet_prints_only_the_result(tmp_path, monkeypatch):
    project = make_project(tmp_path)
    monkeypatch.setenv("FOIKIT_PROGRESS", "1")  # even where progress would show
    done = run(project, "--quiet")
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
    assert done.stdout.startswith(f"drafts/{REF}: draft written")
