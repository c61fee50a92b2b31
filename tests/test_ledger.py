"""The disclosure ledger: a new response audited, and protected, together with earlier ones.

The attack these tests show: 01.FOI.24.000211 publishes domestic-abuse outcomes for 2020 with 'Dismissed'
and 'Would have been dismissed' merged; 01.FOI.23.032341 published 'Dismissed' for 2020 on its own. Each is
safe alone; together, the merged figure minus 'Dismissed' gives 'Would have been dismissed' exactly. The
intruder here is written independently of foikit: a MILP over the 2020 outcome counts built from the two
published.csv files only.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from scipy.optimize import Bounds, LinearConstraint, milp

from foikit.ledger.joint import Partition, answer
from foikit.ledger.store import Ledger, Selection, entry_of, load_ledger, read_import
from foikit.request.params import load_request
from foikit.response import open_source_for
from foikit.sdc.linear import build_model
from foikit.sdc.secondary import protect
from foikit.source.data import embedded_data_path

from .conftest import publish_run

ROOT = Path(__file__).resolve().parents[1]
OLD, NEW = "01.FOI.23.032341", "01.FOI.24.000211"
OUTCOMES = ["No case to answer", "Reflective practice", "Management action", "Written warning",
            "Final written warning", "Reduction in rank", "Dismissed", "Would have been dismissed", "Not proven",
            "Resigned/retired", "Ongoing"]
MERGED = {"Dismissed or would have been dismissed": ["Dismissed", "Would have been dismissed"]}


def intruder_2020(old: pd.DataFrame, new: pd.DataFrame | None) -> dict[str, tuple[float, float]]:
    """Range of every 2020 domestic-abuse outcome count that the two published tables allow."""
    rows, lo, hi = [], [], []

    def constrain(outcomes: list[str], shown: str) -> None:
        coef = np.array([1.0 if o in outcomes else 0.0 for o in OUTCOMES])
        if shown == "[xx]":
            a, b = 1, 4
        elif shown == "[c]":
            a, b = 0, np.inf
        else:
            a = b = int(shown)
        rows.append(coef)
        lo.append(a)
        hi.append(b)

    for frame, period, label in ((old, "year", "2020"), (new, "period", "2020")):
        if frame is None:
            continue
        cells = frame[(frame["part"] == "domestic_abuse") & (frame["table"] == "by_outcome")
                      & (frame[period] == label)]
        for outcome, value, marker in zip(cells["outcome"], cells["value"], cells["marker"], strict=True):
            members = OUTCOMES if outcome == "" else MERGED.get(outcome, [outcome])
            constrain(members, value or marker)
    A = np.array(rows)
    ranges = {}
    for k, outcome in enumerate(OUTCOMES):
        c = np.zeros(len(OUTCOMES))
        c[k] = 1.0
        got = []
        for sign in (1.0, -1.0):
            res = milp(sign * c, constraints=LinearConstraint(A, lo, hi), integrality=np.ones(len(OUTCOMES)),
                       bounds=Bounds(0, np.inf))
            assert res.status == 0, res.message
            got.append(sign * res.fun)
        ranges[outcome] = (got[0], got[1])
    return ranges


@pytest.fixture(scope="module")
def responses():
    old_request = load_request(ROOT / "params" / f"{OLD}.yaml")
    old = answer(old_request, open_source_for(old_request))
    new_request = load_request(ROOT / "params" / f"{NEW}.yaml")
    data = open_source_for(new_request)
    alone = answer(new_request, data)
    checked = answer(new_request, data, ledger=Ledger((entry_of(old),)))
    return old, alone, checked


def test_without_the_ledger_differencing_recovers_a_small_count(responses):
    old, alone, _ = responses
    assert alone.passed  # safe on its own
    ranges = intruder_2020(old.published(), alone.published())
    # by hand from the published tables: merged 2020 figure 10, 'Dismissed' 2020 in the earlier response 9
    assert ranges["Would have been dismissed"] == (1.0, 1.0)
    # each response alone leaves it anywhere in 1..4
    assert intruder_2020(old.published(), None)["Would have been dismissed"] == (1.0, 4.0)


def test_the_ledger_check_withholds_what_differencing_would_give_away(responses):
    old, _, checked = responses
    assert checked.passed and checked.ledger.passed
    assert checked.ledger.constrained == (OLD,)
    assert checked.ledger.added  # cells withheld because of the ledger, with reason 'ledger'
    cells = checked.part("domestic_abuse").cells
    assert set(cells.loc[cells["reason"] == "ledger", "marker"]) == {"[c]"}
    ranges = intruder_2020(old.published(), checked.published())
    for outcome in ("Would have been dismissed", "Reduction in rank", "Final written warning"):
        low, high = ranges[outcome]
        assert low <= 1 and high >= 4, (outcome, ranges[outcome])


def test_committed_reports_resist_the_differencing_attack():
    old = pd.read_csv(ROOT / "reports" / OLD / "published.csv", dtype=str, keep_default_na=False)
    new = pd.read_csv(ROOT / "reports" / NEW / "published.csv", dtype=str, keep_default_na=False)
    low, high = intruder_2020(old, new)["Would have been dismissed"]
    assert low <= 1 and high >= 4


def test_changed_figures_are_kept_widened_and_listed(responses):
    _, _, checked = responses
    later = pd.read_csv(embedded_data_path("conduct_allegations_2024-02"), dtype=str, keep_default_na=False)
    # the earlier figure for 2023 counted the rows of its extract, which ends on 30 November 2023: today's
    # count of that definition is the same days in the later extract (late records), not the whole year
    da_2023 = int(((later["allegation_category"] == "Domestic abuse") & (later["date_recorded"] >= "2023-01-01")
                   & (later["date_recorded"] <= "2023-11-30")).sum())
    assert da_2023 == 255  # late records: 250 were published for 2023
    stale = checked.ledger.stale
    row = stale[stale["cell"] == f"{OLD} domestic_abuse/by_year[year=2023]"]
    assert row[["published", "now"]].values.tolist() == [["250", da_2023]]
    # 2020 did not change: none of its figures is listed
    assert not stale["cell"].str.contains("year=2020").any()


def test_partition_splits_periods_and_merged_categories():
    rest = Selection(("A", "B"), negate=True)
    defs = [
        ({"x": Selection(("A",))}, ((date(2020, 1, 1), date(2021, 1, 1)),)),
        ({"x": Selection(("A", "B"))}, ((date(2020, 4, 1), date(2021, 4, 1)),)),
        ({"x": rest}, ((date(2020, 1, 1), date(2021, 4, 1)),)),
    ]
    p = Partition.of(defs, "day")
    assert p.intervals == ((date(2020, 1, 1), date(2020, 4, 1)), (date(2020, 4, 1), date(2021, 1, 1)),
                           (date(2021, 1, 1), date(2021, 4, 1)))
    assert p.labels("x") == ("(any other value)", "A", "B")
    assert p.coords(*defs[1]) == {"day": ("2020-04-01..2020-12-31", "2021-01-01..2021-03-31"), "x": ("A", "B")}
    assert p.coords(*defs[2]) == {"day": None, "x": ("(any other value)",)}


def test_fixed_cells_of_an_earlier_table_steer_the_new_pattern():
    # Earlier: a=[xx], b=[c], c=7, total 19. Hiding c now (as the new table alone would) gives a = 19-9-7.
    cells = [("new", {"r": r}) for r in ["a", "b", "c", None]] + [("old", {"r": r}) for r in ["a", "b", "c", None]]
    model = build_model({"r": ["a", "b", "c"]}, {"new": ["r"], "old": ["r"]}, cells, tags=[0] * 4 + [1] * 4)
    values = [3, 9, 7, 19] * 2
    lo = np.array([np.nan] * 4 + [1, 0, 7, 19])
    hi = np.array([np.nan] * 4 + [4, np.inf, 7, 19])
    sensitive = np.array([1, 0, 0, 0, 1, 0, 0, 0], bool)
    alone = protect(build_model({"r": ["a", "b", "c"]}, {"new": ["r"]}, cells[:4]), values[:4], sensitive[:4])
    assert alone.markers == ["[xx]", "", "[c]", ""]
    joint = protect(model, values, sensitive, fixed=(lo, hi))
    assert joint.markers[:4] == ["[xx]", "[c]", "", ""] and joint.audit.passed


def test_import_of_a_response_made_before_foikit(tmp_path, responses):
    _, alone, _ = responses
    (tmp_path / "old.published.csv").write_text(
        "part,table,year,outcome,value,marker\n"
        "da,by_outcome,2020,Dismissed,9,\n"
        "da,by_outcome,2020,Would have been dismissed,,[xx]\n"
        "da,by_outcome,2020,,120,\n", encoding="utf-8")
    (tmp_path / "01.FOI.21.000001.yaml").write_text(
        "ref: 01.FOI.21.000001\ndataset: conduct_allegations\npublished: 2021-03-01\n"
        "published_csv: old.published.csv\nparts:\n  da:\n    date_column: date_recorded\n"
        "    where: {allegation_category: [Domestic abuse]}\n"
        "    periods: {dim: year, labels: {'2020': [2020-01-01, 2020-12-31]}}\n"
        "    dims: {outcome: {column: outcome}}\n", encoding="utf-8")
    entry = read_import(tmp_path / "01.FOI.21.000001.yaml")
    part = entry.parts[0]
    assert part.definition({"year": "2020", "outcome": "Dismissed"}) == (
        {"allegation_category": Selection(("Domestic abuse",)), "outcome": Selection(("Dismissed",))},
        ((date(2020, 1, 1), date(2021, 1, 1)),))
    assert part.tables == {"by_outcome": ("year", "outcome")}
    checked = answer(alone.request, alone.data, ledger=Ledger((entry,)))
    assert checked.ledger.constrained == ("01.FOI.21.000001",)
    earlier = pd.read_csv(tmp_path / "old.published.csv", dtype=str, keep_default_na=False)
    earlier["part"] = "domestic_abuse"
    assert intruder_2020(earlier, alone.published())["Would have been dismissed"] == (1.0, 1.0)
    low, high = intruder_2020(earlier, checked.published())["Would have been dismissed"]
    assert low <= 1 and high >= 4


def test_import_errors_name_the_file_and_field(tmp_path):
    (tmp_path / "bad.yaml").write_text("ref: x\ndataset: d\n", encoding="utf-8")
    with pytest.raises(Exception, match=r"bad.yaml: missing or malformed field .*published_csv"):
        read_import(tmp_path / "bad.yaml")


def test_cli_ledger_lists_and_audit_rechecks_the_committed_reports():
    listing = subprocess.run([sys.executable, "-m", "foikit.cli", "ledger"], cwd=ROOT, capture_output=True,
                             text=True, check=True).stdout
    assert "dataset conduct_allegations:" in listing
    assert OLD in listing and NEW in listing and "January 2024" in listing
    audit = subprocess.run([sys.executable, "-m", "foikit.cli", "audit", f"reports/{OLD}"], cwd=ROOT,
                           capture_output=True, text=True)
    assert audit.returncode == 0, audit.stdout + audit.stderr
    assert NEW in audit.stdout.splitlines()[0]  # published after it, and included
    assert audit.stdout.rstrip().endswith("protected against everything published")


def _reports_with_old(tmp_path: Path) -> Path:
    """A reports folder holding a copy of the committed earlier response OLD."""
    reports = tmp_path / "reports"
    shutil.copytree(ROOT / "reports" / OLD, reports / OLD)
    return reports


def _break(folder: Path, how: str) -> None:
    cells = folder / "cells.json"
    if how == "missing":
        cells.unlink()
    elif how == "garbage":
        cells.write_text("{ this is not json: root:x:0:0:root", encoding="utf-8")
    elif how == "unreadable":
        cells.write_bytes(b"\xff\xfe\x00bad")
    elif how == "wrong shape":  # JSON, but its cells name a table the part does not have
        raw = json.loads(cells.read_text(encoding="utf-8"))
        raw["parts"][0]["cells"][0]["table"] = "no_such_table"
        cells.write_text(json.dumps(raw), encoding="utf-8")


@pytest.mark.parametrize("how", ["missing", "garbage", "unreadable", "wrong shape"])
def test_an_unreadable_earlier_report_stops_a_run_over_its_dataset(tmp_path, responses, how):
    from foikit.exceptions import FoikitError
    from foikit.ledger.joint import ledger_for_run

    _, alone, _ = responses
    reports = _reports_with_old(tmp_path)
    _break(reports / OLD, how)
    with pytest.raises(FoikitError) as refused:
        ledger_for_run(reports, alone.request, alone.data)
    message = str(refused.value)
    assert len(message.splitlines()) == 1 and message.startswith(f"{reports / OLD}: cannot be read as a ledger "
                                                                 "entry (cells.json")
    assert "over dataset 'conduct_allegations'" in message and f"--ignore {OLD}" in message
    assert "root:x" not in message  # never the content of the file that failed to parse
    # named explicitly, it is let through and listed loudly: in the ledger summary of audit.json
    ledger = ledger_for_run(reports, alone.request, alone.data, ignore=[OLD])
    assert ledger.entries == () and len(ledger.unrecorded) == 1
    assert ledger.unrecorded[0].startswith(f"{OLD}: cells.json") and ledger.unrecorded[0].endswith(
        "(ignored with --ignore)")
    checked = answer(alone.request, alone.data, ledger=ledger)
    assert checked.ledger.summary()["reports_without_ledger_entry"] == list(ledger.unrecorded)


def test_an_unreadable_report_of_another_dataset_does_not_stop_the_run_but_an_unknown_one_does(tmp_path, responses):
    from foikit.exceptions import FoikitError
    from foikit.ledger.joint import ledger_for_run

    _, alone, _ = responses
    reports = _reports_with_old(tmp_path)
    other = reports / "01.FOI.22.000001"
    other.mkdir()
    (other / "published.csv").write_text("part,table,value,marker\n")
    (other / "dictionary.yaml").write_text("name: stop_search\nversion: 1\n")
    assert [e.ref for e in ledger_for_run(reports, alone.request, alone.data).entries] == [OLD]
    (other / "dictionary.yaml").unlink()  # nothing says which dataset it was over: it may be this one
    with pytest.raises(FoikitError, match=r"01.FOI.22.000001: cannot be read as a ledger entry \(cells.json is "
                       r"missing\); it was published over an unknown dataset"):
        ledger_for_run(reports, alone.request, alone.data)
    with pytest.raises(FoikitError, match=r"--ignore '01.FOI.22.00000X': no report of that name"):
        ledger_for_run(reports, alone.request, alone.data, ignore=["01.FOI.22.00000X"])
    # the library path refuses too: a ledger loaded by hand with an unreadable folder is never narrowed silently
    with pytest.raises(FoikitError, match=r"01\.FOI\.22\.000001: cannot be read"):
        answer(alone.request, alone.data, ledger=load_ledger(reports))


def test_cli_run_and_audit_refuse_an_unreadable_report_and_ignore_lists_it_in_the_record(tmp_path):
    reports = _reports_with_old(tmp_path)
    shutil.copytree(ROOT / "reports" / NEW, reports / NEW)
    (reports / OLD / "cells.json").unlink()
    audit = subprocess.run([sys.executable, "-m", "foikit.cli", "audit", str(reports / NEW)], cwd=ROOT,
                           capture_output=True, text=True)
    assert audit.returncode == 1 and audit.stdout == ""
    assert audit.stderr.startswith(f"foikit: error: {reports / OLD}: cannot be read as a ledger entry (cells.json "
                                   "is missing)") and len(audit.stderr.splitlines()) == 1
    params = tmp_path / "new.yaml"
    raw = yaml.safe_load((ROOT / "params" / f"{NEW}.yaml").read_text(encoding="utf-8"))
    raw["ref"] = "01.FOI.24.000999"
    params.write_text(yaml.safe_dump(raw, sort_keys=False), encoding="utf-8")
    before = sorted(str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*"))
    run = [sys.executable, "-m", "foikit.cli", "run", str(params), "--reports-dir", str(reports)]
    refused = subprocess.run(run, cwd=ROOT, capture_output=True, text=True)
    assert refused.returncode == 1, refused.stderr
    assert refused.stderr.startswith(f"foikit: error: {reports / OLD}: cannot be read as a ledger entry")
    assert sorted(str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*")) == before  # nothing written
    done = publish_run(subprocess.run([*run, "--ignore", OLD], cwd=ROOT, capture_output=True, text=True), reports)
    assert done.returncode == 0, done.stderr  # published with the folder it was told to ignore still ignored
    report = reports / "01.FOI.24.000999"
    summary = json.loads((report / "audit.json").read_text(encoding="utf-8"))["ledger"]
    assert summary["reports_without_ledger_entry"] == [f"{OLD}: cells.json is missing (ignored with --ignore)"]
    assert summary["considered"] == [NEW]
    html = (report / "report.html").read_text(encoding="utf-8")
    assert "NOT checked" in html and f"{OLD}: cells.json is missing (ignored with --ignore)" in html
    audit = subprocess.run([sys.executable, "-m", "foikit.cli", "audit", str(reports / NEW), "--ignore", OLD],
                           cwd=ROOT, capture_output=True, text=True)
    assert audit.returncode == 0, audit.stderr


def test_cli_audit_says_when_a_report_counts_distinct_units_only():
    done = subprocess.run([sys.executable, "-m", "foikit.cli", "audit", f"reports/{OLD}-officers"], cwd=ROOT,
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert "domestic_abuse: counts distinct officers, not combined" in done.stdout
    assert done.stdout.rstrip().endswith("counts distinct units only: nothing to audit jointly")


def _published_as(response, folder: Path) -> None:
    """A report folder holding ``response``'s ledger entry (all the ledger reads of a report)."""
    from foikit.publish.files import write_cells_json

    folder.mkdir(parents=True)
    write_cells_json(response, folder)


