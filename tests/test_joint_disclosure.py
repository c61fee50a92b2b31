"""Responses read together: no small count, whatever its marker, can be narrowed by combining them.

The intruder (tests/joint_intruder.py) is written independently of foikit: it reads the published.csv files
and the requests as published, with and without the extract's stated coverage (no rows after its last day),
and computes MILP ranges. True counts come from the case rows with plain pandas.

The committed-report tests read ``reports/``; ``FOIKIT_JOINT_REPORTS=/some/reports`` points them at another
folder (a scratch regeneration of the examples, before the lead commits it).

Issue 19: read together, 01.FOI.23.032341 and its financial-year variant (as first committed) gave away four
small counts shown as '[c]' (and 35 cells with the coverage stated) because the joint model had a phantom
'(any other value)' category, did not protect earlier '[c]' small counts and left periods past the extract
free.
"""

from __future__ import annotations

import itertools
import json
import os
from dataclasses import replace
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
import yaml

from foikit.exceptions import DataError, ParamsError
from foikit.ledger.joint import answer, audit_entry, build_system, with_counts
from foikit.ledger.store import Ledger, entry_of, load_ledger
from foikit.request.params import load_request, parse_request
from foikit.request.policy import Policy
from foikit.response import open_source_for
from foikit.run import snapshot as snapshots
from foikit.sdc.linear import build_model
from foikit.sdc.secondary import SecondaryPolicy, UnprotectableError, protect
from foikit.source.data import embedded_data_path, last_day
from tests.joint_intruder import JointIntruder, Response, narrowed_small_counts

ROOT = Path(__file__).resolve().parents[1]
REPORTS = Path(os.environ.get("FOIKIT_JOINT_REPORTS", ROOT / "reports"))
OLD, FY = "01.FOI.23.032341", "01.FOI.23.032341-financial-years"
CASES = pd.read_csv(embedded_data_path("conduct_allegations"), dtype=str, keep_default_na=False)
END = date.fromisoformat(CASES["date_recorded"].str[:10].max()) + timedelta(days=1)  # the extract's coverage


def _committed(ref: str) -> Response:
    folder = REPORTS / ref
    return Response(ref, yaml.safe_load((folder / "params.yaml").read_text(encoding="utf-8")),
                    pd.read_csv(folder / "published.csv", dtype=str, keep_default_na=False), END)


def _same_extract_pairs() -> list[tuple[str, str]]:
    """Pairs of committed reports made from one extract of one dataset (the manifest says which)."""
    by_extract: dict[tuple[str, str], list[str]] = {}
    for manifest in sorted(REPORTS.glob("*/manifest.json")):
        raw = json.loads(manifest.read_text(encoding="utf-8"))
        key = (raw["inputs"]["dictionary"]["name"], raw["inputs"]["data"]["source_sha256"])
        by_extract.setdefault(key, []).append(manifest.parent.name)
    return [p for refs in by_extract.values() for p in itertools.combinations(refs, 2)]


def test_the_pairs_include_the_two_of_issue_19():
    assert (OLD, FY) in _same_extract_pairs()


# Needs the committed reports regenerated with this fix (the lead regenerates them after merging).
@pytest.mark.parametrize("coverage", [False, True], ids=["no-coverage", "coverage"])
@pytest.mark.parametrize("pair", _same_extract_pairs(), ids="+".join)
def test_committed_pairs_give_away_no_small_count(pair, coverage):
    responses = [_committed(ref) for ref in pair]
    assert narrowed_small_counts(responses, CASES, use_coverage=coverage) == []


# The four cells of issue 19 (by hand from the first committed reports: [0, 3], [0, 2], [3, 7], [3, 5]).
PINNED = [(OLD, "indecent_exposure", "by_outcome", {"year": "2020", "outcome": "Resigned/retired"}),
          (OLD, "indecent_exposure", "by_rank", {"year": "2020", "officer_rank": "Special constable"}),
          (FY, "indecent_exposure", "by_outcome", {"year": "", "outcome": "Not proven"}),
          (FY, "indecent_exposure", "by_rank", {"year": "", "officer_rank": "PS"})]


