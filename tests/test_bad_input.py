"""Bad input through `foikit run`: a one-line error naming file and field, exit 1, nothing written."""

from __future__ import annotations

import re

import pytest
import yaml

from foikit.cli import main

from .conftest import ROOT, hand_request


def _edit(raw: dict, path: tuple, value: object) -> None:
    target = raw
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value


CASES = [
    pytest.param(("colour",), "red", r"params\.yaml: colour: unknown key 'colour'", id="unknown-key"),
    pytest.param(("parts", 0, "tables", 0, "rows"), ["rnak"],
                 r"params\.yaml: parts\.0\.tables\.0: column 'rnak' is not in .*cases\.csv", id="unknown-column"),
    pytest.param(("parts", 0, "filter", "allegation_category"), ["DA", "Domestic abuse"],
                 r"params\.yaml: parts\.0\.filter\.allegation_category: \['Domestic abuse'\] not found",
                 id="absent-category"),
    pytest.param(("parts", 0, "years"), [2020, 2031],
                 r"params\.yaml: parts\.0\.years: no data for 2031 in .*covers 2020-2021", id="year-without-data"),
    pytest.param(("suppression", "threshold"), 0,
                 r"params\.yaml: suppression\.threshold: .*greater than or equal to 1", id="threshold-below-1"),
    pytest.param(("data", "path"), "missing/cases.csv",
                 r"params\.yaml: data: missing/cases\.csv: data file not found", id="missing-data-file"),
    pytest.param(("data", "dictionary"), str(ROOT / "foikit" / "data" / "conduct_allegations.yaml"),
                 r"column 'allegation_category': values not in dictionary .*'DA' \(10 rows\), 'IE' \(2 rows\)",
                 id="value-not-in-dictionary"),
    pytest.param(("parts", 0, "counting_unit"), "cases",
                 r"parts\.0\.counting_unit: 'cases' is not a unit", id="unknown-unit"),
]


@pytest.mark.parametrize(("path", "value", "message"), CASES)
def test_bad_input_is_refused_and_nothing_is_written(tmp_path, hand_csv, capsys, path, value, message):
    raw = hand_request(hand_csv)
    _edit(raw, path, value)
    params = tmp_path / "params.yaml"
    params.write_text(yaml.safe_dump(raw), encoding="utf-8")
    reports = tmp_path / "reports"

    code = main(["run", str(params), "--reports-dir", str(reports)])

    err = capsys.readouterr().err.strip()
    assert code == 1
    assert len(err.splitlines()) == 1, err
    assert err.startswith("foikit: error: ")
    assert re.search(message, err), err
    assert not reports.exists()
