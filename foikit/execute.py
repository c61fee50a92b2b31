"""Run a request: validate, execute its template with papermill into a private directory, move it into place.

A report directory is written once, completely, or not at all: the run works in ``reports/.partial-<ref>``
and renames it to ``reports/<ref>`` only when every file is there. An earlier report is never modified.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import nbformat
import papermill
from papermill.exceptions import PapermillExecutionError

from foikit.exceptions import ReportError
from foikit.params import Request, load_request
from foikit.publish import AUDIT_JSON, PUBLISHED_CSV, TABLES_XLSX, check_audit
from foikit.record import NOTEBOOK, REPORT_HTML, export_html, normalise_notebook
from foikit.response import answer

PUBLISHED_FILES = (PUBLISHED_CSV, TABLES_XLSX, AUDIT_JSON)
FAILURES = ".failures"


@dataclass(frozen=True)
class RunResult:
    """What a run did: ``status`` is 'written', 'reproduced' (an identical report was already there) or
    'superseded' (``--force``: the earlier report was kept as ``previous``)."""

    status: str
    path: Path
    previous: Path | None = None


def find_template(name: str, notebooks_dir: str | Path | None = None) -> Path:
    """The notebook template ``notebooks/<name>.ipynb``: in ``notebooks_dir``, else ./notebooks, else the
    notebooks/ beside the installed package (an editable install of this repository)."""
    candidates = [Path(notebooks_dir)] if notebooks_dir else [Path("notebooks"),
                                                             Path(__file__).resolve().parents[1] / "notebooks"]
    for folder in candidates:
        path = folder / f"{name}.ipynb"
        if path.is_file():
            return path
    raise ReportError(f"template {name!r}: no {name}.ipynb in {', '.join(map(str, candidates))}")


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


@contextlib.contextmanager
def _partial_dir(reports_dir: Path, ref: str) -> Iterator[Path]:
    """Claim ``reports/.partial-<ref>`` for this process; removed on any exit unless handed over."""
    reports_dir.mkdir(parents=True, exist_ok=True)
    partial = reports_dir / f".partial-{ref}"
    owner = partial / ".owner-pid"
    if partial.exists():
        try:
            pid = int(owner.read_text())
        except (OSError, ValueError):
            pid = -1
        if pid > 0 and _pid_alive(pid):
            raise ReportError(f"{partial}: another run of {ref} is in progress (process {pid}); nothing written")
        shutil.rmtree(partial)  # left behind by a run that was killed
    try:
        partial.mkdir()
    except FileExistsError:
        raise ReportError(f"{partial}: another run of {ref} started at the same time; nothing written") from None
    owner.write_text(str(os.getpid()))
    try:
        yield partial
    finally:
        shutil.rmtree(partial, ignore_errors=True)


@contextlib.contextmanager
def _terminate_as_exit() -> Iterator[None]:
    """Let SIGTERM unwind like Ctrl-C, so the partial directory and the kernel are cleaned up."""
    def handler(signum: int, frame: object) -> None:
        raise KeyboardInterrupt(f"signal {signum}")

    try:
        previous = signal.signal(signal.SIGTERM, handler)
    except ValueError:  # not the main thread: leave signals alone
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _keep_failure(reports_dir: Path, ref: str, notebook: Path) -> Path | None:
    if not notebook.is_file():
        return None
    folder = reports_dir / FAILURES
    folder.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    kept = folder / f"{ref}-{stamp}.ipynb"
    shutil.copyfile(notebook, kept)
    return kept


def _same_published(a: Path, b: Path) -> list[str]:
    """Names of the published files that differ between report directories ``a`` and ``b``."""
    return [n for n in PUBLISHED_FILES if not ((a / n).is_file() and (b / n).is_file()
                                                and (a / n).read_bytes() == (b / n).read_bytes())]


def _next_version(target: Path) -> Path:
    n = 1
    while (candidate := target.with_name(f"{target.name}.v{n}")).exists():
        n += 1
    return candidate


def execute_template(request: Request, template: Path, out_dir: Path, cwd: Path) -> None:
    """Execute ``template`` with the request's fields as parameters; write the record into ``out_dir``."""
    executed = out_dir / NOTEBOOK
    out_rel = os.path.relpath(out_dir, cwd) if out_dir.is_relative_to(cwd) else str(out_dir)
    parameters = {**request.model_dump(mode="json"), "output_dir": out_rel}
    papermill.execute_notebook(
        str(template), str(executed), parameters=parameters, kernel_name="python3",
        progress_bar=False, cwd=str(cwd),
    )
    nb = normalise_notebook(nbformat.read(executed, as_version=4), title=request.ref)
    nbformat.write(nb, executed)
    export_html(nb, out_dir / REPORT_HTML, title=request.ref)
    missing = [n for n in PUBLISHED_FILES if not (out_dir / n).is_file()]
    if missing:
        raise ReportError(f"{template}: the template did not write {', '.join(missing)} into output_dir")


def run_request(params_path: str | Path, reports_dir: str | Path = "reports",
                notebooks_dir: str | Path | None = None, force: bool = False,
                log: Callable[[str], None] = lambda _msg: None) -> RunResult:
    """Validate ``params_path``, run its template and write ``reports/<ref>/``.

    Bad params or data raise before anything is written. An existing report is left untouched: a run that
    reproduces it byte for byte reports 'reproduced'; a different one is refused unless ``force``, which
    keeps the earlier report as ``<ref>.vN``.

    >>> run_request("params/01.FOI.23.032341.yaml").path  # doctest: +SKIP
    PosixPath('reports/01.FOI.23.032341')
    """
    params_path = Path(params_path)
    request = load_request(params_path)
    # preflight: every data error, and the disclosure audit, before anything runs
    check_audit(answer(request, source=str(params_path)))
    template = find_template(request.template, notebooks_dir)
    reports_dir = Path(reports_dir)
    target = reports_dir / request.ref
    cwd = Path.cwd()
    log(f"running {template} for {request.ref}")
    with _terminate_as_exit(), _partial_dir(reports_dir, request.ref) as partial:
        try:
            execute_template(request, template, partial, cwd)
        except PapermillExecutionError as exc:
            kept = _keep_failure(reports_dir, request.ref, partial / NOTEBOOK)
            where = f"; failed notebook kept at {kept}" if kept else ""
            raise ReportError(f"{template}: cell {exc.exec_count} failed: {exc.ename}: "
                              f"{str(exc.evalue).splitlines()[0] if exc.evalue else ''}{where}") from None
        (partial / ".owner-pid").unlink()
        if target.exists():
            differing = _same_published(target, partial)
            if not differing:
                return RunResult("reproduced", target)
            if not force:
                raise ReportError(
                    f"{target}: a report exists and this run's {', '.join(differing)} differ; the earlier "
                    f"report is untouched. Use --force to supersede it (it is kept as {_next_version(target)})"
                )
            previous = _next_version(target)
            target.rename(previous)
            partial.rename(target)
            return RunResult("superseded", target, previous)
        try:
            partial.rename(target)
        except OSError:
            raise ReportError(f"{target}: another run wrote this report first; nothing written") from None
        return RunResult("written", target)

