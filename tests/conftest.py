"""Shared fixtures: a small hand-made case file whose every table is worked out by hand in the tests."""

from __future__ import annotations

import io
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE_PARAMS = ROOT / "params" / "01.FOI.23.032341.yaml"
EXAMPLE_REPORT = ROOT / "reports" / "01.FOI.23.032341"

# category, date_recorded, outcome, officer_sex, complainant_sex ('' = not recorded)
HAND_ROWS = [
    ("DA", "2020-01-10", "No case", "M", "F"),
    ("DA", "2020-02-11", "No case", "M", "F"),
    ("DA", "2020-03-12", "No case", "F", "F"),
    ("DA", "2020-04-13", "No case", "M", "M"),
    ("DA", "2020-05-14", "No case", "M", ""),
    ("DA", "2020-06-15", "Dismissed", "M", "F"),
    ("DA", "2021-01-01", "No case", "M", "F"),
    ("DA", "2021-02-01", "Dismissed", "F", "F"),
    ("DA", "2021-03-01", "Dismissed", "M", "F"),
    ("DA", "2021-04-01", "Ongoing", "M", "F"),
    ("IE", "2020-07-01", "No case", "M", "F"),
    ("IE", "2021-07-01", "Ongoing", "M", ""),
]


@pytest.fixture
def hand_csv(tmp_path: Path) -> Path:
    path = tmp_path / "cases.csv"
    lines = ["case_ref,officer_id,allegation_category,date_recorded,outcome,officer_sex,complainant_sex"]
    for i, (cat, date, outcome, osex, csex) in enumerate(HAND_ROWS):
        lines.append(f"C{i:03d},OF{i:04d},{cat},{date},{outcome},{osex},{csex}")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def hand_request(csv: Path, **overrides: object) -> dict:
    """A one-part request over the hand file: domestic abuse (DA) in 2020 and 2021, threshold 3."""
    request = {
        "ref": "01.FOI.99.000001",
        "title": "Hand-made test request",
        "data": {"path": str(csv)},
        "suppression": {"threshold": 3, "marker": "[x]"},
        "parts": [{
            "name": "da",
            "title": "Domestic abuse",
            "filter": {"allegation_category": "DA"},
            "years": [2020, 2021],
            "counting_unit": "rows",
            "tables": [
                {"name": "by_outcome", "title": "By outcome", "rows": ["outcome"], "columns": ["year"]},
                {"name": "by_sex", "title": "By sex", "rows": ["officer_sex", "complainant_sex"],
                 "columns": ["year"]},
            ],
        }],
    }
    request.update(overrides)
    return request


@pytest.fixture
def hand_params(tmp_path: Path, hand_csv: Path) -> Path:
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump(hand_request(hand_csv), sort_keys=False), encoding="utf-8")
    return path


REVIEWER = "A. Reviewer"  # the second person who approves a draft in the tests


def publish_run(run: subprocess.CompletedProcess, reports: Path, cwd: Path = ROOT, env: dict | None = None,
                timeout: float = 600) -> subprocess.CompletedProcess:
    """After ``foikit run`` made a draft (``run``), ``foikit publish`` it as :data:`REVIEWER`: what it takes to
    put a report into ``reports`` (and the ledger). Returns the two commands' output together; a failed run
    is returned as it is."""
    if run.returncode != 0 or ": draft written" not in run.stdout:
        return run
    ref = Path(run.stdout.split(": draft written")[0]).name
    done = subprocess.run([sys.executable, "-m", "foikit.cli", "publish", ref, "--reviewer", REVIEWER,
                           "--reports-dir", str(reports)], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=timeout)
    return subprocess.CompletedProcess(done.args, done.returncode, run.stdout + done.stdout, run.stderr + done.stderr)


