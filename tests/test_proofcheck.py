"""Witnesses and the stand-alone proof checker: hand-built tables whose every witness is worked out by hand."""

from __future__ import annotations

import ast
import copy
import hashlib
import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from foikit import proofcheck
from foikit.exceptions import DisclosureError
from foikit.publish.leakcheck import check_witnesses
from foikit.publish.proof import dumps, witnesses_record
from foikit.request.params import load_request
from foikit.response import answer_alone
from foikit.run.signing import load_key, sign_report
from foikit.sdc.audit import ProtectionRule
from foikit.sdc.linear import build_model
from foikit.sdc.witness import find_witnesses
from tests.conftest import EXAMPLE_PARAMS, EXAMPLE_REPORT, hand_request

CHECKER = Path(proofcheck.__file__)

# One table by r (a, b, c) and its total: a and b withheld as [xx] (1 to 4), c = 10, total 15, so a + b = 5:
# the four tables (a, b) = (1, 4), (2, 3), (3, 2), (4, 1) are every completion there is.
HAND_CSV = """part,table,r,value,marker
p,t,a,,[xx]
p,t,b,,[xx]
p,t,c,10,
p,t,,15,
"""
HAND_WITNESSES = {
    "format": "foikit-witnesses/1", "ref": "hand",
    "rule": {"kind": "band", "threshold": 5, "width": 0.0},
    "primary_marker": "[xx]", "markers": {"[xx]": [1, 4], "[c]": [0, None]}, "rounding": None,
    "parts": [{"part": "p", "dims": {"r": ["a", "b", "c"]}, "blocks": [["r"]], "base": [1, 4, 10],
               "witnesses": [[], [0, 2, 1, 3], [0, 3, 1, 2], [0, 4, 1, 1]],
               "required": [["t", {"r": "a"}, [0, 1, 2, 3]], ["t", {"r": "b"}, [0, 1, 2, 3]]]}],
}

# Two linked tables, by (r, s) and by (r, q), r in {x, y}: the witnesses' tables are the two blocks, which must
# agree on their margin over r.
LINKED_CSV = """part,table,r,s,q,value,marker
p,rs,x,u,,,[xx]
p,rs,x,v,,,[c]
p,rs,y,u,,,[c]
p,rs,y,v,,,[xx]
p,rs,,,,12,
p,rq,x,,m,6,
p,rq,y,,m,6,
"""
LINKED_WITNESSES = {
    **HAND_WITNESSES,
    "parts": [{"part": "p", "dims": {"r": ["x", "y"], "s": ["u", "v"], "q": ["m"]},
               "blocks": [["r", "s"], ["r", "q"]],
               # rs block (x,u), (x,v), (y,u), (y,v), then rq block (x,m), (y,m)
               "base": [1, 5, 5, 1, 6, 6],
               "witnesses": [[], [0, 2, 1, 4, 2, 4, 3, 2], [0, 3, 1, 3, 2, 3, 3, 3], [0, 4, 1, 2, 2, 2, 3, 4]],
               "required": [["rs", {"r": "x", "s": "u"}, [0, 1, 2, 3]], ["rs", {"r": "y", "s": "v"}, [0, 1, 2, 3]]]}],
}


def _check(csv_text: str, witnesses: dict) -> list[str]:
    return proofcheck.check(csv_text, json.dumps(witnesses))


def test_hand_witnesses_are_accepted():
    assert _check(HAND_CSV, HAND_WITNESSES) == []
    assert _check(LINKED_CSV, LINKED_WITNESSES) == []


def test_a_tampered_witness_is_rejected():
    w = copy.deepcopy(HAND_WITNESSES)
    w["parts"][0]["witnesses"][2] = [0, 3, 1, 3]  # a = 3, b = 3: the total would be 16
    assert _check(HAND_CSV, w) == ["p/t[grand total]: witness 2 gives 16, published 15 (15 to 15)",
                                   # a witness that breaks a relation proves nothing: a is never 3, b never 2
                                   "p/t[r=a]: witnesses give it only [1, 2, 4]; rule band needs [1, 2, 3, 4]",
                                   "p/t[r=b]: witnesses give it only [1, 3, 4]; rule band needs [1, 2, 3, 4]"]
    w = copy.deepcopy(HAND_WITNESSES)
    w["parts"][0]["base"][2] = 11  # c is published as 10
    failures = _check(HAND_CSV, w)
    assert "p/t[r=c]: witness 0 gives 11, published 10 (10 to 10)" in failures
    assert len(failures) == 10  # c and the total in each of the four witnesses, and a and b left unproved


