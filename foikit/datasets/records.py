"""Synthetic, seeded incident records: the embedded dataset of the generic ``count_records`` template.

A small case-level table of the kind any force can export (one row per incident reported: when, what, where,
how urgent, what became of it), 2021 to 2023. Its only purpose is to give the generic template something to
count out of the box, with some small cells; the same (rows, seed) always gives the same rows.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from foikit.datasets.synth import scaled_counts, write

__all__ = ["COLUMNS", "DEFAULT_SEED", "generate", "write"]

DEFAULT_SEED = 20240102
YEARS = np.arange(2021, 2024)
VOLUMES = [1100, 1200, 1300]  # incidents per calendar year

CATEGORIES = {
    "Anti-social behaviour": 0.22, "Concern for welfare": 0.14, "Violence": 0.15, "Theft": 0.13,
    "Burglary": 0.06, "Criminal damage": 0.07, "Public order": 0.06, "Road traffic collision": 0.08,
    "Hate incident": 0.015, "Other": 0.075,
}
AREAS = {"North": 0.22, "South": 0.20, "East": 0.24, "West": 0.18, "Central": 0.15, "": 0.01}  # '' = not recorded
PRIORITIES = ["Immediate", "Prompt", "Scheduled", "Resolved without deployment"]
# P(priority) for violence and concern for welfare (more often immediate) and for everything else.
PRIORITY_URGENT = [0.45, 0.35, 0.15, 0.05]
PRIORITY_OTHER = [0.10, 0.30, 0.35, 0.25]
STATUSES = ["Closed: crime recorded", "Closed: no crime", "Closed: referred to partner agency", "Open"]
STATUS_P = [0.39, 0.47, 0.13, 0.01]

COLUMNS = ["incident_ref", "date_reported", "category", "area", "priority", "status"]


def _pick(rng: np.random.Generator, options: dict[str, float], size: int) -> np.ndarray:
    p = np.array(list(options.values()), dtype=float)
    return np.array(list(options), dtype=object)[rng.choice(len(p), size=size, p=p / p.sum())]


def generate(rows: int | None = None, seed: int = DEFAULT_SEED) -> pd.DataFrame:
    """Return synthetic incident records, one row per incident, every value a string ('' where not recorded).

    ``rows=None`` gives the natural volumes (3,600 incidents in 2021-2023); a number scales each year.

    >>> df = generate(rows=300, seed=1)
    >>> len(df), df["incident_ref"].is_unique
    (300, True)
    """
    counts = scaled_counts(rows, np.array(VOLUMES, dtype=float))
    rng = np.random.default_rng(seed)
    n = int(counts.sum())
    years = np.repeat(YEARS, counts)
    start = (years - 1970).astype("datetime64[Y]").astype("datetime64[D]")
    length = ((years + 1 - 1970).astype("datetime64[Y]").astype("datetime64[D]") - start).astype(np.int64)
    reported = np.sort(start + (rng.random(n) * length).astype(np.int64))

    category = _pick(rng, CATEGORIES, n)
    area = _pick(rng, AREAS, n)
    urgent = np.isin(category, ["Violence", "Concern for welfare"])
    p = np.where(urgent[:, None], PRIORITY_URGENT, PRIORITY_OTHER)
    cdf = np.cumsum(p, axis=1)
    priority = np.minimum((rng.random(n)[:, None] >= cdf).sum(axis=1), len(PRIORITIES) - 1)
    status = np.array(STATUSES, dtype=object)[rng.choice(len(STATUSES), size=n, p=STATUS_P)]
    recent = reported >= np.datetime64("2023-10-01")  # the most recent incidents are more often still open
    status[recent & (rng.random(n) < 0.25)] = "Open"

    frame = pd.DataFrame(
        {
            "incident_ref": pd.Series(np.arange(1, n + 1)).map("INC{:06d}".format),
            "date_reported": np.datetime_as_string(reported, unit="D"),
            "category": category,
            "area": area,
            "priority": np.array(PRIORITIES, dtype=object)[priority],
            "status": status,
        }
    )
    return frame.astype(str)[COLUMNS]


if __name__ == "__main__":  # python -m foikit.datasets.records: rewrite the embedded dataset
    from pathlib import Path

    print(write(generate(), Path(__file__).parents[1] / "data" / "count_records.csv"))
