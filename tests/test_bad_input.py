"""Bad input through `foikit run`: a one-line error naming file and field, exit 1, nothing written."""

from __future__ import annotations

import re

import pytest
import yaml

import foikit
from foikit.cli import main
from foikit.publish.letter import render_letter

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
                 r"params\.yaml: suppression\.threshold: must be at least 2", id="threshold-below-1"),
    pytest.param(("suppression", "threshold"), 1,
                 r"params\.yaml: suppression\.threshold: must be at least 2: .*would withhold nothing \(got 1\)",
                 id="threshold-1"),
    pytest.param(("suppression", "threshold"), 10**30,
                 r"params\.yaml: suppression\.threshold: must be at most 1000 \(got 10{30}\)", id="threshold-huge"),
    pytest.param(("parts", 0, "years"), [2020, 10**12],
                 r"params\.yaml: parts\.da\.years\.1: .*less than or equal to 2200", id="year-huge"),
    pytest.param(("parts", 0, "years"), [-2020], r"params\.yaml: parts\.da\.years\.0: .*greater than or equal to 1900",
                 id="year-negative"),
    pytest.param(("title",), "Title\x0bwith a vertical tab",
                 r"params\.yaml: title: control character U\+000B at character 6", id="control-in-title"),
    pytest.param(("parts", 0, "tables", 1, "title"), "NUL\x00",
                 r"params\.yaml: parts\.da\.tables\.by_sex\.title: control character U\+0000", id="nul-in-table-title"),
    pytest.param(("data", "dictionary"), "<csv>",
                 r"params\.yaml: data: .*cases\.csv: not a data dictionary: expected a mapping",
                 id="dictionary-is-csv"),
    pytest.param(("data", "dictionary"), "<binary>",
                 r"params\.yaml: data: .*blob\.bin: not valid YAML: not utf-8 text: byte 0x80",
                 id="dictionary-is-binary"),
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
    (tmp_path / "blob.bin").write_bytes(bytes(range(256)))
    value = {"<csv>": str(hand_csv), "<binary>": str(tmp_path / "blob.bin")}.get(value, value) \
        if isinstance(value, str) else value
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


BOMB = "a: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n" + "".join(
    f"{x}: &{x} [{', '.join([f'*{p}'] * 9)}]\n" for p, x in zip("abcdefgh", "bcdefghi", strict=True))


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (lambda raw: (yaml.safe_dump(raw) + BOMB).encode(), r"params\.yaml: not valid YAML: aliases expand it to more "
         r"than 1,000,000 values"),
        (lambda raw: (yaml.safe_dump(raw) + "title: " + "x" * (50 << 20) + "\n").encode(),
         r"params\.yaml: params file is 52,4\d\d,\d\d\d bytes; at most 1,048,576 are read"),
    ],
    ids=["alias-bomb", "50MB-field"],
)
def test_hostile_yaml_is_refused_before_it_is_parsed(tmp_path, hand_csv, capsys, body, message):
    params = tmp_path / "params.yaml"
    params.write_bytes(body(hand_request(hand_csv)))
    reports = tmp_path / "reports"
    code = main(["run", str(params), "--reports-dir", str(reports)])
    err = capsys.readouterr().err.strip()
    assert code == 1 and len(err.splitlines()) == 1 and len(err) < 400, err[:1000]
    assert re.search(message, err), err
    assert not reports.exists()


def test_a_letter_with_nothing_withheld_has_no_empty_key(hand_csv):
    """Nothing withheld: the key lists no markers, and does not start with an empty list ('Key: . A figure')."""
    raw = hand_request(hand_csv, suppression={"threshold": 2})
    raw["parts"][0]["tables"] = [{"name": "by_year", "title": "By year", "columns": ["year"]}]  # 6 and 4
    html = render_letter(foikit.answer(foikit.parse_request(raw)))
    assert "Nothing has been withheld" in html
    assert '<p class="note">A figure of 0 means none.</p>' in html and "Key:" not in html