def _pinned_ranges(responses: list[Response], coverage: bool) -> list[tuple[float, float]]:
    intruder = JointIntruder(responses, use_coverage=coverage)
    out = []
    for ref, part, table, cell in PINNED:
        rows = next(r for r in responses if r.ref == ref).published
        match = (rows["part"] == part) & (rows["table"] == table)
        for column, value in cell.items():
            match &= rows[column] == value
        others = [c for c in rows.columns if c not in {"part", "table", "value", "marker", *cell}]
        match &= (rows[others] == "").all(axis=1)
        (idx,) = np.flatnonzero(match)
        assert rows.iloc[idx]["value"] == ""  # withheld
        out.append(intruder.range_of(ref, part, int(rows.index[idx])))
    return out


@pytest.fixture(scope="module")
def sequence():
    """01.FOI.23.032341, then its financial-year variant through the ledger: as the lead regenerates them."""
    first_request = load_request(ROOT / "params" / f"{OLD}.yaml")
    data = open_source_for(first_request)
    first = answer(first_request, data)
    second = answer(load_request(ROOT / "params" / f"{FY}.yaml"), data, ledger=Ledger((entry_of(first),)))
    return [Response(r.request.ref, r.request.model_dump(mode="json"), r.published(), END) for r in (first, second)]


def test_the_four_cells_of_issue_19_stay_open_when_published_in_sequence(sequence):
    for coverage in (False, True):
        for low, high in _pinned_ranges(sequence, coverage):
            assert low <= 1 and high >= 4, (coverage, low, high)


def test_published_in_sequence_no_small_count_is_narrowed(sequence):
    # with the coverage stated: the strongest reader (without it every range is at least as wide)
    assert narrowed_small_counts(sequence, CASES, use_coverage=True) == []


# Needs the committed reports regenerated with this fix.
def test_the_four_cells_of_issue_19_in_the_committed_reports():
    for coverage in (False, True):
        for low, high in _pinned_ranges([_committed(OLD), _committed(FY)], coverage):
            assert low <= 1 and high >= 4, (coverage, low, high)


def test_foikit_audit_names_a_small_count_shown_as_c_that_a_later_response_gives_away():
    """Two responses each protected only on its own: the audit of the first against everything published
    must find its '[c]' small counts that the second gives away (the old audit checked only '[xx]')."""
    first_request = load_request(ROOT / "params" / f"{OLD}.yaml")
    data = open_source_for(first_request)
    first = entry_of(answer(first_request, data))
    second = entry_of(answer(load_request(ROOT / "params" / f"{FY}.yaml"), data))
    first = type(first)(**{**first.__dict__, "published_at": "2024-01-01"})
    second = type(second)(**{**second.__dict__, "published_at": "2024-02-01"})
    result = audit_entry(first, Ledger((first, second)), data, "test", Policy.of(first_request).protection_rule)
    assert result.passed_before and not result.passed_all
    named = [line.strip().split(": derivable")[0] for line in result.lines if "derivable range" in line]
    shown = {f"{r.ref} {r.part}/{row['table']}[" + ", ".join(f"{d}={row[d] or 'Total'}" for d in r.tables[row["table"]])
             + "]": row["shown"] for r in (*first.parts, *second.parts) for row in r.cells.to_dict("records")}
    assert "[c]" in {shown[n] for n in named}  # a small count published as '[c]' is named


# -- random overlapping responses from one extract, published in sequence through the ledger ---------------
COLUMNS = ["outcome", "officer_rank", "unit", "officer_sex"]
OUTCOMES = ["No case to answer", "Reflective practice", "Management action", "Written warning",
            "Final written warning", "Reduction in rank", "Dismissed", "Would have been dismissed", "Not proven",
            "Resigned/retired", "Ongoing"]


