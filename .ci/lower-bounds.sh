#!/usr/bin/env bash
# The declared lower bounds work: install requirements/lowest.txt (every direct dependency at the lower bound
# pyproject.toml declares; see .ci/lock.sh) into a new virtual environment and run the core tests there.
#
# The core tests are the engine, the params, the sources (files, DuckDB, PostgreSQL when
# FOIKIT_TEST_POSTGRES_URL is set), the ledger and one whole `foikit run`: none compares a report byte for byte
# with the committed examples, which were made with requirements/lock.txt and record its versions.
set -euo pipefail
cd "$(dirname "$0")/.."

tmp="$(mktemp -d "${TMPDIR:-/tmp}/foikit-lowest.XXXXXXXX")"
trap 'rm -rf -- "$tmp"' EXIT
venv="$tmp/env"
python -m venv "$tmp/tools" && python -m venv "$venv"
# uv installs the ~150 pinned wheels in seconds where pip takes minutes; it lives in a venv of its own
"$tmp/tools/bin/pip" install -q uv==0.13.9
"$tmp/tools/bin/uv" pip install -q --python "$venv/bin/python" --require-hashes -r requirements/lowest.txt
"$tmp/tools/bin/uv" pip install -q --python "$venv/bin/python" --no-deps -e .
# the slowest ledger test (two runs and two audits of the CLI, 90 s) is left out: test_run's whole run covers
# the same stack once
"$venv/bin/python" -m pytest -q -p no:cacheprovider \
    tests/test_params.py tests/test_linear.py tests/test_audit.py tests/test_secondary.py tests/test_tables.py \
    tests/test_sql.py tests/test_sources.py tests/test_ledger.py tests/test_run.py::test_run_writes_the_whole_report \
    --deselect tests/test_ledger.py::test_cli_run_and_audit_refuse_an_unreadable_report_and_ignore_lists_it_in_the_record
