"""Benchmark of the record (issue 4): `foikit run` against the bare papermill + nbconvert floor, and
`foikit verify --all` over 20 reports with 1 and 2 jobs.

    python bench/bench_run.py [--repeat 3] [--reports 20]

Prints a markdown table; times are medians of ``--repeat`` runs, measured in one process and one session.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import nbformat
import papermill
from nbconvert import HTMLExporter

ROOT = Path(__file__).resolve().parents[1]
PARAMS = ROOT / "params" / "01.FOI.23.032341.yaml"
TEMPLATE = ROOT / "notebooks" / "conduct_allegations.ipynb"


def timed(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def bare(notebook: Path, parameters: dict, out: Path) -> None:
    """What papermill and nbconvert alone cost: execute, then export to HTML."""
    papermill.execute_notebook(str(notebook), str(out / "out.ipynb"), parameters=parameters,
                               kernel_name="python3", progress_bar=False, cwd=str(ROOT))
    body, _ = HTMLExporter().from_filename(str(out / "out.ipynb"))
    (out / "out.html").write_text(body, encoding="utf-8")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--reports", type=int, default=20)
    args = parser.parse_args()

    import yaml

    from foikit.run.execute import run_request

    work = Path(tempfile.mkdtemp(prefix="foikit-bench-"))
    trivial = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_code_cell("x = 1", metadata={"tags": ["parameters"]}),
        nbformat.v4.new_code_cell("print(x)"),
    ])
    trivial.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(trivial, work / "trivial.ipynb")
    params = yaml.safe_load(PARAMS.read_text())
    rows = []

    floor = timed(lambda: bare(work / "trivial.ipynb", {"x": 2}, work), args.repeat)
    rows.append(("papermill + nbconvert, trivial notebook (the floor)", floor, 1.0))
    same = timed(lambda: bare(TEMPLATE, {**params, "output_dir": str(work / "bare-out")}, work), args.repeat)
    rows.append(("papermill + nbconvert, the example's template and params", same, same / floor))

    counter = iter(range(10**6))

    def run_once() -> None:
        run_request(PARAMS, reports_dir=work / f"reports-{next(counter)}")

    run = timed(run_once, args.repeat)
    rows.append(("foikit run params/01.FOI.23.032341.yaml", run, run / floor))

    # 20 reports to verify: the example run 20 times, each report moved to its own folder.
    many = work / "many"
    many.mkdir()
    for i in range(args.reports):
        result = run_request(PARAMS, reports_dir=work / "one")
        result.path.rename(many / f"{result.path.name}-{i:02d}")
    for jobs in (1, 2):
        start = time.perf_counter()
        done = subprocess.run([sys.executable, "-m", "foikit.cli", "verify", "--all", str(many), "--jobs",
                               str(jobs)], cwd=ROOT, capture_output=True, text=True)
        elapsed = time.perf_counter() - start
        assert done.returncode == 0, done.stdout[-2000:]
        rows.append((f"foikit verify --all ({args.reports} reports, --jobs {jobs})", elapsed, elapsed / floor))

    print("| what | seconds | x floor |")
    print("|---|---|---|")
    for name, seconds, ratio in rows:
        print(f"| {name} | {seconds:.2f} | {ratio:.2f} |")
    print(f"\nfoikit run over the same notebook through bare papermill + nbconvert: {run / same - 1:+.0%}")
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
