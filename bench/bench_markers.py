"""How many small counts are published as the secondary marker ('[c]') instead of '[xx]' (issue 19).

    python bench/bench_markers.py            # every case of bench_suppression.py
    python bench/bench_markers.py --quick    # its quick subset

Each case is protected with the example's policy (the default policy's, marker_cost 1.5) through
foikit.suppress.protect_part (fast method); a small count is a cell with a count from 1 to threshold-1.
Prints per case and overall: small counts, those shown as '[c]', their share, those the optimiser alone
would have switched but an honest '[xx]' pattern within marker_cost per switched count kept, and why the
rest are switched (no honest pattern at all, or every one found costs more).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_suppression import CASES, build_part

from foikit.request.policy import Policy
from foikit.suppress import protect_part


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args(argv)
    total_small = total_c = total_avoided = 0
    print("| case | small counts | shown as [c] | share | kept [xx] (within the cost) | why [c] |\n"
          "|---|---:|---:|---:|---:|---|")
    for case in [c for c in CASES if c.quick or not args.quick]:
        part, request = build_part(case)
        policy = Policy.of(request)
        protection = protect_part(part.cells, part.categories, part.tables, policy.secondary_policy(),
                                  policy.rounding, where=case.name)
        small = part.sensitive
        switched = int((small & (protection.cells["marker"] == policy.secondary_marker).to_numpy()).sum())
        avoided = int(protection.stats.get("n_marker_switch_avoided", 0))
        why = str(protection.stats.get("marker_switch", "")).split(": ", 1)[-1] if switched else ""
        total_small += int(small.sum())
        total_c += switched
        total_avoided += avoided
        print(f"| {case.name} | {int(small.sum())} | {switched} | {switched / max(1, int(small.sum())):.1%} | "
              f"{avoided} | {why} |", flush=True)
    print(f"| all | {total_small} | {total_c} | {total_c / max(1, total_small):.1%} | {total_avoided} | |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
