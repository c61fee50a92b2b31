"""Helpers for tests that run `foikit run` as a real process and break it: a small project in a temporary
folder, the report tree's hashes, and the Jupyter kernels a run started (found through /proc)."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import nbformat
import yaml

from .conftest import HAND_ROWS, ROOT, hand_request

REF = "01.FOI.99.000001"


def make_project(tmp_path: Path, extra_cell: str | None = None, **overrides: object) -> Path:
    """A project folder: the hand-made case file with distinctive ids, params/<REF>.yaml over it, and a
    copy of the conduct_allegations template with ``extra_cell`` inserted before the data is read."""
    project = tmp_path / "project"
    (project / "params").mkdir(parents=True)
    csv = project / "cases.csv"
    lines = ["case_ref,officer_id,allegation_category,date_recorded,outcome,officer_sex,complainant_sex"]
    for i, (cat, date, outcome, osex, csex) in enumerate(HAND_ROWS):
        lines.append(f"CASE-Q7ZK-{i:04d},OFFICER-XJ93-{i:04d},{cat},{date},{outcome},{osex},{csex}")
    csv.write_text("\n".join(lines) + "\n", encoding="utf-8")
    (project / "params" / f"{REF}.yaml").write_text(
        yaml.safe_dump(hand_request(csv, **overrides), sort_keys=False, allow_unicode=True), encoding="utf-8")
    notebooks = project / "notebooks"
    notebooks.mkdir()
    nb = nbformat.read(ROOT / "notebooks" / "conduct_allegations.ipynb", as_version=4)
    if extra_cell:
        nb.cells.insert(4, nbformat.v4.new_code_cell(extra_cell))
    nbformat.write(nb, notebooks / "conduct_allegations.ipynb")
    return project


def env() -> dict[str, str]:
    # the kernel runs in the project folder: make sure it imports this foikit however it is installed
    return {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}


def start(project: Path, *args: str, preexec_fn: Callable[[], None] | None = None,
          params: str = f"params/{REF}.yaml") -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "foikit.cli", "run", params, *args],
                            cwd=project, env=env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            preexec_fn=preexec_fn)


def run(project: Path, *args: str, preexec_fn: Callable[[], None] | None = None,
        params: str = f"params/{REF}.yaml") -> subprocess.CompletedProcess:
    proc = start(project, *args, preexec_fn=preexec_fn, params=params)
    try:
        out, err = proc.communicate(timeout=300)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)


def tree(folder: Path) -> dict[str, str]:
    """Every file under ``folder`` (failed notebooks kept in .failures aside) with its hash."""
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file() and ".failures" not in p.parts}


def kernels_of(pid: int) -> list[int]:
    """Live processes started as Jupyter kernels by process ``pid`` (jupyter_client gives each kernel
    JPY_PARENT_PID, and the kernel runs in a session of its own, so this is how to find it)."""
    assert Path("/proc/self/environ").is_file(), "these tests read /proc (Linux)"
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            environ = (entry / "environ").read_bytes()
            state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if state != "Z" and f"JPY_PARENT_PID={pid}".encode() in environ.split(b"\0"):
            found.append(int(entry.name))
    return found


def work_left(folder: Path) -> list[str]:
    """What a run left in the workspace ``folder`` (.foikit-work) besides its lock files, which stay by design
    (an OS lock is released when its holder dies; the empty file it locks is harmless)."""
    if not folder.exists():
        return []
    locks = folder / "locks"
    return sorted([p.name for p in folder.iterdir() if p.name != "locks"]
                  + [f"locks/{p.name}" for p in (locks.iterdir() if locks.is_dir() else []) if p.suffix != ".lock"])


def wait_for(condition: Callable[[], bool], seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, f"gave up waiting for {what}"
        time.sleep(0.2)


def assert_no_kernel_left(pid: int) -> None:
    """No kernel of run ``pid`` survives it (a kernel polls for its parent once a second)."""
    wait_for(lambda: not kernels_of(pid), 15, f"the kernels of process {pid} to exit: {kernels_of(pid)}")
