"""Issue 17 items 2 and 3: the manifest records the whole environment, verify names drift from it, and each
report carries an RO-Crate (Workflow Run Crate profile) that the manifest's signature covers."""

from __future__ import annotations

import hashlib
import json
import platform
import shutil
from importlib.metadata import distributions, version
from pathlib import Path

import pytest
from rocrate.rocrate import ROCrate

from foikit.layout import CRATE, MANIFEST, PUBLISHED_FILES
from foikit.run.manifest import PACKAGES, Drift
from foikit.run.provenance import write_crate
from foikit.run.signing import load_key, sign_report
from foikit.run.verify import explain_difference, verify_report

REF = "01.FOI.23.032341"


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture
def report(built_report, tmp_path) -> Path:
    copy = tmp_path / "reports" / REF
    shutil.copytree(built_report, copy)
    return copy


def manifest_of(report: Path) -> dict:
    return json.loads((report / MANIFEST).read_text())


def resign(report: Path, manifest: dict, key: Path) -> None:
    (report / MANIFEST).write_text(json.dumps(manifest, indent=1) + "\n")
    sign_report(report, load_key(key))


# --- item 2: every installed distribution ------------------------------------------------------------------

def test_the_manifest_lists_every_installed_distribution_with_python_and_platform(built_report):
    env = manifest_of(built_report)["environment"]
    assert env["python"] == platform.python_version() and env["platform"] == platform.platform()
    names = list(env["distributions"])
    assert names == sorted(names)
    # independently: every distribution importlib sees, under its normalised name, at its version
    expected = {d.metadata["Name"].lower().replace("_", "-").replace(".", "-") for d in distributions()}
    assert set(names) == expected
    assert env["distributions"]["pandas"] == version("pandas")
    assert env["distributions"]["pyyaml"] == version("PyYAML") and env["distributions"]["rocrate"] == version("rocrate")


def test_the_versions_block_names_every_package_that_shapes_the_output(built_report):
    recorded = manifest_of(built_report)["versions"]
    for name in ("python-docx", "jinja2", "matplotlib", "beautifulsoup4", "duckdb", "SQLAlchemy", "pydantic",
                 "PyYAML", "cryptography"):
        assert name in PACKAGES and recorded[name] == version(name)


def test_verify_names_the_packages_that_drifted(report, signing_key):
    manifest = manifest_of(report)
    dists = manifest["environment"]["distributions"]
    now_pandas = dists["pandas"]
    dists["pandas"] = "2.2.0"  # recorded under another pandas,
    dists["an-old-package"] = "1.0"  # with a package since removed,
    del dists["tqdm"]  # and without one since added
    resign(report, manifest, signing_key)
    result = verify_report(report, execute=False)
    assert result.problems == []
    assert ("environment: 3 packages differ from the recording environment (1 changed, 1 added, 1 removed): "
            f"pandas 2.2.0 -> {now_pandas}, tqdm (added), an-old-package (removed)") in result.notes


def test_a_report_recorded_in_this_environment_shows_no_drift(built_report):
    assert not any(n.startswith("environment:") for n in verify_report(built_report, execute=False).notes)


def test_a_differing_re_execution_says_whether_drift_could_explain_it(report, signing_key):
    manifest = manifest_of(report)
    manifest["environment"]["distributions"]["pandas"] = "2.2.0"
    path = report / "published.csv"
    lines = path.read_text().splitlines()
    assert lines[1] == "domestic_abuse,by_year,2020,,,,,,120,"
    lines[1] = "domestic_abuse,by_year,2020,,,,,,121,"
    path.write_text("\n".join(lines) + "\n")
    manifest["outputs"]["published.csv"] = sha(path)  # a report recorded (and signed) as publishing 121
    resign(report, manifest, signing_key)
    result = verify_report(report)
    assert result.status == "differs"
    assert result.differences[0] == "domestic_abuse/by_year[year=2020]: published 121, re-executed 120"
    assert (f"re-executed figures differ; 1 packages differ from the recording environment, among them pandas "
            f"2.2.0 -> {version('pandas')}, which shapes the output") in result.notes


