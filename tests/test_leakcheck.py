"""The independent leak check: a figure that breaks the policy in any publishable file is refused just
before the file is written, whatever the suppression code did, and nothing is written."""

from __future__ import annotations

import io

import pandas as pd
import pytest
from docx import Document

import foikit
from foikit.exceptions import DisclosureError
from foikit.ledger.store import Ledger
from foikit.publish import files as publish
from foikit.publish import leakcheck
from foikit.request.policy import LeakPolicy

from .conftest import hand_request


@pytest.fixture
def response(hand_csv):
    return foikit.answer(foikit.parse_request(hand_request(hand_csv)), ledger=Ledger())


def first(cells: pd.DataFrame, reason: str) -> int:
    return int(cells.index[cells["reason"] == reason][0])


@pytest.fixture
def out(tmp_path):
    folder = tmp_path / "out"
    folder.mkdir()
    return folder


def test_an_untampered_response_is_written(response, out):
    names = {p.name for p in foikit.write_publishable(response, out)}
    assert {"audit.json", "letter.docx", "letter.html", "published.csv", "tables.xlsx", "tables.ods"} <= names


def test_a_small_count_shown_is_refused_even_when_the_older_check_is_bypassed(response, out, monkeypatch):
    monkeypatch.setattr(publish, "check_no_leak", lambda *a: None)  # only the independent check is left
    cells = response.parts[0].cells
    i = first(cells, "primary")
    cells.loc[i, ["hidden", "shown"]] = [False, str(cells.loc[i, "value"])]  # e.g. "2" instead of [x]
    with pytest.raises(DisclosureError, match=r"^leak check: chart data: .*shows \d, a count from 1 to 2"):
        foikit.write_publishable(response, out)
    with pytest.raises(DisclosureError, match=r"^leak check: published\.csv: .*shows \d, a count from 1 to 2"):
        publish.write_published_csv(response, out)
    assert list(out.iterdir()) == []


@pytest.mark.parametrize("writer, file", [(publish.write_xlsx, "tables.xlsx"), (publish.write_ods, "tables.ods"),
                                          (publish.write_letter, "letter.html")])
def test_a_withheld_cells_true_value_in_place_of_its_marker_is_refused(response, out, writer, file):
    cells = response.parts[0].cells
    i = first(cells, "secondary")  # not a small count: only 'withheld' says it must not be shown
    cells.loc[i, "shown"] = str(cells.loc[i, "value"])
    with pytest.raises(DisclosureError, match=rf"^leak check: {file}: .* where its marker should be"):
        writer(response, out)
    assert list(out.iterdir()) == []


def test_a_wrong_figure_is_refused(response, out, monkeypatch):
    real = response.published

    def tampered() -> pd.DataFrame:
        out = real()
        i = out.index[out["value"] != ""][0]
        out.loc[i, "value"] = str(int(out.loc[i, "value"]) + 10)
        return out

    monkeypatch.setattr(type(response), "published", lambda self: tampered())
    with pytest.raises(DisclosureError, match=r"^leak check: published\.csv: .* which is not its count"):
        publish.write_published_csv(response, out)
    assert list(out.iterdir()) == []


def test_a_docx_showing_a_withheld_figure_is_refused_and_earlier_files_are_removed(response, out, monkeypatch):
    from foikit.publish import letter

    real = letter.render_letter_docx

    def tampered(response):  # the first table's No case/2021 cell (1 case, withheld) shows its count
        document = Document(io.BytesIO(real(response)))
        cell = next(r.cells for r in document.tables[0].rows if r.cells[0].text == "No case")[2]
        assert cell.text == "[x]"
        cell.paragraphs[0].runs[0].text = "1"
        buffer = io.BytesIO()
        document.save(buffer)
        return buffer.getvalue()

    monkeypatch.setattr(letter, "render_letter_docx", tampered)
    with pytest.raises(DisclosureError, match=r"^leak check: letter\.docx: 1 cells .* first table 1: "
                                              r"da/by_outcome\[No case, 2021\] shows 1, a count from 1 to 2"):
        foikit.write_publishable(response, out)
    assert list(out.iterdir()) == []  # published.csv and tables.xlsx, already written, are removed


def test_the_rules_of_the_check():
    policy = LeakPolicy(threshold=5, markers=frozenset({"[xx]", "[c]"}), rounding=None)
    assert leakcheck.problem("12", 12, False, policy) is None
    assert leakcheck.problem("0", 0, False, policy) is None
    assert leakcheck.problem("[xx]", 3, True, policy) is None
    assert "from 1 to 4" in leakcheck.problem("3", 3, False, policy)
    assert "from 1 to 4" in leakcheck.problem(3.0, 3, False, policy)
    assert "where its marker" in leakcheck.problem("12", 12, True, policy)
    assert "neither a number nor a marker" in leakcheck.problem("three", 3, True, policy)
    assert "not withheld" in leakcheck.problem("[c]", 12, False, policy)
    rounded = LeakPolicy(threshold=5, markers=frozenset({"[xx]", "[c]"}), rounding=5)
    assert leakcheck.problem("10", 8, False, rounded) is None
    assert "rounded" in leakcheck.problem("10", 5, False, rounded)


def test_a_response_not_checked_against_the_ledger_is_not_written(tmp_path, hand_csv):
    alone = foikit.answer(foikit.parse_request(hand_request(hand_csv)))
    assert alone.passed  # it passes on its own: the refusal is about the ledger
    with pytest.raises(DisclosureError) as info:
        foikit.write_publishable(alone, tmp_path / "out")
    assert str(info.value).startswith(f"{tmp_path / 'out'}: nothing written: response {alone.request.ref} was not "
                                      "checked against the disclosure ledger; ")
    assert not (tmp_path / "out").exists()
