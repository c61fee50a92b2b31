"""Joint audit against a ledger of N earlier responses over the same dataset (issue 7).

Builds N earlier domestic-abuse responses from the embedded data (each answered and protected on its own,
as foikit would have published it): random periods (calendar years, or date ranges with month boundaries,
2017 to 2023) and one or two breakdowns (outcome, rank, unit). Then times the new request
01.FOI.24.000211 (from the later extract) audited and protected against all of them, and writes a table:
with witnesses (the default, issue 16) and, up to ``--old-up-to`` responses, the full joint audit that bounds
every earlier small count with its own LPs, and whether both give the same public result (or refusal).

    python bench/bench_ledger.py --responses 10 25 50 100 --old-up-to 50 --repeat 3
"""

from __future__ import annotations

import argparse
import statistics
import time
from datetime import date, timedelta
from pathlib import Path

import numpy as np

from foikit.exceptions import DisclosureError
from foikit.ledger import joint
from foikit.ledger.joint import answer, with_counts
from foikit.ledger.store import Ledger, entry_of
from foikit.request.params import load_request, parse_request
from foikit.response import open_source_for

ROOT = Path(__file__).resolve().parents[1]
DIMS = ["outcome", "officer_rank", "unit"]


def earlier_request(i: int, rng: np.random.Generator) -> dict:
    first = int(rng.integers(2017, 2023))
    span = int(rng.integers(1, 4))
    dims = list(rng.choice(DIMS, size=int(rng.integers(1, 3)), replace=False))
    tables = [{"name": f"by_{d}", "title": f"By {d}", "rows": [d], "columns": ["period"]} for d in dims]
    part = {"name": "domestic_abuse", "title": "Domestic abuse", "filter": {"allegation_category": "Domestic abuse"},
            "date_column": "date_recorded", "counting_unit": "allegations", "tables": tables}
    if rng.random() < 0.5:
        years = list(range(first, min(first + span, 2024)))
        part.update(period="calendar_year", years=years)
        for t in tables:
            t["columns"] = ["year"]
    else:
        start = date(first, int(rng.integers(1, 13)), 1)
        ranges, s = [], start
        for k in range(span):
            e = date(s.year + 1, s.month, 1) - timedelta(days=1)
            if e > date(2023, 11, 30):
                break
            ranges.append({"label": f"period {k + 1}", "start": s.isoformat(), "end": e.isoformat()})
            s = e + timedelta(days=1)
        if not ranges:
            ranges = [{"label": "period 1", "start": "2022-01-01", "end": "2022-12-31"}]
        part.update(period="range", ranges=ranges)
    return {"ref": f"01.FOI.{18 + i // 10:02d}.{i:06d}", "title": f"earlier {i}", "template": "conduct_allegations",
            "request_text": "bench",
            "parts": [part]}


def outcome(request, data, ledger) -> tuple[float, tuple]:
    """Seconds for answer(..., ledger=...) and everything public it gives (or the refusal's message)."""
    t0 = time.perf_counter()
    try:
        checked = answer(request, data, ledger=ledger)
    except DisclosureError as exc:
        return time.perf_counter() - t0, ("refused", str(exc))
    seconds = time.perf_counter() - t0
    c = checked.ledger
    audits = [(p.audit.lower.tolist(), p.audit.upper.tolist(), p.audit.cell_passed.tolist()) for p in checked.parts]
    public = (checked.published().to_csv(), str(audits), c.summary(), c.added, c.exposed_without,
              c.exposed_before, c.constrained)
    return seconds, ("passed" if checked.passed else "failed", public)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--responses", type=int, nargs="+", default=[10, 50])
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--old-up-to", type=int, default=50,
                    help="also time the full joint audit (no witnesses) at up to this many responses, and "
                         "check that both give the same result")
    ap.add_argument("--repeat", type=int, default=3, help="runs of the new code per size (the median is shown)")
    args = ap.parse_args()
    rng = np.random.default_rng(args.seed)
    old_request = load_request(ROOT / "params" / "01.FOI.23.032341.yaml")
    old_data = open_source_for(old_request)
    t0 = time.perf_counter()
    entries = [entry_of(answer(old_request, old_data))]
    for i in range(max(args.responses) - 1):
        request = parse_request(earlier_request(i, rng), "bench")
        entries.append(entry_of(answer(request, old_data)))
    build = time.perf_counter() - t0
    new_request = load_request(ROOT / "params" / "01.FOI.24.000211.yaml")
    data = open_source_for(new_request)
    t0 = time.perf_counter()
    answer(new_request, data)
    alone = time.perf_counter() - t0
    print(f"built {len(entries)} earlier responses in {build:.0f} s; the new request alone: {alone:.2f} s")
    print("| earlier responses | earlier cells | today's counts (s) | joint audit + protection, full (s) "
          "| with witnesses (s) | same result | outcome | combined | constrained by | cells added |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for n in args.responses:
        ledger = Ledger(tuple(entries[:n]))
        t0 = time.perf_counter()
        counted = with_counts(ledger, data)
        t1 = time.perf_counter()
        joint.WITNESSES = True
        runs = [outcome(new_request, data, counted) for _ in range(args.repeat)]
        fast = statistics.median(s for s, _ in runs) - alone
        result = runs[0][1]
        full, same = "", ""
        if n <= args.old_up_to:
            joint.WITNESSES = False
            seconds, old = outcome(new_request, data, counted)
            joint.WITNESSES = True
            full, same = f"{seconds - alone:.2f}", "yes" if old == result else "NO"
        verdict = result[0]
        if verdict == "refused":
            combined = constrained = added = "-"
        else:
            summary = result[1][2]
            combined, constrained = len(summary["combined"]), len(summary["constrained"])
            added = summary["cells_withheld_because_of_the_ledger"]
        print(f"| {n} | {sum(e.n_cells for e in entries[:n]):,} | {t1 - t0:.2f} | {full} | {fast:.2f} | {same} "
              f"| {verdict} | {combined} | {constrained} | {added} |", flush=True)


if __name__ == "__main__":
    main()
