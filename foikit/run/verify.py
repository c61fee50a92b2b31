"""`foikit verify`: prove that a past report's published figures still follow from its recorded inputs.

Four steps: the signature over the manifest (which binds every field of it, and through its hashes every
file); the report's files against the set every report must have and against their hashes; a re-execution,
in a temporary folder, of a *trusted* template (the project's notebooks/ or the installed package's, at the
version the report recorded, found in git history when it has changed since) with the recorded params on the
recorded input (the snapshot); a cell-by-cell comparison of published.csv. Besides, the report's witnesses.json
is checked against its published.csv (:mod:`foikit.run.proof`): a failure is 'unproved' (not reproduced).
Nothing in a report chooses what code runs: not the template's path, not a kernel; a report's params only
name which trusted template it is.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from importlib.metadata import PackageNotFoundError
from importlib.metadata import version as installed_version
from pathlib import Path

import nbformat
import pandas as pd

from foikit.exceptions import FoikitError, ReportError, capped_text
from foikit.layout import (
    LEDGER_JSON,
    MANIFEST,
    NOTEBOOK,
    PARAMS_COPY,
    PUBLISHED_CSV,
    PUBLISHED_FILES,
    SNAPSHOT,
    WITNESSES_JSON,
)
from foikit.publish.letter import PROJECT_LETTER_DOCX
from foikit.request.params import Request, parse_request, policy_path, read_yaml
from foikit.run.execute import execute_notebook, letter_template_input, recorded_source
from foikit.run.manifest import Drift, drift, folder_problems, load_manifest
from foikit.run.manifest import versions as shaping_versions
from foikit.run.paths import find_template
from foikit.run.proof import check_report, proof_notes
from foikit.run.signing import SignatureCheck, check_signature
from foikit.run.snapshot import content_sha256, extract
from foikit.source.data import open_source
from foikit.source.files import sha256_file

KEY = ["part", "table"]


@dataclass
class Verification:
    """The outcome of verifying one report; ``ok`` only when it is 'reproduced': signed by a trusted key,
    every file present and as recorded, and every published cell re-executed to the same value."""

    report: Path
    problems: list[str] = field(default_factory=list)  # tampered or missing files, bad signature, errors
    differences: list[str] = field(default_factory=list)  # published cells whose re-executed value differs
    unproved: list[str] = field(default_factory=list)  # why witnesses.json does not prove the audit
    notes: list[str] = field(default_factory=list)  # what changed since the report (template, versions)
    signature: SignatureCheck | None = None
    executed: bool = False
    unreviewed: str | None = None  # why the manifest records no review (a draft, not a published report)

    @property
    def ok(self) -> bool:
        return self.status == "reproduced"

    @property
    def status(self) -> str:
        if self.problems:
            return "tampered"
        if self.signature is None or not self.signature.ok:
            return self.signature.state if self.signature else "unsigned"
        if self.unreviewed:
            return "unreviewed"
        if self.differences:
            return "differs"
        if self.unproved:
            return "unproved"
        return "reproduced" if self.executed else "intact (not re-executed)"

    def details(self) -> list[str]:
        """What verify found, one line each: problems, the signer, differing cells, notes."""
        signer = [self.signature.message] if self.signature and self.signature.state != "invalid" else []
        return [*self.problems, *signer, *filter(None, [self.unreviewed]), *self.differences, *self.unproved,
                *[f"note: {n}" for n in self.notes]]

    def lines(self) -> list[str]:
        return [f"{self.report}: {self.status}", *[f"  {d}" for d in self.details()]]


def _check_files(report: Path, manifest: dict, result: Verification) -> None:
    result.problems += folder_problems(report, manifest)


def _check_inputs(manifest: dict, result: Verification) -> None:
    inputs = manifest["inputs"]
    params = Path(inputs["params"]["path"])
    if params.is_file() and sha256_file(params) != inputs["params"]["sha256"]:
        result.problems.append(f"{params}: changed since the report was made (the report keeps the params it "
                               f"used as {PARAMS_COPY})")
    named = inputs.get("policy")  # the policy file the params named (re-execution reads it again)
    if isinstance(named, dict):
        path = policy_path(named.get("name"))
        if path is None or sha256_file(path) != named.get("sha256"):
            result.problems.append(f"policy {capped_text(str(named.get('name')), 60)}: "
                                   f"{'no longer found' if path is None else f'{path} changed'} since the report "
                                   f"was made (sha256 recorded {str(named.get('sha256'))[:12]})")
    # the Word template the letter came from: the project's own, or (recorded as nothing) the shipped one
    recorded = inputs.get("letter_template") if isinstance(inputs.get("letter_template"), dict) else None
    present = letter_template_input(Path.cwd()).get("letter_template")
    if (recorded or {}).get("sha256") != (present or {}).get("sha256"):
        made = f"{PROJECT_LETTER_DOCX} (sha256 {str(recorded.get('sha256'))[:12]})" if recorded else \
            "the shipped Word template"
        uses = f"{PROJECT_LETTER_DOCX}, {'changed' if recorded else 'added'} since" if present else \
            f"the shipped one (there is no {PROJECT_LETTER_DOCX})"
        result.problems.append(f"letter template: the report's letter.docx came from {made}; a re-run now uses "
                               f"{uses}")
    now = shaping_versions()
    for name, old in manifest.get("versions", {}).items():
        if now.get(name) != old:
            result.notes.append(f"{name} version changed since the report: {old} -> {now.get(name)}")
    if manifest.get("environment") is None:
        result.notes.append("the report records no environment (made before foikit recorded every package)")
        return
    found = drift(manifest["environment"])
    if found.python:
        result.notes.append(f"Python version changed since the report: {found.python[0]} -> {found.python[1]}")
    if found.count:
        result.notes.append(f"environment: {found.count} packages differ from the recording environment "
                            f"({len(found.changed)} changed, {len(found.added)} added, {len(found.removed)} "
                            f"removed): {_capped(found.items())}")


def _capped(items: list[str], most: int = 10) -> str:
    return ", ".join(items[:most]) + (f" and {len(items) - most} more" if len(items) > most else "")


def explain_difference(found: Drift | None) -> str:
    """Whether version drift could explain a re-execution that differs from the report."""
    if found is None:
        return ("re-executed figures differ; the report records no environment, so whether package versions "
                "explain it cannot be said")
    if not found.count and not found.python:
        return ("re-executed figures differ; no package differs from the recording environment, so version drift "
                "does not explain it")
    shaping = found.shaping() + ([f"Python {found.python[0]} -> {found.python[1]}"] if found.python else [])
    among = (f", among them {_capped(shaping, 5)}, which shape{'s' if len(shaping) == 1 else ''} the output"
             if shaping else ", none of them one that shapes the output")
    return f"re-executed figures differ; {found.count} packages differ from the recording environment{among}"


def _git(where: Path, *args: str) -> bytes:
    return subprocess.run(["git", *args], cwd=where, capture_output=True, check=True, timeout=60).stdout


def _from_git_history(template: Path, sha256: str) -> tuple[str, bytes] | None:
    """The version of ``template`` whose sha256 is ``sha256`` in the history of the trusted checkout that
    holds it (commits reachable from HEAD, newest first), as (commit, content); None when there is none."""
    folder = template.resolve().parent
    try:
        top = Path(_git(folder, "rev-parse", "--show-toplevel").decode().strip())
        rel = template.resolve().relative_to(top).as_posix()
        log = _git(top, "log", "--format=%H", "--raw", "--no-abbrev", "HEAD", "--", rel).decode()
        commit, seen = "", set()
        for line in log.splitlines():
            if len(line) == 40 and not line.startswith(":"):
                commit = line
            elif line.startswith(":") and len(fields := line.split()) >= 4 and fields[3] not in seen:
                seen.add(fields[3])
                if set(fields[3]) == {"0"}:  # the file was deleted in this commit
                    continue
                content = _git(top, "cat-file", "blob", fields[3])
                if hashlib.sha256(content).hexdigest() == sha256:
                    return commit, content
    except (OSError, ValueError, subprocess.SubprocessError):
        return None
    return None


def trusted_template(name: str, sha256: str, notebooks_dir: Path | None, tmp: Path) -> tuple[Path, bool, str | None]:
    """The template to re-execute: the trusted ``notebooks/<name>.ipynb`` (``notebooks_dir``, ./notebooks or
    the installed package's), at the version with ``sha256`` when it can be found (now, or in the git history
    of the checkout that holds it). Returns (path, whether it is the recorded version, a note)."""
    current = find_template(name, notebooks_dir)
    now = sha256_file(current)
    if now == sha256:
        return current, True, None
    found = _from_git_history(current, sha256)
    if found:
        commit, content = found
        path = tmp / f"{name}.ipynb"
        path.write_bytes(content)
        return path, True, (f"template {current} has changed since the report; re-executed the recorded version "
                            f"from git commit {commit[:12]} of {current.parent} (sha256 {sha256[:12]})")
    return current, False, (f"the recorded template (sha256 {sha256[:12]}) is not {current} (sha256 {now[:12]}) nor "
                            "in its git history; re-executed the current one")


def _code(nb: nbformat.NotebookNode) -> list[str]:
    return [c.source for c in nb.cells
            if c.cell_type == "code" and "injected-parameters" not in c.metadata.get("tags", [])]


def _check_record(report: Path, template: Path, result: Verification) -> None:
    """The recorded notebook must hold the template's code, cell for cell (only the parameters are added)."""
    try:
        recorded = _code(nbformat.read(report / NOTEBOOK, as_version=4))
    except (OSError, ValueError) as exc:
        result.problems.append(f"{report / NOTEBOOK}: not a notebook ({str(exc).splitlines()[0][:120]})")
        return
    expected = _code(nbformat.read(template, as_version=4))
    if recorded != expected:
        at = next((i for i, (a, b) in enumerate(zip(recorded, expected, strict=False)) if a != b),
                  min(len(recorded), len(expected)))
        result.problems.append(f"{report / NOTEBOOK}: its code is not the template's (code cell {at + 1} differs)")


