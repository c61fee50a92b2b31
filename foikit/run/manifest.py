"""reports/<ref>/manifest.json: what went in (hashes of params, template, data), what came out (a hash per
file), with which software, from which commit, by whom and when."""

from __future__ import annotations

import getpass
import json
import platform
import re
import subprocess
import sys
from dataclasses import dataclass
from datetime import datetime
from importlib.metadata import PackageNotFoundError, distributions, version
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError

from foikit.exceptions import ReportError
from foikit.layout import (
    CRATE,
    DICTIONARY_COPY,
    INTERNAL,
    LEDGER_JSON,
    MANIFEST,
    NOTEBOOK,
    PARAMS_COPY,
    PUBLISHED_FILES,
    REPORT_HTML,
    SIGNATURE,
    SNAPSHOT,
)
from foikit.request.policy import Policy
from foikit.source.files import sha256_file

KERNEL = "python3"
# The packages that shape a report's files (its figures, tables, letter, record, signature and crate); every
# other installed distribution is in the manifest's ``environment`` block.
PACKAGES = ("foikit", "pandas", "numpy", "scipy", "highspy", "pyarrow", "openpyxl", "papermill", "nbconvert",
            "nbclient", "nbformat", "ipykernel", "python-docx", "lxml", "jinja2", "MarkupSafe", "matplotlib",
            "pillow", "beautifulsoup4", "duckdb", "duckdb-engine", "SQLAlchemy", "pydantic", "PyYAML",
            "cryptography", "rocrate", "docxtpl", "odfpy")
# Files of a report that hold unpublished counts or case-level rows: the internal record.


def versions() -> dict[str, str]:
    """Python, the kernel name and the versions of the packages that shape a report."""
    out = {"python": platform.python_version(), "kernel": KERNEL}
    for name in PACKAGES:
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            out[name] = "not installed"
    return out


def _canonical(name: str) -> str:
    """A distribution's name as PEP 503 normalises it, so 'PyYAML', 'pyyaml' and 'py_yaml' are one."""
    return re.sub(r"[-_.]+", "-", name).lower()


def environment() -> dict[str, Any]:
    """The Python, the platform and every installed distribution (normalised name -> version, sorted): the
    first of a name on sys.path wins, as it is the one that imports."""
    found: dict[str, str] = {}
    for dist in distributions():
        name = dist.metadata["Name"]
        if name and _canonical(name) not in found:
            found[_canonical(name)] = dist.version
    return {"python": platform.python_version(), "implementation": sys.implementation.name,
            "platform": platform.platform(), "machine": platform.machine(),
            "distributions": dict(sorted(found.items()))}


@dataclass(frozen=True)
class Drift:
    """How the current environment differs from the one a report recorded."""

    changed: dict[str, tuple[str, str]]  # name -> (recorded, now)
    added: list[str]  # installed now, not then
    removed: list[str]  # installed then, not now
    python: tuple[str | None, str] | None  # (recorded, now) when it differs (None: not recorded)

    @property
    def count(self) -> int:
        return len(self.changed) + len(self.added) + len(self.removed)

    def items(self, only: set[str] | None = None) -> list[str]:
        """Every difference as 'name old -> new', 'name (added)' or 'name (removed)'; of ``only`` if given."""
        out = [f"{n} {old} -> {new}" for n, (old, new) in self.changed.items() if only is None or n in only]
        out += [f"{n} (added)" for n in self.added if only is None or n in only]
        return out + [f"{n} (removed)" for n in self.removed if only is None or n in only]

    def shaping(self) -> list[str]:
        """The differences among the packages that shape the output (:data:`PACKAGES`)."""
        return self.items({_canonical(p) for p in PACKAGES})


def drift(recorded: dict[str, Any], now: dict[str, Any] | None = None) -> Drift:
    """Compare a manifest's ``environment`` block with ``now`` (default: this environment)."""
    now = now or environment()
    old, new = recorded.get("distributions", {}), now["distributions"]
    return Drift(changed={n: (old[n], new[n]) for n in sorted(old.keys() & new.keys()) if old[n] != new[n]},
                 added=sorted(new.keys() - old.keys()), removed=sorted(old.keys() - new.keys()),
                 python=None if recorded.get("python") == now["python"] else (recorded.get("python"), now["python"]))


