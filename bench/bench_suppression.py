"""Benchmark of secondary suppression and the disclosure audit (issue 3).

    python bench/bench_suppression.py            # every case (5 to 6 minutes on 2 cores)
    python bench/bench_suppression.py --quick    # a subset (under 1 minute)
    python bench/bench_suppression.py --write    # also put the results into bench/README.md

Each case is one response part built through foikit's own API (a request dict validated by
``foikit.request.params``, case data from ``foikit.datasets.synth.generate``, counted by
``foikit.cube.engine`` and tabulated by ``foikit.cube.tables``). For each case it times foikit's audit of the
published pattern, the fast method and the exact mode (``foikit.suppress.protect_part``), compares their
hidden cells, then runs the same tables through pytauargus (OPT and MOD) and acro and audits what they would
publish with foikit's audit. See bench/README.md for what every column means.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import re
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from foikit.cube.engine import count_cube
from foikit.cube.tables import reconcile, table_cells
from foikit.datasets.synth import generate
from foikit.request.dictionary import embedded_dictionary
from foikit.request.params import Request, parse_request
from foikit.request.policy import Policy
from foikit.sdc.audit import audit
from foikit.sdc.linear import build_model
from foikit.source.data import CaseData
from foikit.source.sql import file_relation
from foikit.suppress import Protection, is_small, protect_part

sys.path.insert(0, str(Path(__file__).resolve().parent))
from comparators import Part, ToolCrash, ToolRun, acro_tables, tau_argus_isolated

README = Path(__file__).resolve().parent / "README.md"
START, END = "<!-- results:start -->", "<!-- results:end -->"

# ---------------------------------------------------------------------------
# the cases
# ---------------------------------------------------------------------------
T = dict  # a table: name, rows, columns
YEAR_OUTCOME = T(name="by_outcome", rows=["outcome"], columns=["year"])
YEAR_RANK = T(name="by_rank", rows=["officer_rank"], columns=["year"])
YEAR_UNIT = T(name="by_unit", rows=["unit"], columns=["year"])
YEAR_OSEX = T(name="by_sex", rows=["officer_sex"], columns=["year"])
YEAR_CSEX = T(name="by_complainant", rows=["complainant_sex"], columns=["year"])
YEAR_SEXES = T(name="by_sex", rows=["officer_sex", "complainant_sex"], columns=["year"])
BY_YEAR = T(name="by_year", columns=["year"])
PART1 = [BY_YEAR, YEAR_OUTCOME, YEAR_RANK, YEAR_UNIT, YEAR_SEXES]   # the example's Part 1
DA, IE = "Domestic abuse", "Indecent exposure"


@dataclass(frozen=True)
class Case:
    name: str
    rows: int                 # synth.generate(rows=...)
    seed: int
    category: str             # the part's population (allegation_category)
    years: tuple[int, ...]
    tables: tuple[dict, ...]
    quick: bool = False
    note: str = ""


Y4 = (2020, 2021, 2022, 2023)
Y7 = tuple(range(2017, 2024))
CASES = [
    Case("d2-outcome", 4000, 1, DA, Y4, (BY_YEAR, YEAR_OUTCOME), quick=True),
    Case("d3-outcome-rank", 4000, 2, DA, Y4, (BY_YEAR, YEAR_OUTCOME, YEAR_RANK), quick=True),
    Case("d4-outcome-rank-sex", 6000, 3, DA, Y4, (YEAR_OUTCOME, YEAR_RANK, YEAR_OSEX)),
    Case("d5-example-part2", 4270, 20231, IE, Y4, (YEAR_OUTCOME, YEAR_RANK, YEAR_UNIT, YEAR_OSEX),
         note="the example's Part 2 on the embedded data (indecent exposure)"),
    Case("d5-ie-no-female", 4620, 20231, IE, Y4, (YEAR_OUTCOME, YEAR_RANK, YEAR_UNIT, YEAR_OSEX),
         note="indecent exposure with no female officer in these years: an all-zero row"),
    Case("d5-outcome-rank-unit-sex", 8000, 4, DA, Y4, (YEAR_OUTCOME, YEAR_RANK, YEAR_UNIT, YEAR_OSEX)),
    Case("d5-7y-complainant", 6000, 5, DA, Y7, (BY_YEAR, YEAR_OUTCOME, YEAR_RANK, YEAR_UNIT, YEAR_CSEX),
         note="7 years x outcome x rank x unit x complainant sex"),
    Case("d5-7y-complainant-big", 20000, 6, DA, Y7, (BY_YEAR, YEAR_OUTCOME, YEAR_RANK, YEAR_UNIT, YEAR_CSEX),
         note="the same tables on about 4,800 cases"),
    Case("d6-example-part1", 4270, 20231, DA, (2020, 2022, 2023), tuple(PART1),
         note="the example's Part 1 on the embedded data"),
    Case("d6-part1-s1", 5150, 1, DA, (2020, 2022, 2023), tuple(PART1), quick=True,
         note="shaped like the example's Part 1 (about 700 cases)"),
    Case("d6-part1-s2", 5150, 2, DA, (2020, 2022, 2023), tuple(PART1)),
    Case("d6-part1-s3", 5150, 3, DA, (2020, 2022, 2023), tuple(PART1)),
]


def request_of(case: Case) -> Request:
    """The case as a foikit request: one part, the example's suppression policy (threshold 5, "[xx]")."""
    tables = [{"title": t["name"], **t} for t in case.tables]
    return parse_request({
        "ref": f"bench.{case.name}", "title": case.name,
        "suppression": {"threshold": 5, "marker": "[xx]"},
        "parts": [{"name": "part", "title": case.name, "filter": {"allegation_category": case.category},
                   "years": list(case.years), "date_column": "date_recorded",
                   "counting_unit": "allegations", "tables": tables}],
    }, source=f"bench case {case.name}")


