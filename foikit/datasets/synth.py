"""Synthetic, seeded conduct-allegation case data: the embedded default dataset and `foikit synth`.

The volumes follow the shape of real police misconduct figures (domestic abuse about 100 a year rising to 250,
indecent exposure 5 to 20 a year, most recent outcomes 'No case to answer' or 'Ongoing'), so that the example
request meets real small cells. The same (rows, seed) always gives the same rows.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from foikit.exceptions import DataError

DEFAULT_SEED = 20231
EXTRACT_DATE = np.datetime64("2023-11-30")  # the day the request was answered: recent cases still open
YEARS = np.arange(2017, 2024)

# Rows per year 2017..2023 for each allegation category: the natural volumes of the embedded dataset.
VOLUMES: dict[str, list[int]] = {
    "Domestic abuse": [90, 95, 105, 120, 160, 210, 250],
    "Indecent exposure": [7, 6, 9, 8, 14, 19, 12],
    "Other sexual misconduct": [55, 60, 70, 85, 110, 140, 165],
    "Other": [310, 320, 330, 350, 370, 390, 410],
}
RANKS = {
    "PC": 0.62, "PS": 0.14, "Insp": 0.05, "CI": 0.02, "Supt": 0.01, "CSupt": 0.005,
    "Commander and above": 0.002, "PCSO": 0.05, "Special constable": 0.04, "Police staff": 0.063,
}
UNITS = {
    "Response": 0.35, "Neighbourhoods": 0.18, "CID": 0.12, "Public protection: domestic abuse": 0.05,
    "Public protection: child abuse": 0.04, "Custody": 0.05, "TSG": 0.06, "Roads and transport": 0.07,
    "Other": 0.07, "": 0.01,  # '' = not recorded on the source system
}
FINAL_OUTCOMES = {
    "No case to answer": 0.46, "Reflective practice": 0.11, "Management action": 0.11,
    "Written warning": 0.06, "Final written warning": 0.04, "Reduction in rank": 0.01, "Dismissed": 0.05,
    "Would have been dismissed": 0.03, "Not proven": 0.08, "Resigned/retired": 0.05,
}
# P(officer is male) and complainant sex (male, female, not recorded) by allegation category.
MALE_OFFICER = {"Domestic abuse": 0.88, "Indecent exposure": 0.97, "Other sexual misconduct": 0.92, "Other": 0.72}
COMPLAINANT = {
    "Domestic abuse": (0.15, 0.75, 0.10),
    "Indecent exposure": (0.10, 0.60, 0.30),
    "Other sexual misconduct": (0.15, 0.70, 0.15),
    "Other": (0.40, 0.45, 0.15),
}
JOINT_CASE_SHARE = 0.08  # rows that join the previous row's case (several officers, one case)
MEAN_DAYS_TO_FINALISE = 240.0

COLUMNS = [
    "case_ref", "officer_id", "allegation_category", "date_recorded", "date_finalised",
    "officer_rank", "unit", "officer_sex", "complainant_sex", "outcome",
]


def _apportion(total: int, weights: np.ndarray) -> np.ndarray:
    """Split ``total`` in proportion to ``weights`` exactly (largest remainder), deterministically."""
    share = weights / weights.sum() * total
    counts = np.floor(share).astype(np.int64)
    order = np.argsort(-(share - counts), kind="stable")
    counts[order[: total - counts.sum()]] += 1
    return counts


def scaled_counts(rows: int | None, natural: np.ndarray) -> np.ndarray:
    """Rows per stratum: the natural volumes, or ``rows`` split in their proportions."""
    if rows is None:
        return natural.astype(np.int64)
    if rows < 1:
        raise DataError(f"synth: rows must be at least 1, got {rows}")
    return _apportion(rows, natural.astype(float))


def _choice(rng: np.random.Generator, options: dict[str, float], size: int) -> np.ndarray:
    p = np.array(list(options.values()), dtype=float)
    return np.array(list(options.keys()), dtype=object)[rng.choice(len(p), size=size, p=p / p.sum())]


def generate(rows: int | None = None, seed: int = DEFAULT_SEED) -> pd.DataFrame:
    """Return synthetic case data: one row per officer per allegation, all columns as strings.

    ``rows=None`` gives the natural volumes (about 4,600 rows); a number scales every year and category
    in proportion.

    >>> df = generate(rows=1000, seed=1)
    >>> len(df), df["allegation_category"].iloc[0]
    (1000, 'Domestic abuse')
    """
    natural = np.array([VOLUMES[c] for c in VOLUMES], dtype=float)  # category x year
    counts = scaled_counts(rows, natural.ravel())
    rng = np.random.default_rng(seed)
    n = int(counts.sum())
    categories = np.repeat(np.repeat(np.array(list(VOLUMES), dtype=object), len(YEARS)), counts)
    years = np.repeat(np.tile(YEARS, len(VOLUMES)), counts)

    year_start = (years - 1970).astype("datetime64[Y]").astype("datetime64[D]")
    year_days = np.minimum(365, (EXTRACT_DATE - year_start).astype(np.int64) + 1)
    recorded = year_start + (rng.random(n) * year_days).astype(np.int64)
    # Sort so that joint cases (several officers) are neighbours in the same category and year.
    order = np.lexsort((recorded, categories.astype(str), years))
    categories, years, recorded = categories[order], years[order], recorded[order]
    same_group = np.r_[False, (categories[1:] == categories[:-1]) & (years[1:] == years[:-1])]
    joint = same_group & (rng.random(n) < JOINT_CASE_SHARE)
    case_no = np.cumsum(~joint)
    first_of_case = np.maximum.accumulate(np.where(~joint, np.arange(n), 0))
    recorded = recorded[first_of_case]

    male_p = np.array([MALE_OFFICER[c] for c in categories])
    male = rng.random(n) < male_p
    # Officers: a pool per sex with fixed rank and unit, so repeat allegations share attributes.
    pool = max(10, int(n * 0.7))
    pool_rank = _choice(rng, RANKS, pool)
    pool_unit = _choice(rng, UNITS, pool)
    officer = rng.integers(0, pool // 2, size=n) * 2 + np.where(male, 0, 1)
    clash = joint & (officer == np.r_[-1, officer[:-1]])
    officer[clash] = (officer[clash] + 2) % (pool - pool % 2)

    u = rng.random(n)
    comp = np.array([COMPLAINANT[c] for c in categories])
    complainant = np.where(u < comp[:, 0], "Male", np.where(u < comp[:, 0] + comp[:, 1], "Female", ""))

    days = np.ceil(rng.gamma(2.0, MEAN_DAYS_TO_FINALISE / 2.0, size=n)).astype("timedelta64[D]")
    finalised = recorded + days
    ongoing = finalised > EXTRACT_DATE
    outcome = _choice(rng, FINAL_OUTCOMES, n)
    outcome[ongoing] = "Ongoing"

    frame = pd.DataFrame(
        {
            "case_ref": pd.Series(years.astype(str), dtype=object) + "-" + pd.Series(case_no).map("{:07d}".format),
            "officer_id": pd.Series(officer).map("OF{:07d}".format),
            "allegation_category": categories,
            "date_recorded": np.datetime_as_string(recorded, unit="D"),
            "date_finalised": np.where(ongoing, "", np.datetime_as_string(finalised, unit="D")),
            "officer_rank": pool_rank[officer],
            "unit": pool_unit[officer],
            "officer_sex": np.where(male, "Male", "Female"),
            "complainant_sex": complainant,
            "outcome": outcome,
        }
    )
    frame["case_ref"] = "CR" + frame["case_ref"]
    return frame.astype(str)[COLUMNS]


def write(frame: pd.DataFrame, out: str | Path) -> Path:
    """Write synthetic data as CSV or Parquet, chosen by the file's suffix; byte-identical per input."""
    out = Path(out)
    suffix = out.suffix.lower()
    if suffix not in {".csv", ".parquet"}:
        raise DataError(f"synth: --out {out}: unsupported suffix {out.suffix!r} (use .csv or .parquet)")
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.partial")
    if suffix == ".csv":
        frame.to_csv(tmp, index=False, lineterminator="\n")
    else:
        frame.to_parquet(tmp, index=False)
    tmp.replace(out)
    return out