def _cell(row: pd.Series, dims: Sequence[str]) -> str:
    coords = ", ".join(f"{d}={row[d]}" for d in dims if row[d] != "")
    return f"{row['part']}/{row['table']}[{coords or 'grand total'}]"


def compare_published(old: Path, new: Path) -> list[str]:
    """Every published cell whose value or marker differs between two published.csv files."""
    a = pd.read_csv(old, dtype=str, keep_default_na=False)
    b = pd.read_csv(new, dtype=str, keep_default_na=False)
    dims = [c for c in a.columns if c not in {*KEY, "value", "marker"}]
    if list(a.columns) != list(b.columns):
        return [f"{old.name}: columns differ: {list(a.columns)} -> {list(b.columns)}"]
    keys = [*KEY, *dims]
    merged = a.merge(b, on=keys, how="outer", suffixes=("_old", "_new"), indicator=True, sort=False)
    out = []
    for _, row in merged.iterrows():
        old_shown = "(absent)" if row["_merge"] == "right_only" else (row["value_old"] or row["marker_old"])
        new_shown = "(absent)" if row["_merge"] == "left_only" else (row["value_new"] or row["marker_new"])
        if old_shown != new_shown:
            out.append(f"{_cell(row, dims)}: published {old_shown}, re-executed {new_shown}")
    return out


