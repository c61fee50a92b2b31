"""`foikit verify`: prove that a past report's published figures still follow from its recorded inputs.

Three steps: every file against its hash in the manifest; a re-execution of the template with the recorded
params on the recorded input (the snapshot) in a temporary folder; a cell-by-cell comparison of
published.csv. A changed template or package version is named as the likely cause of any difference.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from foikit.exceptions import FoikitError
from foikit.execute import PUBLISHED_FILES, execute_notebook, find_template
from foikit.ledger import LEDGER_JSON
from foikit.manifest import DICTIONARY_COPY, MANIFEST, PARAMS_COPY, read_manifest, versions
from foikit.params import parse_request, read_yaml
from foikit.publish import PUBLISHED_CSV
from foikit.snapshot import SNAPSHOT, content_sha256, extract
from foikit.sources import open_source, sha256_file

KEY = ["part", "table"]


@dataclass
class Verification:
    """The outcome of verifying one report; ``ok`` only when it is 'reproduced'."""

    report: Path
    problems: list[str] = field(default_factory=list)  # tampered or missing files, changed inputs, errors
    differences: list[str] = field(default_factory=list)  # published cells whose re-executed value differs
    notes: list[str] = field(default_factory=list)  # what changed since the report (template, versions)

    @property
    def ok(self) -> bool:
        return not self.problems and not self.differences

    @property
    def status(self) -> str:
        if self.ok:
            return "reproduced"
        return "tampered" if self.problems else "differs"

    def lines(self) -> list[str]:
        out = [f"{self.report}: {self.status}"]
        out += [f"  {p}" for p in self.problems]
        out += [f"  {d}" for d in self.differences]
        out += [f"  note: {n}" for n in self.notes]
        return out


def _check_hashes(report: Path, manifest: dict, result: Verification) -> None:
    recorded = manifest.get("outputs", {})
    for name, sha in recorded.items():
        path = report / name
        if not path.is_file():
            result.problems.append(f"{path}: missing")
        elif (now := sha256_file(path)) != sha:
            result.problems.append(f"{path}: tampered (sha256 recorded {sha[:12]}, now {now[:12]})")
    for path in sorted(report.iterdir()):
        if path.is_file() and path.name != MANIFEST and path.name not in recorded:
            result.problems.append(f"{path}: not in the manifest")


def _check_inputs(manifest: dict, result: Verification) -> None:
    inputs = manifest["inputs"]
    params = Path(inputs["params"]["path"])
    if params.is_file() and sha256_file(params) != inputs["params"]["sha256"]:
        result.problems.append(f"{params}: changed since the report was made (the report keeps the params it "
                               f"used as {PARAMS_COPY})")
    template = Path(inputs["template"]["path"])
    if template.is_file() and sha256_file(template) != inputs["template"]["sha256"]:
        result.notes.append(f"template {template} has changed since the report was made")
    now = versions()
    for name, old in manifest.get("versions", {}).items():
        if now.get(name) != old:
            result.notes.append(f"{name} version changed since the report: {old} -> {now.get(name)}")


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


def _reexecute(report: Path, manifest: dict, result: Verification, notebooks_dir: Path | None,
               cwd: Path) -> None:
    raw = read_yaml(report / PARAMS_COPY, "recorded params")
    request = parse_request(raw, str(report / PARAMS_COPY))
    dictionary = str((report / DICTIONARY_COPY).resolve())
    if (report / SNAPSHOT).is_file():  # the recorded extract replaces the source, whatever kind it was
        data: dict = {"path": str((report / SNAPSHOT).resolve()), "dictionary": dictionary}
    else:  # --no-snapshot: the original source must still give the same extract
        data = {**(raw.get("data") or {}), "dictionary": dictionary}
        rows = extract(open_source(parse_request({**raw, "data": data}).data, request.template), request)
        if content_sha256(rows) != manifest["inputs"]["data"]["extract_sha256"]:
            result.problems.append(f"{manifest['inputs']['data']['source']}: the extract it now gives differs "
                                   "from the one the report used (no snapshot was stored)")
            return
    parameters = {**request.model_dump(mode="json"), "data": data}
    if (report / LEDGER_JSON).is_file():  # the earlier responses it was audited against, as they were then
        parameters["ledger"] = str((report / LEDGER_JSON).resolve())
    recorded_template = Path(manifest["inputs"]["template"]["path"])
    template = recorded_template if recorded_template.is_file() else find_template(request.template,
                                                                                   notebooks_dir)
    with tempfile.TemporaryDirectory(prefix=f"foikit-verify-{request.ref}-") as tmp:
        out = Path(tmp)
        execute_notebook(template, parameters, out, cwd, request.ref)
        result.differences += compare_published(report / PUBLISHED_CSV, out / PUBLISHED_CSV)
        for name in PUBLISHED_FILES:
            if name != PUBLISHED_CSV and (report / name).is_file() and \
                    (report / name).read_bytes() != (out / name).read_bytes():
                result.differences.append(f"{name}: re-executed file differs from the published one")


def verify_report(report: str | Path, notebooks_dir: str | Path | None = None) -> Verification:
    """Verify one report folder; never raises for a bad report, it reports it.

    >>> verify_report("reports/01.FOI.23.032341").status  # doctest: +SKIP
    'reproduced'
    """
    report = Path(report)
    result = Verification(report)
    if not (report / MANIFEST).is_file():
        result.problems.append(f"{report / MANIFEST}: missing (not a foikit report?)")
        return result
    manifest = read_manifest(report)
    _check_hashes(report, manifest, result)
    _check_inputs(manifest, result)
    try:
        _reexecute(report, manifest, result, Path(notebooks_dir) if notebooks_dir else None, Path.cwd())
    except FoikitError as exc:
        result.problems.append(f"re-execution failed: {str(exc).splitlines()[0]}")
    except (OSError, ValueError) as exc:
        result.problems.append(f"re-execution failed: {type(exc).__name__}: {str(exc).splitlines()[0]}")
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
