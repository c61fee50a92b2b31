"""Run a request: validate, execute its template with papermill into a private folder, move it into place.

A report folder is written once, completely, or not at all. The run works in ``.foikit-work/<ref>.partial``
beside the reports folder and renames it to ``reports/<ref>`` only when every file is there, so a failed,
interrupted or killed run leaves reports/ exactly as it was. An earlier report is never modified.
"""

from __future__ import annotations

import asyncio
import contextlib
import getpass
import hashlib
import io
import json
import os
import shutil
import signal
import subprocess
import tempfile
import threading
import typing
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import filelock
import nbformat
import papermill
import yaml
from jupyter_client.manager import AsyncKernelManager
from nbclient.exceptions import CellTimeoutError, DeadKernelError
from papermill.exceptions import PapermillExecutionError

from foikit.cube.engine import Cube, count_cube
from foikit.exceptions import ParamsError, ReportError, capped_text
from foikit.layout import (
    DICTIONARY_COPY,
    LEDGER_JSON,
    MANIFEST,
    NOTEBOOK,
    PARAMS_COPY,
    PUBLISHED_FILES,
    REPORT_HTML,
    SNAPSHOT,
)
from foikit.ledger.joint import answer, ledger_for_run, select_ledger
from foikit.ledger.store import Ledger, load_ledger
from foikit.publish.files import check_audit
from foikit.publish.letter import PROJECT_LETTER_DOCX
from foikit.request.params import SHIPPED_POLICIES, Request, load_request, parse_request, policy_path, read_yaml
from foikit.request.policy import Policy
from foikit.response import open_source_for
from foikit.run.gate import check_written
from foikit.run.manifest import build_manifest, folder_problems, load_manifest, provenance, write_manifest
from foikit.run.paths import check_name, check_path, find_template, inside, not_a_link
from foikit.run.provenance import write_crate
from foikit.run.record import export_html, normalise_notebook
from foikit.run.signing import sign_report, signing_key
from foikit.run.snapshot import content_sha256, coverage, extract, last_days, write_snapshot
from foikit.source.data import CaseData
from foikit.source.files import sha256_file

FAILURES = ".failures"
WORK = ".foikit-work"
LOCKS = "locks"  # inside WORK: the lock files stay (a lock file removed on release would let two runs hold it)
DRAFTS = "drafts"  # beside reports/: what foikit run makes, outside the ledger until foikit publish
DISCARDED = ".old-draft"  # in WORK: a draft being replaced by a new one of its ref
SUPERSEDE = ".supersede"  # in WORK/LOCKS: a supersession in progress, to undo if the run is killed midway
# Seconds one template cell may run (papermill's execution_timeout): a hung query or kernel ends the run
# instead of holding the lock for ever. --timeout or $FOIKIT_CELL_TIMEOUT change it.
DEFAULT_CELL_TIMEOUT = 3600.0


def quiet(_message: str) -> None:
    """Say nothing: the default for a log or progress that no one reads."""


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
            name = getattr(value, "name", None) if isinstance(value, io.IOBase) else None
            if isinstance(name, str):
                return name
    return None


@dataclass(frozen=True)
class RunResult:
    """What a run did: ``status`` is 'written', 'reproduced' (an identical report was already there) or
    'superseded' (``--force``: the earlier report was kept as ``previous``)."""

    status: str
    path: Path
    previous: Path | None = None


# What this process has published, recorded in the same uninterruptible step as the rename: after an
# interrupt the command says truly whether a report had been written.
PUBLISHED: list[RunResult] = []


def workspace(reports_dir: Path) -> Path:
    """``.foikit-work`` beside ``reports_dir``, readable by the owner only: a partial folder holds the
    case-level extract until the run ends."""
    work = reports_dir.resolve().parent / WORK
    work.parent.mkdir(parents=True, exist_ok=True)
    work.mkdir(mode=0o700, exist_ok=True)
    os.chmod(work, 0o700)  # a workspace made by an earlier version, with the umask's permissions
    (work / LOCKS).mkdir(mode=0o700, exist_ok=True)
    return work


def _lock(path: Path) -> filelock.FileLock:
    # flock(2): the kernel releases it when the process dies, however it dies, so no lock is ever stale
    return filelock.FileLock(path, mode=0o600)


