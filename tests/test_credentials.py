"""Database credentials never reach a message, a record or a file (issues 12.5 and 18.2).

A credential can sit in the URL's userinfo, in its query string (``?password=``), or be the value of the
environment variable that ``url_env`` names. Every error (unreachable host, unknown database, wrong password)
is checked in the exception and on the CLI's stderr, and a whole run from PostgreSQL is scanned file by file:
the report, the failures folder and the workspace (scanned by the template itself while the run is under way).
"""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from pathlib import Path
from urllib.parse import quote, quote_plus

import nbformat
import pandas as pd
import pytest
import sqlalchemy as sa
import yaml

from foikit.cli import main
from foikit.exceptions import FoikitError
from foikit.request.params import DataSource
from foikit.source import credentials
from foikit.source.data import embedded_data_path, open_source
from foikit.source.sql import open_relation

from .conftest import EXAMPLE_PARAMS, ROOT, postgres_url, publish_run

DICTIONARY = str(ROOT / "foikit" / "data" / "conduct_allegations.yaml")
DECOY = "Decoy-userinfo-Pw-7731"  # in the userinfo: the query string's password overrides it, both are secret
WRONG = "Wr0ng-s3cret-query-4410"


def forms(url: sa.URL, secret: str) -> dict[str, str]:
    """The URL with ``secret`` as its password in the query string, and in the userinfo."""
    return {"query": url.set(password=None).update_query_dict({"password": secret}).render_as_string(
                hide_password=False),
            "userinfo": url.set(password=secret).render_as_string(hide_password=False)}


def assert_hidden(text: str, *secrets: str) -> None:
    for secret in secrets:
        for form in {secret, quote(secret, safe=""), quote_plus(secret)}:
            assert form not in text, (form, text)


def test_safe_url_masks_userinfo_and_secret_query_keys() -> None:
    url = ("postgresql+psycopg://ann:pw1@db.example:5432/cms?sslmode=require&password=pw2&pwd=pw3&token=t4"
           "&sslpassword=s5&api_key=k6&application_name=foikit")
    assert credentials.safe_url(url) == (
        "postgresql+psycopg://ann:***@db.example:5432/cms?api_key=***&application_name=foikit&password=***"
        "&pwd=***&sslmode=require&sslpassword=***&token=***")
    assert set(credentials.secrets_of(url)) == {"pw1", "pw2", "pw3", "t4", "s5", "k6"}
    # any URL found in a text loses its credentials, remembered or not
    assert credentials.scrub("failed: mysql://bob:hunter2@h/x?secret=abc and more") == \
        "failed: mysql://bob:***@h/x?secret=*** and more"
    credentials.remember("postgresql://ann@h/x?password=Only-Remembered-91", whole=True)
    assert credentials.scrub("the driver said Only-Remembered-91 was wrong") == "the driver said *** was wrong"


def _request_file(tmp_path: Path, data: dict, ref: str = "01.FOI.99.000042") -> Path:
    raw = yaml.safe_load(EXAMPLE_PARAMS.read_text(encoding="utf-8"))
    raw["ref"] = ref
    raw["data"] = {**data, "dictionary": DICTIONARY}
    path = tmp_path / f"{ref}.yaml"
    path.write_text(yaml.safe_dump(raw, sort_keys=False), encoding="utf-8")
    return path


CASES = {
    "bad host": lambda url: url.set(host="no-such-host.invalid"),
    "bad database": lambda url: url.set(database="no_such_database_x"),
    "wrong password": lambda url: url,
}


@pytest.mark.parametrize("case", CASES)
def test_connection_errors_never_show_a_credential(tmp_path, capsys, monkeypatch, case) -> None:
    base = sa.make_url(postgres_url())
    real = base.password or ""
    url = CASES[case](base)
    secret = WRONG if case == "wrong password" else real
    for form, raw in forms(url, secret).items():
        # the library: str() of the exception
        with pytest.raises(FoikitError) as opened:
            open_relation(raw, table="cases")
        assert_hidden(str(opened.value), secret, real, raw)
        assert "cannot connect" in str(opened.value)
        # through url_env: the exception, and the CLI's stderr
        monkeypatch.setenv("FOIKIT_TEST_SECRET_URL", raw)
        with pytest.raises(FoikitError) as env_opened:
            open_source(DataSource(url_env="FOIKIT_TEST_SECRET_URL", table="cases", dictionary=DICTIONARY))
        assert_hidden(str(env_opened.value), secret, real, raw)
        params = _request_file(tmp_path, {"url_env": "FOIKIT_TEST_SECRET_URL", "table": "cases"})
        assert main(["run", str(params), "--reports-dir", str(tmp_path / "reports")]) == 1
        err = capsys.readouterr().err
        assert err.startswith(f"foikit: error: {params}: data: postgresql+psycopg://") and "cannot connect" in err, err
        assert_hidden(err, secret, real, raw)
        # in the params file itself: refused (a params file is copied into the report), the secret not shown
        params = _request_file(tmp_path, {"url": raw, "table": "cases"})
        assert main(["run", str(params), "--reports-dir", str(tmp_path / "reports")]) == 1
        err = capsys.readouterr().err
        assert "holds a password or a secret query value; put the URL in an environment variable" in err, form
        assert_hidden(err, secret, real, raw)
    assert not (tmp_path / "reports").exists() and not (tmp_path / ".foikit-work").exists()


