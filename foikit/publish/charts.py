"""A bar chart per table, drawn only from published values: a withheld cell is drawn as withheld (an empty,
hatched outline with its marker), never at its true value."""

from __future__ import annotations

import io
import textwrap
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from foikit.cube.tables import TOTAL

if TYPE_CHECKING:
    from matplotlib.figure import Figure

_TITLE_WIDTH, _TITLE_LINES, _LABEL_WIDTH = 120, 3, 60  # longer text is wrapped or cut (shown whole above it)


def _short(text: str, width: int = _LABEL_WIDTH) -> str:
    return text if len(text) <= width else text[: width - 1] + "\u2026"


def _title(text: str) -> str:
    if len(text) <= _TITLE_WIDTH:
        return text
    lines = textwrap.wrap(text, _TITLE_WIDTH, max_lines=_TITLE_LINES, placeholder="\u2026") or [text]
    return "\n".join(_short(line, _TITLE_WIDTH) for line in lines)


@dataclass(frozen=True)
class ChartData:
    """Bars by row category (x) and column category (series); ``heights`` is NaN where a cell is withheld."""

    categories: list[str]
    series: list[str]
    heights: np.ndarray  # len(series) x len(categories)
    markers: np.ndarray  # the marker of each withheld bar, '' elsewhere


def chart_data(published: pd.DataFrame) -> ChartData:
    """From a published table (its cells as shown): inner cells only, totals left out, except where the
    total is all there is (a table with no breakdown down the side is one Total row)."""
    def label(key: object) -> str:
        return " / ".join(map(str, key)) if isinstance(key, tuple) else str(key)

    rows = [k for k in published.index if label(k).split(" / ")[0] != TOTAL] or list(published.index)
    cols = [k for k in published.columns if label(k).split(" / ")[0] != TOTAL] or list(published.columns)
    shown = published.loc[rows, cols].astype(str).to_numpy().T
    numeric = np.char.isdigit(shown.astype(str))
    heights = np.where(numeric, shown, "nan").astype(float)
    return ChartData([label(k) for k in rows], [label(k) for k in cols], heights, np.where(numeric, "", shown))


def chart_alt(published: pd.DataFrame, title: str) -> str:
    """The chart's figures as text, for its ``alt``: the title, then each category's bars in order, a withheld bar
    by its marker (the same published values the chart draws, nothing more)."""
    data = chart_data(published)
    def bar(i: int, j: int) -> str:
        value = data.markers[i][j] + " (withheld)" if data.markers[i][j] else str(int(data.heights[i][j]))
        return f"{data.series[i]} {value}" if len(data.series) > 1 else value
    groups = [f"{category}: " + ", ".join(bar(i, j) for i in range(len(data.series)))
              for j, category in enumerate(data.categories)]
    return f"Bar chart, {title}. " + "; ".join(groups) + "."


def chart_png(published: pd.DataFrame, title: str) -> bytes:
    """The chart as PNG bytes (the same table always gives the same bytes). Every text on it (title,
    categories, markers) is drawn literally: '$' never starts matplotlib's mathtext."""
    fig = chart_figure(published, title)
    buffer = io.BytesIO()
    with _quiet():
        fig.savefig(buffer, format="png", metadata={"Software": None})
    return buffer.getvalue()


@contextmanager
def _quiet() -> Iterator[None]:
    with warnings.catch_warnings():
        # a character the font lacks (an emoji) is drawn as a box: not worth a warning in the record
        warnings.filterwarnings("ignore", message=r"Glyph \d+ .*missing from font", category=UserWarning)
        yield


def chart_figure(published: pd.DataFrame, title: str) -> Figure:
    """The chart, laid out, not yet drawn."""
    # matplotlib is loaded where a chart is drawn (in the kernel), not where only the chart data is checked
    from matplotlib.figure import Figure

    data = chart_data(published)
    n_cat, n_ser = len(data.categories), len(data.series)
    fig = Figure(figsize=(min(14, 2 + 0.6 * n_cat * max(1, n_ser) ** 0.5), 3.6), dpi=80)
    ax = fig.add_subplot()
    width = 0.8 / n_ser
    x = np.arange(n_cat)
    top = np.nanmax(data.heights) if np.isfinite(data.heights).any() else 1.0
    bars = []
    for i, name in enumerate(data.series):
        pos = x - 0.4 + width * (i + 0.5)
        bars.append(ax.bar(pos, np.nan_to_num(data.heights[i]), width, label=name, color=f"C{i % 10}"))
        for j in np.flatnonzero(data.markers[i] != ""):
            ax.bar(pos[j], top * 0.04, width, color="none", hatch="///", edgecolor="grey")
            ax.text(pos[j], top * 0.05, data.markers[i][j], ha="center", va="bottom", fontsize=6, rotation=90,
                    parse_math=False)
    ax.set_xticks(x, [_short(c) for c in data.categories], rotation=30, ha="right", fontsize=7, parse_math=False)
    ax.set_title(_title(title), fontsize=9, parse_math=False)
    if n_ser > 1:
        # labels given, not collected: a series named '_x' would be left out of a collected legend
        legend = ax.legend(bars, [_short(s) for s in data.series], fontsize=7, ncols=min(n_ser, 6))
        for text in legend.get_texts():
            text.set_parse_math(False)
    with _quiet():
        fig.tight_layout()
    return fig