def _try_lock(lock: filelock.FileLock) -> bool:
    try:
        lock.acquire(timeout=0)
    except filelock.Timeout:
        return False
    return True


def clear_stale(work: Path, log: Callable[[str], None] = quiet) -> list[str]:
    """Remove what killed runs left in ``work``: a ``<ref>.partial`` folder (it may hold case rows) whose
    ref lock no live process holds, after finishing or undoing a supersession the kill interrupted.
    Returns the refs cleared."""
    cleared = []
    for journal in sorted(work.glob(f"{LOCKS}/*{SUPERSEDE}")):
        ref = journal.name.removesuffix(SUPERSEDE)
        lock = _lock(work / LOCKS / f"{ref}.lock")
        if _try_lock(lock):
            try:
                if (message := _recover_supersession(journal)) is not None:
                    log(message)
            finally:
                lock.release()
    for partial in sorted(work.glob("*.partial")):
        ref = partial.name.removesuffix(".partial")
        lock = _lock(work / LOCKS / f"{ref}.lock")
        if not _try_lock(lock):  # a run in progress (possibly this one)
            continue
        try:
            shutil.rmtree(partial, ignore_errors=True)
        finally:
            lock.release()
        cleared.append(ref)
        log(f"removed {partial}, left by a run of {ref} that was killed")
    return cleared


@contextlib.contextmanager
def claim_workspace(reports_dir: Path, ref: str, log: Callable[[str], None] = quiet,
                    wait: float = 5.0) -> Iterator[Path]:
    """Claim ``.foikit-work/<ref>.partial`` beside ``reports_dir`` for this process, under an OS lock on
    ``<ref>`` that dies with the process; the folder is removed on any exit, and what a killed run left is
    cleared here (:func:`clear_stale`). A second concurrent run of the same ref fails here, before doing
    anything (``wait``: seconds to let another run's clean-up of this ref's leftovers finish)."""
    work = workspace(reports_dir)
    lock = _lock(work / LOCKS / f"{ref}.lock")
    try:
        lock.acquire(timeout=wait)
    except filelock.Timeout:
        raise ReportError(f"{reports_dir / ref}: another run of {ref} is in progress; nothing written") from None
    partial = work / f"{ref}.partial"
    try:
        journal = work / LOCKS / f"{ref}{SUPERSEDE}"
        if journal.exists() and (message := _recover_supersession(journal)) is not None:
            log(message)
        if partial.exists():
            log(f"removed {partial}, left by a run of {ref} that was killed")
        shutil.rmtree(partial, ignore_errors=True)
        shutil.rmtree(work / f"{ref}{DISCARDED}", ignore_errors=True)  # a draft a killed run was replacing
        clear_stale(work, log)
        partial.mkdir(mode=0o700)
        yield partial
    finally:
        shutil.rmtree(partial, ignore_errors=True)
        lock.release()


def publication_lock_file(reports_dir: Path, dataset: str) -> Path:
    """The file locked while a report over ``dataset`` is published into ``reports_dir``."""
    key = hashlib.sha256(dataset.encode("utf-8")).hexdigest()[:16]
    return workspace(reports_dir) / LOCKS / f"publish-{key}.lock"


@contextlib.contextmanager
def publication_lock(reports_dir: Path, dataset: str, log: Callable[[str], None] = quiet
                     ) -> Iterator[None]:
    """Hold the lock under which reports over ``dataset`` (the data dictionary's name) are published, one at
    a time: the joint audit against the ledger as it is now, and the move into reports/. The lock file is
    named by a hash, so the name (whatever it holds) never reaches the file system."""
    lock = _lock(publication_lock_file(reports_dir, dataset))
    if not _try_lock(lock):
        log(f"waiting for another run to finish publishing from {dataset}")
        lock.acquire()
    try:
        yield
    finally:
        lock.release()


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


@contextlib.contextmanager
def terminate_as_interrupt() -> Iterator[None]:
    """Let SIGTERM unwind like Ctrl-C, so the workspace and the kernel are cleaned up."""
    try:
        previous = signal.signal(signal.SIGTERM, _interrupt)
    except ValueError:  # not the main thread: leave signals alone
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _reclaim_signals() -> None:
    """nbclient turns SIGINT and SIGTERM into a request to shut the kernel down and then carries on running
    the notebook (and publishing); take them back inside its event loop so that both stop the run."""
    if threading.current_thread() is not threading.main_thread():
        return
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(RuntimeError, ValueError):
            loop.remove_signal_handler(sig)
        signal.signal(sig, _interrupt)


