"""The stop_search and count_records templates: their embedded datasets, their example reports (checked with
plain pandas against the embedded CSVs) and their notebooks' default parameters."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import nbformat
import pandas as pd
import pytest

import foikit
from foikit.datasets import records as synth_records
from foikit.datasets import stop_search as synth_stop_search
from foikit.datasets.synth import write
from foikit.request.dictionary import embedded_dictionary
from foikit.source.data import embedded_data_path

from .conftest import ROOT

NOT_RECORDED = "Not recorded"
FINANCIAL_YEARS = ["2019/20", "2020/21", "2021/22", "2022/23", "2023/24"]


@dataclass(frozen=True)
class Template:
    name: str
    generator: object  # module with generate()
    report: Path
    date_column: str
    financial: bool  # periods are financial years (April-March) rather than calendar years
    years: list[str]  # the period labels the example request asks for
    population: dict[str, str]  # the example request's filter


STOP_SEARCH = Template("stop_search", synth_stop_search, ROOT / "reports" / "01.FOI.24.000101", "date", True,
                       FINANCIAL_YEARS, {})
COUNT_RECORDS = Template("count_records", synth_records, ROOT / "reports" / "01.FOI.24.000102", "date_reported",
                         False, ["2021", "2022", "2023"], {"category": "Hate incident"})
TEMPLATES = pytest.mark.parametrize("template", [STOP_SEARCH, COUNT_RECORDS], ids=lambda t: t.name)


def raw(template: Template) -> pd.DataFrame:
    return pd.read_csv(embedded_data_path(template.name), dtype=str, keep_default_na=False)


def period_label(dates: pd.Series, financial: bool) -> pd.Series:
    """The period of each date, worked out here independently of foikit.cube.engine."""
    year = dates.str[:4].astype(int)
    if not financial:
        return year.astype(str)
    start = year - (dates.str[5:7].astype(int) < 4)
    return start.astype(str) + "/" + ((start + 1) % 100).map("{:02d}".format)


def published(template: Template) -> pd.DataFrame:
    return pd.read_csv(template.report / "published.csv", dtype=str, keep_default_na=False)


# ---------------------------------------------------------------- embedded datasets


@TEMPLATES
def test_embedded_dataset_is_reproducible_from_its_generator(template, tmp_path):
    out = write(template.generator.generate(), tmp_path / f"{template.name}.csv")
    assert out.read_bytes() == embedded_data_path(template.name).read_bytes()


@TEMPLATES
def test_generator_is_seeded_and_scales(template):
    gen = template.generator.generate
    pd.testing.assert_frame_equal(gen(rows=700, seed=4), gen(rows=700, seed=4))
    assert not gen(rows=700, seed=4).equals(gen(rows=700, seed=5))
    assert len(gen(rows=700, seed=4)) == 700
    with pytest.raises(foikit.DataError):
        gen(rows=0)


@TEMPLATES
def test_embedded_dataset_fits_its_dictionary(template):
    df = raw(template)
    dictionary = embedded_dictionary(template.name)
    assert list(df.columns) == list(dictionary.columns)
    assert not df.duplicated(list(dictionary.key)).any()
    for column, spec in dictionary.columns.items():
        if spec.categories:
            assert set(df[column]) - {""} <= set(spec.categories), column
    dates = pd.to_datetime(df[template.date_column], format="%Y-%m-%d")
    assert dates.is_monotonic_increasing


def test_stop_search_volumes_and_proportions_are_plausible():
    df = raw(STOP_SEARCH)
    assert 18_000 <= len(df) <= 22_000
    assert df["date"].min() >= "2019-04-01" and df["date"].max() <= "2024-03-31"
    per_year = period_label(df["date"], financial=True).value_counts()
    assert sorted(per_year.index) == FINANCIAL_YEARS
    assert per_year.between(2_500, 6_000).all()
    assert per_year["2020/21"] == per_year.max()  # the lockdown peak, then a fall
    share = df["outcome"].value_counts(normalize=True)
    assert 0.65 <= share["No further action"] <= 0.75
    assert 0.12 <= share["Arrest"] <= 0.16
    assert share["Caution"] < 0.01
    assert 0.55 <= (df["legislation"] == "s.23 Misuse of Drugs Act").mean() <= 0.70
    assert (df.loc[df["legislation"] == "s.23 Misuse of Drugs Act", "object_of_search"] == "Controlled drugs").all()
    boroughs = df["borough"].value_counts()
    assert len(boroughs) == 32
    assert {"Lambeth", "Southwark", "Newham"} <= set(boroughs.index[:6])
    assert {"Richmond upon Thames", "Kingston upon Thames"} <= set(boroughs.index[-3:])
    assert boroughs["Westminster"] > 8 * boroughs["Richmond upon Thames"]
    ethnicity = df["ethnicity"].value_counts(normalize=True)
    assert 0.05 <= ethnicity[""] <= 0.15  # 'Not stated'
    assert 0.25 <= ethnicity["Black"] <= 0.40 and 0.25 <= ethnicity["White"] <= 0.40
    age = df["age_group"].value_counts(normalize=True)
    assert age["18-24"] == age.max() and 0 < age["under 10"] < 0.005 and 0 < age[""] < 0.05
    assert 0.85 <= (df["sex"] == "Male").mean() <= 0.92


def test_count_records_volumes_are_plausible():
    df = raw(COUNT_RECORDS)
    assert 2_000 <= len(df) <= 6_000
    assert sorted(set(df["date_reported"].str[:4])) == COUNT_RECORDS.years
    share = df["category"].value_counts(normalize=True)
    assert share.index[0] == "Anti-social behaviour" and share["Hate incident"] < 0.03
    assert 0 < (df["area"] == "").mean() < 0.03
    open_by_year = (df["status"] == "Open").groupby(df["date_reported"].str[:4]).mean()
    assert open_by_year["2023"] > 2 * open_by_year["2021"]  # recent incidents are more often still open


# ---------------------------------------------------------------- the committed example reports


@TEMPLATES
def test_report_was_made_from_the_embedded_dataset(template):
    manifest = json.loads((template.report / "manifest.json").read_text(encoding="utf-8"))
    sha = hashlib.sha256(embedded_data_path(template.name).read_bytes()).hexdigest()
    assert manifest["inputs"]["data"]["source_sha256"] == sha
    assert manifest["inputs"]["template"]["path"] == f"notebooks/{template.name}.ipynb"


@TEMPLATES
def test_report_publishes_no_value_from_1_to_4(template):
    cells = published(template)
    shown = cells["value"] != ""
    values = cells.loc[shown, "value"].astype(int)
    assert not values.between(1, 4).any()
    assert (cells.loc[~shown, "marker"] != "").all() and (cells.loc[shown, "marker"] == "").all()
    assert (cells["marker"] == "[xx]").any()  # the example meets real small counts


@TEMPLATES
def test_report_years_are_the_years_asked_for(template):
    cells = published(template)
    for _, part in cells.groupby("part"):
        assert sorted(set(part["year"]) - {""}) == template.years


@TEMPLATES
def test_report_visible_cells_equal_counts_from_the_embedded_csv(template):
    df = raw(template)
    df["year"] = period_label(df[template.date_column], template.financial)
    df = df[df["year"].isin(template.years)]
    for column, value in template.population.items():
        df = df[df[column] == value]
    cells = published(template)
    dims = [c for c in cells.columns if c not in {"part", "table", "value", "marker"}]
    labelled = df[dims].replace("", NOT_RECORDED)
    inner_checked = 0
    for (_, _), table in cells.groupby(["part", "table"], sort=False):
        table_dims = [d for d in dims if (table[d] != "").any()]
        for _, cell in table[table["value"] != ""].iterrows():
            mask = pd.Series(True, index=labelled.index)
            for d in table_dims:
                if cell[d] != "":
                    mask &= labelled[d] == cell[d]
            assert int(cell["value"]) == int(mask.sum()), cell.to_dict()
            inner_checked += all(cell[d] != "" for d in table_dims)
    assert inner_checked > (200 if template is STOP_SEARCH else 15)
    # the grand total of every table is the whole population
    grand = cells[(cells[dims] == "").all(axis=1)]
    assert (grand["value"].astype(int) == len(df)).all()


def test_stop_search_report_has_every_table_asked_for():
    cells = published(STOP_SEARCH)
    assert list(dict.fromkeys(cells["table"])) == [
        "by_year", "by_ethnicity", "by_age", "by_borough", "by_outcome", "by_ethnicity_outcome"]
    borough = cells[(cells["table"] == "by_borough") & (cells["borough"] != "")]
    assert borough["borough"].nunique() == 32
    assert NOT_RECORDED in set(cells.loc[cells["table"] == "by_ethnicity", "ethnicity"])


# ---------------------------------------------------------------- the notebooks' defaults


def parameters_cell(name: str) -> dict:
    nb = nbformat.read(ROOT / "notebooks" / f"{name}.ipynb", as_version=4)
    tagged = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
    assert len(tagged) == 1
    namespace: dict = {}
    exec(tagged[0].source, namespace)
    return namespace


@TEMPLATES
def test_notebook_parameters_run_on_the_embedded_data(template):
    p = parameters_cell(template.name)
    assert p["template"] == template.name and p["output_dir"] is None
    assert p["data"]["path"] is None
    request = foikit.parse_request({k: p[k] for k in ("ref", "title", "template", "request_text", "data",
                                                      "suppression", "parts")})
    cases = foikit.open_source(request.data, request.template)
    assert cases.embedded and cases.path == embedded_data_path(template.name)
    response = foikit.answer(request, cases)
    assert response.passed
    df = raw(template)
    for spec, part in zip(request.parts, response.parts, strict=True):
        labels = period_label(df[spec.date_column], spec.period == "financial_year")
        wanted = [f"{y}/{(y + 1) % 100:02d}" if spec.period == "financial_year" else str(y) for y in spec.years]
        mask = labels.isin(wanted)
        for column, value in spec.filter.items():
            mask &= df[column] == value
        assert part.cube.n_rows == int(mask.sum()) > 0
        assert part.cube.periods == tuple(wanted)


def test_stop_search_notebook_default_is_by_financial_year():
    p = parameters_cell("stop_search")
    assert all(part["period"] == "financial_year" for part in p["parts"])


def test_new_notebooks_make_the_same_calls_as_the_conduct_template():
    def code(name: str) -> list[str]:
        nb = nbformat.read(ROOT / "notebooks" / f"{name}.ipynb", as_version=4)
        return [c.source for c in nb.cells
                if c.cell_type == "code" and "parameters" not in c.metadata.get("tags", [])]

    reference = code("conduct_allegations")
    for name in ("stop_search", "count_records"):
        assert code(name) == reference, name
