"""Runs at the same time: one run per ref, one publication at a time per dataset (a draft audited against a
ledger that has changed since is refused), stale workspaces cleared, and a supersession that is one step at
every instant.

The lock and the refusal are tried many times cheaply in threads (flock excludes separate descriptors of one
process as it excludes processes); real overlapping requests of the real template are published together."""

from __future__ import annotations

import os
import shutil
import signal
import stat
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import filelock
import pytest
import yaml

from foikit.exceptions import ReportError
from foikit.run.execute import claim_workspace, publication_lock_file, publish_serialised, workspace

from .conftest import EXAMPLE_REPORT, REVIEWER, ROOT, run_published
from .procs import env

REF = "01.FOI.99.000001"


def test_two_claims_of_one_ref_at_once_admit_exactly_one(tmp_path):
    reports = tmp_path / "reports"
    rounds, admitted, refused = 300, [], []
    start, attempted = threading.Barrier(2), threading.Barrier(2)

    def claimant(name: str) -> None:
        for i in range(rounds):
            start.wait()
            try:
                with claim_workspace(reports, REF, wait=0) as partial:
                    admitted.append((i, name))
                    assert partial.is_dir()
                    attempted.wait()  # the other has tried while this one holds the claim
            except ReportError as exc:
                assert f"another run of {REF} is in progress" in str(exc)
                refused.append((i, name))
                attempted.wait()

    threads = [threading.Thread(target=claimant, args=(n,)) for n in "ab"]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=300)
    assert sorted(i for i, _ in admitted) == list(range(rounds))  # one per round, never two
    assert sorted(i for i, _ in refused) == list(range(rounds))
    assert not (tmp_path / ".foikit-work" / f"{REF}.partial").exists()


def test_overlapping_publications_are_serialised_and_the_later_is_refused(tmp_path):
    """Two drafts made against the same ledger (each sees nothing of the other) are published at once, in a
    fixed order each trial and both orders over the trials: the first goes in, the second is always refused,
    naming the first, and is never put in place."""
    reports = tmp_path / "reports"
    published = tmp_path / "published"  # one file per published draft
    published.mkdir()

    for trial in range(100):
        refs = (f"A{trial}", f"B{trial}")
        first = refs[trial % 2]
        read, holds = threading.Barrier(2), threading.Event()
        outcome: dict[str, str] = {}
        errors: list[BaseException] = []

        def one_publish(ref: str, outcome=outcome, read=read, holds=holds, first=first, errors=errors) -> None:
            try:
                seen = {p.name for p in published.iterdir()}  # what its draft was audited against
                read.wait()  # both drafts were made before either is published: they overlap
                if ref != first:
                    holds.wait()

                def changed() -> list[str]:
                    holds.set()  # this one now holds the lock: the other may try for it
                    return [f"{r} was published" for r in sorted({p.name for p in published.iterdir()} - seen)]

                def move() -> None:
                    (published / ref).write_text("")

                publish_serialised(reports, "cases", reports / ref, changed=changed, move=move)
                outcome[ref] = "published"
            except ReportError as exc:
                outcome[ref] = str(exc)
            except BaseException as exc:
                errors.append(exc)

        threads = [threading.Thread(target=one_publish, args=(r,)) for r in refs]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=60)
        assert not errors, errors
        second = refs[1 - trial % 2]
        assert outcome[first] == "published"
        assert outcome[second] == f"{reports / second}: nothing published: {first} was published since the draft " \
            "was made, and its joint audit must include that: make the draft again (foikit run) and review it"
        assert not (published / second).exists()


def _copy_params(src: Path, dest: Path, ref: str) -> Path:
    raw = yaml.safe_load(src.read_text(encoding="utf-8"))
    raw["ref"] = ref
    path = dest / f"{ref}.yaml"
    path.write_text(yaml.safe_dump(raw, sort_keys=False, allow_unicode=True), encoding="utf-8")
    return path