def test_a_witness_outside_its_marker_band_or_negative_is_rejected():
    w = copy.deepcopy(HAND_WITNESSES)
    w["parts"][0]["witnesses"][3] = [0, 5, 1, 0]  # a = 5, b = 0: sums to 5, but [xx] says 1 to 4
    assert _check(HAND_CSV, w) == ["p/t[r=a]: witness 3 gives 5, published [xx] (1 to 4)",
                                   "p/t[r=b]: witness 3 gives 0, published [xx] (1 to 4)",
                                   # a witness that breaks a relation proves nothing: a is never 4, b never 1
                                   "p/t[r=a]: witnesses give it only [1, 2, 3]; rule band needs [1, 2, 3, 4]",
                                   "p/t[r=b]: witnesses give it only [2, 3, 4]; rule band needs [1, 2, 3, 4]"]
    w["parts"][0]["witnesses"][3] = [0, 6, 1, -1]
    assert "p: witness 3 holds a negative count" in _check(HAND_CSV, w)


def test_tables_that_disagree_on_their_margin_are_rejected():
    w = copy.deepcopy(LINKED_WITNESSES)
    w["parts"][0]["witnesses"][1] = [0, 2, 1, 5, 2, 4, 3, 1]  # r=x sums to 7 in rs, 6 in rq; total still 12
    assert _check(LINKED_CSV, w) == [
        "p: witness 1: tables ['r', 's'] and ['r', 'q'] disagree on their margin over ['r']",
        "p/rs[r=x, s=u]: witnesses give it only [1, 3, 4]; rule band needs [1, 2, 3, 4]",
        "p/rs[r=y, s=v]: witnesses give it only [1, 3, 4]; rule band needs [1, 2, 3, 4]"]


def test_a_changed_published_figure_makes_the_witnesses_invalid():
    changed = HAND_CSV.replace("p,t,,15,", "p,t,,16,")
    assert _check(changed, HAND_WITNESSES) == [
        *[f"p/t[grand total]: witness {k} gives 15, published 16 (16 to 16)" for k in range(4)],
        "p/t[r=a]: witnesses give it only []; rule band needs [1, 2, 3, 4]",
        "p/t[r=b]: witnesses give it only []; rule band needs [1, 2, 3, 4]"]


def test_a_missing_witness_is_rejected():
    w = copy.deepcopy(HAND_WITNESSES)
    w["parts"][0]["required"][1] = ["t", {"r": "b"}, [0, 1, 2]]  # b = 4, 3, 2: never 1
    assert _check(HAND_CSV, w) == ["p/t[r=b]: witnesses give it only [2, 3, 4]; rule band needs [1, 2, 3, 4]"]
    w["parts"][0]["required"] = w["parts"][0]["required"][:1]  # b not listed at all
    assert _check(HAND_CSV, w) == ["p/t[r=b]: withheld as [xx] but has no witnesses"]
    w = copy.deepcopy(HAND_WITNESSES)
    w["parts"][0]["required"][0][2] = [0, 1, 2, 7]  # a witness that is not there
    assert _check(HAND_CSV, w) == ["p/t{'r': 'a'}: not a published cell, or names a witness that is not there",
                                   "p/t[r=a]: withheld as [xx] but has no witnesses"]


def test_witnesses_over_other_categories_are_rejected():
    w = copy.deepcopy(HAND_WITNESSES)
    w["parts"][0]["dims"]["r"] = ["a", "b", "c", "d"]  # a hidden category could absorb any total
    w["parts"][0]["base"].append(0)
    assert _check(HAND_CSV, w) == [
        "p: dimension r: witnesses' categories ['a', 'b', 'c', 'd'] are not those published ['a', 'b', 'c']"]


