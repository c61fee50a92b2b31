"""Run a request: validate, execute its template with papermill into a private folder, move it into place.

A report folder is written once, completely, or not at all. The run works in ``.foikit-work/<ref>.partial``
beside the reports folder and renames it to ``reports/<ref>`` only when every file is there, so a failed,
interrupted or killed run leaves reports/ exactly as it was. An earlier report is never modified.
"""

from __future__ import annotations

import contextlib
import getpass
import io
import json
import os
import shutil
import signal
import subprocess
import typing
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import nbformat
import papermill
import yaml
from jupyter_client.manager import AsyncKernelManager
from nbclient.exceptions import CellTimeoutError, DeadKernelError
from papermill.exceptions import PapermillExecutionError

from foikit.cube import count_cube
from foikit.exceptions import ReportError
from foikit.joint import ledger_for_run
from foikit.ledger import CELLS_JSON, LEDGER_JSON
from foikit.letter import LETTER_DOCX, LETTER_HTML
from foikit.manifest import DICTIONARY_COPY, PARAMS_COPY, build_manifest, provenance, write_manifest
from foikit.params import Request, load_request
from foikit.paths import check_name, check_path, inside
from foikit.provenance import write_crate
from foikit.publish import AUDIT_JSON, PUBLISHED_CSV, TABLES_XLSX, check_audit
from foikit.record import NOTEBOOK, REPORT_HTML, export_html, normalise_notebook
from foikit.response import answer, open_source_for
from foikit.signing import sign_report, signing_key
from foikit.snapshot import SNAPSHOT, content_sha256, coverage, extract, write_snapshot
from foikit.sources import CaseData, sha256_file

PUBLISHED_FILES = (PUBLISHED_CSV, TABLES_XLSX, AUDIT_JSON, LETTER_HTML, LETTER_DOCX, CELLS_JSON)
FAILURES = ".failures"
WORK = ".foikit-work"
# Seconds one template cell may run (papermill's execution_timeout): a hung query or kernel ends the run
# instead of holding the lock for ever. --timeout or $FOIKIT_CELL_TIMEOUT change it.
DEFAULT_CELL_TIMEOUT = 3600.0


def cell_timeout(timeout: float | None = None) -> float:
    """``timeout`` if given, else $FOIKIT_CELL_TIMEOUT, else :data:`DEFAULT_CELL_TIMEOUT`."""
    raw = timeout if timeout is not None else os.environ.get("FOIKIT_CELL_TIMEOUT") or DEFAULT_CELL_TIMEOUT
    try:
        value = float(raw)
    except ValueError:
        value = float("nan")
    if not value > 0:
        raise ReportError(f"execution timeout: {raw!r} is not a positive number of seconds "
                          "(--timeout or FOIKIT_CELL_TIMEOUT)")
    return value


@contextlib.contextmanager
def write_errors_reported() -> Iterator[None]:
    """A write that fails (disk full, file too large, read-only folder) ends the run with one line naming
    the file; the workspace is already cleared by then, so nothing is left behind."""
    try:
        yield
    except OSError as exc:
        where = exc.filename or _file_written(exc) or "a file"
        raise ReportError(f"{where}: {exc.strerror or exc}; the run stopped and nothing was written") from None