def build_part(case: Case) -> tuple[Part, Request]:
    """Count, tabulate and model one case, as ``foikit.response.answer_part`` does before protecting."""
    request = request_of(case)
    spec = request.parts[0]
    with tempfile.TemporaryDirectory() as tmp:  # counted as any file is: in DuckDB
        path = Path(tmp) / f"synth-{case.rows}-{case.seed}.parquet"
        generate(rows=case.rows, seed=case.seed).to_parquet(path, index=False)
        with file_relation(path) as relation:
            data = CaseData(relation=relation, path=path, sha256="", dictionary=embedded_dictionary(), embedded=True)
            cube = count_cube(data, spec, case.name)
    frames = []
    for table in spec.tables:
        cells = table_cells(cube, table)
        reconcile(cells, table, cube)
        cells.insert(0, "table", table.name)
        frames.append(cells)
    cells = pd.concat(frames, ignore_index=True)
    dims = list(spec.dims)
    cells[dims] = cells[dims].fillna("")
    tables = {t.name: tuple(t.dims) for t in spec.tables}
    keys = [(t, tuple(row[d] or None for d in tables[t]))
            for t, row in zip(cells["table"], cells.to_dict("records"), strict=True)]
    model = build_model(cube.categories, tables, [(t, dict(zip(tables[t], co, strict=True))) for t, co in keys])
    # What the other tools are given: microdata, one record per counted case, expanded from the cube (a
    # count table is all a frequency table needs, and it holds exactly the rows foikit counted).
    reps = cube.counts.to_numpy()
    rows = pd.DataFrame({d: np.repeat(cube.counts.index.get_level_values(d).astype(str).to_numpy(), reps)
                         for d in dims})
    values = cells["value"].to_numpy(dtype=np.int64)
    part = Part(name=case.name, rows=rows, categories={d: tuple(c) for d, c in cube.categories.items()},
                tables=tables, table_rows={t.name: tuple(t.rows) for t in spec.tables},
                table_cols={t.name: tuple(t.columns) for t in spec.tables}, cells=cells, keys=keys,
                model=model, values=values, sensitive=is_small(values, request.suppression.threshold),
                threshold=request.suppression.threshold)
    return part, request


# ---------------------------------------------------------------------------
# measuring
# ---------------------------------------------------------------------------
def timed(fn: Callable[[], Any], repeats: int, warmup: bool = True) -> tuple[float, Any]:
    """Median wall time of ``repeats`` calls (after one warm-up call) and the last result."""
    if warmup:
        fn()
    times, out = [], None
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), out


def audit_pattern(part: Part, request: Request, hidden: np.ndarray, lo: np.ndarray, hi: np.ndarray
                  ) -> dict[str, int]:
    """foikit's audit of a published pattern: what an intruder can work out about the withheld cells."""
    res = audit(part.model, part.values, hidden, lo, hi, part.sensitive, Policy.of(request).protection_rule,
                exact_all=True)
    exact = hidden & (res.lower == res.upper)
    return {
        "narrowed": int((part.sensitive & ~res.cell_passed).sum()),   # small counts failing the band rule
        "small_exact": int((part.sensitive & exact).sum()) + int((part.sensitive & ~hidden).sum()),
        "hidden_exact": int(exact.sum()),
        "visible_small": int((part.sensitive & ~hidden).sum()),
    }


