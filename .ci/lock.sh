#!/usr/bin/env bash
# Compile the two pinned environments from pyproject.toml (its dependencies and the [test] extra), with hashes,
# for CPython 3.11.7 on x86-64 Linux (the CI machine's):
#
#   requirements/lock.txt    the project's own environment: what the README and .ci/run install, and what the
#                            committed example reports were made with (their manifests record it)
#   requirements/lowest.txt  every direct dependency at the lower bound pyproject.toml declares (uv's
#                            lowest-direct resolution), what .ci/lower-bounds.sh tests
#
#   bash .ci/lock.sh                  after editing pyproject.toml: versions already pinned in lock.txt stay
#   bash .ci/lock.sh --upgrade        newest allowed versions (then regenerate the example reports)
#   bash .ci/lock.sh --upgrade-package lxml    one package
#
# Extra arguments go to the compile of lock.txt. Uses `uv` from PATH, else installs it into a temporary venv.
set -euo pipefail
cd "$(dirname "$0")/.."

UV="$(command -v uv || true)"
if [[ -z "$UV" ]]; then
    tools="$(mktemp -d "${TMPDIR:-/tmp}/foikit-uv.XXXXXXXX")"
    trap 'rm -rf -- "$tools"' EXIT
    python3 -m venv "$tools" && "$tools/bin/pip" install -q uv==0.13.9 >&2
    UV="$tools/bin/uv"
fi

compile() {  # output file, then uv arguments
    local out="$1"; shift
    "$UV" pip compile pyproject.toml --extra test --python-version 3.11.7 --python-platform x86_64-unknown-linux-gnu \
        --generate-hashes --custom-compile-command "bash .ci/lock.sh" --quiet -o "$out" "$@"
}
compile requirements/lock.txt "$@"
# --upgrade: a pin kept from the last compile would hold a direct dependency above its lower bound
compile requirements/lowest.txt --resolution lowest-direct --upgrade
