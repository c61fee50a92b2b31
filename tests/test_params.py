"""The request schema: the example validates; bad params name the file and the field."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
import yaml

import foikit
from foikit.exceptions import capped
from foikit.ledger.store import read_import
from foikit.request.params import read_yaml

from .conftest import EXAMPLE_PARAMS, ROOT


def test_example_request_is_valid_and_asks_what_the_letter_quotes():
    request = foikit.load_request(EXAMPLE_PARAMS)
    assert request.ref == "01.FOI.23.032341"
    da, ie = request.parts
    assert da.years == [2020, 2022, 2023]
    assert ie.years == [2020, 2021, 2022, 2023]
    assert [t.dims for t in da.tables] == [
        ("year",), ("outcome", "year"), ("officer_rank", "year"), ("unit", "year"),
        ("officer_sex", "complainant_sex", "year"),
    ]
    assert request.dims == ("year", "outcome", "officer_rank", "unit", "officer_sex", "complainant_sex")
    assert request.suppression.threshold == 5 and request.suppression.marker == "[xx]"


def _write(tmp_path, raw):
    path = tmp_path / "p.yaml"
    path.write_text(yaml.safe_dump(raw), encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda r: r.update(colour="red"), r"p.yaml: colour: unknown key 'colour'"),
        (lambda r: r["suppression"].update(threshold=0),
         r"p.yaml: suppression.threshold: must be at least 2: .* would withhold nothing \(got 0\)"),
        (lambda r: r.update(ref="../etc"), r"p.yaml: ref: String should match pattern"),
        (lambda r: r["parts"][0]["tables"][0].update(rows=[], columns=[]),
         r"parts\.domestic_abuse\.tables\.by_year: .*at least one"),
        (lambda r: r["parts"][0].update(years=[2020, 2020]), r"parts\.domestic_abuse: years repeat: \[2020\]"),
        (lambda r: r["parts"][0]["tables"][0].update(rowz=["x"]),
         r"parts\.domestic_abuse\.tables\.by_year\.rowz: unknown key"),
    ],
)
def test_bad_params_name_file_and_field(tmp_path, change, message):
    raw = yaml.safe_load(EXAMPLE_PARAMS.read_text())
    change(raw)
    with pytest.raises(foikit.ParamsError, match=message) as info:
        foikit.load_request(_write(tmp_path, raw))
    assert "\n" not in str(info.value)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda r: r["suppression"].update(threshhold=5),
         "p.yaml: suppression.threshhold: unknown key 'threshhold' (did you mean 'threshold'?)"),
        (lambda r: r["parts"][0].update(year=[2020]),
         "p.yaml: parts.domestic_abuse.year: unknown key 'year' (did you mean 'years'?)"),
        (lambda r: r["parts"][0]["tables"][0].update(colums=["outcome"]),
         "p.yaml: parts.domestic_abuse.tables.by_year.colums: unknown key 'colums' (did you mean 'columns'?)"),
        (lambda r: r.update(zzzz=1), "p.yaml: zzzz: unknown key 'zzzz'"),  # nothing close: no guess
    ],
)
def test_a_misspelt_key_gets_the_closest_known_one(tmp_path, change, message):
    raw = yaml.safe_load(EXAMPLE_PARAMS.read_text())
    change(raw)
    with pytest.raises(foikit.ParamsError) as info:
        foikit.load_request(_write(tmp_path, raw))
    assert str(info.value).endswith(message)


def test_missing_params_file(tmp_path):
    with pytest.raises(foikit.ParamsError, match=r"nope\.yaml: params file not found"):
        foikit.load_request(tmp_path / "nope.yaml")


# --- bounds: every number and text of a request has documented limits, each refused in one line ---

def _title_of_tables(r, text):
    r["parts"][1]["tables"][1]["title"] = text


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda r: r["parts"][0].update(years=[10**12]),
         r"parts\.domestic_abuse\.years\.0: .*less than or equal to 2200 \(got 1000000000000\)"),
        (lambda r: r["parts"][0].update(years=[-5]),
         r"parts\.domestic_abuse\.years\.0: .*greater than or equal to 1900"),
        (lambda r: r["parts"][1].update(years=[2201]), r"parts\.indecent_exposure\.years\.0: .*2200"),
        (lambda r: r["suppression"].update(threshold=10**30), r"suppression\.threshold: must be at most 1000"),
        (lambda r: r["suppression"].update(threshold=1),
         r"suppression\.threshold: must be at least 2: .*withhold nothing"),
        (lambda r: r["suppression"].update(rounding={"base": 10**6}), r"suppression\.rounding\.base: .*1000"),
        (lambda r: r["suppression"].update(secondary={"total_factor": float("inf")}),
         r"suppression\.secondary\.total_factor: Input should be a finite number"),
        (lambda r: r["suppression"].update(secondary={"time_limit": 10**9}), r"secondary\.time_limit: .*86400"),
        (lambda r: r["suppression"].update(marker="5"), r"suppression\.marker: a marker must not read as a number"),
        (lambda r: r["suppression"].update(marker="  "), r"suppression\.marker: a marker must show something"),
        (lambda r: r["suppression"].update(marker="[" + "x" * 30 + "]"), r"suppression\.marker: .*at most 20"),
        (lambda r: r["suppression"].update(marker="[x\n]"), r"suppression\.marker: control character U\+000A"),
        (lambda r: r.update(title="a\x0bb"), r"p\.yaml: title: control character U\+000B at character 2"),
        (lambda r: r.update(title="NUL\x00"), r"title: control character U\+0000 at character 4"),
        (lambda r: r.update(organisation="C1 \x85"), r"organisation: control character U\+0085"),
        (lambda r: r.update(request_text="tab\tand\nnewline, then \x1b[31m"),
         r"request_text: control character U\+001B"),
        (lambda r: _title_of_tables(r, "x" * 1001), r"parts\.indecent_exposure\.tables\.by_rank\.title: .*1000"),
        (lambda r: r["parts"][0]["filter"].update(allegation_category=True),
         r"parts\.domestic_abuse\.filter\.allegation_category: True is a boolean: .*quote it"),
        (lambda r: r["data"].update(path="/" + "d" * 5000), r"data\.path: .*at most 4096"),
    ],
)
def test_out_of_bounds_values_are_refused_in_one_line(tmp_path, change, message):
    raw = yaml.safe_load(EXAMPLE_PARAMS.read_text())
    change(raw)
    with pytest.raises(foikit.ParamsError, match=message) as info:
        foikit.load_request(_write(tmp_path, raw))
    assert "\n" not in str(info.value) and len(str(info.value)) < 400


def test_newlines_and_tabs_are_text_not_control():
    raw = yaml.safe_load(EXAMPLE_PARAMS.read_text())
    raw.update(title="folded title\n", request_text="first\tline\nsecond line\n")
    raw["parts"][0]["years"] = [1900, 2200]
    request = foikit.parse_request(raw)
    assert request.title == "folded title\n" and request.request_text == "first\tline\nsecond line\n"
    assert request.parts[0].years == [1900, 2200]


def test_a_range_date_outside_the_bounds_is_refused():
    raw = yaml.safe_load(EXAMPLE_PARAMS.read_text())
    raw["parts"][0].update(period="range", years=[], ranges=[{"label": "all", "start": "0001-01-01",
                                                              "end": "2020-12-31"}])
    raw["parts"][0]["tables"] = [{"name": "by_period", "title": "t", "columns": ["period"]}]
    with pytest.raises(foikit.ParamsError, match=r"parts\.domestic_abuse\.ranges\.0\.start: date 0001-01-01 is "
                                                 r"outside 1900-01-01 to 2200-12-31"):
        foikit.parse_request(raw, "p.yaml")


# --- messages never echo a huge value whole ---

def test_a_huge_value_is_echoed_capped_with_its_length():
    raw = yaml.safe_load(EXAMPLE_PARAMS.read_text())
    raw["suppression"]["marker"] = "m" * 10_000_000
    with pytest.raises(foikit.ParamsError) as info:
        foikit.parse_request(raw, "p.yaml")
    message = str(info.value)
    assert message.startswith("p.yaml: suppression.marker: String should have at most 20 characters (got 'mmm")
    assert message.endswith("… (10,000,000 characters))") and len(message) < 400


def test_a_huge_unknown_key_is_capped():
    raw = yaml.safe_load(EXAMPLE_PARAMS.read_text())
    raw["k" * 1_000_000] = 1
    with pytest.raises(foikit.ParamsError, match=r"unknown key 'kkk.*… \(1,000,000 characters\)") as info:
        foikit.parse_request(raw, "p.yaml")
    assert len(str(info.value)) < 400


def test_capped_by_hand():
    assert capped("abc") == "'abc'"
    assert capped("x" * 1000, 10) == "'xxxxxxxxx… (1,000 characters)"
    assert capped(list(range(1000)), 30) == "[0, 1, 2, 3, 4, 5, 6, 7, 8, 9,… (1,000 items)"
    assert capped(10**5000) == "(an integer of 16,610 bits)"  # str() of it would raise


# --- the one bounded YAML reader ---

BOMB = "a: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n" + "".join(
    f"{x}: &{x} [{', '.join([f'*{p}'] * 9)}]\n" for p, x in zip("abcdefgh", "bcdefghi", strict=True))


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (BOMB.encode(), r"not valid YAML: aliases expand it to more than 1,000,000 values \(line 7\)"),
        (b"[" * 100_000 + b"]" * 100_000, r"not valid YAML: nested more than 64 levels deep \(line 1\)"),
        (b"ref: a\ntitle: b\nref: c\n", r"not valid YAML: duplicate key 'ref' \(lines 1 and 3\)"),
        (b"start: 2020-13-01\n", r"not valid YAML: month must be in 1\.\.12 \(line 1\)"),
        (b"n: " + b"9" * 5000, r"not valid YAML: a number of more than 4,300 digits \(line 1\)"),
        ("title: Zoë\n".encode("latin-1"), r"not valid YAML: not utf-8 text: byte 0xeb at byte 9"),
        (b"title: a\x00b\n", r"not valid YAML: character U\+0000 at character 9: special characters are not allowed"),
        (bytes(range(256)) * 10, r"not valid YAML: not utf-8 text: byte 0x80 at byte 128 \(invalid start byte\)"),
        (b"title: " + b"x" * (1 << 20), r"params file is 1,048,583 bytes; at most 1,048,576 are read"),
    ],
    ids=["alias-bomb", "deep", "duplicate-key", "bad-date", "huge-int", "latin-1", "nul", "binary", "too-big"],
)
def test_hostile_yaml_is_refused_in_one_line(tmp_path, body, message):
    path = tmp_path / "p.yaml"
    path.write_bytes(body)
    with pytest.raises(foikit.ParamsError, match=message) as info:
        foikit.load_request(path)
    assert str(info.value).startswith(f"{path}: ") and "\n" not in str(info.value) and len(str(info.value)) < 400


def test_yaml_in_utf8_or_utf16_with_a_byte_order_mark_is_read(tmp_path):
    text = EXAMPLE_PARAMS.read_text(encoding="utf-8").replace("title: Officers", "title: Zoë's officers", 1)
    for encoding in ("utf-8-sig", "utf-16", "utf-16-be"):
        path = tmp_path / f"{encoding}.yaml"
        body = text.encode(encoding)
        path.write_bytes(body if encoding != "utf-16-be" else b"\xfe\xff" + body)
        assert foikit.load_request(path).title.startswith("Zoë's officers"), encoding


def test_a_file_exactly_at_the_limit_is_read(tmp_path):
    path = tmp_path / "p.yaml"
    head = b"# " + b"x" * ((1 << 20) - 3) + b"\n"
    path.write_bytes(head)
    assert len(head) == 1 << 20 and read_yaml(path, "params file") is None


def test_only_regular_files_are_read(tmp_path):
    fifo = tmp_path / "fifo.yaml"
    os.mkfifo(fifo)  # reading it would block for ever
    for path in (fifo, tmp_path, Path("/dev/zero")):
        with pytest.raises(foikit.ParamsError, match=r": params file is not a regular file$"):
            read_yaml(path, "params file")


def test_dictionaries_and_ledger_imports_go_through_the_bounded_reader(tmp_path):
    bomb = tmp_path / "bomb.yaml"
    bomb.write_text(BOMB, encoding="utf-8")
    with pytest.raises(foikit.ParamsError, match=r"bomb\.yaml: not valid YAML: aliases expand"):
        foikit.load_dictionary(bomb)
    with pytest.raises(foikit.ParamsError, match=r"bomb\.yaml: not valid YAML: aliases expand"):
        read_import(bomb)
    (tmp_path / "cases.csv").write_text("a,b\n1,2\n", encoding="utf-8")
    with pytest.raises(foikit.ParamsError, match=r"cases\.csv: not a data dictionary: expected a mapping"):
        foikit.load_dictionary(tmp_path / "cases.csv")


def test_no_module_parses_yaml_but_the_bounded_reader():
    """Every YAML foikit reads (params, dictionaries, ledger imports, a report's params) goes through
    foikit.request.params.read_yaml: no other module calls PyYAML's loaders."""
    loaders = re.compile(r"yaml\.(safe_load|load|full_load|unsafe_load|compose|load_all|safe_load_all)\b")
    offenders = [f"{p.name}:{i}" for p in (ROOT / "foikit").rglob("*.py") if p.name != "params.py"
                 for i, line in enumerate(p.read_text(encoding="utf-8").splitlines(), 1) if loaders.search(line)]
    assert offenders == []
