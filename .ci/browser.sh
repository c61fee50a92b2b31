#!/usr/bin/env bash
# Headless Chromium for the tests that open the letter in a browser (Debian's package; no download of its own).
set -euo pipefail
if ! command -v chromium >/dev/null 2>&1; then
    echo "browser.sh: installing chromium" >&2
    apt-get update -qq >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >&2
fi