def git_state(where: Path) -> dict[str, Any] | None:
    """The project's commit and whether its tree has uncommitted changes (None outside a git checkout)."""
    def git(*args: str) -> str:
        return subprocess.run(["git", *args], cwd=where, capture_output=True, text=True, check=True,
                              timeout=30).stdout.strip()

    try:
        commit = git("rev-parse", "HEAD")
        dirty = bool(git("status", "--porcelain", "--untracked-files=no"))
    except (OSError, subprocess.SubprocessError):
        return None
    return {"commit": commit, "dirty": dirty}


def file_hashes(folder: Path) -> dict[str, str]:
    """sha256 of every file in a report folder but the manifest itself, by name."""
    return {p.name: sha256_file(p) for p in sorted(folder.iterdir()) if p.is_file() and p.name != MANIFEST}


def build_manifest(*, ref: str, inputs: dict[str, Any], policy: dict[str, Any], folder: Path,
                   started: datetime, ended: datetime, project: Path) -> dict[str, Any]:
    return {
        "ref": ref,
        "inputs": inputs,
        "outputs": file_hashes(folder),
        "internal_record": {"files": [f for f in INTERNAL if (folder / f).exists()],
                            "note": "these files hold unpublished counts or case-level rows: do not publish"},
        "versions": versions(),
        "environment": environment(),
        "git": git_state(project),
        "run": {"started": started.isoformat(timespec="seconds"), "ended": ended.isoformat(timespec="seconds"),
                "duration_seconds": round((ended - started).total_seconds(), 3), "user": getpass.getuser()},
        "suppression": policy,
    }