def _file_written(exc: BaseException) -> str | None:
    """The file a failed write() was writing to: an error from write() carries no file name, but the open
    file object is a local of the frame that wrote (pathlib, nbformat, shutil), innermost first."""
    tb, frames = exc.__traceback__, []
    while tb is not None:
        frames.append(tb.tb_frame)
        tb = tb.tb_next
    for frame in reversed(frames):
        for value in frame.f_locals.values():
            if isinstance(value, io.IOBase) and isinstance(getattr(value, "name", None), str):
                return value.name
    return None


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
def claim_workspace(reports_dir: Path, ref: str) -> Iterator[Path]:
    """Claim ``.foikit-work/<ref>.partial`` beside ``reports_dir`` for this process; it is removed on any
    exit, and a copy left by a killed run is cleared by the next one. A second concurrent run of the same
    ref fails here, before doing anything."""
    work = reports_dir.resolve().parent / WORK
    work.mkdir(parents=True, exist_ok=True)
    partial = work / f"{ref}.partial"
    owner = work / f"{ref}.owner"
    try:
        fd = os.open(owner, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
    except FileExistsError:
        try:
            pid = int(owner.read_text() or "0")
        except (OSError, ValueError):
            pid = 0
        if pid and _pid_alive(pid):
            raise ReportError(f"{reports_dir / ref}: another run of {ref} is in progress (process {pid}); "
                              "nothing written") from None
        owner.unlink(missing_ok=True)  # left by a run that was killed
        try:
            fd = os.open(owner, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
        except FileExistsError:
            raise ReportError(f"{reports_dir / ref}: another run of {ref} started at the same time; "
                              "nothing written") from None
    os.write(fd, str(os.getpid()).encode())
    os.close(fd)
    try:
        shutil.rmtree(partial, ignore_errors=True)
        partial.mkdir()
        yield partial
    finally:
        shutil.rmtree(partial, ignore_errors=True)
        owner.unlink(missing_ok=True)


@contextlib.contextmanager
def terminate_as_interrupt() -> Iterator[None]:
    """Let SIGTERM unwind like Ctrl-C, so the workspace and the kernel are cleaned up."""
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
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
    kept = folder / f"{ref}-{stamp}.ipynb"
    try:
        folder.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(notebook, kept)
    except OSError:  # the disk that failed the run may fail this too: the run's own error matters more
        kept.unlink(missing_ok=True)
        return None
    return kept


def differing_published(a: Path, b: Path) -> list[str]:
    """Names of the published files that differ between report folders ``a`` and ``b``."""
    return [n for n in PUBLISHED_FILES if not ((a / n).is_file() and (b / n).is_file()
                                                and (a / n).read_bytes() == (b / n).read_bytes())]


def _next_version(target: Path) -> Path:
    n = 1
    while (candidate := target.with_name(f"{target.name}.v{n}")).exists():
        n += 1
    return candidate


class _KernelManager(AsyncKernelManager):
    """A kernel manager that remembers the kernel processes it started. The kernel runs in a session of
    its own; when a run is interrupted (SIGTERM, Ctrl-C) before papermill could shut the kernel down, the
    run stops the kernel's whole process group itself instead of leaving it to notice its parent's death."""

    started: typing.ClassVar[list[subprocess.Popen]] = []

    async def _async_launch_kernel(self, kernel_cmd: list[str], **kw: Any) -> None:
        try:
            await super()._async_launch_kernel(kernel_cmd, **kw)
        finally:  # recorded as soon as it exists, even if the run is interrupted while it starts
            process = getattr(self.provisioner, "process", None)
            if isinstance(process, subprocess.Popen):
                _KernelManager.started.append(process)


def _stop_kernels() -> None:
    while _KernelManager.started:
        process = _KernelManager.started.pop()
        if process.poll() is None:  # still running (a reaped pid is never signalled)
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(process.pid, signal.SIGKILL)
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(timeout=10)


def _last_cell_run(executed: Path) -> str:
    try:
        counts = [c.get("execution_count") or 0 for c in nbformat.read(executed, as_version=4).cells]
    except (OSError, ValueError):
        return "a cell"
    return f"cell {max(counts)}" if any(counts) else "a cell"


def execute_notebook(template: Path, parameters: dict[str, Any], out_dir: Path, cwd: Path,
                     title: str, timeout: float | None = None) -> nbformat.NotebookNode:
    """Execute ``template`` with ``parameters`` (plus ``output_dir``) into ``out_dir/notebook.ipynb``.

    Raises ``ReportError`` naming the failing cell, a cell that ran past ``timeout`` seconds, or a kernel
    that died; the failed notebook stays in ``out_dir``."""
    executed = out_dir / NOTEBOOK
    out_rel = os.path.relpath(out_dir, cwd) if out_dir.is_relative_to(cwd) else str(out_dir)
    seconds = cell_timeout(timeout)
    try:
        papermill.execute_notebook(
            str(template), str(executed), parameters={**parameters, "output_dir": out_rel},
            kernel_name="python3", progress_bar=False, cwd=str(cwd), execution_timeout=seconds,
            kernel_manager_class=f"{__name__}._KernelManager",
        )
    except PapermillExecutionError as exc:
        first = str(exc.evalue).splitlines()[0] if exc.evalue else ""
        raise ReportError(f"{template}: cell {exc.exec_count} failed: {exc.ename}: {first}") from None
    except CellTimeoutError:  # nbclient shuts the kernel down on its way out
        raise ReportError(f"{template}: {_last_cell_run(executed)} ran longer than the execution timeout of "
                          f"{seconds:g} s (--timeout or FOIKIT_CELL_TIMEOUT); the kernel was stopped") from None
    except DeadKernelError:
        raise ReportError(f"{template}: the kernel died before the notebook finished (killed, or out of "
                          "memory)") from None
    finally:
        _stop_kernels()  # normally papermill has shut it down already
    nb = normalise_notebook(nbformat.read(executed, as_version=4), title=title)
    nbformat.write(nb, executed)
    missing = [n for n in PUBLISHED_FILES if not (out_dir / n).is_file()]
    if missing:
        raise ReportError(f"{template}: the template did not write {', '.join(missing)} into output_dir")
    return nb


def _relative(path: Path, cwd: Path) -> str:
    """``path`` relative to the project folder where it lies inside it, so records do not name the machine."""
    resolved = path.resolve()
    return os.path.relpath(resolved, cwd) if resolved.is_relative_to(cwd) else str(resolved)


def _record_inputs(params_path: Path, template: Path, request: Request, data: CaseData, folder: Path,
                   snapshot: bool, cwd: Path) -> dict[str, Any]:
    """Copy the params and dictionary into the report, store the extract, and describe all inputs."""
    shutil.copyfile(params_path, folder / PARAMS_COPY)
    dictionary = data.dictionary
    if dictionary.source and Path(dictionary.source).is_file():
        shutil.copyfile(dictionary.source, folder / DICTIONARY_COPY)
    else:  # inferred from the data: record what was inferred
        body = dictionary.model_dump(mode="json", exclude={"source"})
        (folder / DICTIONARY_COPY).write_text(yaml.safe_dump(body, sort_keys=False), encoding="utf-8")
    rows = extract(data, request)
    snapshot_name = None
    if snapshot:
        write_snapshot(rows, coverage(data, request), folder / SNAPSHOT)
        snapshot_name = SNAPSHOT
    return {
        "params": {"path": _relative(params_path, cwd), "sha256": sha256_file(params_path)},
        "template": {"path": _relative(template, cwd), "sha256": sha256_file(template)},
        "data": {"source": (f"embedded:{data.path.name}" if data.embedded else _relative(data.path, cwd)
                            if data.path.is_file() else data.label),
                 "source_sha256": data.sha256, "rows": len(rows), "extract_sha256": content_sha256(rows),
                 "snapshot": snapshot_name},
        "dictionary": {"name": dictionary.name, "version": dictionary.version,
                       "sha256": sha256_file(folder / DICTIONARY_COPY)},
    }


def run_request(params_path: str | Path, reports_dir: str | Path = "reports",
                notebooks_dir: str | Path | None = None, force: bool = False, snapshot: bool = True,
                log: Callable[[str], None] = lambda _msg: None, timeout: float | None = None) -> RunResult:
    """Validate ``params_path``, run its template and write ``reports/<ref>/`` with its manifest.

    Bad params or data, or a failing disclosure audit, raise before anything is written. An existing report
    is left untouched: a run that reproduces it byte for byte reports 'reproduced'; a different one is
    refused unless ``force``, which keeps the earlier report as ``<ref>.vN``. ``timeout``: seconds one
    template cell may run (:func:`cell_timeout`).

    >>> run_request("params/01.FOI.23.032341.yaml").path  # doctest: +SKIP
    PosixPath('reports/01.FOI.23.032341')
    """
    params_path = check_path("params", params_path, "foikit run")
    reports_dir = check_path("reports_dir", reports_dir, "foikit run")
    request = load_request(params_path)
    source = str(params_path)
    # Where this run may write, refused before anything runs (the schema already limits ref's characters).
    target = inside(reports_dir, check_name("ref", request.ref, source), "ref", source)
    inside(reports_dir, FAILURES, "reports_dir", source)
    inside(reports_dir.resolve().parent / WORK, f"{request.ref}.partial", "ref", source)
    seconds = cell_timeout(timeout)
    data = open_source_for(request, source)
    for i, part in enumerate(request.parts):  # every data error before anything runs
        count_cube(data, part, f"{source}: parts.{i}")
    template = find_template(request.template, notebooks_dir)
    ledger = ledger_for_run(reports_dir, request, data, force, source)  # what was published before
    key = signing_key(log=log)  # before the run: a missing key is made (and said), a bad one stops it here
    cwd = Path.cwd().resolve()
    log(f"running {template} for {request.ref}")
    with write_errors_reported(), terminate_as_interrupt(), claim_workspace(reports_dir, request.ref) as partial, \
            ThreadPoolExecutor(max_workers=1) as pool:
        started = datetime.now(UTC)
        # The gate: the disclosure audit, computed here while the kernel works, so it costs no extra time.
        gate = pool.submit(answer, request, data, source, ledger)
        ledger_path = partial / LEDGER_JSON
        ledger_path.write_text(json.dumps(ledger.to_json(), indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
        inputs = _record_inputs(params_path, template, request, data, partial, snapshot, cwd)
        inputs["ledger"] = {"entries": [e.ref for e in ledger.entries], "sha256": sha256_file(ledger_path)}
        parameters = {**request.model_dump(mode="json"), "ledger": _relative(ledger_path, cwd)}
        try:
            nb = execute_notebook(template, parameters, partial, cwd, request.ref, timeout=seconds)
        except ReportError as exc:
            check_audit(gate.result())  # an audit failure explains a failed run better than a failing cell
            kept = _keep_failure(reports_dir, request.ref, partial / NOTEBOOK)
            raise ReportError(f"{exc}" + (f"; failed notebook kept at {kept}" if kept else "")) from None
        response = gate.result()
        check_audit(response)
        queries = {p.spec.name: p.cube.query for p in response.parts if p.cube.query}
        if queries:  # the exact SQL that counted, where the data lives
            inputs["data"]["queries"] = queries
        policy = request.suppression.model_dump(mode="json")
        export_html(nb, partial / REPORT_HTML, title=request.ref, provenance=provenance(inputs, policy))
        ended = datetime.now(UTC)  # the crate holds the run's times and user; the manifest lists and so signs it
        write_crate(partial, ref=request.ref, inputs=inputs, results=list(PUBLISHED_FILES), objects=[
            n for n in (PARAMS_COPY, DICTIONARY_COPY, SNAPSHOT, LEDGER_JSON) if (partial / n).is_file()],
                    started=started.isoformat(timespec="seconds"), ended=ended.isoformat(timespec="seconds"),
                    user=getpass.getuser())
        write_manifest(build_manifest(ref=request.ref, inputs=inputs, policy=policy, folder=partial,
                                      started=started, ended=ended, project=cwd), partial)
        sign_report(partial, key)  # signature.json: binds every field of the manifest, and so every file
        return _move_into_place(partial, target, force)


def _move_into_place(partial: Path, target: Path, force: bool) -> RunResult:
    target.parent.mkdir(parents=True, exist_ok=True)
    if target.exists():
        differing = differing_published(target, partial)
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
