"""`foikit verify` against a hostile report: it never runs code a report names, every manifest field is bound
by the signature, and the report must hold exactly the files a report of its kind has.

One report is built once per session (``foikit run`` into tmp, signed with the tests' key) and copied per test.
Most checks need no re-execution (``verify_report(..., execute=False)``); the end-to-end ones use the CLI."""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from foikit.layout import MANIFEST
from foikit.run.manifest import required_files
from foikit.run.signing import generate_key, key_id, load_key, sign_report
from foikit.run.verify import verify_report

from .conftest import ROOT

REF = "01.FOI.23.032341"
TEMPLATE = ROOT / "notebooks" / "conduct_allegations.ipynb"


def foikit(*args: str, cwd: Path = ROOT, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "foikit.cli", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=600, env=env)


@pytest.fixture
def report(built_report, tmp_path) -> Path:
    copy = tmp_path / "reports" / REF
    shutil.copytree(built_report, copy)
    return copy


def edit_manifest(report: Path, edit, resign_with: Path | None = None) -> None:
    path = report / MANIFEST
    manifest = json.loads(path.read_text())
    edit(manifest)
    path.write_text(json.dumps(manifest, indent=1) + "\n")
    if resign_with:
        sign_report(report, load_key(resign_with))


def test_a_run_signs_its_report_with_the_configured_key(built_report, signing_key):
    signature = json.loads((built_report / "signature.json").read_text())
    assert signature["algorithm"] == "ed25519" and signature["signed_file"] == MANIFEST
    assert signature["key_id"] == key_id(load_key(signing_key).public_key())
    result = verify_report(built_report, execute=False)
    assert result.signature.state == "trusted" and result.problems == []
    assert result.status == "intact (not re-executed)" and not result.ok


# --- 12.3: the report never chooses the code that runs ---------------------------------------------------


def test_a_manifest_naming_another_notebook_never_runs_it(report, tmp_path, signing_key):
    marker = tmp_path / "evil-ran"
    evil = nbformat.read(TEMPLATE, as_version=4)
    evil.cells.insert(1, nbformat.v4.new_code_cell(f"open({str(marker)!r}, 'w').write('ran')"))
    evil_path = tmp_path / "elsewhere" / "conduct_allegations.ipynb"  # same name, so only its path differs
    evil_path.parent.mkdir()
    nbformat.write(evil, evil_path)
    sha = hashlib.sha256(evil_path.read_bytes()).hexdigest()
    # Signed by the trusted key: even a manifest that is genuinely signed cannot choose the code.
    edit_manifest(report, lambda m: m["inputs"].update(template={"path": str(evil_path), "sha256": sha}),
                  resign_with=signing_key)
    result = verify_report(report)
    assert not marker.exists(), "verify executed the notebook the manifest named"
    assert result.executed and result.problems == [] and result.differences == []
    assert result.notes == [f"the recorded template (sha256 {sha[:12]}) is not notebooks/conduct_allegations.ipynb "
                            f"(sha256 {hashlib.sha256(TEMPLATE.read_bytes()).hexdigest()[:12]}) nor in its git "
                            "history; re-executed the current one"]


def _git(cwd: Path, *args: str) -> str:
    return subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@example.org", *args], cwd=cwd,
                          check=True, capture_output=True, text=True).stdout.strip()


def test_a_changed_template_is_re_executed_at_the_recorded_version_from_git(report, tmp_path):
    project = tmp_path / "project"
    (project / "notebooks").mkdir(parents=True)
    shutil.copyfile(TEMPLATE, project / "notebooks" / TEMPLATE.name)
    _git(project, "init", "-q")
    _git(project, "add", "notebooks")
    _git(project, "commit", "-qm", "the template the report used")
    recorded_commit = _git(project, "rev-parse", "HEAD")
    changed = nbformat.read(TEMPLATE, as_version=4)
    changed.cells.insert(1, nbformat.v4.new_code_cell("raise RuntimeError('the changed template ran')"))
    nbformat.write(changed, project / "notebooks" / TEMPLATE.name)
    _git(project, "commit", "-qam", "a later change")
    shutil.move(report, project / "reports" / REF)
    done = foikit("verify", f"reports/{REF}", cwd=project)
    assert done.returncode == 0, done.stdout + done.stderr
    lines = done.stdout.splitlines()
    assert lines[0] == f"reports/{REF}: reproduced"
    assert (f"  note: template notebooks/{TEMPLATE.name} has changed since the report; re-executed the recorded "
            f"version from git commit {recorded_commit[:12]}") in done.stdout


