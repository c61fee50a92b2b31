"""Benchmark of start-up (issue 20.6): how long `foikit --help`, `foikit templates`, `foikit new` and a run of
a params file with a misspelt key take to answer, side by side, in one run, with two baselines: the bare
interpreter (`python -c pass`, the floor) and importing the engine a run needs (`import
foikit.run.execute`: what each of these commands paid before it imported lazily).

    python bench/bench_startup.py [--repeat 15]

Each command runs as a child process from a temporary project folder; the commands alternate round by round
so that a change in the machine's load falls on all. Prints a markdown table of median wall times and each
median's ratio to the engine import.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def wall(cmd: list[str], cwd: Path, ok: int) -> float:
    start = time.perf_counter()
    done = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})
    took = time.perf_counter() - start
    if done.returncode != ok:
        raise SystemExit(f"{' '.join(cmd)}: exit {done.returncode}\n{done.stderr}")
    return took


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=15)
    args = parser.parse_args()
    py, nb = sys.executable, str(ROOT / "notebooks")
    with tempfile.TemporaryDirectory() as tmp:
        project = Path(tmp)
        typo = project / "typo.yaml"
        typo.write_text((ROOT / "params" / "01.FOI.23.032341.yaml").read_text(encoding="utf-8")
                        .replace("\ntitle:", "\ntitel:"), encoding="utf-8")
        commands = {
            "python -c pass (floor)": ([py, "-c", "pass"], 0),
            "import foikit.run.execute (the engine)": ([py, "-c", "import foikit.run.execute"], 0),
            "foikit --help": ([py, "-m", "foikit.cli", "--help"], 0),
            "foikit templates": ([py, "-m", "foikit.cli", "templates", "--notebooks", nb], 0),
            "foikit new": ([py, "-m", "foikit.cli", "new", "01.FOI.25.000001", "--template", "stop_search",
                            "--notebooks", nb, "--force"], 0),
            "foikit run (params with a misspelt key)": ([py, "-m", "foikit.cli", "run", str(typo)], 1),
        }
        times: dict[str, list[float]] = {name: [] for name in commands}
        for _ in range(args.repeat):
            for name, (cmd, ok) in commands.items():
                times[name].append(wall(cmd, project, ok))
    engine = statistics.median(times["import foikit.run.execute (the engine)"])
    load = os.getloadavg()[0]
    print(f"{args.repeat} rounds, load average {load:.1f}\n")
    print("| command | median wall (s) | min (s) | ratio to the engine import |")
    print("|---|---|---|---|")
    for name, values in times.items():
        median = statistics.median(values)
        print(f"| {name} | {median:.2f} | {min(values):.2f} | {median / engine:.2f}x |")


if __name__ == "__main__":
    main()