def _random_request(rng: np.random.Generator, k: int) -> dict:
    kind = rng.choice(["calendar_year", "financial_year", "range"])
    part: dict = {"name": "indecent_exposure", "title": "Indecent exposure",
                  "filter": {"allegation_category": "Indecent exposure"}, "date_column": "date_recorded",
                  "counting_unit": "allegations", "period": str(kind)}
    first = int(rng.integers(2020, 2023))
    years = list(range(first, int(rng.integers(first + 1, 2024)) + 1))
    if kind == "range":  # half years
        part["ranges"] = [{"label": f"{y} H{h}", "start": f"{y}-{'01' if h == 1 else '07'}-01",
                           "end": f"{y}-{'06-30' if h == 1 else '12-31'}"} for y in years for h in (1, 2)]
        dim = "period"
    else:
        part["years"] = years
        dim = "year"
    columns = list(rng.choice(COLUMNS, size=int(rng.integers(1, 3)), replace=False))
    part["tables"] = [{"name": f"by_{c}", "title": c, "rows": [c], "columns": [dim]} for c in columns]
    if "outcome" in columns and rng.random() < 0.6:
        start = int(rng.integers(0, len(OUTCOMES) - 2))
        members = OUTCOMES[start:start + int(rng.integers(2, 4))]
        part["merge"] = {"outcome": {" or ".join(members): members}}
    return {"ref": f"01.FOI.99.{k:06d}", "title": "Random overlapping request",
            "suppression": {"threshold": 5, "marker": "[xx]"}, "parts": [part]}


@pytest.mark.parametrize("seed, n", [(4, 2), (7, 3), (12, 2), (26, 2), (27, 3)])
def test_random_overlapping_responses_published_in_sequence(seed, n):
    rng = np.random.default_rng(seed)
    data = None
    entries, published = [], []
    for k in range(n):
        request = parse_request(_random_request(rng, k + 1))
        data = data or open_source_for(request)
        response = answer(request, data, ledger=Ledger(tuple(entries)))
        assert response.passed
        entries.append(entry_of(response))
        published.append(Response(request.ref, request.model_dump(mode="json"), response.published(), END))
    assert narrowed_small_counts(published, CASES, use_coverage=True) == []


# -- a report re-made from its snapshot (foikit verify) ------------------------------------------------------
IE_2023 = {"ref": "01.FOI.99.000500", "title": "Indecent exposure by outcome, 2022 and 2023",
           "suppression": {"threshold": 5, "marker": "[xx]"},
           "parts": [{"name": "indecent_exposure", "title": "Indecent exposure",
                      "filter": {"allegation_category": "Indecent exposure"}, "date_column": "date_recorded",
                      "counting_unit": "allegations", "period": "calendar_year", "years": [2022, 2023],
                      "tables": [{"name": "by_outcome", "title": "By outcome", "rows": ["outcome"],
                                  "columns": ["year"]}]}]}


def test_a_response_re_made_from_its_snapshot_is_the_same_without_the_columns_of_earlier_ones(tmp_path):
    """verify re-runs a report on its snapshot (its own rows and columns only) against its ledger.json. The
    earlier response's breakdowns by rank and unit say which rows do not exist; counted, they would need
    columns the snapshot lacks (issue 19's change was taken back out for that): ledger.json records the
    count outside each breakdown (outside_now), and the snapshot its source's last day (the coverage the
    response states: indecent exposure's last row is 2023-10-08, the extract's 2023-11-30)."""
    first_request = load_request(ROOT / "params" / f"{OLD}.yaml")
    data = open_source_for(first_request)
    request = parse_request(IE_2023)
    ledger = with_counts(Ledger((entry_of(answer(first_request, data)),)), data)
    # every breakdown of the earlier response (each table has its totals) still holds: no row outside it
    for part in ledger.entries[0].parts:
        assert part.outside_now == dict.fromkeys(sorted(set(part.dims) - {part.period_dim}), 0), part.part
    assert "officer_rank" in ledger.entries[0].parts[1].outside_now
    original = answer(request, data, ledger=ledger)
    assert original.passed and original.ledger.combined == (OLD,)

    (tmp_path / "ledger.json").write_text(json.dumps(ledger.to_json()), encoding="utf-8")
    snapshot = snapshots.write_snapshot(snapshots.extract(data, request), snapshots.coverage(data, request),
                                        tmp_path / "input.parquet", snapshots.last_days(data, request))
    raw = request.model_dump(mode="json")
    raw["data"] = {"path": str(snapshot), "dictionary": str(data.dictionary.source)}
    again_request = parse_request(raw)
    snap = open_source_for(again_request)
    assert "officer_rank" not in pq.read_schema(snapshot).names
    assert last_day(snap, "date_recorded") == date(2023, 11, 30)
    assert last_day(replace(snap, last_days=None), "date_recorded") == date(2023, 10, 8)  # what the rows say
    recorded = load_ledger(tmp_path / "ledger.json")
    again = answer(again_request, snap, ledger=recorded)
    pd.testing.assert_frame_equal(again.published(), original.published())
    mine, theirs = entry_of(again).to_json(), entry_of(original).to_json()
    assert mine == theirs and mine["parts"][0]["periods"]["labels"]["2023"] == [["2023-01-01", "2023-12-01"]]
    # without the recorded counts the earlier breakdown by rank would be counted: the snapshot cannot
    stripped = [replace(r, outside_now={}) for r in recorded.entries[0].parts]
    with pytest.raises(DataError, match="officer_rank"):
        build_system([], stripped, snap, "test")