def test_a_report_whose_params_name_a_path_as_template_is_refused(report, signing_key):
    params = report / "params.yaml"
    params.write_text(params.read_text().replace("template: conduct_allegations", "template: ../../evil"))
    edit_manifest(report, lambda m: m["outputs"].update({"params.yaml": hashlib.sha256(
        params.read_bytes()).hexdigest()}), resign_with=signing_key)
    result = verify_report(report, execute=False)
    assert result.status == "tampered"
    assert any("re-execution failed" in p and "template" in p for p in result.problems), result.problems


# --- 12.3: every field of the manifest is bound by the signature -----------------------------------------


EDITS = {
    "policy threshold": lambda m: m["suppression"].update(threshold=3),
    "user": lambda m: m["run"].update(user="someone else"),
    "git commit": lambda m: m["git"].update(commit="0" * 40),
    "input hash": lambda m: m["inputs"]["data"].update(extract_sha256="0" * 64),
    "template hash": lambda m: m["inputs"]["template"].update(sha256="0" * 64),
    "a new field": lambda m: m.update(approved_by="nobody"),
    "report.html hash, to match an edited report.html": lambda m: None,
}


@pytest.mark.parametrize("what", list(EDITS))
def test_any_edit_of_the_manifest_breaks_its_signature(report, what):
    if what.startswith("report.html"):
        html = report / "report.html"
        html.write_text(html.read_text().replace("INTERNAL RECORD", "PUBLISHED RECORD"))
        digest = hashlib.sha256(html.read_bytes()).hexdigest()
        edit_manifest(report, lambda m: m["outputs"].update({"report.html": digest}))
    else:
        edit_manifest(report, EDITS[what])
    result = verify_report(report, execute=False)
    assert result.status == "tampered"
    assert (f"{report}/signature.json: the signature by key {result.signature.key_id} does not match "
            "manifest.json: the manifest was changed after it was signed") in result.problems


def test_an_unsigned_report_is_not_reproduced(report):
    (report / "signature.json").unlink()
    result = verify_report(report, execute=False)
    assert result.status == "unsigned" and not result.ok
    assert result.details()[0].startswith(f"{report}/signature.json: missing: the report is not signed")


def test_a_report_signed_by_an_unknown_key_is_untrusted_until_its_key_is_trusted(report, tmp_path,
                                                                                 monkeypatch):
    other, other_pub, other_id = generate_key(tmp_path / "other" / "key.pem")
    sign_report(report, load_key(other))
    result = verify_report(report, execute=False)
    assert result.status == "untrusted" and result.problems == []  # only the signer is wrong
    assert result.lines() == [f"{report}: untrusted", f"  signed by key {other_id}, which is not a trusted key "
                              "(none of keys/*.pub, $FOIKIT_TRUSTED_KEYS, your own signing key)"]
    # an auditor trusts it by the project's keys/ folder, or by $FOIKIT_TRUSTED_KEYS
    project = tmp_path / "project"
    (project / "keys").mkdir(parents=True)
    shutil.copyfile(other_pub, project / "keys" / "analyst.pub")
    monkeypatch.chdir(project)
    result = verify_report(report, execute=False)
    assert result.signature.state == "trusted"
    assert result.signature.message == f"signed by key {other_id} (trusted: keys/analyst.pub)"
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("FOIKIT_TRUSTED_KEYS", str(other_pub.parent))
    assert verify_report(report, execute=False).signature.state == "trusted"


def test_a_garbage_manifest_gives_one_line_not_a_traceback(report):
    (report / MANIFEST).write_text("not json {")
    done = foikit("verify", str(report))
    assert done.returncode == 1
    assert done.stderr == ""
    assert done.stdout.splitlines() == [f"{report}: tampered", f"  {report}/{MANIFEST}: not a foikit manifest: not "
                                        "JSON (Expecting value: line 1 column 1 (char 0))"]