def _request(report: Path) -> tuple[dict, Request]:
    raw = read_yaml(report / PARAMS_COPY, "recorded params")
    return raw, parse_request(raw, str(report / PARAMS_COPY))


def _reexecute(report: Path, manifest: dict, result: Verification, template: Path, cwd: Path) -> None:
    raw, request = _request(report)
    data = recorded_source(report, raw)
    if not (report / SNAPSHOT).is_file():  # --no-snapshot: the original source must still give the same extract
        rows = extract(open_source(parse_request({**raw, "data": data}).data, request.template), request)
        if content_sha256(rows) != manifest["inputs"]["data"]["extract_sha256"]:
            result.problems.append(f"{manifest['inputs']['data']['source']}: the extract it now gives differs "
                                   "from the one the report used (no snapshot was stored)")
            return
    parameters = {**request.model_dump(mode="json"), "data": data}
    if (report / LEDGER_JSON).is_file():  # the earlier responses it was audited against, as they were then
        parameters["ledger"] = str((report / LEDGER_JSON).resolve())
    with tempfile.TemporaryDirectory(prefix=f"foikit-verify-{request.ref}-") as tmp:
        out = Path(tmp)
        execute_notebook(template, parameters, out, cwd, request.ref)
        result.executed = True
        result.differences += compare_published(report / PUBLISHED_CSV, out / PUBLISHED_CSV)
        for name in PUBLISHED_FILES:
            if name != PUBLISHED_CSV and (report / name).is_file() and \
                    (report / name).read_bytes() != (out / name).read_bytes():
                result.differences.append(f"{name}: re-executed file differs from the published one")