def test_the_explanation_says_when_drift_cannot_explain_a_difference():
    none = Drift(changed={}, added=[], removed=[], python=None)
    assert explain_difference(none) == ("re-executed figures differ; no package differs from the recording "
                                        "environment, so version drift does not explain it")
    other = Drift(changed={"tqdm": ("4.0", "4.1")}, added=["six"], removed=[], python=None)
    assert explain_difference(other) == ("re-executed figures differ; 2 packages differ from the recording "
                                         "environment, none of them one that shapes the output")
    assert "cannot be said" in explain_difference(None)


# --- item 3: the RO-Crate -------------------------------------------------------------------------------------

def test_each_report_has_a_workflow_run_crate_read_back_by_rocrate(built_report):
    manifest = manifest_of(built_report)
    crate = ROCrate(built_report)
    profiles = {p["@id"] if isinstance(p, dict) else p.id for p in crate.root_dataset["conformsTo"]}
    assert profiles == {"https://w3id.org/ro/wfrun/process/0.5", "https://w3id.org/ro/wfrun/workflow/0.5",
                        "https://w3id.org/workflowhub/workflow-ro-crate/1.0"}
    workflow = crate.mainEntity
    assert set(workflow.type) == {"File", "SoftwareSourceCode", "ComputationalWorkflow"}
    assert workflow["sha256"] == manifest["inputs"]["template"]["sha256"]
    assert workflow["name"] == manifest["inputs"]["template"]["path"]
    [action] = [e for e in crate.get_entities() if e.type == "CreateAction"]
    assert action["instrument"] is workflow
    assert action["agent"].type == "Person" and action["agent"]["name"] == manifest["run"]["user"]
    assert (action["startTime"], action["endTime"]) == (manifest["run"]["started"], manifest["run"]["ended"])
    results = {r.id: r["sha256"] for r in action["result"]}
    assert results == {name: sha(built_report / name) for name in PUBLISHED_FILES}
    objects = {o.id: o["sha256"] for o in action["object"]}
    assert objects == {name: sha(built_report / name)
                       for name in ("params.yaml", "dictionary.yaml", "input.parquet", "ledger.json")}


def test_the_crate_is_in_the_manifest_so_the_signature_covers_it(report):
    recorded = sha(report / CRATE)
    assert manifest_of(report)["outputs"][CRATE] == recorded
    crate = json.loads((report / CRATE).read_text())
    [action] = [e for e in crate["@graph"] if e["@type"] == "CreateAction"]
    action["agent"] = {"@id": "#someone-else"}
    (report / CRATE).write_text(json.dumps(crate, indent=1) + "\n")
    result = verify_report(report, execute=False)
    assert result.status == "tampered"
    assert result.problems == [f"{report / CRATE}: tampered (sha256 recorded {recorded[:12]}, "
                               f"now {sha(report / CRATE)[:12]})"]


def test_a_report_without_its_crate_is_named(report, signing_key):
    (report / CRATE).unlink()
    manifest = manifest_of(report)
    del manifest["outputs"][CRATE]
    resign(report, manifest, signing_key)
    assert verify_report(report, execute=False).problems == [
        f"{report / CRATE}: missing, and not in the manifest (every report of this kind has one)"]


def test_the_crate_is_the_same_bytes_for_the_same_inputs_files_times_and_user(report, tmp_path):
    manifest = manifest_of(report)
    before = (report / CRATE).read_bytes()
    (report / CRATE).unlink()
    write_crate(report, ref=REF, inputs=manifest["inputs"], results=list(PUBLISHED_FILES),
                objects=["params.yaml", "dictionary.yaml", "input.parquet", "ledger.json"],
                started=manifest["run"]["started"], ended=manifest["run"]["ended"], user=manifest["run"]["user"])
    assert (report / CRATE).read_bytes() == before