def test_the_not_exact_and_min_width_rules():
    w = copy.deepcopy(HAND_WITNESSES)
    w["rule"] = {"kind": "not_exact", "threshold": 5, "width": 1.0}
    w["parts"][0]["required"] = [["t", {"r": "a"}, [0, 3]], ["t", {"r": "b"}, [1, 1]]]
    assert _check(HAND_CSV, w) == [
        "p/t[r=b]: witnesses give it only [3]; rule not_exact needs two values 1.0 apart"]
    w["rule"] = {"kind": "min_width", "threshold": 5, "width": 3.0}
    w["parts"][0]["required"] = [["t", {"r": "a"}, [0, 3]], ["t", {"r": "b"}, [0, 2]]]  # a: 1, 4; b: 4, 2
    assert _check(HAND_CSV, w) == [
        "p/t[r=b]: witnesses give it only [2, 4]; rule min_width needs two values 3.0 apart"]


def _hand_model():
    model = build_model({"r": ["a", "b", "c"]}, {"t": ["r"]},
                        [("t", {"r": "a"}), ("t", {"r": "b"}), ("t", {"r": "c"}), ("t", {"r": None})])
    lo, hi = np.array([1, 1, 10, 15.]), np.array([4, 4, 10, 15.])
    return model, lo, hi


def test_found_witnesses_cover_every_value_from_published_figures():
    model, lo, hi = _hand_model()
    found = find_witnesses(model, lo, hi, np.array([1, 1, 0, 0], bool), ProtectionRule(threshold=5))
    for cell in (0, 1):
        assert sorted(int(found.values[k][cell]) for k in found.covering[cell]) == [1, 2, 3, 4]
    for w in found.witnesses:  # each a completion: a + b = 5, c = 10
        assert w[0] + w[1] == 5 and w[2] == 10 and 1 <= w[0] <= 4
    # a cell that cannot take every value is left out, unless it must: a [c] cell (0 to any) in a + c = 2
    m2 = build_model({"r": ["a", "c"]}, {"t": ["r"]}, [("t", {"r": "a"}), ("t", {"r": "c"}), ("t", {"r": None})])
    lo2, hi2 = np.array([0, 0, 2.]), np.array([np.inf, np.inf, 2.])
    assert find_witnesses(m2, lo2, hi2, np.array([1, 1, 0], bool), ProtectionRule(threshold=5)).covering == {}
    with pytest.raises(ValueError, match=r"t\[r=a\]: no table consistent with the publication gives it the value 3"):
        find_witnesses(m2, lo2, hi2, np.array([1, 1, 0], bool), ProtectionRule(threshold=5),
                       must=np.array([1, 0, 0], bool))


@pytest.mark.parametrize("kind,width", [("not_exact", 1.0), ("min_width", 3.0)])
def test_found_witnesses_prove_width_rules(kind, width):
    model, lo, hi = _hand_model()
    found = find_witnesses(model, lo, hi, np.array([1, 1, 0, 0], bool), ProtectionRule(kind=kind, width=width))
    for cell in (0, 1):
        got = [int(found.values[k][cell]) for k in found.covering[cell]]
        assert max(got) - min(got) >= width