def _template_and_rerun(report: Path, manifest: dict, result: Verification, notebooks_dir: Path | None,
                        execute: bool) -> None:
    """Find the trusted template the report names, check the record against it, re-execute it."""
    _, request = _request(report)
    recorded = manifest["inputs"]["template"]
    if Path(recorded["path"]).stem != request.template:
        result.problems.append(f"{report / MANIFEST}: names template {recorded['path'][:80]!r}, but the report's "
                               f"{PARAMS_COPY} asks for {request.template!r}")
    with tempfile.TemporaryDirectory(prefix="foikit-verify-template-") as tmp:
        template, exact, note = trusted_template(request.template, recorded["sha256"], notebooks_dir, Path(tmp))
        if note:
            result.notes.append(note)
        if exact:
            _check_record(report, template, result)
        if execute:
            _reexecute(report, manifest, result, template, Path.cwd())


def verify_report(report: str | Path, notebooks_dir: str | Path | None = None, execute: bool = True) -> Verification:
    """Verify one report folder; never raises for a bad report, it reports it. ``execute=False`` checks the
    signature, the files and the record's code only (status 'intact (not re-executed)' at best).

    >>> verify_report("reports/01.FOI.23.032341").status  # doctest: +SKIP
    'reproduced'
    """
    report = Path(report)
    result = Verification(report)
    if not (report / MANIFEST).is_file():
        result.problems.append(f"{report / MANIFEST}: missing (not a foikit report?)")
        return result
    try:
        body, manifest = load_manifest(report)
    except ReportError as exc:  # nothing in it can be relied on: no further check, nothing re-executed
        result.problems.append(str(exc))
        return result
    result.signature = check_signature(report, body)
    if result.signature.state == "invalid":
        result.problems.append(result.signature.message)
    _check_files(report, manifest, result)
    if (report / WITNESSES_JSON).is_file():  # a missing one is already a problem of the files
        result.unproved += [f"proof: {line}" for line in check_report(report)]
        result.notes += [f"proof: {line}" for line in proof_notes(report)]
    _check_inputs(manifest, result)
    review = manifest.get("review")
    if not isinstance(review, dict) or not str(review.get("reviewer") or "").strip():
        result.unreviewed = (f"{report / MANIFEST}: records no reviewer: a draft, not a report published with "
                             "foikit publish")
    try:
        _template_and_rerun(report, manifest, result, Path(notebooks_dir) if notebooks_dir else None, execute)
        if result.differences:
            env = manifest.get("environment")
            result.notes.append(explain_difference(drift(env) if env is not None else None))
    except FoikitError as exc:
        result.problems.append(f"re-execution failed: {str(exc).splitlines()[0]}")
    except (OSError, ValueError) as exc:
        result.problems.append(f"re-execution failed: {type(exc).__name__}: {(str(exc).splitlines() or [''])[0]}")
    return result


def find_reports(reports_dir: str | Path) -> list[Path]:
    """Every report folder (one holding a manifest) directly under ``reports_dir``."""
    return sorted(p.parent for p in Path(reports_dir).glob(f"*/{MANIFEST}"))


def verify_all(reports_dir: str | Path, jobs: int = 1, notebooks_dir: str | Path | None = None,
               progress: Callable[[Verification], None] | None = None) -> list[Verification]:
    """Verify every report under ``reports_dir`` with ``jobs`` processes; results in report order."""
    reports = find_reports(reports_dir)
    results: dict[Path, Verification] = {}
    if jobs <= 1:
        for report in reports:
            results[report] = verify_report(report, notebooks_dir)
            if progress:
                progress(results[report])
    else:
        with ProcessPoolExecutor(max_workers=jobs) as pool:
            futures = {pool.submit(verify_report, r, notebooks_dir): r for r in reports}
            for future in as_completed(futures):
                results[futures[future]] = future.result()
                if progress:
                    progress(results[futures[future]])
    return [results[r] for r in reports]


# Of the distributions a report recorded, those a recreated environment does not install from the record: foikit
# is the trusted code doing the verifying (copied in), pip is the new venv's own.
NOT_REINSTALLED = frozenset({"foikit", "pip"})
# What would let the recreated environment's kernel or imports come from elsewhere
_LEAKY_ENV = ("PYTHONPATH", "PYTHONHOME", "PYTHONSTARTUP", "PYTHONUSERBASE", "JUPYTER_PATH", "JUPYTER_DATA_DIR",
              "VIRTUAL_ENV", "CONDA_PREFIX")


