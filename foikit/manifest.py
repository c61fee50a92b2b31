"""reports/<ref>/manifest.json: what went in (hashes of params, template, data), what came out (a hash per
file), with which software, from which commit, by whom and when."""

from __future__ import annotations

import getpass
import json
import platform
import subprocess
from datetime import datetime
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

from foikit.sources import sha256_file

MANIFEST = "manifest.json"
PARAMS_COPY = "params.yaml"
DICTIONARY_COPY = "dictionary.yaml"
KERNEL = "python3"
PACKAGES = ("foikit", "pandas", "numpy", "scipy", "highspy", "pyarrow", "openpyxl", "papermill", "nbconvert",
            "nbclient", "nbformat", "ipykernel")
# Files of a report that hold unpublished counts or case-level rows: the internal record.
INTERNAL = ("notebook.ipynb", "report.html", "input.parquet")


def versions() -> dict[str, str]:
    """Python, the kernel name and the versions of the packages that shape a report."""
    out = {"python": platform.python_version(), "kernel": KERNEL}
    for name in PACKAGES:
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            out[name] = "not installed"
    return out


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


def provenance(inputs: dict[str, Any], policy: dict[str, Any]) -> list[tuple[str, str]]:
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
    rule = policy.get("rule") or ("not_exact" if policy.get("rounding") else "band")
    rows.append(("Suppression", f"threshold {policy['threshold']}, marker {policy['marker']}, "
                                f"secondary marker {policy['secondary']['marker']}, rule {rule}"))
    rows.append(("Run times, user, git commit", "in manifest.json beside this file"))
    return rows