def write_manifest(manifest: dict[str, Any], folder: Path) -> Path:
    path = folder / MANIFEST
    path.write_text(json.dumps(manifest, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    return path


def read_manifest(folder: Path) -> dict[str, Any]:
    return json.loads((folder / MANIFEST).read_text(encoding="utf-8"))


# The shape verify relies on. Further fields are allowed (the signature binds them all); these must be there.
class _Model(BaseModel):
    model_config = ConfigDict(extra="allow", strict=True)


class _Hashed(_Model):
    path: str
    sha256: str


class _Data(_Model):
    source: str
    source_sha256: str | None
    rows: int
    extract_sha256: str
    snapshot: str | None


class _Dictionary(_Model):
    name: str | None
    version: Any
    sha256: str


class _Inputs(_Model):
    params: _Hashed
    template: _Hashed
    data: _Data
    dictionary: _Dictionary


class _Run(_Model):
    started: str
    ended: str
    user: str


class _Environment(_Model):
    python: str
    platform: str
    distributions: dict[str, str]


class Manifest(_Model):
    ref: str
    inputs: _Inputs
    outputs: dict[str, str]
    versions: dict[str, str]
    environment: _Environment | None = None  # absent in reports made before foikit recorded it
    git: dict[str, Any] | None
    run: _Run
    suppression: dict[str, Any]


def load_manifest(folder: Path) -> tuple[bytes, dict[str, Any]]:
    """The manifest's exact bytes (what its signature covers) and its content, checked for the shape verify
    relies on; a ``ReportError`` of one line naming the file and the first bad field otherwise."""
    path = folder / MANIFEST
    try:
        body = path.read_bytes()
        raw = json.loads(body.decode("utf-8"))
    except OSError as exc:
        raise ReportError(f"{path}: cannot be read: {exc.strerror or exc}") from None
    except ValueError as exc:  # not UTF-8, not JSON
        raise ReportError(f"{path}: not a foikit manifest: not JSON ({str(exc).splitlines()[0][:120]})") from None
    try:
        Manifest.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "(top level)"
        more = f" (and {exc.error_count() - 1} more)" if exc.error_count() > 1 else ""
        raise ReportError(f"{path}: not a foikit manifest: {where}: {first['msg'][:120]}{more}") from None
    return body, raw


def _plain(name: str) -> bool:
    return bool(name) and name == Path(name).name and name not in {".", ".."} and "\\" not in name


def folder_problems(report: Path, manifest: dict[str, Any]) -> list[str]:
    """How ``report`` (a report folder or a draft) differs from a folder of its kind as ``manifest`` records
    it: every file a report of its kind must have, each with its recorded hash, and no folder, link or other
    file besides (the signature aside). Empty when intact."""
    problems: list[str] = []
    required = required_files(manifest)
    recorded = manifest["outputs"]
    for name in sorted(recorded):
        if not _plain(name) or name not in required:
            problems.append(f"{report}: the manifest lists {name[:80]!r}, which is not a file of a report "
                                   "of this kind")
    for name in sorted(required):
        path = report / name
        if name not in recorded:
            problems.append(f"{path}: {'missing, and' if not path.is_file() else 'present but'} not in the "
                                   "manifest (every report of this kind has one)")
        elif path.is_symlink() or not path.is_file():
            problems.append(f"{path}: missing" if not path.exists() and not path.is_symlink() else
                                   f"{path}: not a plain file")
        elif (now := sha256_file(path)) != recorded[name]:
            problems.append(f"{path}: tampered (sha256 recorded {recorded[name][:12]}, now {now[:12]})")
    for path in sorted(report.iterdir()):
        if path.name in required or (path.name in {MANIFEST, SIGNATURE} and path.is_file() and not path.is_symlink()):
            continue
        kind = ("a symlink" if path.is_symlink() else "a folder" if path.is_dir() else
                "a file" if path.is_file() else "a special file")
        problems.append(f"{path}: {kind} that is not part of a report (a report holds only its own files)")
    return problems


def required_files(manifest: dict[str, Any]) -> set[str]:
    """The files every report must hold, whatever its template (each template writes the same set), given
    its options: the extract only when a snapshot was stored (not with --no-snapshot). The manifest and its
    signature are not listed in the manifest's outputs; everything here but those two is."""
    files = {*PUBLISHED_FILES, NOTEBOOK, REPORT_HTML, PARAMS_COPY, DICTIONARY_COPY, LEDGER_JSON, CRATE}
    if manifest["inputs"]["data"]["snapshot"] is not None:
        files.add(SNAPSHOT)
    return files


def provenance(inputs: dict[str, Any], policy: Policy) -> list[tuple[str, str]]:
    """The manifest's stable facts as (label, value) rows for the top of the HTML record. Times, user and
    commit vary between identical runs, so they live in manifest.json only."""
    rows = [
        ("Params", f"{inputs['params']['path']} (sha256 {inputs['params']['sha256']})"),
        ("Template", f"{inputs['template']['path']} (sha256 {inputs['template']['sha256']})"),
        ("Data", f"{inputs['data']['source']} (sha256 {inputs['data']['source_sha256']})"),
        ("Extract used", f"{inputs['data']['rows']:,} rows, content sha256 {inputs['data']['extract_sha256']}"
                         + (f", stored as {inputs['data']['snapshot']}" if inputs['data']['snapshot'] else
                            ", not stored (--no-snapshot)")),
        ("Dictionary", f"{inputs['dictionary']['name']} version {inputs['dictionary']['version']} "
                       f"(sha256 {inputs['dictionary']['sha256']})"),
    ]
    rows += [(name, value) for name, value in versions().items()]
    if "policy" in inputs:  # only when the request names one: a report of a request naming none is unchanged
        rows.append(("Policy", f"{inputs['policy']['name']}: {inputs['policy']['path']} "
                               f"(sha256 {inputs['policy']['sha256']})"))
    if "letter_template" in inputs:  # only a project's own Word template: a report with the shipped one is unchanged
        rows.append(("Letter template", f"{inputs['letter_template']['path']} "
                                        f"(sha256 {inputs['letter_template']['sha256']})"))
    rows.append(("Suppression", policy.summary()))
    rows.append(("Run times, user, git commit", "in manifest.json beside this file"))
    return rows
