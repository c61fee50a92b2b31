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


# what the example recorded, less foikit itself and pip (both come from here, not from the record)
N = len(recorded()) - 2
KEY_ID = json.loads((EXAMPLE_REPORT / "signature.json").read_text(encoding="utf-8"))["key_id"]


def test_every_recorded_distribution_is_required_at_its_version_but_foikit_and_pip():
    dists = recorded()
    reqs = recorded_requirements(EXAMPLE_REPORT, {"environment": {"distributions": dists}})
    assert len(reqs) == len(dists) - 2 == N
    assert not any(r.startswith(("foikit==", "pip==")) for r in reqs)
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
    assert last.startswith(f"foikit: error: {REPORT}: cannot recreate the recorded environment ({N} distributions)"
                           f": pip: ERROR: Could not find a version that satisfies the requirement "
                           f"{first[0]}=={first[1]}"), last
    assert done.stderr.splitlines()[0] == (f"{REPORT}: installing the {N} recorded distributions into a new virtual "
                                           f"environment (wheels from {tmp_path})")


@pytest.mark.parametrize("args, line", [
    (["--env", "--all", "reports"], "foikit: error: verify --env: one report at a time (not with --all)"),
    (["--wheels", "w", REPORT], "foikit: error: verify: --wheels and --python are for --env"),
])
def test_env_options_out_of_place_are_refused(args, line):
    done = foikit("verify", *args)
    assert (done.returncode, done.stderr.strip()) == (1, line)


def test_the_example_reproduces_in_its_recreated_environment_with_no_drift():
    """The whole path (about two minutes: every recorded distribution from the index): the inner verify runs in the new
    environment, so it finds no package that differs from the record, whatever is installed here."""
    done = foikit("verify", "--env", REPORT)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [
        f"{REPORT}: reproduced",
        f"  signed by key {KEY_ID} (trusted: keys/foikit-examples.pub)",
        f"  note: verified in a new virtual environment of the {N} distributions the report recorded",
    ]
    assert done.stderr.splitlines() == [
        f"{REPORT}: installing the {N} recorded distributions into a new virtual environment (from the package "
        "index)",
        f"{REPORT}: re-executing in the recreated environment",
    ]
