"""`foikit verify --env`: the report's recorded environment, recreated in a new virtual environment."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from foikit.exceptions import ReportError
from foikit.run.verify import recorded_requirements

from .conftest import EXAMPLE_REPORT, ROOT

REPORT = "reports/01.FOI.23.032341"


def foikit(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "foikit.cli", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=900)


def recorded() -> dict[str, str]:
    return json.loads((EXAMPLE_REPORT / "manifest.json").read_text(encoding="utf-8"))["environment"]["distributions"]


def test_every_recorded_distribution_is_required_at_its_version_but_foikit_and_pip():
    dists = recorded()
    reqs = recorded_requirements(EXAMPLE_REPORT, {"environment": {"distributions": dists}})
    assert len(reqs) == len(dists) - 2 == 184
    assert "lxml==6.1.3" in reqs and "pandas==3.1.1" in reqs and "highspy==1.16.0" in reqs
    assert reqs == [f"{n}=={v}" for n, v in sorted(dists.items()) if n not in ("foikit", "pip")]


def test_a_report_without_an_environment_has_nothing_to_recreate(tmp_path):
    with pytest.raises(ReportError, match=r"^\S+manifest.json: records no environment \(made before foikit "
                                          r"recorded every package\): there is nothing to recreate"):
        recorded_requirements(tmp_path, {"versions": {"pandas": "3.1.1"}})


def test_air_gapped_without_the_wheels_is_one_line_naming_what_is_missing(tmp_path):
    done = foikit("verify", "--env", REPORT, "--wheels", str(tmp_path))
    assert done.returncode == 1 and done.stdout == ""
    last = done.stderr.splitlines()[-1]
    first = sorted(recorded().items())[0]  # pip reads the requirements in order: the first is missed first
    assert last.startswith(f"foikit: error: {REPORT}: cannot recreate the recorded environment (184 distributions)"
                           f": pip: ERROR: Could not find a version that satisfies the requirement "
                           f"{first[0]}=={first[1]}"), last
    assert done.stderr.splitlines()[0] == (f"{REPORT}: installing the 184 recorded distributions into a new virtual "
                                           f"environment (wheels from {tmp_path})")


@pytest.mark.parametrize("args, line", [
    (["--env", "--all", "reports"], "foikit: error: verify --env: one report at a time (not with --all)"),
    (["--wheels", "w", REPORT], "foikit: error: verify: --wheels and --python are for --env"),
])
def test_env_options_out_of_place_are_refused(args, line):
    done = foikit("verify", *args)
    assert (done.returncode, done.stderr.strip()) == (1, line)


def test_the_example_reproduces_in_its_recreated_environment_with_no_drift():
    """The whole path (about two minutes: 184 distributions from the index): the inner verify runs in the new
    environment, so it finds no package that differs from the record, whatever is installed here."""
    done = foikit("verify", "--env", REPORT)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [
        f"{REPORT}: reproduced",
        "  signed by key ea4d30812abb98e3 (trusted: keys/foikit-examples.pub)",
        "  note: verified in a new virtual environment of the 184 distributions the report recorded",
    ]
    assert done.stderr.splitlines() == [
        f"{REPORT}: installing the 184 recorded distributions into a new virtual environment (from the package "
        "index)",
        f"{REPORT}: re-executing in the recreated environment",
    ]
