"""No personal data in outputs: no case ref, officer id or case-level date from the input appears in any
published file or in the HTML record, which shows counts, not rows."""

from __future__ import annotations

import zipfile

import pandas as pd
import pytest

from .procs import REF, make_project, run

PUBLISHED = ("published.csv", "tables.xlsx", "tables.ods", "audit.json", "letter.html", "letter.docx")


def text_of(path) -> str:
    """A file's text; for XLSX, ODS and DOCX, every part of the package."""
    if path.suffix in {".xlsx", ".ods", ".docx"}:
        with zipfile.ZipFile(path) as z:
            return "".join(z.read(n).decode("utf-8", "replace") for n in z.namelist())
    return path.read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    project = make_project(tmp_path_factory.mktemp("pii"))
    done = run(project)
    assert done.returncode == 0, done.stderr
    return project / "drafts" / REF, pd.read_csv(project / "cases.csv", dtype=str)


def test_no_id_or_case_row_in_any_published_file_or_the_html(report):
    folder, cases = report
    ids = [*cases["case_ref"], *cases["officer_id"]]
    assert all(len(i) > 12 for i in ids)  # distinctive: cannot occur in a file by chance
    names = [*PUBLISHED, "report.html", "notebook.ipynb", *(p.name for p in folder.glob("*.json"))]
    for name in dict.fromkeys(names):
        text = text_of(folder / name)
        found = [i for i in ids if i in text]
        assert not found, f"{name} holds {found[:3]}"
    # the request's own period bounds (years 2020 and 2021) are stated by the response, in the record's query:
    # a case dated on one (2021-01-01) is not told by them; every other case date must be absent
    bounds = {"2020-01-01", "2021-01-01", "2022-01-01"}
    case_days = [d for d in cases["date_recorded"] if d not in bounds]
    assert len(case_days) == len(cases) - 1
    for name in (*PUBLISHED, "report.html"):
        text = text_of(folder / name)
        days = [d for d in case_days if d in text]  # a case's exact date identifies it
        assert not days, f"{name} holds case dates {days[:3]}"


def test_the_html_record_shows_counts_not_rows(report):
    folder, cases = report
    tables = pd.read_html(folder / "report.html")
    assert tables
    row_values = set(cases["case_ref"]) | set(cases["officer_id"]) | set(cases["date_recorded"])
    for table in tables:
        assert not {str(c) for c in table.columns} & {"case_ref", "officer_id", "date_recorded"}
        assert not set(table.astype(str).to_numpy().ravel()) & row_values