def _old_variant(**suppression) -> object:
    from foikit.request.params import parse_request

    raw = yaml.safe_load((ROOT / "params" / f"{OLD}.yaml").read_text(encoding="utf-8"))
    raw["suppression"].update(suppression)
    request = parse_request(raw)
    return answer(request, open_source_for(request))


def test_a_superseded_report_stays_in_the_ledger_as_an_entry_of_its_own(tmp_path, responses):
    from foikit.ledger.joint import ledger_for_run

    _, alone, _ = responses
    reports = tmp_path / "reports"
    # `run --force` kept the first version as <ref>.v1; the new version differs only in its cells
    shutil.copytree(ROOT / "reports" / OLD, reports / f"{OLD}.v1")
    _published_as(_old_variant(threshold=6), reports / OLD)
    ledger = ledger_for_run(reports, alone.request, alone.data)
    assert sorted(e.ref for e in ledger.entries) == [OLD, f"{OLD}.v1"]
    assert {p.ref for p in ledger.entries[[e.ref for e in ledger.entries].index(f"{OLD}.v1")].parts} == {
        f"{OLD}.v1"}
    checked = answer(alone.request, alone.data, ledger=ledger)
    assert checked.passed and set(checked.ledger.combined) == {OLD, f"{OLD}.v1"}


