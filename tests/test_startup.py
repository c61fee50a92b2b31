"""What answers before the engine is imported: `foikit --help`, `templates`, `new` and a params file with a
typo never load papermill, nbformat, pandas or the solver (their imports cost seconds on a loaded machine;
bench/bench_startup.py measures the time). And the templates' defaults read without papermill are the ones
papermill itself reads."""

from __future__ import annotations

import ast
import json
import subprocess
import sys

import papermill
import pytest

from foikit.run.scaffold import parameter_defaults, template_info

from .conftest import EXAMPLE_PARAMS, ROOT
from .procs import env

HEAVY = ("papermill", "nbformat", "pandas", "highspy", "scipy", "duckdb", "matplotlib", "pyspark", "databricks")
PROBE = """
import sys
from foikit.cli import main
code = main(sys.argv[1:])
print(code, sorted(m for m in {heavy!r} if m in sys.modules))
"""


@pytest.mark.parametrize("args", [
    ["--help"],
    ["templates", "--notebooks", str(ROOT / "notebooks")],
    ["new", "01.FOI.25.000001", "--template", "stop_search", "--notebooks", str(ROOT / "notebooks")],
    ["run", "typo.yaml"],
], ids=["help", "templates", "new", "run-typo"])
def test_these_commands_answer_without_the_engine(tmp_path, args):
    (tmp_path / "typo.yaml").write_text(EXAMPLE_PARAMS.read_text(encoding="utf-8").replace("\ntitle:", "\ntitel:"),
                                        encoding="utf-8")
    done = subprocess.run([sys.executable, "-c", PROBE.format(heavy=HEAVY), *args], cwd=tmp_path,
                          env=env(), capture_output=True, text=True, timeout=120)
    last = done.stdout.strip().splitlines()[-1] if done.stdout.strip() else ""
    expected_code = {"run": 1, "--help": 0}.get(args[0], 0)
    if args[0] == "--help":  # argparse exits before main returns: SystemExit(0), so nothing printed by PROBE
        assert done.returncode == 0 and "usage: foikit" in done.stdout
        return
    assert last == f"{expected_code} []", done.stdout + done.stderr
    if args[0] == "run":
        assert done.stderr.strip() == ("foikit: error: typo.yaml: titel: unknown key 'titel' (did you mean "
                                       "'title'?) (+1 more)")


@pytest.mark.parametrize("name", ["conduct_allegations", "stop_search", "count_records"])
def test_template_defaults_are_what_papermill_reads(name):
    path = ROOT / "notebooks" / f"{name}.ipynb"
    by_papermill = {n: ast.literal_eval(p["default"]) for n, p in papermill.inspect_notebook(str(path)).items()}
    assert parameter_defaults_of(path) == by_papermill
    info = template_info(path)
    assert "output_dir" not in info.defaults and info.defaults["template"] == name


def parameter_defaults_of(path) -> dict:
    cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
    cell = next(c for c in cells if "parameters" in c["metadata"].get("tags", []))
    return parameter_defaults("".join(cell["source"]))