def _foikit(*args: str, **kw) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "foikit.cli", *args], cwd=ROOT, env=env(),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kw)


def _done(proc: subprocess.Popen) -> subprocess.CompletedProcess:
    out, err = proc.communicate(timeout=300)
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)


def test_two_overlapping_requests_published_together_are_protected_jointly(tmp_path):
    """The two requests of issue 12.1, with fresh refs: both drafts are made at the same time against an
    empty ledger, then both are published at the same moment (the test holds the dataset's publication lock
    until both wait for it). One goes in; the other is refused, made again against it and published; then
    `foikit audit` passes for both."""
    params, reports = tmp_path / "params", tmp_path / "reports"
    params.mkdir()
    runs = [_copy_params(ROOT / "params" / "01.FOI.23.032341.yaml", params, "01.FOI.99.100001"),
            _copy_params(ROOT / "params" / "01.FOI.24.000211.yaml", params, "01.FOI.99.100002")]
    drafts = [_done(proc) for proc in [_foikit("run", str(p), "--reports-dir", str(reports)) for p in runs]]
    assert [d.returncode for d in drafts] == [0, 0], [d.stderr for d in drafts]
    hold = filelock.FileLock(publication_lock_file(reports, "conduct_allegations"))
    with hold:
        procs = [_foikit("publish", p.stem, "--reviewer", REVIEWER, "--reports-dir", str(reports)) for p in runs]
        for proc in procs:  # each says it waits before it takes the lock
            assert proc.stderr.readline().startswith("waiting for another run to finish publishing"), proc.args
    results = [_done(proc) for proc in procs]
    assert sorted(r.returncode for r in results) == [0, 1], [r.stderr for r in results]
    won = next(p.stem for p, r in zip(runs, results, strict=True) if r.returncode == 0)
    lost = next(p for p, r in zip(runs, results, strict=True) if r.returncode == 1)
    refused = next(r for r in results if r.returncode == 1)
    assert f"{won} was published since the draft was made" in refused.stderr
    assert sorted(p.name for p in reports.iterdir()) == [won]
    again = run_published(lost, reports)
    assert again.returncode == 0, again.stderr
    ledger = yaml.safe_load((reports / lost.stem / "ledger.json").read_text())
    assert [e["ref"] for e in ledger["entries"]] == [won]
    for p in runs:
        audit = subprocess.run([sys.executable, "-m", "foikit.cli", "audit", str(reports / p.stem)], cwd=ROOT,
                               env=env(), capture_output=True, text=True, timeout=300)
        assert audit.returncode == 0, audit.stdout + audit.stderr
        assert audit.stdout.strip().splitlines()[-1] == \
            f"{reports / p.stem}: protected against everything published"


def test_a_killed_runs_partial_folder_is_removed_by_the_next_run_of_any_ref(tmp_path):
    reports = tmp_path / "reports"
    work = workspace(reports)
    stale = work / "01.FOI.99.000777.partial"
    stale.mkdir()
    (stale / "input.parquet").write_bytes(b"case rows")
    alive = work / "01.FOI.99.000888.partial"  # a run in progress: its lock is held
    alive.mkdir()
    holder = filelock.FileLock(work / "locks" / "01.FOI.99.000888.lock")
    holder.acquire()
    said: list[str] = []
    try:
        with claim_workspace(reports, REF, log=said.append) as partial:
            assert not stale.exists()
            assert alive.is_dir()
            assert stat.S_IMODE(partial.stat().st_mode) == 0o700
    finally:
        holder.release()
    assert said == [f"removed {stale}, left by a run of 01.FOI.99.000777 that was killed"]
    assert stat.S_IMODE(work.stat().st_mode) == 0o700


def test_an_existing_workspace_is_made_private(tmp_path):
    work = tmp_path / ".foikit-work"
    work.mkdir(mode=0o755)
    work.chmod(0o755)
    with claim_workspace(tmp_path / "reports", REF):
        assert stat.S_IMODE(work.stat().st_mode) == 0o700


