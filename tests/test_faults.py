"""Faults during `foikit run`, each induced for real in a real process: a kernel killed mid-run, a cell that
outlives the execution timeout, a write refused by the operating system (RLIMIT_FSIZE), SIGTERM and SIGKILL
to the run. Each must end with a clear error, leave no partial report and no kernel process, and leave the
earlier reports byte for byte as they were."""

from __future__ import annotations

import os
import re
import resource
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import filelock
import pytest

from foikit.exceptions import ReportError
from foikit.run.execute import DEFAULT_CELL_TIMEOUT, cell_timeout, publication_lock_file

from .conftest import EXAMPLE_REPORT, REVIEWER, ROOT
from .procs import (
    REF,
    assert_no_kernel_left,
    env,
    kernels_of,
    make_project,
    run,
    start,
    tree,
    wait_for,
    work_left,
)

RUNNING = f"running notebooks/conduct_allegations.ipynb for {REF}"


def with_earlier_reports(project: Path) -> dict[str, str]:
    """Two earlier reports, one of them for this ref (the run is forced, so success would supersede it)."""
    reports = project / "reports"
    shutil.copytree(EXAMPLE_REPORT, reports / REF)
    shutil.copytree(EXAMPLE_REPORT, reports / EXAMPLE_REPORT.name)
    return tree(reports)


def assert_nothing_left(project: Path, before: dict[str, str], pid: int) -> None:
    reports = project / "reports"
    assert tree(reports) == before
    assert sorted(p.name for p in reports.iterdir() if p.name != ".failures") == sorted(
        [REF, EXAMPLE_REPORT.name])
    assert work_left(project / ".foikit-work") == []
    assert not (project / "drafts").exists()  # no draft either
    assert_no_kernel_left(pid)


def last_line(done: subprocess.CompletedProcess) -> str:
    return done.stderr.strip().splitlines()[-1]


def test_a_kernel_that_dies_mid_run_ends_the_run_clearly(tmp_path):
    project = make_project(tmp_path, "import os, signal\nos.kill(os.getpid(), signal.SIGKILL)")
    before = with_earlier_reports(project)

    proc = start(project, "--force")
    _out, err = proc.communicate(timeout=300)

    assert proc.returncode == 1, err
    line = err.strip().splitlines()[-1]
    assert line.startswith("foikit: error: notebooks/conduct_allegations.ipynb: the kernel died before the "
                           "notebook finished (killed, or out of memory)"), line
    assert_nothing_left(project, before, proc.pid)


def test_a_cell_past_the_execution_timeout_is_stopped(tmp_path):
    project = make_project(tmp_path, "import time\ntime.sleep(600)")
    before = with_earlier_reports(project)

    proc = start(project, "--force", "--timeout", "4")
    kernels: list[int] = []
    wait_for(lambda: bool(kernels.extend(kernels_of(proc.pid)) or kernels) or proc.poll() is not None, 120,
             "the kernel to start")
    _out, err = proc.communicate(timeout=300)

    assert kernels, "the run's kernel was never seen"
    assert proc.returncode == 1, err
    line = err.strip().splitlines()[-1]
    # Which cell the message names depends on when papermill last saved the notebook (timing): not asserted.
    assert re.search(r": cell \d+ ran longer than the execution timeout of 4 s \(--timeout or FOIKIT_CELL_TIMEOUT\); "
                     r"the kernel was stopped", line), line
    assert_nothing_left(project, before, proc.pid)
    assert not any(Path(f"/proc/{pid}").exists() and kernels_of(proc.pid) for pid in kernels)


def test_the_timeout_comes_from_the_environment_and_is_validated(monkeypatch):
    assert cell_timeout() == DEFAULT_CELL_TIMEOUT
    monkeypatch.setenv("FOIKIT_CELL_TIMEOUT", "12.5")
    assert cell_timeout() == 12.5
    assert cell_timeout(3) == 3
    monkeypatch.setenv("FOIKIT_CELL_TIMEOUT", "soon")
    with pytest.raises(ReportError, match=r"^execution timeout: 'soon' is not a positive number of seconds"):
        cell_timeout()
    with pytest.raises(ReportError, match=r"^execution timeout: -1 is not a positive"):
        cell_timeout(-1)


def limit_file_size(max_bytes: int):
    """For the child: files larger than ``max_bytes`` cannot be written (the write fails with EFBIG)."""
    def apply() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (max_bytes, max_bytes))
    return apply


KERNEL_LIMIT = ("import resource, signal\nsignal.signal(signal.SIGXFSZ, signal.SIG_IGN)\n"
                "resource.setrlimit(resource.RLIMIT_FSIZE, (20_000, 20_000))")