def test_only_the_superseded_version_gives_a_count_away_and_it_is_protected(tmp_path, responses):
    from foikit.ledger.joint import ledger_for_run

    old, alone, _ = responses
    reports = tmp_path / "reports"
    # the first version published 'Dismissed' 2020 = 9; the version that superseded it shows no outcome for
    # 2020 (every 2020 outcome withheld: threshold 500), so only the superseded figures give the merged count away
    shutil.copytree(ROOT / "reports" / OLD, reports / f"{OLD}.v1")
    newer = _old_variant(threshold=500)
    _published_as(newer, reports / OLD)
    shown = newer.published()
    dismissed = shown[(shown["part"] == "domestic_abuse") & (shown["table"] == "by_outcome")
                      & (shown["year"] == "2020") & shown["outcome"].isin(["Dismissed", "Would have been dismissed"])]
    assert len(dismissed) == 2 and (dismissed["value"] == "").all()
    exposed = f"{OLD}.v1 domestic_abuse/by_outcome[outcome=Would have been dismissed, year=2020]"
    checked = answer(alone.request, alone.data, ledger=ledger_for_run(reports, alone.request, alone.data))
    assert checked.passed and f"{OLD}.v1" in checked.ledger.constrained
    assert exposed in checked.ledger.exposed_without and checked.ledger.added
    low, high = intruder_2020(old.published(), checked.published())["Would have been dismissed"]
    assert low <= 1 and high >= 4
    # without the superseded version no figure says what 'Would have been dismissed' 2020 is
    shutil.rmtree(reports / f"{OLD}.v1")
    without = answer(alone.request, alone.data, ledger=ledger_for_run(reports, alone.request, alone.data))
    assert without.ledger.considered == (OLD,)
    assert not [c for c in without.ledger.exposed_without if "outcome=Would have been dismissed, year=2020" in c]


def test_a_forced_run_is_audited_against_the_report_it_supersedes(tmp_path, responses):
    from foikit.ledger.joint import ledger_for_run

    old, _, _ = responses
    reports = tmp_path / "reports"
    shutil.copytree(ROOT / "reports" / OLD, reports / OLD)
    shutil.copytree(ROOT / "reports" / OLD, reports / f"{OLD}.v1")
    # a re-run that reproduces keeps to what the report was audited against (nothing: it was the first)
    assert ledger_for_run(reports, old.request, old.data).entries == ()
    # --force publishes anew: the report it supersedes stays published, under the name it will be kept as
    forced = ledger_for_run(reports, old.request, old.data, force=True)
    assert sorted(e.ref for e in forced.entries) == [f"{OLD}.v1", f"{OLD}.v2"]
    assert {p.ref for e in forced.entries for p in e.parts} == {f"{OLD}.v1", f"{OLD}.v2"}