def marker_bands(cells: pd.DataFrame, request: Request) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The pattern an intruder reads off foikit's published cells: "[xx]" = [1, 4], "[c]" = [0, inf)."""
    stated = Policy.of(request).stated_ranges()
    hidden = cells["hidden"].to_numpy(bool)
    bands = np.array([stated[m] if h else (0.0, np.inf) for m, h in zip(cells["marker"], hidden, strict=True)],
                     dtype=float).reshape(-1, 2)
    return hidden, bands[:, 0], bands[:, 1]


def n_groups(part: Part, hidden: np.ndarray) -> int:
    """Distinct published quantities withheld: every cell showing the quantity is withheld."""
    g = part.model.groups
    ghid = np.ones(part.model.n_groups, bool)
    np.logical_and.at(ghid, g, hidden)
    return int((ghid & np.isin(np.arange(part.model.n_groups), g[hidden])).sum())


def shown_elsewhere(part: Part, hidden: np.ndarray) -> int:
    """Withheld cells whose quantity another table publishes."""
    g = part.model.groups
    gvis = np.zeros(part.model.n_groups, bool)
    np.logical_or.at(gvis, g, ~hidden)
    return int((hidden & gvis[g]).sum())


@dataclass
class Result:
    case: Case
    dims: int
    tables: int
    cube: int
    published: int
    quantities: int
    small: int
    small_groups: int
    rows: int
    foikit: dict[str, Any] = field(default_factory=dict)
    tools: list[dict[str, Any]] = field(default_factory=list)


def run_case(case: Case, exact_limit: float, repeats: int, log: Callable[[str], None]) -> Result:
    part, request = build_part(case)
    sup = request.suppression
    fast_policy = Policy.of(request)
    exact_policy = Policy.from_params(sup.model_copy(update={"secondary": sup.secondary.model_copy(
        update={"method": "exact", "time_limit": exact_limit})}))
    res = Result(case=case, dims=len(part.categories), tables=len(part.tables),
                 cube=int(np.prod([len(c) for c in part.categories.values()])), published=len(part.values),
                 quantities=part.model.n_groups, small=int(part.sensitive.sum()),
                 small_groups=n_groups(part, part.sensitive), rows=len(part.rows))
    log(f"{case.name}: {res.dims} dims, {res.tables} tables, cube {res.cube}, {res.published} cells, "
        f"{res.small} small, {res.rows} cases")

    def protect(policy: Policy) -> Protection:
        return protect_part(part.cells, part.categories, part.tables, policy.secondary_policy(), policy.rounding,
                            where=case.name)

    # -- foikit: fast method, its audit, exact mode -------------------------------------------------
    fast_s, fast = timed(lambda: protect(fast_policy), repeats)
    hidden, lo, hi = marker_bands(fast.cells, request)
    audit_s, _ = timed(lambda: audit(part.model, part.values, hidden, lo, hi, part.sensitive,
                                     fast_policy.protection_rule), repeats)
    fa = audit_pattern(part, request, hidden, lo, hi)
    t0 = time.perf_counter()
    exact = protect(exact_policy)
    exact_s = time.perf_counter() - t0
    eh, elo, ehi = marker_bands(exact.cells, request)
    ea = audit_pattern(part, request, eh, elo, ehi)
    res.foikit = {
        "fast_s": fast_s, "audit_s": audit_s,
        "fast_hidden": int(hidden.sum()), "fast_groups": n_groups(part, hidden),
        "fast_secondary": int(fast.stats["n_secondary"]), "fast_cost": round(float(fast.stats["cost"]), 1),
        "fast_switched": int(fast.stats["n_marker_switched"]),
        "fast_audit": fa,
        "exact_s": exact_s, "exact_hidden": int(eh.sum()), "exact_groups": n_groups(part, eh),
        "exact_cost": round(float(exact.stats["cost"]), 1),
        "exact_proven": bool(exact.stats.get("optimal", False)) and not exact.stats.get("used_fast_result"),
        "exact_used_fast": bool(exact.stats.get("used_fast_result", False)),
        "exact_mip_gap": exact.stats.get("mip_gap"),
        "exact_audit": ea,
    }
    f = res.foikit
    log(f"  foikit fast {fast_s:.3f}s audit {audit_s:.3f}s hidden {f['fast_hidden']} cost {f['fast_cost']:.1f}; "
        f"exact {exact_s:.1f}s hidden {f['exact_hidden']} cost {f['exact_cost']:.1f} "
        f"proven={f['exact_proven']}; narrowed fast/exact {fa['narrowed']}/{ea['narrowed']}")
    res.tools.append(tool_row(part, request, ToolRun("foikit fast", fast_s, hidden,
                                                     hidden & (fast.cells["marker"] == sup.marker).to_numpy())))

    # -- the other tools ------------------------------------------------------------------------------
    for name, fn in (("pytauargus OPT", lambda: tau_argus_isolated(part, "OPT")),
                     ("pytauargus MOD", lambda: tau_argus_isolated(part, "MOD")),
                     ("acro", lambda: acro_tables(part))):
        try:
            runs = [fn()]                     # the warm-up; a slow tool is not run again
            if runs[0].seconds < 5.0:
                runs = [fn() for _ in range(repeats)]
        except Exception as exc:  # a tool failing on a case is a result, not a crash of the benchmark
            msg = str(exc) if isinstance(exc, ToolCrash) else f"{type(exc).__name__}: {exc}"
            log(f"  {name}: FAILED: {msg}")
            res.tools.append({"tool": name, "error": msg[:200]})
            continue
        run = runs[-1]
        run.seconds = statistics.median(r.seconds for r in runs)
        row = tool_row(part, request, run)
        res.tools.append(row)
        log(f"  {name}: {run.seconds:.3f}s hidden {row['hidden']} narrowed {row['narrowed']} "
            f"(one marker {row['narrowed_one_marker']}) exact {row['small_exact']}/{row['hidden_exact']}"
            + (f" [{'; '.join(run.notes)}]" if run.notes else ""))
    return res


