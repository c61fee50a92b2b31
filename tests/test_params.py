"""The request schema: the example validates; bad params name the file and the field."""

from __future__ import annotations

import pytest
import yaml

import foikit

from .conftest import EXAMPLE_PARAMS


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
         r"p.yaml: suppression.threshold: .*greater than or equal to 1 \(got 0\)"),
        (lambda r: r.update(ref="../etc"), r"p.yaml: ref: String should match pattern"),
        (lambda r: r["parts"][0]["tables"][0].update(rows=[], columns=[]), r"parts.0.tables.0: .*at least one"),
        (lambda r: r["parts"][0].update(years=[2020, 2020]), r"parts.0: years repeat"),
        (lambda r: r["parts"][0]["tables"][0].update(rowz=["x"]), r"parts.0.tables.0.rowz: unknown key"),
    ],
)
def test_bad_params_name_file_and_field(tmp_path, change, message):
    raw = yaml.safe_load(EXAMPLE_PARAMS.read_text())
    change(raw)
    with pytest.raises(foikit.ParamsError, match=message) as info:
        foikit.load_request(_write(tmp_path, raw))
    assert "\n" not in str(info.value)


def test_missing_params_file(tmp_path):
    with pytest.raises(foikit.ParamsError, match=r"nope\.yaml: params file not found"):
        foikit.load_request(tmp_path / "nope.yaml")
