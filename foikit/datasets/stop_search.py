"""Synthetic, seeded stop-and-search records: the embedded dataset of the ``stop_search`` template.

One row per stop, shaped like the Metropolitan Police's published stop-and-search data (the Home Office's
categories): financial years 2019/20 to 2023/24, the 32 London boroughs with very uneven volumes, self-defined
ethnicity group, age group, sex, the power used, the object of the search and the outcome. The real Met
carries out some 150,000 to 350,000 stops a year; the embedded dataset keeps the proportions but only about
4,000 stops a year (20,000 in all), so that small boroughs, young children, rare powers and rare outcomes
give real small cells. The same (rows, seed) always gives the same rows.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date

import numpy as np
import pandas as pd

from foikit.datasets.synth import scaled_counts, write

__all__ = ["COLUMNS", "DEFAULT_SEED", "generate", "write"]

DEFAULT_SEED = 20240101
FINANCIAL_YEARS = np.arange(2019, 2024)  # 2019/20 .. 2023/24, April to March
# Stops per financial year: the shape of the Met's figures (the 2020/21 lockdown peak, then a fall), scaled down.
VOLUMES = [4400, 5500, 3900, 3000, 3200]

# Relative volume of stops by borough (Westminster, Lambeth, Newham, Southwark high; Richmond, Kingston low).
BOROUGHS = {
    "Barking and Dagenham": 28, "Barnet": 30, "Bexley": 14, "Brent": 42, "Bromley": 22, "Camden": 38,
    "Croydon": 48, "Ealing": 38, "Enfield": 38, "Greenwich": 32, "Hackney": 42, "Hammersmith and Fulham": 26,
    "Haringey": 46, "Harrow": 14, "Havering": 18, "Hillingdon": 30, "Hounslow": 28, "Islington": 34,
    "Kensington and Chelsea": 24, "Kingston upon Thames": 7, "Lambeth": 62, "Lewisham": 40, "Merton": 14,
    "Newham": 58, "Redbridge": 26, "Richmond upon Thames": 6, "Southwark": 56, "Sutton": 10, "Tower Hamlets": 50,
    "Waltham Forest": 32, "Wandsworth": 30, "Westminster": 70,
}
ETHNICITY = {"Asian": 0.17, "Black": 0.33, "Mixed": 0.05, "White": 0.31, "Other": 0.04, "": 0.10}  # '' = Not stated
AGE_GROUPS = {"under 10": 0.0008, "10-17": 0.17, "18-24": 0.36, "25-34": 0.26, "over 34": 0.19, "": 0.0192}
SEX = {"Male": 0.885, "Female": 0.10, "Other": 0.003, "": 0.012}

LEGISLATION = ["s.1 PACE", "s.23 Misuse of Drugs Act", "s.60 CJPOA", "s.47A Terrorism Act", "Other"]
# P(legislation) by financial year: drugs searches dominate; s.60 authorisations fall after 2020/21.
LEGISLATION_P = np.array([
    [0.27, 0.62, 0.085, 0.0004, 0.0246],
    [0.26, 0.66, 0.055, 0.0, 0.025],
    [0.29, 0.64, 0.045, 0.0, 0.025],
    [0.31, 0.64, 0.025, 0.0012, 0.0238],
    [0.32, 0.63, 0.025, 0.0, 0.025],
])
OBJECTS = ["Controlled drugs", "Offensive weapons", "Stolen goods", "Firearms", "Going equipped", "Other"]
# P(object of search | legislation), rows in LEGISLATION order.
OBJECT_P = np.array([
    [0.0, 0.44, 0.30, 0.0, 0.18, 0.08],  # s.1 PACE: weapons, stolen goods, articles for use in crime
    [1.0, 0.0, 0.0, 0.0, 0.0, 0.0],  # s.23 MDA: controlled drugs
    [0.0, 1.0, 0.0, 0.0, 0.0, 0.0],  # s.60 CJPOA: offensive weapons
    [0.0, 0.0, 0.0, 0.0, 0.0, 1.0],  # s.47A TA: articles connected with terrorism
    [0.0, 0.0, 0.0, 0.55, 0.0, 0.45],  # other powers: firearms (s.47 Firearms Act), wildlife, fireworks...
])
OUTCOMES = ["No further action", "Arrest", "Summons", "Caution", "Khat or cannabis warning", "Penalty notice",
            "Community resolution"]
# P(outcome | object): drugs searches end more often in a warning or community resolution, others in arrest.
OUTCOME_DRUGS = [0.665, 0.11, 0.012, 0.003, 0.10, 0.02, 0.09]
OUTCOME_OTHER = [0.765, 0.19, 0.008, 0.002, 0.0, 0.008, 0.027]

COLUMNS = ["search_ref", "date", "borough", "ethnicity", "age_group", "sex", "legislation", "object_of_search",
           "outcome"]


def _pick(rng: np.random.Generator, options: Mapping[str, float], size: int) -> np.ndarray:
    p = np.array(list(options.values()), dtype=float)
    return np.array(list(options), dtype=object)[rng.choice(len(p), size=size, p=p / p.sum())]


def _pick_rows(rng: np.random.Generator, probabilities: np.ndarray) -> np.ndarray:
    """One category index per row, each row drawn from its own probability vector (inverse CDF)."""
    cdf = np.cumsum(probabilities / probabilities.sum(axis=1, keepdims=True), axis=1)
    u = rng.random(len(probabilities))
    return np.minimum((u[:, None] >= cdf).sum(axis=1), probabilities.shape[1] - 1)


def _days(rng: np.random.Generator, fy: int, size: int) -> np.ndarray:
    """``size`` days of financial year ``fy``; the spring 2020 lockdown saw half as many stops again."""
    start = np.datetime64(date(fy, 4, 1))
    days = np.arange(start, np.datetime64(date(fy + 1, 4, 1)), dtype="datetime64[D]")
    weights = np.ones(len(days))
    if fy == 2020:
        weights[days < np.datetime64("2020-06-01")] = 1.5
    return rng.choice(days, size=size, p=weights / weights.sum())


def generate(rows: int | None = None, seed: int = DEFAULT_SEED) -> pd.DataFrame:
    """Return synthetic stop-and-search records: one row per stop, every value a string ('' where not recorded).

    ``rows=None`` gives the natural volumes (20,000 stops over five financial years); a number scales every
    year in proportion.

    >>> df = generate(rows=500, seed=1)
    >>> len(df), df["date"].min() >= "2019-04-01", df["date"].max() <= "2024-03-31"
    (500, True, True)
    """
    counts = scaled_counts(rows, np.array(VOLUMES, dtype=float))
    rng = np.random.default_rng(seed)
    n = int(counts.sum())
    fy_index = np.repeat(np.arange(len(FINANCIAL_YEARS)), counts)
    days = np.concatenate([_days(rng, int(fy), int(c)) for fy, c in zip(FINANCIAL_YEARS, counts, strict=True)])
    borough = _pick(rng, BOROUGHS, n)
    order = np.lexsort((borough.astype(str), days))  # chronological, as a force's system exports them
    fy_index, days, borough = fy_index[order], days[order], borough[order]

    ethnicity = _pick(rng, ETHNICITY, n)
    age = _pick(rng, AGE_GROUPS, n)
    sex = _pick(rng, SEX, n)
    legislation = _pick_rows(rng, LEGISLATION_P[fy_index])
    obj = _pick_rows(rng, OBJECT_P[legislation])
    drugs = obj == OBJECTS.index("Controlled drugs")
    outcome = _pick_rows(rng, np.where(drugs[:, None], OUTCOME_DRUGS, OUTCOME_OTHER))

    sequence = np.arange(n) - np.searchsorted(fy_index, fy_index) + 1  # 1, 2, ... within each financial year
    fy_code = pd.Series(FINANCIAL_YEARS[fy_index] % 100).map("{:02d}".format)
    frame = pd.DataFrame(
        {
            "search_ref": "SS" + fy_code + "-" + pd.Series(sequence).map("{:06d}".format),
            "date": np.datetime_as_string(days, unit="D"),
            "borough": borough,
            "ethnicity": ethnicity,
            "age_group": age,
            "sex": sex,
            "legislation": np.array(LEGISLATION, dtype=object)[legislation],
            "object_of_search": np.array(OBJECTS, dtype=object)[obj],
            "outcome": np.array(OUTCOMES, dtype=object)[outcome],
        }
    )
    return frame.astype(str)[COLUMNS]


if __name__ == "__main__":  # python -m foikit.datasets.stop_search: rewrite the embedded dataset
    from pathlib import Path

    print(write(generate(), Path(__file__).parents[1] / "data" / "stop_search.csv"))