def tool_row(part: Part, request: Request, run: ToolRun) -> dict[str, Any]:
    lo, hi = run.bands(part)
    a = audit_pattern(part, request, run.hidden, lo, hi)
    lo1, hi1 = run.bands(part, one_marker=True)
    a1 = audit_pattern(part, request, run.hidden, lo1, hi1)
    twins = shown_elsewhere(part, run.hidden)
    notes = list(run.notes)
    if twins:
        notes.append(f"{twins} withheld cells are published in another table")
    return {"tool": run.tool, "seconds": run.seconds, "hidden": int(run.hidden.sum()),
            "groups": n_groups(part, run.hidden), "secondary": int((run.hidden & ~part.sensitive).sum()),
            "rounds": run.rounds, "notes": notes, **a, "narrowed_one_marker": a1["narrowed"]}


# ---------------------------------------------------------------------------
# reporting
# ---------------------------------------------------------------------------
def pct(a: float, b: float) -> str:
    return "n/a" if b == 0 else f"{100.0 * (a - b) / b:+.0f}%"


def foikit_table(results: list[Result]) -> str:
    cols = ["case", "dims", "tables", "cube cells", "published cells (quantities)", "small cells", "audit s",
            "fast s", "audit + fast s", "fast: hidden (quantities)", "fast: cost", "exact s",
            "exact: hidden (quantities)", "exact: cost", "exact proven optimal", "gap, hidden cells",
            "gap, cost", "recoverable small cells, fast / exact"]
    lines = ["| " + " | ".join(cols) + " |", "|" + "|".join(["---"] * len(cols)) + "|"]
    for r in results:
        f = r.foikit
        proven = "yes" if f["exact_proven"] else ("no: fast result kept" if f["exact_used_fast"] else
                                                   "no: best found in the limit")
        lines.append(
            f"| {r.case.name} | {r.dims} | {r.tables} | {r.cube:,} | {r.published} ({r.quantities}) "
            f"| {r.small} | {f['audit_s']:.3f} | {f['fast_s']:.3f} | {f['audit_s'] + f['fast_s']:.3f} "
            f"| {f['fast_hidden']} ({f['fast_groups']}) | {f['fast_cost']:g} | {f['exact_s']:.1f} "
            f"| {f['exact_hidden']} ({f['exact_groups']}) | {f['exact_cost']:g} | {proven} "
            f"| {pct(f['fast_hidden'], f['exact_hidden'])} | {pct(f['fast_cost'], f['exact_cost'])} "
            f"| {f['fast_audit']['narrowed']} / {f['exact_audit']['narrowed']} |")
    return "\n".join(lines)


def cases_table(results: list[Result]) -> str:
    cols = ["case", "population", "years", "tables (rows x columns)", "synth rows, seed", "cases counted",
            "note"]
    lines = ["| " + " | ".join(cols) + " |", "|" + "|".join(["---"] * len(cols)) + "|"]
    for r in results:
        c = r.case
        years = f"{c.years[0]}-{c.years[-1]}" if len(c.years) > 3 else ", ".join(map(str, c.years))
        tabs = "; ".join(" x ".join([*t.get("rows", []), *t.get("columns", [])]) for t in c.tables)
        lines.append(f"| {c.name} | {c.category} | {years} | {tabs} | {c.rows}, {c.seed} | {r.rows} "
                     f"| {c.note} |")
    return "\n".join(lines)