def recorded_requirements(report: Path, manifest: dict) -> list[str]:
    """``name==version`` for every distribution the report's environment recorded (but foikit and pip)."""
    dists = (manifest.get("environment") or {}).get("distributions")
    if not dists:
        raise ReportError(f"{report / MANIFEST}: records no environment (made before foikit recorded every "
                          "package): there is nothing to recreate; use plain `foikit verify`")
    return [f"{name}=={v}" for name, v in sorted(dists.items()) if name not in NOT_REINSTALLED]


def _last_line(text: str) -> str:
    lines = [ln.strip() for ln in text.splitlines() if ln.strip() and not ln.startswith("WARNING: Location")]
    errors = [ln for ln in lines if ln.startswith("ERROR")]
    return (errors or lines or ["(no output)"])[0][:200]


def verify_in_recorded_environment(report: str | Path, notebooks_dir: str | Path | None = None,
                                   wheels: str | Path | None = None, python: str | None = None,
                                   log: Callable[[str], None] | None = None) -> tuple[list[str], int]:
    """Recreate the environment ``report`` recorded in a new virtual environment and verify it there.

    Every recorded distribution is installed at its recorded version (``--no-deps``: the record is the whole
    set, nothing is resolved again) from the package index pip is configured for, or, with ``wheels``, only
    from that folder of wheels (``--no-index``: air-gapped). foikit itself is this trusted copy, and the
    templates are the trusted ones this process would use. Returns the inner ``foikit verify``'s lines and
    exit code; raises ``ReportError`` (one line) when the environment cannot be made."""
    report = Path(report)
    _, manifest = load_manifest(report)
    requirements = recorded_requirements(report, manifest)
    notebooks = find_template(_request(report)[1].template, notebooks_dir).resolve().parent
    interpreter = python or sys.executable
    with tempfile.TemporaryDirectory(prefix="foikit-verify-env-") as tmp:
        root = Path(tmp)
        env_python = root / "venv" / "bin" / "python"
        made = subprocess.run([interpreter, "-m", "venv", str(root / "venv")], capture_output=True, text=True)
        if made.returncode:
            raise ReportError(f"{interpreter}: cannot make a virtual environment: {_last_line(made.stderr)}")
        (root / "requirements.txt").write_text("\n".join(requirements) + "\n", encoding="utf-8")
        source = ["--no-index", "--find-links", str(Path(wheels).resolve())] if wheels else []
        if log:
            log(f"{report}: installing the {len(requirements)} recorded distributions into a new virtual "
                f"environment ({'wheels from ' + str(wheels) if wheels else 'from the package index'})")
        pip = subprocess.run([str(env_python), "-m", "pip", "install", "--no-deps", "--disable-pip-version-check",
                              "-q", *source, "-r", str(root / "requirements.txt")], capture_output=True, text=True)
        if pip.returncode:
            raise ReportError(f"{report}: cannot recreate the recorded environment ({len(requirements)} "
                              f"distributions): pip: {_last_line(pip.stderr + pip.stdout)}")
        # this foikit, with the metadata that names its version, on the new environment's path
        shutil.copytree(Path(__file__).resolve().parents[1], root / "src" / "foikit",
                        ignore=shutil.ignore_patterns("__pycache__"))
        try:
            ours = installed_version("foikit")
        except PackageNotFoundError:
            ours = "0+unknown"
        info = root / "src" / f"foikit-{ours}.dist-info"
        info.mkdir()
        (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: foikit\nVersion: {ours}\n", encoding="utf-8")
        env = {k: v for k, v in os.environ.items() if k not in _LEAKY_ENV} | {"PYTHONPATH": str(root / "src")}
        if log:
            log(f"{report}: re-executing in the recreated environment")
        inner = subprocess.run([str(env_python), "-m", "foikit.cli", "verify", str(report), "--notebooks",
                                str(notebooks)], capture_output=True, text=True, env=env)
    lines = inner.stdout.splitlines()
    if inner.returncode not in (0, 1) or not lines:
        raise ReportError(f"{report}: verify failed in the recreated environment: {_last_line(inner.stderr)}")
    return [*lines, f"  note: verified in a new virtual environment of the {len(requirements)} distributions the "
                    "report recorded"], inner.returncode