LATER_EXTRACT_DATE = np.datetime64("2024-02-29")


def later_extract(base: pd.DataFrame | None = None, seed: int = DEFAULT_SEED + 1) -> pd.DataFrame:
    """The same case data extracted three months later (to 29 February 2024): what changes between two
    responses from one system. Investigations open on 30 November 2023 are finalised where their time has
    come, new allegations are recorded from December 2023, and a few 2023 allegations are recorded late.
    Rows up to 2022 are unchanged, so earlier figures for those years still hold exactly.

    >>> later = later_extract()
    >>> later["date_recorded"].max(), len(later) > len(generate())
    ('2024-02-29', True)
    """
    base = generate() if base is None else base
    rng = np.random.default_rng(seed)
    out = base.copy()
    # Open investigations: each finishes in the next three months with the chance its age gives it.
    ongoing = np.flatnonzero((out["outcome"] == "Ongoing").to_numpy())
    recorded = out["date_recorded"].to_numpy(dtype="datetime64[D]")[ongoing]
    age = (EXTRACT_DATE - recorded).astype(np.int64)
    done = rng.random(len(ongoing)) < np.clip(age / (2.5 * MEAN_DAYS_TO_FINALISE), 0.05, 0.6)
    rows = ongoing[done]
    out.loc[rows, "outcome"] = _choice(rng, FINAL_OUTCOMES, len(rows))
    finalised = EXTRACT_DATE + 1 + (rng.random(len(rows)) * 91).astype(np.int64)
    out.loc[rows, "date_finalised"] = np.datetime_as_string(finalised, unit="D")
    # New allegations, December 2023 to February 2024, at the 2023 rate; officers drawn from existing ones.
    new_rows = []
    counter = 0
    for category, volumes in VOLUMES.items():
        n_new = round(volumes[-1] * 91 / 365)
        late = round(volumes[-1] * 0.02)  # recorded late: dated in 2023 (January to November)
        pool = out[(out["allegation_category"] == category)].iloc[-200:]
        picks = pool.iloc[rng.integers(0, len(pool), size=n_new + late)]
        days = np.concatenate([
            EXTRACT_DATE + 1 + (rng.random(n_new) * 91).astype(np.int64),
            np.datetime64("2023-01-01") + (rng.random(late) * 333).astype(np.int64),
        ])
        u = rng.random(n_new + late)
        comp = COMPLAINANT[category]
        frame = pd.DataFrame({
            "case_ref": [f"CR{str(d)[:4]}-9{counter + k:06d}" for k, d in enumerate(days)],
            "officer_id": picks["officer_id"].to_numpy(),
            "allegation_category": category,
            "date_recorded": np.datetime_as_string(days, unit="D"),
            "date_finalised": "",
            "officer_rank": picks["officer_rank"].to_numpy(),
            "unit": picks["unit"].to_numpy(),
            "officer_sex": picks["officer_sex"].to_numpy(),
            "complainant_sex": np.where(u < comp[0], "Male", np.where(u < comp[0] + comp[1], "Female", "")),
            "outcome": "Ongoing",
        })
        counter += len(frame)
        new_rows.append(frame)
    out = pd.concat([out, *new_rows], ignore_index=True)
    order = np.lexsort((out["case_ref"].to_numpy(), out["date_recorded"].to_numpy()))
    return out.iloc[order].reset_index(drop=True).astype(str)[COLUMNS]