def tools_table(results: list[Result]) -> str:
    cols = ["case", "small cells", "tool", "s", "hidden (quantities)", "of which not small",
            "small narrowed ([xx] = 1..4)", "small narrowed (one marker)", "small known exactly ([xx] = 1..4)",
            "hidden known exactly ([xx] = 1..4)", "notes"]
    lines = ["| " + " | ".join(cols) + " |", "|" + "|".join(["---"] * len(cols)) + "|"]
    for r in results:
        for t in r.tools:
            if "error" in t:
                lines.append(f"| {r.case.name} | {r.small} | {t['tool']} | - | - | - | - | - | - | - "
                             f"| failed: {t['error']} |")
                continue
            notes = list(t["notes"])
            if t["tool"].startswith("pytauargus") and t["rounds"] > 1:
                notes.insert(0, f"{t['rounds']} linking rounds")
            lines.append(
                f"| {r.case.name} | {r.small} | {t['tool']} | {t['seconds']:.3f} | {t['hidden']} ({t['groups']}) "
                f"| {t['secondary']} | {t['narrowed']} | {t['narrowed_one_marker']} | {t['small_exact']} "
                f"| {t['hidden_exact']} | {'; '.join(notes)} |")
    return "\n".join(lines)


def machine() -> str:
    cpu = ""
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    pkgs = []
    for p in ("foikit", "highspy", "numpy", "scipy", "pandas", "pytauargus", "acro"):
        try:
            pkgs.append(f"{p} {version(p)}")
        except PackageNotFoundError:
            pkgs.append(f"{p} (not installed)")
    return (f"{os.cpu_count()} CPUs ({cpu or platform.machine()}), Python {platform.python_version()} on "
            f"{platform.system()}; " + ", ".join(pkgs))


def report(results: list[Result], args: argparse.Namespace, seconds: float) -> str:
    mode = "--quick" if args.quick else "full"
    return "\n".join([
        f"Run: `python bench/bench_suppression.py{' --quick' if args.quick else ''}` ({mode} case list, "
        f"exact time limit {args.exact_limit:g} s, median of {args.repeats} timed runs after a warm-up; "
        f"whole run {seconds / 60:.1f} min).",
        "",
        f"Machine: {machine()}.",
        "",
        "**Cases**",
        "",
        cases_table(results),
        "",
        "**foikit: audit, fast method, exact mode**",
        "",
        foikit_table(results),
        "",
        "**The same tables through pytauargus and acro, audited by foikit**",
        "",
        tools_table(results),
    ])


def write_readme(text: str) -> None:
    readme = README.read_text(encoding="utf-8")
    if START not in readme or END not in readme:
        raise SystemExit(f"{README}: no {START} ... {END} section to fill")
    pattern = re.compile(re.escape(START) + ".*?" + re.escape(END), re.S)
    README.write_text(pattern.sub(lambda _: f"{START}\n{text}\n{END}", readme), encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="a subset of the cases (under 3 minutes)")
    ap.add_argument("--write", action="store_true", help="write the results into bench/README.md")
    ap.add_argument("--exact-limit", type=float, default=None,
                    help="time limit of the exact mode's MILP, seconds (default 60, 30 with --quick)")
    ap.add_argument("--repeats", type=int, default=3, help="timed runs per measurement (after a warm-up)")
    ap.add_argument("--case", action="append", default=[], help="run only this case (repeatable)")
    ap.add_argument("--json", type=Path, help="also write the raw results as JSON")
    args = ap.parse_args(argv)
    if args.exact_limit is None:
        args.exact_limit = 30.0 if args.quick else 60.0
    cases = [c for c in CASES if (c.quick or not args.quick) and (not args.case or c.name in args.case)]
    if not cases:
        raise SystemExit(f"no such case; cases: {', '.join(c.name for c in CASES)}")

    def log(msg: str) -> None:
        print(msg, file=sys.stderr, flush=True)

    t0 = time.perf_counter()
    results = [run_case(c, args.exact_limit, args.repeats, log) for c in cases]
    text = report(results, args, time.perf_counter() - t0)
    print(text)
    if args.write:
        write_readme(text)
        log(f"results written to {README}")
    if args.json:
        args.json.write_text(json.dumps([{**r.__dict__, "case": r.case.__dict__} for r in results],
                                        indent=1, default=str), encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