@contextlib.contextmanager
def signals_deferred() -> Iterator[None]:
    """SIGINT and SIGTERM wait while a step that must not be cut in two runs, then take effect as usual.
    (Recorded by a handler rather than blocked with a signal mask: in a process with other threads, a
    blocked signal is delivered to one of them and Python runs its handler at once all the same.)"""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    caught: list[int] = []
    previous = {sig: signal.signal(sig, lambda signum, _frame: caught.append(signum))
                for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        for signum in caught[:1]:
            signal.raise_signal(signum)


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
    run stops the kernel's whole process group itself instead of leaving it to notice its parent's death.
    It talks to the kernel over IPC sockets in a private temporary folder rather than TCP ports on
    localhost: no other user of the machine can connect, and the kernel has nothing to warn about."""

    started: typing.ClassVar[list[subprocess.Popen]] = []
    socket_dirs: typing.ClassVar[list[str]] = []

    def __init__(self, **kw: Any) -> None:
        super().__init__(**kw)
        folder = tempfile.mkdtemp(prefix="foikit-kernel-")  # 0700, and short (a socket path has ~100 bytes)
        _KernelManager.socket_dirs.append(folder)
        self.transport = "ipc"
        self.ip = os.path.join(folder, "kernel")

    def format_kernel_cmd(self, extra_arguments: list[str] | None = None) -> list[str]:
        # The kernel's own log is not for the user (a cell's error is in the notebook, and foikit names it):
        # without this, every shutdown may print "KeyboardInterrupt caught in kernel" (the shutdown
        # interrupts the kernel first).
        return [*super().format_kernel_cmd(extra_arguments), "--IPKernelApp.log_level=CRITICAL"]

    async def _async_pre_start_kernel(self, **kw: Any) -> tuple[list[str], dict[str, Any]]:
        # the first code of ours after nbclient installs its signal handlers in this loop (in between
        # there is no await at which the loop could run them)
        _reclaim_signals()
        return await super()._async_pre_start_kernel(**kw)

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
    while _KernelManager.socket_dirs:
        shutil.rmtree(_KernelManager.socket_dirs.pop(), ignore_errors=True)


def _last_cell_run(executed: Path) -> str:
    try:
        counts = [c.get("execution_count") or 0 for c in nbformat.read(executed, as_version=4).cells]
    except (OSError, ValueError):
        return "a cell"
    return f"cell {max(counts)}" if any(counts) else "a cell"


def execute_notebook(template: Path, parameters: dict[str, Any], out_dir: Path, cwd: Path,
                     title: str, timeout: float | None = None, progress_bar: bool = False) -> nbformat.NotebookNode:
    """Execute ``template`` with ``parameters`` (plus ``output_dir``) into ``out_dir/notebook.ipynb``.

    Raises ``ReportError`` naming the failing cell, a cell that ran past ``timeout`` seconds, or a kernel
    that died; the failed notebook stays in ``out_dir``."""
    executed = out_dir / NOTEBOOK
    out_rel = os.path.relpath(out_dir, cwd) if out_dir.is_relative_to(cwd) else str(out_dir)
    seconds = cell_timeout(timeout)
    main = threading.current_thread() is threading.main_thread()
    handlers = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)} if main else {}
    try:
        papermill.execute_notebook(
            str(template), str(executed), parameters={**parameters, "output_dir": out_rel},
            kernel_name="python3", progress_bar=progress_bar, cwd=str(cwd), execution_timeout=seconds,
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
        for sig, handler in handlers.items():  # as they were before nbclient (and _reclaim_signals)
            if handler is not None:  # None: set outside Python, cannot be put back
                signal.signal(sig, handler)
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
        write_snapshot(rows, coverage(data, request), folder / SNAPSHOT, last_days(data, request))
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
        **_policy_input(request, cwd),
        **letter_template_input(cwd),
    }


def letter_template_input(cwd: Path) -> dict[str, Any]:
    """The project's own Word template for the letter (letters/letter.docx), by path and sha256: nothing when
    the letter comes from the shipped one, so that such a report's manifest is as before."""
    path = cwd / PROJECT_LETTER_DOCX
    if not path.is_file():
        return {}
    return {"letter_template": {"path": PROJECT_LETTER_DOCX.as_posix(), "sha256": sha256_file(path)}}


def _policy_input(request: Request, cwd: Path) -> dict[str, Any]:
    """The named policy file the suppression settings started from, by path and sha256 (nothing when the
    request names none, so that such a report's manifest is as before)."""
    path = policy_path(request.policy)
    if request.policy is None or path is None:
        return {}
    shown = f"shipped:{path.name}" if path.parent == SHIPPED_POLICIES else _relative(path, cwd)  # as data's embedded:
    return {"policy": {"name": request.policy, "path": shown, "sha256": sha256_file(path)}}


def drafts_folder(reports_dir: Path, source: str = "params") -> Path:
    """``drafts`` beside ``reports_dir`` (refused if it is a symlink): where ``foikit run`` leaves a draft for
    review. A draft is a whole report, but outside the ledger: nothing in it counts as published until
    ``foikit publish`` moves it."""
    return inside(reports_dir.parent, DRAFTS, "reports_dir", source)


def run_request(params_path: str | Path, reports_dir: str | Path = "reports",
                notebooks_dir: str | Path | None = None, force: bool = False, snapshot: bool = True,
                log: Callable[[str], None] = quiet, timeout: float | None = None,
                ignore: tuple[str, ...] | list[str] = (), progress: Callable[[str], None] | None = None
                ) -> RunResult:
    """Validate ``params_path``, run its template against everything published in ``reports_dir`` and write
    the whole report, with its manifest, as the draft ``drafts/<ref>/`` (status 'draft'), for a reviewer to
    read and :func:`publish_draft` to publish. Nothing enters the ledger here.

    Bad params or data, or a failing disclosure audit, raise before anything is written. A draft of the same
    ref is replaced. When ``reports/<ref>`` exists, a run that reproduces it byte for byte keeps no draft
    (status 'reproduced'); a different one is refused unless ``force``: its draft then supersedes the report
    when published (the earlier one is kept as ``<ref>.vN`` and stays in the ledger). ``timeout``: seconds
    one template cell may run (:func:`cell_timeout`). ``ignore``: earlier reports that cannot be read as
    ledger entries, to go on without (:func:`foikit.ledger.joint.ledger_for_run`).

    >>> run_request("params/01.FOI.23.032341.yaml").path  # doctest: +SKIP
    PosixPath('drafts/01.FOI.23.032341')
    """
    params_path = check_path("params", params_path, "foikit run")
    reports_dir = not_a_link("reports_dir", check_path("reports_dir", reports_dir, "foikit run"), "foikit run")
    request = load_request(params_path)
    source = str(params_path)
    # Where this run may write, refused before anything runs (the schema already limits ref's characters).
    target = inside(reports_dir, check_name("ref", request.ref, source), "ref", source)
    inside(reports_dir, FAILURES, "reports_dir", source)
    inside(reports_dir.resolve().parent, WORK, "reports_dir", source)
    inside(reports_dir.resolve().parent / WORK, f"{request.ref}.partial", "ref", source)
    draft = inside(drafts_folder(reports_dir, source), request.ref, "ref", source)
    seconds = cell_timeout(timeout)
    step = progress or quiet
    step(f"opening {request.data.path or request.data.url_env or request.data.table or 'the embedded data'}")
    data = open_source_for(request, source)
    # every data error before anything runs; the counts are what the gate checks the published figures against
    cubes = []
    for i, part in enumerate(request.parts):
        step(f"counting part {i + 1} of {len(request.parts)}: {part.name}")
        cubes.append(count_cube(data, part, f"{source}: parts.{i}"))
    template = find_template(request.template, notebooks_dir)
    step(f"reading the ledger: what was published from {data.dictionary.name}")
    ledger = ledger_for_run(reports_dir, request, data, force, source, ignore)  # what was published before
    step(f"{len(ledger.entries)} earlier responses over {data.dictionary.name} to audit against")
    cwd = Path.cwd().resolve()
    log(f"running {template} for {request.ref}")
    with write_errors_reported(), terminate_as_interrupt(), \
            claim_workspace(reports_dir, request.ref, log) as partial:
        _produce(partial, ledger, params_path=params_path, template=template, request=request, data=data,
                 cubes=cubes, source=source, snapshot=snapshot, cwd=cwd, seconds=seconds, reports_dir=reports_dir,
                 force=force, ignore=list(ignore), step=step,
                 progress_bar=progress is not None)
        if target.exists():
            if not (differing := differing_published(target, partial)):
                return RunResult("reproduced", target)
            if not force:
                raise ReportError(
                    f"{target}: a report exists and this run's {', '.join(differing)} differ; the earlier report "
                    f"is untouched and no draft was kept. Use --force to make a draft that supersedes it when "
                    f"published (the earlier one is kept as {_next_version(target)})")
        return _keep_draft(partial, draft)


def _keep_draft(partial: Path, draft: Path) -> RunResult:
    """Rename ``partial`` to ``draft``, replacing an earlier draft of the ref (drafts are not published)."""
    draft.parent.mkdir(parents=True, exist_ok=True)
    old = partial.with_name(partial.name.removesuffix(".partial") + DISCARDED)
    shutil.rmtree(old, ignore_errors=True)
    with signals_deferred():
        if draft.exists():
            draft.rename(old)
        partial.rename(draft)
        PUBLISHED.append(result := RunResult("draft", draft))
    shutil.rmtree(old, ignore_errors=True)
    return result


def recorded_source(folder: Path, raw: dict[str, Any]) -> dict[str, Any]:
    """The ``data:`` a report folder (or a draft) was counted from: its snapshot with its dictionary copy when
    it holds one, else the source its recorded params (``raw``) name, with the dictionary copy."""
    dictionary = str((folder / DICTIONARY_COPY).resolve())
    if (folder / SNAPSHOT).is_file():  # the recorded extract replaces the source, whatever kind it was
        return {"path": str((folder / SNAPSHOT).resolve()), "dictionary": dictionary}
    return {**(raw.get("data") or {}), "dictionary": dictionary}


def _check_draft(draft: Path) -> None:
    """The gate again, on the draft as it is now: its files must state what its recorded data counts and
    pass the joint audit against the ledger it was audited with (checked unchanged under the lock after)."""
    where = str(draft / PARAMS_COPY)
    raw = read_yaml(draft / PARAMS_COPY, "recorded params")
    request = parse_request({**raw, "data": recorded_source(draft, raw)}, where)
    data = open_source_for(request, where)
    cubes = [count_cube(data, part, f"{where}: parts.{i}") for i, part in enumerate(request.parts)]
    check_written(draft, request, data, cubes, load_ledger(draft / LEDGER_JSON), where)


def _check_reviewer(reviewer: str) -> str:
    name = " ".join(str(reviewer).split())
    if not name or len(name) > 120 or not name.isprintable():
        raise ParamsError(f"--reviewer: '{capped_text(reviewer)}': give the reviewer's name (one line, up to "
                          "120 characters)")
    return name


def publish_draft(ref: str, reviewer: str, reports_dir: str | Path = "reports",
                  log: Callable[[str], None] = quiet,
                  progress: Callable[[str], None] | None = None) -> RunResult:
    """Publish the draft ``drafts/<ref>/`` that ``reviewer`` (a second person) has approved: under the
    dataset's publication lock, check that the draft is as it was made and that nothing was published (or
    superseded) since its joint audit, record the review in the manifest, sign it and move the report into
    ``reports/<ref>``, where it enters the ledger. A ledger that changed refuses the draft (the reviewer
    approved figures audited against what was published then: the run must be made again and reviewed).
    Status 'written', 'superseded' (a draft made with ``--force``) or 'reproduced' (the report was there)."""
    where = "foikit publish"
    reports_dir = not_a_link("reports_dir", check_path("reports_dir", reports_dir, where), where)
    ref = check_name("ref", ref, where)
    target = inside(reports_dir, ref, "ref", where)
    draft = inside(drafts_folder(reports_dir, where), ref, "ref", where)
    reviewer = _check_reviewer(reviewer)
    if not draft.is_dir() or draft.is_symlink():
        raise ReportError(f"{draft}: no draft of {ref} to publish; make one with foikit run params/{ref}.yaml")
    _, manifest = load_manifest(draft)
    if manifest["ref"] != ref:
        raise ReportError(f"{draft / MANIFEST}: is the draft of {capped_text(manifest['ref'])!r}, not {ref}; "
                          "nothing published")
    if problems := folder_problems(draft, manifest):
        raise ReportError(f"{draft}: changed since the draft was made ({'; '.join(problems[:5])}); nothing "
                          "published: make it again with foikit run")
    if reviewer.casefold() == str(manifest["run"]["user"]).casefold():  # before the gate: it costs a count
        raise ReportError(f"--reviewer {reviewer}: made the draft; a second person must review it before it "
                          "is published")
    step = progress or quiet
    step(f"checking {draft}: its files, and the gate again")
    _check_draft(draft)
    dataset = manifest["inputs"]["dictionary"]["name"]
    force, ignore = bool(manifest["run"].get("force")), [str(r) for r in manifest["run"].get("ignore", [])]
    recorded = json.loads((draft / LEDGER_JSON).read_text(encoding="utf-8"))
    key = signing_key(log=log)  # before the lock: a missing key is made (and said), a bad one stops it here
    with write_errors_reported(), terminate_as_interrupt(), claim_workspace(reports_dir, ref, log) as partial:
        def move() -> RunResult:
            shutil.copytree(draft, partial, dirs_exist_ok=True, symlinks=True)
            review = {"reviewer": reviewer, "published_by": getpass.getuser(),
                      "published_at": datetime.now(UTC).isoformat(timespec="seconds"),
                      "supersedes": _next_version(target).name if force and target.exists() else None}
            write_manifest({**manifest, "review": review}, partial)
            sign_report(partial, key)  # signature.json: binds every field of the manifest, the review included
            return _move_into_place(partial, target, force)

        step(f"checking the ledger has not changed since the draft, then signing and moving it to {target}")
        result = publish_serialised(
            reports_dir, dataset, target, move=move, log=log,
            changed=lambda: select_ledger(reports_dir, ref, dataset, force, str(draft), ignore).changes_since(recorded))
    shutil.rmtree(draft, ignore_errors=True)
    return result


R = typing.TypeVar("R")


def publish_serialised(reports_dir: Path, dataset: str, target: Path, *, changed: Callable[[], list[str]],
                       move: Callable[[], R], log: Callable[[str], None] = quiet) -> R:
    """Publish ``target`` one report at a time per ``dataset``: under the dataset's :func:`publication_lock`,
    ``changed`` says what was published since the draft's joint audit (read now, under the lock); anything
    refuses it, nothing lets ``move`` put it in place. So of two overlapping drafts published at once, the
    second is refused and must be made again against the first."""
    with publication_lock(reports_dir, dataset, log):
        if found := changed():
            raise ReportError(f"{target}: nothing published: {'; '.join(found)} since the draft was made, and "
                              "its joint audit must include that: make the draft again (foikit run) and review it")
        return move()


def discard_draft(ref: str, reports_dir: str | Path = "reports") -> Path:
    """Remove the draft ``drafts/<ref>/`` (nothing published is touched)."""
    where = "foikit discard"
    reports_dir = not_a_link("reports_dir", check_path("reports_dir", reports_dir, where), where)
    ref = check_name("ref", ref, where)
    draft = inside(drafts_folder(reports_dir, where), ref, "ref", where)
    if not draft.is_dir() or draft.is_symlink():
        raise ReportError(f"{draft}: no draft of {ref}")
    with claim_workspace(reports_dir, ref):
        shutil.rmtree(draft)
    return draft


def _produce(partial: Path, ledger: Ledger, *, params_path: Path, template: Path, request: Request,
             data: CaseData, cubes: list[Cube], source: str, snapshot: bool, cwd: Path, seconds: float,
             reports_dir: Path, force: bool, ignore: list[str], step: Callable[[str], None] = quiet,
             progress_bar: bool = False) -> None:
    """Write the whole report into ``partial``, audited against ``ledger``, or raise. The kernel answers the
    request (once) and writes the publishable files; the gate (:func:`foikit.run.gate.check_written`) then
    checks those files against ``cubes``, the true counts."""
    started = datetime.now(UTC)
    ledger_path = partial / LEDGER_JSON
    ledger_path.write_text(json.dumps(ledger.to_json(), indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    inputs = _record_inputs(params_path, template, request, data, partial, snapshot, cwd)
    inputs["ledger"] = {"entries": [e.ref for e in ledger.entries], "sha256": sha256_file(ledger_path)}
    parameters = {**request.model_dump(mode="json"), "ledger": _relative(ledger_path, cwd)}
    try:
        nb = execute_notebook(template, parameters, partial, cwd, request.ref, timeout=seconds,
                              progress_bar=progress_bar)
    except ReportError as exc:
        # an audit failure explains a failed run better than a failing cell: computed here, as the kernel
        # computed it, only when the kernel failed
        check_audit(answer(request, data, source, ledger))
        kept = _keep_failure(reports_dir, request.ref, partial / NOTEBOOK)
        raise ReportError(f"{exc}" + (f"; failed notebook kept at {kept}" if kept else "")) from None
    step("checking the files the template wrote (the gate)")
    check_written(partial, request, data, cubes, ledger, source)
    step("writing the record: report.html, the RO-Crate and the manifest")
    queries = {part.name: cube.query for part, cube in zip(request.parts, cubes, strict=True) if cube.query}
    if queries:  # the exact SQL that counted, where the data lives
        inputs["data"]["queries"] = queries
    policy = request.suppression.model_dump(mode="json")
    export_html(nb, partial / REPORT_HTML, title=request.ref, provenance=provenance(inputs, Policy.of(request)))
    ended = datetime.now(UTC)  # the crate holds the run's times and user; the manifest lists and so signs it
    write_crate(partial, ref=request.ref, inputs=inputs, results=list(PUBLISHED_FILES), objects=[
        n for n in (PARAMS_COPY, DICTIONARY_COPY, SNAPSHOT, LEDGER_JSON) if (partial / n).is_file()],
                started=started.isoformat(timespec="seconds"), ended=ended.isoformat(timespec="seconds"),
                user=getpass.getuser())
    manifest = build_manifest(ref=request.ref, inputs=inputs, policy=policy, folder=partial, started=started,
                              ended=ended, project=cwd)
    # how the draft was made, for publish to check its ledger the same way: superseding (--force) the report,
    # with these unreadable reports ignored (--ignore)
    manifest["run"].update(force=force, ignore=ignore)
    write_manifest(manifest, partial)  # signed when published (the review is part of what is signed)


def _recover_supersession(journal: Path) -> str | None:
    """Undo a supersession cut short by a kill between its two renames (the earlier report had been renamed
    to ``<ref>.vN``, the new one not yet into place): the earlier report goes back to ``<ref>``, as if the
    killed run had never got that far. The caller holds the ref's lock."""
    try:
        record = json.loads(journal.read_text(encoding="utf-8"))
        target, previous = Path(record["target"]), Path(record["previous"])
    except (OSError, ValueError, KeyError, TypeError):
        journal.unlink(missing_ok=True)
        return None
    message = None
    if (previous.parent == target.parent and previous.name.startswith(f"{target.name}.v")
            and not target.exists() and previous.is_dir() and not previous.is_symlink()):
        previous.rename(target)
        message = (f"restored {target} (it had been moved to {previous} by a run superseding it that was "
                   "killed before its new report was in place)")
    journal.unlink(missing_ok=True)  # the killed run's partial folder is cleared like any other
    return message


def _move_into_place(partial: Path, target: Path, force: bool) -> RunResult:
    """Rename ``partial`` to ``target`` (keeping a differing earlier report as ``<ref>.vN`` with ``force``),
    with SIGINT and SIGTERM held off so the step and its record in :data:`PUBLISHED` happen together; a
    kill (SIGKILL) between the two renames of a supersession is undone by the next run."""
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
        journal = partial.parent / LOCKS / f"{target.name}{SUPERSEDE}"
        journal.write_text(json.dumps({"target": str(target), "previous": str(previous)}), encoding="utf-8")
        with signals_deferred():
            target.rename(previous)
            partial.rename(target)
            journal.unlink()
            PUBLISHED.append(result := RunResult("superseded", target, previous))
        return result
    with signals_deferred():
        try:
            partial.rename(target)
        except OSError:
            raise ReportError(f"{target}: another run wrote this report first; nothing written") from None
        PUBLISHED.append(result := RunResult("written", target))
    return result
