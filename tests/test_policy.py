"""The one owner of the suppression policy (foikit/request/policy.py) and the named policy files."""

from __future__ import annotations

import csv
import dataclasses
import json
import math
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

import foikit
from foikit.exceptions import ParamsError
from foikit.request.params import SHIPPED_POLICIES, Secondary, Suppression, load_request, parse_request, read_policy
from foikit.request.policy import DEFAULT_POLICY, Band, LeakPolicy, Policy
from foikit.run import verify
from foikit.run.scaffold import scaffold
from foikit.sdc.audit import ProtectionRule
from foikit.sdc.secondary import SecondaryPolicy
from foikit.source.files import sha256_file

from .conftest import EXAMPLE_PARAMS, EXAMPLE_REPORT, ROOT, hand_request, run_published

MINIMAL = {"ref": "01.FOI.99.000002", "title": "t", "parts": [
    {"name": "p1", "title": "p", "years": [2020], "tables": [{"name": "by_year", "title": "By year",
                                                              "columns": ["year"]}]}]}


# -- what each marker states ----------------------------------------------------------------------------------
@pytest.mark.parametrize(("threshold", "small"), [(3, (1, 2)), (5, (1, 4)), (10, (1, 9))])
def test_each_marker_states_its_band(threshold, small):
    # By hand: the primary marker hides a count from 1 to threshold-1; the secondary marker hides any count
    # (0, a small count shown so, or one of any size withheld to protect others).
    policy = Policy.from_params(Suppression(threshold=threshold))
    assert policy.states("[xx]") == Band(*small)
    assert policy.states("[c]") == Band(0, None)
    assert policy.stated_ranges() == {"[xx]": (float(small[0]), float(small[1])), "[c]": (0.0, math.inf)}
    assert policy.small_range == f"from {small[0]} to {small[1]}"
    with pytest.raises(KeyError, match=r"'\*' is not a marker of this policy \(\[xx\], \[c\]\)"):
        policy.states("*")


def test_the_markers_a_request_chooses_state_the_same_bands():
    policy = Policy.from_params(Suppression(threshold=3, marker="[x]", secondary=Secondary(marker="~")))
    assert policy.stated_ranges() == {"[x]": (1.0, 2.0), "~": (0.0, math.inf)}


# -- what the engine and the leak check are given ----------------------------------------------------------
def test_the_engine_objects_carry_every_setting():
    settings = Suppression(threshold=10, marker="[s]", rule="min_width", min_width=3, secondary=Secondary(
        method="exact", cost="value", total_factor=7, marker="[t]", marker_switch=False, marker_cost=2.5,
        time_limit=9))
    policy = Policy.from_params(settings)
    assert policy.protection_rule == ProtectionRule(kind="min_width", threshold=10, width=3.0)
    assert policy.secondary_policy(["by_rank"]) == SecondaryPolicy(
        threshold=10, rule=ProtectionRule(kind="min_width", threshold=10, width=3.0), method="exact",
        cost="value", total_factor=7.0, primary_marker="[s]", secondary_marker="[t]", allow_marker_switch=False,
        marker_cost=2.5, time_limit=9.0, cleanup=True, withhold_tables=("by_rank",))
    assert policy.leak_policy == LeakPolicy(threshold=10, markers=frozenset({"[s]", "[t]"}), rounding=None)


def test_rounding_defaults_to_the_not_exact_rule():
    policy = Policy.from_params(Suppression(rounding={"base": 10}))
    assert (policy.rule, policy.rounding) == ("not_exact", 10)
    assert policy.protection_rule == ProtectionRule(kind="not_exact", threshold=5)
    assert policy.leak_policy.rounding == 10
    assert Policy.from_params(Suppression(rounding={"base": 10}, rule="band")).rule == "band"
    assert DEFAULT_POLICY.rule == "band" and DEFAULT_POLICY.rounding is None


def test_the_engine_defaults_equal_the_request_defaults():
    # SecondaryPolicy() and ProtectionRule() serve the engine used on its own (tests, bench/): they must say
    # what a request that says nothing says (marker_cost was 0.5 in the engine, 1.5 in params).
    assert dataclasses.replace(SecondaryPolicy(), rule=ProtectionRule()) == DEFAULT_POLICY.secondary_policy()
    assert SecondaryPolicy().effective_rule == ProtectionRule()
    assert DEFAULT_POLICY.secondary_policy().marker_cost == Secondary().marker_cost == 1.5
    assert ProtectionRule() == DEFAULT_POLICY.protection_rule


