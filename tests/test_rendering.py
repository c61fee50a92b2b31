"""What the record, the XLSX and the letter show (issue 20): charts with bars, every row of the record's
tables, a dated and addressed letter, fitted XLSX columns; and a private PostgreSQL for each CI job."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import yaml

from foikit.charts import chart_data, chart_figure
from foikit.params import parse_request
from foikit.tables import pivot

from .conftest import ROOT

REPORTS = sorted(p for p in (ROOT / "reports").iterdir() if (p / "published.csv").is_file())
_NAMES = SimpleNamespace(label=lambda dim: dim)  # pivot only asks the dictionary for axis names


def _published_tables(report: Path):
    """Every table of a committed report as published, rebuilt from its published.csv alone."""
    request = parse_request(yaml.safe_load((report / "params.yaml").read_text(encoding="utf-8")), report.name)
    csv = pd.read_csv(report / "published.csv", dtype=str, keep_default_na=False)
    for part in request.parts:
        for table in part.tables:
            cells = csv[(csv["part"] == part.name) & (csv["table"] == table.name)].copy()
            assert len(cells), f"{report.name}: {part.name}.{table.name} missing from published.csv"
            cells["shown"] = cells["value"].where(cells["value"] != "", cells["marker"])
            yield f"{report.name}/{part.name}.{table.name}", table, pivot(cells, table, "shown", _NAMES)


def test_every_chart_of_every_committed_report_draws_something():
    """A chart with no bar and no withheld marker is an empty axis: the 'By year' tables (one Total row)
    drew nothing at all before."""
    assert len(REPORTS) >= 6
    checked = 0
    for where, table, grid in _published_tables_all():
        data = chart_data(grid)
        drawn = np.isfinite(data.heights) & (np.nan_to_num(data.heights) > 0)
        assert drawn.any() or (data.markers != "").any(), f"{where}: the chart draws nothing"
        # each bar drawn is a published cell of the table: its height is the figure shown in that cell
        shown = grid.astype(str).to_numpy()
        figures = {int(v) for v in shown.ravel() if v.isdigit()}
        assert {int(h) for h in data.heights[drawn]} <= figures, where
        ax = chart_figure(grid, table.title).axes[0]
        if drawn.any():
            assert ax.get_ylim()[1] >= data.heights[drawn].max() > 0, where
        checked += 1
    assert checked >= 20


def _published_tables_all():
    for report in REPORTS:
        yield from _published_tables(report)


def test_a_table_with_no_breakdown_down_the_side_is_charted_from_its_total_row():
    grid = pd.DataFrame([["12", "[xx]", "30", "42"]], index=pd.Index(["Total"], name=""),
                        columns=pd.Index(["2020", "2021", "2022", "Total"], name="Year"))
    data = chart_data(grid)
    assert data.categories == ["Total"]
    assert data.series == ["2020", "2021", "2022"]
    assert np.array_equal(data.heights[[0, 2], 0], [12.0, 30.0]) and np.isnan(data.heights[1, 0])
    assert data.markers[1, 0] == "[xx]"
