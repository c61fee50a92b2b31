"""published.csv's W3C tabular metadata (CSV on the Web): a reader that knows only the metadata reads every
figure and every marker of published.csv correctly.

The hand request (tests/conftest.py: threshold 3, marker [x], secondary [c]) publishes domestic abuse by
outcome and year (No case 5 and 1, Dismissed 1 and 2, Ongoing 0 and 1) and by officer and complainant sex.
"""

from __future__ import annotations

import csv
import io
import json
import re

import pytest

import foikit
from foikit.cube.engine import count_cube
from foikit.exceptions import DisclosureError
from foikit.ledger.store import Ledger
from foikit.run.gate import check_written

from .conftest import EXAMPLE_REPORT, hand_request


def read_with_metadata(text: str, metadata: dict) -> list[dict]:
    """published.csv as a CSVW processor reads it, knowing nothing but ``metadata`` (independent of foikit):
    the header must match the columns' titles; a column's ``null`` value is None; a nonNegativeInteger is an
    int; a string with a ``format`` must match it."""
    columns = metadata["tableSchema"]["columns"]
    rows = list(csv.reader(io.StringIO(text, newline="")))
    assert rows[0] == [c["titles"] for c in columns]
    out = []
    for row in rows[1:]:
        record = {}
        for c, cell in zip(columns, row, strict=True):
            datatype = c["datatype"] if isinstance(c["datatype"], dict) else {"base": c["datatype"]}
            if "null" in c and cell == c["null"]:
                assert not c.get("required"), (c["name"], row)
                record[c["name"]] = None
            elif datatype["base"] == "nonNegativeInteger":
                assert re.fullmatch(r"\d+", cell), (c["name"], cell)
                record[c["name"]] = int(cell)
            else:
                assert datatype["base"] == "string"
                if "format" in datatype:
                    assert re.search(datatype["format"], cell), (c["name"], cell, datatype["format"])
                record[c["name"]] = cell
        out.append(record)
    return out


@pytest.fixture
def hand_written(hand_csv, tmp_path):
    request = foikit.parse_request(hand_request(hand_csv))
    response = foikit.answer(request, ledger=Ledger())
    out = tmp_path / "out"
    foikit.write_publishable(response, out)
    return out, request, response


def test_the_metadata_names_every_column_and_marker_of_the_hand_request(hand_written):
    out, _, _ = hand_written
    meta = json.loads((out / "published.csv-metadata.json").read_text(encoding="utf-8"))
    assert meta["url"] == "published.csv" and meta["dc:identifier"] == "01.FOI.99.000001"
    columns = {c["name"]: c for c in meta["tableSchema"]["columns"]}
    assert list(columns) == ["part", "table", "outcome", "year", "officer_sex", "complainant_sex", "value", "marker"]
    assert columns["part"]["datatype"]["format"] == "^(da)$"
    assert columns["table"]["datatype"]["format"] == "^(by_outcome|by_sex)$"
    assert columns["marker"]["datatype"]["format"] == r"^(\[x\]|\[c\])$"
    assert "[x]: a count from 1 to 2 (personal data)." in columns["marker"]["dc:description"]
    assert "[c]: a small count, or a figure withheld to prevent the calculation of other withheld figures; it " \
        "may stand for any count." in columns["marker"]["dc:description"]


def test_a_reader_of_the_metadata_alone_reads_the_hand_figures(hand_written):
    out, _, _ = hand_written
    meta = json.loads((out / "published.csv-metadata.json").read_text(encoding="utf-8"))
    rows = read_with_metadata((out / "published.csv").read_text(encoding="utf-8"), meta)
    by_outcome = {(r["outcome"], r["year"]): (r["value"], r["marker"]) for r in rows if r["table"] == "by_outcome"}
    # by hand: Dismissed 2020 = 1 and 2021 = 2, Ongoing 2021 = 1 are small ([x]); No case 2020 (5) is withheld
    # as [c] so that Dismissed 2020 cannot be worked out; Ongoing 2020 is a true 0, a number
    assert by_outcome[("Dismissed", "2020")] == (None, "[x]")
    assert by_outcome[("Dismissed", "2021")] == (None, "[x]")
    assert by_outcome[("No case", "2020")] == (None, "[c]")
    assert by_outcome[("Ongoing", "2020")] == (0, None)
    assert by_outcome[(None, None)] == (10, None)  # the grand total: every case of the part
    assert all((r["value"] is None) == (r["marker"] is not None) for r in rows)


def test_the_committed_example_reads_the_same_through_its_metadata():
    meta = json.loads((EXAMPLE_REPORT / "published.csv-metadata.json").read_text(encoding="utf-8"))
    text = (EXAMPLE_REPORT / "published.csv").read_text(encoding="utf-8")
    rows = read_with_metadata(text, meta)
    plain = list(csv.DictReader(io.StringIO(text, newline="")))
    assert len(rows) == len(plain) > 0
    assert {r["marker"] for r in rows} == {None, "[xx]", "[c]"}
    for r, p in zip(rows, plain, strict=True):
        assert r["value"] == (int(p["value"]) if p["value"] else None)
    totals = [r for r in rows if r["part"] == "domestic_abuse" and r["table"] == "by_year" and r["year"] is None]
    assert [t["value"] for t in totals] == [580]  # 120 + 210 + 250, the README's worked example


def test_the_gate_refuses_metadata_that_misstates_a_marker(hand_written, tmp_path):
    out, request, response = hand_written
    path = out / "published.csv-metadata.json"
    meta = json.loads(path.read_text(encoding="utf-8"))
    marker = next(c for c in meta["tableSchema"]["columns"] if c["name"] == "marker")
    marker["dc:description"] = marker["dc:description"].replace("from 1 to 2", "from 0 to 9")
    path.write_text(json.dumps(meta, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    cubes = [count_cube(response.data, part, f"parts.{i}") for i, part in enumerate(request.parts)]
    with pytest.raises(DisclosureError, match=r"^leak check: published\.csv-metadata\.json: does not describe "
                                              r"published\.csv and its markers as the policy states them"):
        check_written(out, request, response.data, cubes, ledger=Ledger())