# -- the wording --------------------------------------------------------------------------------------------
def test_the_wording_follows_the_threshold_and_markers():
    policy = Policy.from_params(Suppression(threshold=10, marker="[s]", secondary=Secondary(marker="[t]",
                                                                                        note="kept back")))
    assert policy.sheet_notes() == ["[s]: a count from 1 to 9, withheld (s.40(2) FOIA).", "[t]: kept back."]
    assert policy.letter_meanings() == {"[s]": "a figure from 1 to 9, withheld (personal data)", "[t]": "kept back"}
    assert policy.audit_meanings() == {"[s]": "a count from 1 to 9 (personal data)", "[t]": "kept back"}
    assert policy.record_meaning == "a count from 1 to 9, withheld as personal data"
    assert policy.summary() == "threshold 10, marker [s], secondary marker [t], rule band"
    assert policy.rule_sentence().startswith("for every count from 1 to 9, the range an intruder")


# -- named policies ---------------------------------------------------------------------------------------------
def test_the_shipped_default_is_the_schema_default():
    # so that `policy: default` changes nothing, and a request naming no policy behaves as before
    assert Suppression.model_validate(read_policy(SHIPPED_POLICIES / "default.yaml")) == Suppression()
    named = parse_request({**MINIMAL, "policy": "default"})
    assert named.suppression == parse_request(MINIMAL).suppression
    assert named.policy == "default" and parse_request(MINIMAL).policy is None
    # the name is not a template parameter: the dump (what the notebook gets, and records) is as before
    assert named.model_dump(mode="json") == parse_request(MINIMAL).model_dump(mode="json")


@pytest.fixture
def project(tmp_path, monkeypatch) -> Path:
    """A project folder (foikit runs in it) with a policy of its own."""
    (tmp_path / "policies").mkdir()
    (tmp_path / "policies" / "strict.yaml").write_text(yaml.safe_dump({
        "description": "ten, and the exact method",
        "suppression": {"threshold": 10, "marker": "[s]", "secondary": {"method": "exact", "marker": "[t]"}}}))
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_a_request_overrides_one_field_of_a_named_policy(project):
    request = parse_request({**MINIMAL, "policy": "strict", "suppression": {"secondary": {"marker": "[z]"}}})
    s = request.suppression
    assert (s.threshold, s.marker, s.secondary.marker, s.secondary.method) == (10, "[s]", "[z]", "exact")
    assert s.secondary.note == Secondary().note  # what neither says: the schema's default
    assert Policy.of(request).name == "strict"
    assert Policy.of(request).states("[s]") == Band(1, 9)
    only_threshold = parse_request({**MINIMAL, "policy": "strict", "suppression": {"threshold": 3}})
    assert (only_threshold.suppression.threshold, only_threshold.suppression.marker) == (3, "[s]")


def test_the_projects_policy_comes_before_the_shipped_one(project):
    (project / "policies" / "default.yaml").write_text("suppression: {threshold: 7}\n")
    assert parse_request({**MINIMAL, "policy": "default"}).suppression.threshold == 7


@pytest.mark.parametrize(("name", "says"), [
    ("nope", r"no such policy: neither policies/nope\.yaml nor a shipped one \(default\) \(got 'nope'\)"),
    ("../default", r"a policy is given by name .* not by path.* \(got '\.\./default'\)"),
    ("/etc/passwd", r"a policy is given by name .* not by path.* \(got '/etc/passwd'\)"),
    ("strict.yaml", r"a policy is given by name .* not by path.* \(got 'strict\.yaml'\)"),
    (3, r"Input should be a valid string \(got 3\)"),
])
def test_a_bad_policy_name_is_one_line_naming_the_field_and_value(project, name, says):
    with pytest.raises(ParamsError, match=rf"^params/x\.yaml: policy: {says}$") as caught:
        parse_request({**MINIMAL, "policy": name}, "params/x.yaml")
    assert "\n" not in str(caught.value)


@pytest.mark.parametrize(("body", "says"), [
    ({"suppression": {"threshold": 5, "thresold": 3}},
     r"suppression\.thresold: unknown key 'thresold' \(did you mean 'threshold'\?\)"),
    ({"supression": {"threshold": 5}}, r"supression: unknown key 'supression' \(did you mean 'suppression'\?\)"),
    ({"suppression": {"threshold": 5}, "colour": "red"}, r"colour: unknown key 'colour'"),
    ({"suppression": {"secondary": {"colour": "red"}}}, r"suppression\.secondary\.colour: unknown key 'colour'"),
    ({"suppression": {"threshold": 1}}, r"suppression\.threshold: must be at least 2.*"),
    (["threshold"], r"expected a mapping with suppression: \(and description:\), got list"),
])
def test_a_policy_file_with_an_unknown_key_is_refused_naming_it(project, body, says):
    (project / "policies" / "bad.yaml").write_text(yaml.safe_dump(body))
    with pytest.raises(ParamsError, match=rf"^policies/bad\.yaml: {says}$"):
        parse_request({**MINIMAL, "policy": "bad"}, "params/x.yaml")