def test_outside_now_is_read_back_and_checked(tmp_path):
    first_request = load_request(ROOT / "params" / f"{OLD}.yaml")
    data = open_source_for(first_request)
    ledger = with_counts(Ledger((entry_of(answer(first_request, data)),)), data)
    raw = ledger.to_json()
    assert raw["entries"][0]["parts"][1]["outside_now"]["officer_rank"] == 0
    assert load_ledger_json(raw, tmp_path).entries[0].parts[1].outside_now == ledger.entries[0].parts[1].outside_now
    raw["entries"][0]["parts"][1]["outside_now"] = {"officer_rank": -1}
    with pytest.raises(ParamsError, match=r"parts\.1\.outside_now: a count \(an integer from 0\) per dimension"):
        load_ledger_json(raw, tmp_path)


def load_ledger_json(raw: dict, folder: Path) -> Ledger:
    (folder / "ledger.json").write_text(json.dumps(raw), encoding="utf-8")
    return load_ledger(folder / "ledger.json")


# -- the protection step reads every earlier figure of a quantity ----------------------------------------
def test_protect_reads_what_all_earlier_figures_of_one_quantity_say_together():
    """Two earlier versions of a response publish 'b' as 10 and as '[c]', and the total as 13: together they
    give a = 3. The protection step used to read one figure per quantity (the last), saw 'b' free, and
    called a pattern protected that is not (the failure of test_a_superseded_report_... once 01.FOI.23.032341
    is regenerated: 01.FOI.24.000211's 'Reduction in rank' cells narrowed to [2, 4] and [0, 2])."""
    cells = [(t, {"r": r}) for t in ("v1", "v2", "new") for r in ("a", "b", None)]
    model = build_model({"r": ["a", "b"]}, {"v1": ["r"], "v2": ["r"], "new": ["r"]}, cells,
                        tags=[1] * 6 + [0] * 3)
    values = np.array([3, 10, 13] * 3)
    nan = np.nan
    lo = np.array([0, 10, 13, 0, 0, 13, nan, nan, nan])  # v1: [c] 10 13; v2: [c] [c] 13
    hi = np.array([np.inf, 10, 13, np.inf, np.inf, 13, nan, nan, nan])
    sensitive = np.array([False] * 6 + [True, False, False])
    with pytest.raises(UnprotectableError) as caught:
        protect(model, values, sensitive, SecondaryPolicy(), fixed=(lo, hi))
    assert [(c.lower, c.upper) for c in caught.value.cells] == [(3.0, 3.0)]
    # reversed order (10 written last) was read right before; both orders now agree
    order = [3, 4, 5, 0, 1, 2, 6, 7, 8]
    model2 = build_model({"r": ["a", "b"]}, {"v2": ["r"], "v1": ["r"], "new": ["r"]},
                         [cells[i] for i in order], tags=[1] * 6 + [0] * 3)
    with pytest.raises(UnprotectableError):
        protect(model2, values[order], sensitive[order], SecondaryPolicy(), fixed=(lo[order], hi[order]))
