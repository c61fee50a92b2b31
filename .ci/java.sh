#!/usr/bin/env bash
# A Java runtime for the Spark tests (engine: spark; pyspark comes from requirements/lock.txt): Debian's package,
# no download of its own.
set -euo pipefail
if ! command -v java >/dev/null 2>&1; then
    echo "java.sh: installing default-jre-headless" >&2
    apt-get update -qq >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq default-jre-headless >&2
fi