def run_published(params: Path | str, reports: Path, *args: str, cwd: Path = ROOT, env: dict | None = None,
                  timeout: float = 600) -> subprocess.CompletedProcess:
    """``foikit run params --reports-dir reports *args``, then :func:`publish_run`."""
    run = subprocess.run([sys.executable, "-m", "foikit.cli", "run", str(params), "--reports-dir", str(reports),
                          *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    return publish_run(run, reports, cwd, env, timeout)


@pytest.fixture(scope="session", autouse=True)
def signing_key(tmp_path_factory) -> Path:
    """Every test signs with a key of its own, made in tmp: no test (and no CI) writes a home directory."""
    from foikit.run.signing import KEY_ENV, generate_key

    path, _, _ = generate_key(tmp_path_factory.mktemp("signing") / "test-key.pem")
    before = os.environ.get(KEY_ENV)
    os.environ[KEY_ENV] = str(path)  # subprocesses (foikit run, foikit verify) inherit it
    yield path
    if before is None:
        os.environ.pop(KEY_ENV, None)
    else:
        os.environ[KEY_ENV] = before


@pytest.fixture(scope="session")
def built_report(tmp_path_factory, signing_key) -> Path:
    """The example report, made once per session by `foikit run` and `foikit publish` into tmp and signed with
    the tests' key:
    copy it (``shutil.copytree``) before changing it."""
    reports = tmp_path_factory.mktemp("built") / "reports"
    done = run_published(EXAMPLE_PARAMS, reports)
    assert done.returncode == 0, done.stderr
    return reports / "01.FOI.23.032341"


def postgres_url() -> str:
    """The PostgreSQL server of the tests: skipped where there is none, except under CI, which must start one
    (.ci/run does, with .ci/postgres.sh)."""
    url = os.environ.get("FOIKIT_TEST_POSTGRES_URL")
    if url:
        return url
    if os.environ.get("CI"):
        pytest.fail("CI is set but FOIKIT_TEST_POSTGRES_URL is not: run eval \"$(bash .ci/postgres.sh)\" first")
    pytest.skip("PostgreSQL: FOIKIT_TEST_POSTGRES_URL is not set (eval \"$(bash .ci/postgres.sh)\")")



def spark_session():
    """The Spark session of the tests (local, shared by the process): skipped where pyspark or Java is
    missing, except under CI, which must have both (requirements/lock.txt; .ci/run installs a JRE)."""
    import importlib.util
    import shutil

    missing = [what for what, ok in (("pyspark", importlib.util.find_spec("pyspark") is not None),
                                     ("java", shutil.which("java") is not None)) if not ok]
    if missing:
        if os.environ.get("CI"):
            pytest.fail(f"CI is set but {' and '.join(missing)} missing: .ci/run installs both")
        pytest.skip(f"Spark: {' and '.join(missing)} missing (pip install 'foikit[spark]'; a Java 17 JRE)")
    from foikit.source.spark import session

    return session()


def chromium_dom(url: str, profile: Path, *options: str) -> str:
    """The DOM headless Chromium dumps for ``url`` (``profile``: a user-data folder of the test's own). A
    machine without chromium skips; CI, which installs it (.ci/browser.sh), fails instead."""
    chromium = shutil.which("chromium")
    if chromium is None:
        if os.environ.get("CI"):
            pytest.fail("CI must provide chromium (.ci/browser.sh installs it)")
        pytest.skip("no chromium here (.ci/browser.sh installs it)")
    done = subprocess.run([chromium, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                           "--disable-background-networking", "--disable-component-update", "--disable-sync",
                           f"--user-data-dir={profile}", *options, "--dump-dom", url],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


def ods_with_number(data: bytes, marker: str, number: int) -> bytes:
    """An ODS package whose first cell holding only ``marker`` shows ``number`` instead, as a number."""
    src = zipfile.ZipFile(io.BytesIO(data))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as dst:
        for info in src.infolist():
            content = src.read(info.filename)
            if info.filename == "content.xml":
                cell = f'<table:table-cell office:value-type="string"><text:p>{marker}</text:p></table:table-cell>'
                assert cell.encode() in content
                content = content.replace(cell.encode(), f'<table:table-cell office:value-type="float" office:value='
                                          f'"{number}"><text:p>{number}</text:p></table:table-cell>'.encode(), 1)
            dst.writestr(info, content)
    return out.getvalue()


def read_back(path: Path):
    """A data file's columns as the engine reads them: text, '' for empty or null, in the file's order."""
    import pandas as pd

    from foikit.source.sql import file_relation, text_columns

    with file_relation(path) as rel:
        return pd.DataFrame(text_columns(rel, rel.names, "reading"))
