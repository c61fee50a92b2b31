"""Benchmark of the record (issues 4 and 13): the CPU and wall time of `foikit run` against plain
`papermill` + `jupyter nbconvert --to html` of the same template and params, side by side in one run; and
`foikit verify --all` over N reports with 1 and 2 jobs.

    python bench/bench_run.py [--repeat 5] [--reports 20] [--params params/01.FOI.23.032341.yaml]
                              [--baseline DIR]

``--baseline DIR``: also time `foikit run` of another checkout (say ``git worktree add --detach DIR <commit>``)
in the same rounds, to compare two versions under the same load.

Every command runs as a child process (so interpreter start-up and imports count, as they do for a user);
its CPU is the user + system time of the child and everything it waited for (the kernel included), from
``getrusage(RUSAGE_CHILDREN)``. The two pipelines alternate run by run, so that a change in the machine's
load falls on both. Prints a markdown table of medians and the ratio of the medians.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PARAMS = ROOT / "params" / "01.FOI.23.032341.yaml"


def measured(cmd: list[str], cwd: Path) -> tuple[float, float]:
    """(CPU seconds, wall seconds) of ``cmd`` run to completion; it must succeed."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    done = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{done.stderr[-3000:]}")
    return (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime), wall


def template_of(params: Path) -> Path:
    import yaml

    return ROOT / "notebooks" / f"{yaml.safe_load(params.read_text())['template']}.ipynb"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--reports", type=int, default=20, help="reports for verify --all (0: skip)")
    parser.add_argument("--params", type=Path, default=PARAMS)
    parser.add_argument("--baseline", type=Path, help="another checkout whose foikit run is timed alongside")
    args = parser.parse_args()
    params = args.params.resolve()
    template = template_of(params)
    work = Path(tempfile.mkdtemp(prefix="foikit-bench-"))
    env_python = sys.executable
    try:
        runs: dict[str, list[tuple[float, float]]] = {"foikit": [], "plain": []}
        checkouts = {"foikit": ROOT}
        if args.baseline:
            runs["baseline"] = []
            checkouts["baseline"] = args.baseline.resolve()
        for i in range(args.repeat + 1):  # the first round warms the file cache and is not counted
            order = list(runs) if i % 2 else list(reversed(runs))
            for what in order:
                if what in checkouts:  # python -m: the checkout's own foikit, in the parent and the kernel
                    cmd = [env_python, "-m", "foikit.cli", "run", str(params), "--reports-dir",
                           str(work / f"reports-{what}-{i}")]
                    result = measured(cmd, checkouts[what])
                else:
                    out = work / f"plain-{i}"
                    (out / "reports").mkdir(parents=True)  # the ledger: nothing published before, as for foikit
                    first = measured([env_python, "-m", "papermill", str(template), str(out / "out.ipynb"), "-f",
                                      str(params), "-p", "output_dir", str(out / "files"), "-p", "ledger",
                                      str(out / "reports"), "--no-progress-bar", "-k", "python3"], ROOT)
                    second = measured([env_python, "-m", "jupyter", "nbconvert", "--to", "html",
                                       str(out / "out.ipynb")], ROOT)
                    result = (first[0] + second[0], first[1] + second[1])
                if i:
                    runs[what].append(result)
        cpu = {k: statistics.median(c for c, _ in v) for k, v in runs.items()}
        wall = {k: statistics.median(w for _, w in v) for k, v in runs.items()}
        rel = params.relative_to(ROOT) if params.is_relative_to(ROOT) else params
        print(f"`{rel}`, template `{template.relative_to(ROOT)}`; medians of {args.repeat} alternating runs "
              f"(after one warm-up round); {os.cpu_count()} cores, load average "
              f"{', '.join(f'{x:.1f}' for x in os.getloadavg())} at the end\n")
        print("| what | CPU s | wall s |")
        print("|---|---|---|")
        print(f"| plain `papermill` + `jupyter nbconvert --to html` | {cpu['plain']:.2f} | {wall['plain']:.2f} |")
        print(f"| `foikit run` | {cpu['foikit']:.2f} | {wall['foikit']:.2f} |")
        print(f"| ratio foikit / plain | **{cpu['foikit'] / cpu['plain']:.2f}x** | "
              f"{wall['foikit'] / wall['plain']:.2f}x |")
        if args.baseline:
            print(f"| `foikit run` of {args.baseline} | {cpu['baseline']:.2f} | {wall['baseline']:.2f} |")
            print(f"| ratio baseline / plain | {cpu['baseline'] / cpu['plain']:.2f}x | "
                  f"{wall['baseline'] / wall['plain']:.2f}x |")
        print("\nevery run (CPU s): " + "; ".join(f"{k} " + ", ".join(f"{c:.2f}" for c, _ in v)
                                                 for k, v in runs.items()))

        if args.reports:
            many = work / "many"
            many.mkdir()
            for i in range(args.reports):
                measured([env_python, "-m", "foikit.cli", "run", str(params), "--reports-dir", str(work / "one")],
                         ROOT)
                done = next(p for p in (work / "one").iterdir() if not p.name.startswith("."))
                done.rename(many / f"{done.name}-{i:02d}")
            print("\n| verify | CPU s | wall s |")
            print("|---|---|---|")
            for jobs in (1, 2):
                c, w = measured([env_python, "-m", "foikit.cli", "verify", "--all", str(many), "--jobs", str(jobs)],
                                ROOT)
                print(f"| `foikit verify --all` ({args.reports} reports, --jobs {jobs}) | {c:.2f} | {w:.2f} |")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