def _drop_template(m: dict) -> None:
    del m["inputs"]["template"]


@pytest.mark.parametrize(("edit", "line"), [
    (b"\xff\xfe", "not JSON ('utf-8' codec can't decode byte 0xff in position 0: invalid start byte)"),
    (b"[1, 2]", "(top level): Input should be a valid dictionary or instance of Manifest"),
    (b"{}", "ref: Field required (and 6 more)"),
    (_drop_template, "inputs.template: Field required"),
    (lambda m: m["inputs"]["data"].update(rows="633"), "inputs.data.rows: Input should be a valid integer"),
    (lambda m: m.update(outputs=["published.csv"]), "outputs: Input should be a valid dictionary"),
], ids=["not utf-8", "a list", "empty", "no template", "rows as text", "outputs as a list"])
def test_a_manifest_of_the_wrong_shape_is_one_problem_line(report, edit, line):
    if isinstance(edit, bytes):
        (report / MANIFEST).write_bytes(edit)
    else:
        edit_manifest(report, edit)
    result = verify_report(report)
    assert result.lines() == [f"{report}: tampered", f"  {report}/{MANIFEST}: not a foikit manifest: {line}"]
    assert not result.executed


# --- 18.6: the report holds exactly the files a report of its kind has ---------------------------------


def test_a_file_deleted_with_its_manifest_entry_is_named(report, signing_key):
    (report / "cells.json").unlink()
    edit_manifest(report, lambda m: m["outputs"].pop("cells.json"), resign_with=signing_key)
    result = verify_report(report, execute=False)
    assert result.status == "tampered"
    assert result.problems == [f"{report}/cells.json: missing, and not in the manifest (every report of this "
                               "kind has one)"]


def test_a_stray_folder_file_or_link_is_named(report):
    (report / "extra").mkdir()
    (report / "extra" / "notes.txt").write_text("x")
    (report / "notes.txt").write_text("x")
    (report / "link.csv").symlink_to(report / "published.csv")
    result = verify_report(report, execute=False)
    assert sorted(result.problems) == [
        f"{report}/extra: a folder that is not part of a report (a report holds only its own files)",
        f"{report}/link.csv: a symlink that is not part of a report (a report holds only its own files)",
        f"{report}/notes.txt: a file that is not part of a report (a report holds only its own files)",
    ]


def test_a_required_file_replaced_by_a_link_is_named(report, tmp_path):
    outside = tmp_path / "audit.json"
    shutil.copyfile(report / "audit.json", outside)  # same bytes, same hash: only the link gives it away
    (report / "audit.json").unlink()
    (report / "audit.json").symlink_to(outside)
    assert verify_report(report, execute=False).problems == [f"{report}/audit.json: not a plain file"]


def test_the_files_a_report_must_have_follow_its_options(built_report):
    manifest = json.loads((built_report / MANIFEST).read_text())
    every = {"published.csv", "tables.xlsx", "tables.ods", "audit.json", "letter.html", "letter.docx", "cells.json",
             "notebook.ipynb", "report.html", "params.yaml", "dictionary.yaml", "ledger.json",
             "ro-crate-metadata.json", "witnesses.json", "published.csv-metadata.json"}
    assert required_files(manifest) == every | {"input.parquet"}
    manifest["inputs"]["data"]["snapshot"] = None  # --no-snapshot
    assert required_files(manifest) == every


def test_an_edited_record_notebook_is_named_even_when_signed(report, signing_key):
    path = report / "notebook.ipynb"
    nb = nbformat.read(path, as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    code[3].source = code[3].source.replace("foikit.show_source(cases)", "print('looks fine')")
    nbformat.write(nb, path)
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    edit_manifest(report, lambda m: m["outputs"].update({"notebook.ipynb": digest}), resign_with=signing_key)
    result = verify_report(report, execute=False)
    assert result.problems == [f"{path}: its code is not the template's (code cell 3 differs)"]
