"""How many small counts are published as the secondary marker ('[c]') instead of '[xx]' (issue 19).

    python bench/bench_markers.py            # every case of bench_suppression.py
    python bench/bench_markers.py --quick    # its quick subset

Each case is protected with the default policy through foikit.suppress.protect_part (fast method); a small
count is a cell with a count from 1 to threshold-1. Prints per case and overall: small counts, those shown
as '[c]', and their share.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_suppression import CASES, build_part

from foikit.suppress import protect_part


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args(argv)
    total_small = total_c = 0
    print("| case | small counts | shown as [c] | share |\n|---|---:|---:|---:|")
    for case in [c for c in CASES if c.quick or not args.quick]:
        part, request = build_part(case)
        cells = protect_part(part.cells, part.categories, part.tables, request.suppression, where=case.name).cells
        small = part.sensitive
        switched = int((small & (cells["marker"] == request.suppression.secondary.marker).to_numpy()).sum())
        total_small += int(small.sum())
        total_c += switched
        print(f"| {case.name} | {int(small.sum())} | {switched} | {switched / max(1, int(small.sum())):.1%} |",
              flush=True)
    print(f"| all | {total_small} | {total_c} | {total_c / max(1, total_small):.1%} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