def test_a_named_policy_gives_the_same_answer_as_the_same_settings_in_the_request(project, hand_csv):
    (project / "policies" / "hand.yaml").write_text(yaml.safe_dump({"suppression": {"threshold": 3,
                                                                                    "marker": "[x]"}}))
    own = hand_request(hand_csv)
    named = {**{k: v for k, v in own.items() if k != "suppression"}, "policy": "hand"}
    a, b = foikit.answer(foikit.parse_request(own)), foikit.answer(foikit.parse_request(named))
    assert a.published().equals(b.published())
    assert b.policy == Policy(a.request.suppression, "hand")


def test_a_run_naming_the_default_policy_publishes_the_example_and_records_the_policy(tmp_path, monkeypatch):
    raw = yaml.safe_load(EXAMPLE_PARAMS.read_text(encoding="utf-8"))
    raw["policy"] = "default"
    params = tmp_path / "01.FOI.23.032341.yaml"
    params.write_text(yaml.safe_dump(raw, sort_keys=False), encoding="utf-8")
    reports = tmp_path / "reports"
    done = run_published(params, reports)
    assert done.returncode == 0, done.stderr
    report = reports / raw["ref"]
    for name in ("published.csv", "published.csv-metadata.json", "tables.xlsx", "audit.json", "letter.html",
                 "letter.docx", "cells.json"):
        assert (report / name).read_bytes() == (EXAMPLE_REPORT / name).read_bytes(), name
    manifest = json.loads((report / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["inputs"]["policy"] == {"name": "default", "path": "shipped:default.yaml",
                                            "sha256": sha256_file(SHIPPED_POLICIES / "default.yaml")}
    assert "policy" not in json.loads((EXAMPLE_REPORT / "manifest.json").read_text(encoding="utf-8"))["inputs"]
    # verify re-reads the named policy: a file changed since the report is a problem, naming it
    assert not [p for p in verify.verify_report(report, execute=False).problems if "policy" in p]
    changed = tmp_path / "default.yaml"
    changed.write_text("suppression: {threshold: 10}\n", encoding="utf-8")
    monkeypatch.setattr(verify, "policy_path", lambda name: changed if name == "default" else None)
    problems = verify.verify_report(report, execute=False).problems
    assert problems == [f"policy default: {changed} changed since the report was made (sha256 recorded "
                        f"{sha256_file(SHIPPED_POLICIES / 'default.yaml')[:12]})"]


def test_a_new_request_takes_the_forces_policy(project):
    # `foikit new` names the default policy and leaves suppression: commented out, so that the project's
    # policies/default.yaml governs; uncommenting a field overrides that one field.
    (project / "policies" / "default.yaml").write_text("suppression: {threshold: 7, marker: '[s]'}\n")
    path = scaffold("01.FOI.25.000123", "conduct_allegations", ROOT / "notebooks", project / "params")
    text = path.read_text(encoding="utf-8")
    assert 'policy: "default"\n' in text and "\nsuppression:" not in text
    request = load_request(path)
    assert (request.policy, request.suppression.threshold, request.suppression.marker) == ("default", 7, "[s]")
    edited = text.replace("# suppression:\n", "suppression:\n").replace("#   threshold: 5\n", "  threshold: 3\n")
    path.write_text(edited, encoding="utf-8")
    request = load_request(path)
    assert (request.suppression.threshold, request.suppression.marker) == (3, "[s]")


def test_plain_papermill_applies_the_policy_a_params_file_names(tmp_path):
    # The template resolves `policy:` itself, so a params file run by hand gets its force's policy, not the
    # template's defaults: here a project policy with threshold 10 and nothing under suppression.
    (tmp_path / "policies").mkdir()
    (tmp_path / "policies" / "strict.yaml").write_text("suppression:\n  threshold: 10\n", encoding="utf-8")
    raw = yaml.safe_load(EXAMPLE_PARAMS.read_text())
    del raw["suppression"]
    raw["policy"] = "strict"
    (tmp_path / "p.yaml").write_text(yaml.safe_dump(raw), encoding="utf-8")
    (tmp_path / "reports").mkdir()
    done = subprocess.run(
        [sys.executable, "-m", "papermill", str(ROOT / "notebooks" / "conduct_allegations.ipynb"),
         str(tmp_path / "x.ipynb"), "-f", str(tmp_path / "p.yaml"), "-p", "output_dir", str(tmp_path / "out"),
         "-p", "ledger", str(tmp_path / "reports"), "--cwd", str(tmp_path), "--no-progress-bar"],
        capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert json.loads((tmp_path / "out" / "audit.json").read_text())["threshold"] == 10
    with open(tmp_path / "out" / "published.csv", newline="", encoding="utf-8") as fh:
        shown = [int(row["value"]) for row in csv.DictReader(fh) if row["value"]]
    assert shown and not [v for v in shown if 1 <= v <= 9]  # counts from 1 to 9 withheld
