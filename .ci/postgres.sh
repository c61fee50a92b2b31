#!/usr/bin/env bash
# A throwaway PostgreSQL server for the SQL backend's tests, on 127.0.0.1 only, private to the caller.
#
#   eval "$(bash .ci/postgres.sh)"     # install if absent, start, create db+user; exports FOIKIT_TEST_POSTGRES_URL
#                                      # and FOIKIT_PG_DIR (this server's own directory)
#   bash .ci/postgres.sh stop          # stop exactly the server in $FOIKIT_PG_DIR (and remove a private directory)
#
# Two jobs on one host never share a server: unless FOIKIT_PG_DIR names one, each run makes a new private
# directory (mktemp) and asks the OS for a free port (unless FOIKIT_PG_PORT gives one); the port is kept in
# the directory, so a second run with the same FOIKIT_PG_DIR finds the server running and only prints the URL
# again. Everything but the export lines goes to stderr. Installs Debian's `postgresql` package when no server
# binaries are found (needs root). The cluster lives in $FOIKIT_PG_DIR/data, owned by the `postgres` user when
# run as root; it listens on 127.0.0.1 and a Unix socket inside $FOIKIT_PG_DIR only.
set -euo pipefail

DB=foikit
ROLE=foikit
PASSWORD="${FOIKIT_PG_PASSWORD:-foikit-ci-only}"

log() { echo "postgres.sh: $*" >&2; }

pg_bin() {  # the newest installed server's bin directory, or nothing
    local found
    found=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)
    if [[ -n "$found" && -x "$found/initdb" ]]; then echo "$found"; fi
}

BIN="$(pg_bin)"
if [[ -z "$BIN" ]]; then
    if [[ $(id -u) -ne 0 ]]; then
        log "PostgreSQL is not installed and this is not root: apt-get install -y postgresql first"; exit 1
    fi
    log "installing PostgreSQL from Debian packages"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update >&2
    apt-get install -y --no-install-recommends postgresql >&2
    BIN="$(pg_bin)"
    [[ -n "$BIN" ]] || { log "postgresql installed but no server binaries under /usr/lib/postgresql"; exit 1; }
fi

if [[ $(id -u) -eq 0 ]]; then  # the server refuses to run as root
    OWNER=postgres
    as_owner() { runuser -u postgres -- "$@"; }
else
    OWNER="$(id -un)"
    as_owner() { "$@"; }
fi

if [[ "${1:-}" == "stop" ]]; then
    [[ -n "${FOIKIT_PG_DIR:-}" ]] || { log "FOIKIT_PG_DIR is not set: which server to stop is not known"; exit 1; }
    DIR="$FOIKIT_PG_DIR"
    if [[ -f "$DIR/data/postmaster.pid" ]]; then as_owner "$BIN/pg_ctl" -D "$DIR/data" -m fast -w stop >&2; fi
    if [[ -f "$DIR/private" ]]; then rm -rf -- "$DIR"; fi  # made by this script: nothing in it is kept
    exit 0
fi

if [[ -n "${FOIKIT_PG_DIR:-}" ]]; then
    DIR="$FOIKIT_PG_DIR"
    mkdir -p "$DIR"
else
    DIR="$(mktemp -d "${TMPDIR:-/tmp}/foikit-postgres.XXXXXXXX")"
    touch "$DIR/private"
fi
if [[ -s "$DIR/port" ]]; then
    PORT="$(cat "$DIR/port")"
else  # a port the OS says is free now (the server takes it moments later)
    PORT="${FOIKIT_PG_PORT:-$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')}"
    echo "$PORT" >"$DIR/port"
fi
chown "$OWNER" "$DIR"
chmod 700 "$DIR"

if [[ ! -s "$DIR/data/PG_VERSION" ]]; then
    log "creating a cluster in $DIR/data"
    mkdir -p "$DIR/data"
    chown "$OWNER" "$DIR/data"
    chmod 700 "$DIR/data"
    as_owner "$BIN/initdb" -D "$DIR/data" -U postgres -E UTF8 --locale=C.UTF-8 --auth-local=trust \
        --auth-host=scram-sha-256 >&2
    as_owner tee -a "$DIR/data/postgresql.conf" >/dev/null <<EOF
# foikit CI: local only, fast and disposable
listen_addresses = '127.0.0.1'
port = $PORT
unix_socket_directories = '$DIR'
fsync = off
synchronous_commit = off
full_page_writes = off
EOF
fi

if ! as_owner "$BIN/pg_ctl" -D "$DIR/data" status >/dev/null 2>&1; then
    log "starting the server on 127.0.0.1:$PORT"
    as_owner "$BIN/pg_ctl" -D "$DIR/data" -l "$DIR/server.log" -w -t 60 start >&2 || {
        tail -n 20 "$DIR/server.log" >&2; exit 1; }
fi

psql_admin() { as_owner "$BIN/psql" -h "$DIR" -p "$PORT" -U postgres -d postgres -v ON_ERROR_STOP=1 -qtA "$@"; }
# role and database: created once; the password is (re)set every run so the printed URL always works
psql_admin -v role="$ROLE" -v password="$PASSWORD" >&2 <<'EOF'
SELECT format('CREATE ROLE %I LOGIN', :'role') WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = :'role')
\gexec
ALTER ROLE :"role" WITH LOGIN PASSWORD :'password';
EOF
if [[ -z "$(psql_admin -c "SELECT 1 FROM pg_database WHERE datname = '$DB'")" ]]; then
    psql_admin -c "CREATE DATABASE $DB OWNER $ROLE" >&2
fi

echo "export FOIKIT_PG_DIR=$(printf %q "$DIR")"
echo "export FOIKIT_TEST_POSTGRES_URL=postgresql+psycopg://$ROLE:$PASSWORD@127.0.0.1:$PORT/$DB"