@pytest.mark.parametrize(("limit", "cell", "message"), [
    # report.html (~340 kB, written by the run after the kernel) is the only file over 150 kB
    pytest.param(150_000, None, r"^foikit: error: \S+/\.foikit-work/01\.FOI\.99\.000001\.partial/report\.html: "
                 r"File too large; the run stopped and nothing was written$", id="record-write"),
    # the executed notebook, which papermill saves as cells complete, outgrows 30 kB mid-run
    pytest.param(30_000, None, r"^foikit: error: \S+/notebook\.ipynb: File too large; the run stopped and "
                 r"nothing was written$", id="notebook-save"),
    # the kernel limits itself to 20 kB: letter.docx (~40 kB), written by the template, fails
    pytest.param(None, KERNEL_LIMIT, r"^foikit: error: notebooks/conduct_allegations\.ipynb: cell \d+ failed: "
                 r"OSError: \[Errno 27\] File too large", id="kernel-write"),
])
def test_a_write_the_disk_refuses_ends_the_run_clearly(tmp_path, limit, cell, message):
    project = make_project(tmp_path, cell)
    before = with_earlier_reports(project)

    proc = start(project, "--force", preexec_fn=limit_file_size(limit) if limit else None)
    _out, err = proc.communicate(timeout=300)

    assert proc.returncode == 1, err
    line = err.strip().splitlines()[-1]
    assert re.search(message, line), line
    assert "Traceback" not in err
    assert_nothing_left(project, before, proc.pid)


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT, signal.SIGKILL], ids=["SIGTERM", "SIGINT", "SIGKILL"])
def test_a_signal_mid_run_leaves_no_report_and_no_kernel(tmp_path, sig):
    project = make_project(tmp_path, "import time\ntime.sleep(600)")
    before = with_earlier_reports(project)
    proc = start(project, "--force")
    wait_for(lambda: bool(kernels_of(proc.pid)) or proc.poll() is not None, 120, "the kernel to start")
    kernels = kernels_of(proc.pid)
    assert kernels, proc.communicate()
    notebook = project / ".foikit-work" / f"{REF}.partial" / "notebook.ipynb"
    wait_for(notebook.exists, 120, "the kernel to run the first cell")

    os.kill(proc.pid, sig)
    _out, err = proc.communicate(timeout=120)  # a hang guard: the run stops at once, or after 600 s

    if sig != signal.SIGKILL:  # caught (Ctrl-C too, which nbclient would otherwise swallow): one line
        assert proc.returncode == 130
        assert err.strip().splitlines() == [RUNNING, "foikit: interrupted; nothing written"], err
    else:
        assert proc.returncode == -signal.SIGKILL
    assert_no_kernel_left(proc.pid)
    assert not any(Path(f"/proc/{k}/environ").exists() and kernels_of(proc.pid) for k in kernels)
    reports = project / "reports"
    assert tree(reports) == before
    assert sorted(p.name for p in reports.iterdir()) == sorted([REF, EXAMPLE_REPORT.name])
    if sig != signal.SIGKILL:
        assert work_left(project / ".foikit-work") == []
    else:  # the killed run's partial folder, with the case rows of its extract, is left...
        assert (project / ".foikit-work" / f"{REF}.partial" / "input.parquet").is_file()
    # ...until the next run, which clears it (and says so) and its lock.
    template = "notebooks/conduct_allegations.ipynb"
    shutil.copyfile(ROOT / template, project / template)
    done = run(project)
    assert done.returncode == 1 and "a report exists and this run's" in done.stderr  # earlier one kept
    cleared = f"removed {project.resolve() / '.foikit-work' / f'{REF}.partial'}, left by a run of {REF} that was killed"
    assert (cleared in done.stderr.splitlines()) == (sig == signal.SIGKILL), done.stderr
    assert tree(reports) == before
    assert work_left(project / ".foikit-work") == []


def _dataset(project: Path) -> str:
    from foikit.request.params import load_request
    from foikit.response import open_source_for

    return open_source_for(load_request(project / "params" / f"{REF}.yaml"), "params").dictionary.name


def test_sigterm_while_waiting_to_publish_publishes_nothing(tmp_path):
    """`foikit publish` held at the publication lock (this test holds it) is signalled: nothing is published
    and the draft is kept as it was."""
    project = make_project(tmp_path)
    before = with_earlier_reports(project)
    made = run(project, "--force")
    assert made.returncode == 0, made.stderr
    draft = tree(project / "drafts")
    dataset = _dataset(project)
    with filelock.FileLock(publication_lock_file(project / "reports", dataset)):
        proc = subprocess.Popen([sys.executable, "-m", "foikit.cli", "publish", REF, "--reviewer", REVIEWER],
                                cwd=project, env=env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        waiting = proc.stderr.readline()
        os.kill(proc.pid, signal.SIGTERM)
        _out, err = proc.communicate(timeout=120)

    assert proc.returncode == 130, err
    assert [waiting.strip(), *err.strip().splitlines()] == [
        f"waiting for another run to finish publishing from {dataset}", "foikit: interrupted; nothing written"]
    assert tree(project / "reports") == before
    assert tree(project / "drafts") == draft
    assert work_left(project / ".foikit-work") == []


def _catches(pid: int, sig: int) -> bool:
    """Whether process ``pid`` has a handler for ``sig`` (SigCgt in /proc/<pid>/status)."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return False
    caught = int(next(line.split()[1] for line in status.splitlines() if line.startswith("SigCgt:")), 16)
    return bool(caught >> (sig - 1) & 1)


def test_sigterm_at_the_first_moment_it_is_caught_says_interrupted(tmp_path):
    project = make_project(tmp_path)
    proc = start(project)
    wait_for(lambda: _catches(proc.pid, signal.SIGTERM) or proc.poll() is not None, 300, "a SIGTERM handler")
    os.kill(proc.pid, signal.SIGTERM)
    _out, err = proc.communicate(timeout=120)

    assert proc.returncode == 130, err
    lines = err.strip().splitlines()
    assert lines[-1] == "foikit: interrupted; nothing written" and set(lines[:-1]) <= {RUNNING}, err
    assert not (project / "reports").exists() or list((project / "reports").iterdir()) == []
    assert work_left(project / ".foikit-work") == []