SCAN_CELL = """
import os, pathlib
secrets = [s.encode() for s in os.environ["FOIKIT_TEST_SECRETS"].split("\\n") if s]
work = pathlib.Path(output_dir).resolve().parent
found = sorted(str(p) for p in work.rglob("*") if p.is_file() and any(s in p.read_bytes() for s in secrets))
assert not found, f"secret in the workspace: {found}"
"""


def _scan_template(tmp_path: Path, fail: bool) -> Path:
    """The conduct template with a last cell that scans the workspace for the secrets (and, with ``fail``,
    then fails, so that the run keeps its notebook in reports/.failures)."""
    notebooks = tmp_path / ("failing" if fail else "scanning")
    notebooks.mkdir()
    nb = nbformat.read(ROOT / "notebooks" / "conduct_allegations.ipynb", as_version=4)
    opened = next(i for i, c in enumerate(nb.cells) if "foikit.open_source(" in c.source)
    if fail:  # just after the kernel opened the database and showed it: the notebook kept is cheap to make
        nb.cells.insert(opened + 1, nbformat.v4.new_code_cell(SCAN_CELL + "raise RuntimeError('stopped on purpose')"))
    else:  # last, when every file of the report but the record is in the workspace
        nb.cells.append(nbformat.v4.new_code_cell(SCAN_CELL))
    nbformat.write(nb, notebooks / "conduct_allegations.ipynb")
    return notebooks


def test_a_run_from_postgresql_writes_no_credential_anywhere(tmp_path) -> None:
    base = sa.make_url(postgres_url())
    real = base.password or ""
    table = f"cases_{uuid.uuid4().hex[:8]}"
    engine = sa.create_engine(base)
    with engine.begin() as conn:
        pd.read_csv(embedded_data_path(), dtype=str, keep_default_na=False).replace({"": None}).to_sql(
            table, conn, index=False)
    engine.dispose()
    # a decoy password in the userinfo, the real one in the query string (it wins), all from the environment
    url = base.set(password=DECOY).update_query_dict({"password": real, "application_name": "foikit-test"})
    raw = url.render_as_string(hide_password=False)
    secrets = [DECOY, real, raw, quote(real, safe=""), quote_plus(real)]
    env = {**os.environ, "FOIKIT_TEST_SECRET_URL": raw, "FOIKIT_TEST_SECRETS": "\n".join(secrets)}
    project = tmp_path / "project"
    project.mkdir()
    params = _request_file(project, {"url_env": "FOIKIT_TEST_SECRET_URL", "table": table})
    reports = project / "reports"
    for fail in (False, True):
        done = subprocess.run(
            [sys.executable, "-m", "foikit.cli", "run", str(params), "--reports-dir", str(reports), "--notebooks",
             str(_scan_template(tmp_path, fail)), "--force"], cwd=project, env=env, capture_output=True,
            text=True, timeout=600)
        if not fail:  # published too: the review and the signature are written in the report folder
            done = publish_run(done, reports, cwd=project, env=env)
        assert done.returncode == int(fail), done.stderr
        assert "stopped on purpose" in done.stderr if fail else "written" in done.stdout
        assert_hidden(done.stdout + done.stderr, *secrets)
    files = [p for p in project.rglob("*") if p.is_file()]
    assert {p.parent.name for p in files} >= {"01.FOI.99.000042", ".failures"}
    assert any(p.name == "manifest.json" for p in files) and any(p.suffix == ".ipynb" for p in files)
    for path in files:
        content = path.read_bytes()
        for secret in secrets:
            assert secret.encode() not in content, (path, secret)
    # the dataset is named by the dictionary, never by the URL
    assert "conduct_allegations" in (reports / "01.FOI.99.000042" / "cells.json").read_text(encoding="utf-8")