def test_proofcheck_imports_nothing_of_foikit(tmp_path):
    tree = ast.parse(CHECKER.read_text(encoding="utf-8"))
    imported = {a.name.split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    imported |= {n.module.split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module}
    assert imported == {"argparse", "csv", "json", "sys", "itertools"}
    # run alone, as a file in a folder of its own, without site-packages (where foikit is installed)
    alone = tmp_path / "alone"
    alone.mkdir()
    shutil.copy(CHECKER, alone / "proofcheck.py")
    (tmp_path / "published.csv").write_text(HAND_CSV, encoding="utf-8")
    (tmp_path / "witnesses.json").write_text(json.dumps(HAND_WITNESSES), encoding="utf-8")
    run = [sys.executable, "-I", "-S", str(alone / "proofcheck.py"), str(tmp_path / "published.csv"),
           str(tmp_path / "witnesses.json")]
    done = subprocess.run(run, capture_output=True, text=True, cwd=tmp_path, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr
    (tmp_path / "published.csv").write_text(HAND_CSV.replace("p,t,c,10,", "p,t,c,9,"), encoding="utf-8")
    done = subprocess.run(run, capture_output=True, text=True, cwd=tmp_path, timeout=60)
    assert done.returncode == 1
    assert done.stdout.splitlines()[0] == "p/t[r=c]: witness 0 gives 10, published 9 (9 to 9)"


@pytest.fixture(scope="module")
def example():
    response = answer_alone(load_request(EXAMPLE_PARAMS))
    return response, witnesses_record(response)


def test_example_witnesses_are_accepted(example):
    response, record = example
    published = (EXAMPLE_REPORT / "published.csv").read_text(encoding="utf-8")
    assert response.published().to_csv(index=False, lineterminator="\n") == published
    assert proofcheck.check(published, dumps(record)) == []
    # every [xx] of the committed publication has witnesses: 115 withheld cells, of which 91 small counts
    # (audit.json: 26 + 65), 32 of them shown as [c] (5 + 27), so 59 [xx]
    rows = [line.split(",") for line in published.splitlines()[1:]]
    primary = {(r[0], r[1], tuple(r[2:8])) for r in rows if r[-1] == "[xx]"}
    assert len([r for r in rows if r[-1]]) == 115 and len(primary) == 59
    listed = {(p["part"], t, tuple(c.get(d, "") for d in ["year", "outcome", "officer_rank", "unit", "officer_sex",
                                                            "complainant_sex"]))
              for p in record["parts"] for t, c, _ in p["required"]}
    assert primary <= listed
    check_witnesses(dumps(record), published, response)  # the leak check lets it through


def test_example_witnesses_are_deterministic(example):
    _, record = example
    again = witnesses_record(answer_alone(load_request(EXAMPLE_PARAMS)))
    assert dumps(again) == dumps(record)


def test_leak_check_refuses_an_uncovered_small_count(example):
    response, record = example
    published = (EXAMPLE_REPORT / "published.csv").read_text(encoding="utf-8")
    cut = copy.deepcopy(record)
    table, coords, _ = cut["parts"][0]["required"].pop(0)
    with pytest.raises(DisclosureError) as refused:
        check_witnesses(dumps(cut), published, response)
    assert str(refused.value).startswith("leak check: witnesses.json: ")
    assert f"domestic_abuse/{table}{coords}: a withheld small count with no witnesses" in str(refused.value)
    stated = copy.deepcopy(record)
    stated["markers"]["[c]"] = [0, 1000]
    with pytest.raises(DisclosureError, match="states the policy"):
        check_witnesses(dumps(stated), published, response)


def test_check_proof_command(example, tmp_path):
    from foikit.cli import main

    _, record = example
    report = tmp_path / "r"
    report.mkdir()
    for name in ("published.csv", "params.yaml"):
        shutil.copy(EXAMPLE_REPORT / name, report / name)
    (report / "witnesses.json").write_text(dumps(record), encoding="utf-8")
    assert main(["check-proof", str(report)]) == 0
    text = (report / "published.csv").read_text(encoding="utf-8")
    (report / "published.csv").write_text(text.replace("domestic_abuse,by_year,,,,,,,580,",
                                                       "domestic_abuse,by_year,,,,,,,581,"), encoding="utf-8")
    assert main(["check-proof", str(report)]) == 1


@pytest.mark.parametrize("suppression", [
    {"threshold": 3, "marker": "[x]"},
    {"threshold": 3, "marker": "[x]", "rule": "not_exact"},
    {"threshold": 3, "marker": "[x]", "rule": "min_width", "min_width": 2},
    {"threshold": 3, "marker": "[x]", "rounding": {"base": 5}},
])
def test_hand_request_witnesses_under_every_policy(hand_csv, suppression):
    import foikit

    response = foikit.answer(foikit.parse_request(hand_request(hand_csv, suppression=suppression)))
    assert response.passed
    record = witnesses_record(response)
    published = response.published().to_csv(index=False, lineterminator="\n")
    assert proofcheck.check(published, dumps(record)) == []
    check_witnesses(dumps(record), published, response)  # covers every small count (1 or 2) withheld or rounded
    # the hand file's DA rows, by outcome and year: Dismissed 1 2 | 3, No case 5 1 | 6, Ongoing 0 1 | 1 (conftest):
    # five small counts in by_outcome alone, every one of them proved
    listed = {tuple(c.values()) for t, c, _ in record["parts"][0]["required"] if t == "by_outcome"}
    assert {("Dismissed", "2020"), ("Dismissed", "2021"), ("No case", "2021"), ("Ongoing", "2021"),
            ("Ongoing", "")} <= listed


def test_verify_runs_the_proof_check(built_report, tmp_path, signing_key):
    from foikit.run.proof import check_report
    from foikit.run.verify import verify_report

    assert (built_report / "witnesses.json").is_file()
    assert check_report(built_report) == []
    assert verify_report(built_report, execute=False).unproved == []
    report = tmp_path / built_report.name
    shutil.copytree(built_report, report)
    record = json.loads((report / "witnesses.json").read_text(encoding="utf-8"))
    record["parts"][0]["base"][0] += 1  # the first cell of by_year x outcome: year 2020 'No case to answer' is 51
    (report / "witnesses.json").write_text(json.dumps(record), encoding="utf-8")
    result = verify_report(report, execute=False)
    assert result.status == "tampered"  # its hash is not the signed one; and the witnesses do not hold:
    proof = result.unproved
    assert "proof: domestic_abuse/by_outcome[year=2020, outcome=No case to answer]: witness 0 gives 52, published 51 " \
           "(51 to 51)" in proof
    # recorded and signed as it is: the files are intact, the proof is not
    manifest = json.loads((report / "manifest.json").read_text())
    manifest["outputs"]["witnesses.json"] = hashlib.sha256((report / "witnesses.json").read_bytes()).hexdigest()
    (report / "manifest.json").write_text(json.dumps(manifest, indent=1) + "\n")
    sign_report(report, load_key(signing_key))
    result = verify_report(report, execute=False)
    assert result.status == "unproved" and not result.ok and not result.problems
    assert result.unproved == proof


FY_PARAMS = EXAMPLE_PARAMS.parent / "01.FOI.23.032341-financial-years.yaml"


@pytest.fixture(scope="module")
def joint_example():
    """The financial-years variant, audited with the example (published before it) as its ledger does."""
    from foikit.ledger.joint import answer, ledger_for_run
    from foikit.response import open_source_for

    request = load_request(FY_PARAMS)
    data = open_source_for(request)
    response = answer(request, data, ledger=ledger_for_run(EXAMPLE_REPORT.parent, request, data))
    assert response.ledger is not None and response.ledger.combined == ("01.FOI.23.032341",)
    return response, witnesses_record(response)


def _joint_report(tmp_path: Path, record: dict) -> Path:
    reports = tmp_path / "reports"
    for ref in ("01.FOI.23.032341", "01.FOI.23.032341-financial-years"):
        (reports / ref).mkdir(parents=True)
        for name in ("published.csv", "params.yaml"):
            shutil.copy(EXAMPLE_REPORT.parent / ref / name, reports / ref / name)
    report = reports / "01.FOI.23.032341-financial-years"
    (report / "witnesses.json").write_text(dumps(record), encoding="utf-8")
    return report


def test_joint_witnesses_are_accepted(joint_example, tmp_path):
    response, record = joint_example
    (joint,) = record["joint"]
    assert joint["parts"] == ["domestic_abuse", "indecent_exposure"] and joint["refs"] == ["01.FOI.23.032341"]
    published = (FY_PARAMS.parents[1] / "reports" / "01.FOI.23.032341-financial-years" / "published.csv"
                 ).read_text(encoding="utf-8")
    assert response.published().to_csv(index=False, lineterminator="\n") == published
    assert proofcheck.check(published, dumps(record)) == []
    check_witnesses(dumps(record), published, response)
    # the earlier response's figures, as its published.csv states them (by_year 2020 of domestic abuse: 120)
    listed = {(r, p, t, json.dumps(c)): (lo, hi) for r, p, t, c, _, lo, hi in joint["earlier"]}
    assert listed[("01.FOI.23.032341", "domestic_abuse", "by_year", json.dumps({"year": "2020"}))] == (120, 120)
    from foikit.cli import main

    assert main(["check-proof", str(_joint_report(tmp_path, record))]) == 0


def test_a_changed_earlier_figure_is_rejected(joint_example, tmp_path, capsys):
    from foikit.cli import main

    _, record = joint_example
    changed = copy.deepcopy(record)
    (joint,) = changed["joint"]
    k = next(i for i, e in enumerate(joint["earlier"]) if e[:4] == ["01.FOI.23.032341", "domestic_abuse", "by_year",
                                                                    {"year": "2020"}])
    joint["earlier"][k][5:7] = [121, 121]
    report = _joint_report(tmp_path, changed)
    failures = proofcheck.check((report / "published.csv").read_text(encoding="utf-8"), dumps(changed))
    label = "01.FOI.23.032341 domestic_abuse/by_year{'year': '2020'}"
    assert f"{label}: witness 0 gives 120, published earlier (121 to 121)" in failures
    capsys.readouterr()
    assert main(["check-proof", str(report)]) == 1
    out = capsys.readouterr().out.splitlines()
    assert f"{label}: the witnesses take it as 121 to 121, but 01.FOI.23.032341 published 120 (120 to 120)" in out


def test_an_own_cell_left_out_of_the_joint_witnesses_is_rejected(joint_example):
    _, record = joint_example
    changed = copy.deepcopy(record)
    (joint,) = changed["joint"]
    first = joint["own"].pop(0)
    assert first[:3] == ["domestic_abuse", "by_year", {"year": "2020/21"}]
    published = (FY_PARAMS.parents[1] / "reports" / "01.FOI.23.032341-financial-years" / "published.csv"
                 ).read_text(encoding="utf-8")
    assert "domestic_abuse/by_year[year=2020/21]: published but not among the joint witnesses' cells" in \
        proofcheck.check(published, dumps(changed))


def test_leak_check_refuses_a_small_count_not_proved_jointly(joint_example):
    response, record = joint_example
    changed = copy.deepcopy(record)
    part, table, coords, _ = changed["joint"][0]["required"].pop(0)
    published = response.published().to_csv(index=False, lineterminator="\n")
    with pytest.raises(DisclosureError) as refused:
        check_witnesses(dumps(changed), published, response)
    assert (f"{part}/{table}{coords}: a withheld small count with no witnesses together with the earlier responses"
            in str(refused.value))


def test_an_earlier_figure_left_out_is_named_by_check_proof(joint_example, tmp_path, capsys):
    from foikit.cli import main

    _, record = joint_example
    changed = copy.deepcopy(record)
    (joint,) = changed["joint"]
    joint["earlier"] = [e for e in joint["earlier"]
                        if e[:4] != ["01.FOI.23.032341", "domestic_abuse", "by_year", {"year": "2020"}]]
    capsys.readouterr()
    assert main(["check-proof", str(_joint_report(tmp_path, changed))]) == 1
    assert capsys.readouterr().out.splitlines()[0] == (
        "01.FOI.23.032341 domestic_abuse/by_year{'year': '2020'}: published, but not among the joint witnesses' "
        "figures")


def test_the_record_shows_one_cell_in_two_witnesses(hand_csv):
    import foikit
    from foikit.publish.display import describe_witnesses, witness_pair

    response = foikit.answer(foikit.parse_request(hand_request(hand_csv)))
    assert "takes every value from 1 to 2" in describe_witnesses(response)
    where, frame = witness_pair(response)
    marked = frame[frame["figure"].str.endswith(" ◀")]
    assert len(marked) == 1 and marked["published"].tolist() == ["[x]"]
    a, b = frame.columns[2:]
    assert {int(marked[a].iloc[0]), int(marked[b].iloc[0])} == {1, 2}  # the threshold is 3: [x] is 1 or 2
    shown = frame[~frame["published"].str.startswith("[")]
    assert (shown[a].astype(str) == shown["published"]).all() and (shown[b].astype(str) == shown["published"]).all()
    label = marked["figure"].iloc[0].removesuffix(" ◀")
    assert where.startswith("da/") and where.endswith(f"[{label}]")