# A process that supersedes reports/<REF> (as --force does) and is signalled at a chosen rename: `kill` is
# the signal, `at` the rename after which it arrives (1: the earlier report moved away).
SUPERSEDE = textwrap.dedent("""
    import os, signal, sys
    from pathlib import Path
    from foikit.run import execute

    reports, kill, at = Path(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
    real, calls = Path.rename, []

    def rename(self, target):
        done = real(self, target)
        calls.append(target)
        if len(calls) == at:
            os.kill(os.getpid(), kill)
        return done

    Path.rename = rename
    with execute.claim_workspace(reports, sys.argv[4]) as partial:
        execute.shutil.copytree(reports / sys.argv[4], partial, dirs_exist_ok=True)
        (partial / "published.csv").write_text("new\\n")
        execute._move_into_place(partial, reports / sys.argv[4], force=True)
""")


def _supersede(reports: Path, kill: int, at: int) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", SUPERSEDE, str(reports), str(kill), str(at), REF], env=env(),
                          capture_output=True, text=True, timeout=120)


@pytest.fixture
def earlier(tmp_path) -> Path:
    reports = tmp_path / "reports"
    shutil.copytree(EXAMPLE_REPORT, reports / REF)
    return reports


@pytest.mark.parametrize("at", [1, 2], ids=["between-the-renames", "after-the-last-rename"])
def test_sigterm_during_supersession_leaves_it_whole_and_says_so(earlier, monkeypatch, at):
    from foikit import cli
    from foikit.run import execute

    real, calls = Path.rename, []

    def rename(self: Path, target: Path) -> Path:
        done = real(self, target)
        calls.append(target)
        if len(calls) == at:
            os.kill(os.getpid(), signal.SIGTERM)
        return done

    monkeypatch.setattr(Path, "rename", rename)
    monkeypatch.setattr(execute, "PUBLISHED", [])
    previous = signal.signal(signal.SIGTERM, cli._interrupt)
    try:
        with pytest.raises(KeyboardInterrupt), claim_workspace(earlier, REF) as partial:
            shutil.copytree(earlier / REF, partial, dirs_exist_ok=True)
            (partial / "published.csv").write_text("new\n")
            execute._move_into_place(partial, earlier / REF, force=True)
    finally:
        signal.signal(signal.SIGTERM, previous)

    assert cli._interrupted() == f"foikit: interrupted after {earlier / REF} was written in full (the earlier " \
        f"report is kept as {earlier / f'{REF}.v1'})"
    assert sorted(p.name for p in earlier.iterdir()) == [REF, f"{REF}.v1"]
    assert (earlier / REF / "published.csv").read_text() == "new\n"
    assert (earlier / f"{REF}.v1" / "published.csv").read_bytes() == \
        (EXAMPLE_REPORT / "published.csv").read_bytes()


def test_a_supersession_killed_between_its_renames_is_undone_by_the_next_run(earlier):
    done = _supersede(earlier, signal.SIGKILL, 1)
    assert done.returncode == -signal.SIGKILL
    assert sorted(p.name for p in earlier.iterdir()) == [f"{REF}.v1"]  # the instant the kill caught

    said: list[str] = []
    with claim_workspace(earlier, "01.FOI.99.000002", log=said.append):  # the next run, of any ref
        assert sorted(p.name for p in earlier.iterdir()) == [REF]
    assert (earlier / REF / "published.csv").read_bytes() == (EXAMPLE_REPORT / "published.csv").read_bytes()
    assert said == [f"restored {earlier / REF} (it had been moved to {earlier / f'{REF}.v1'} by a run superseding "
                    "it that was killed before its new report was in place)",
                    f"removed {earlier.parent / '.foikit-work' / f'{REF}.partial'}, left by a run of {REF} that "
                    "was killed"]
