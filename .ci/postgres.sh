#!/usr/bin/env bash
# A throwaway PostgreSQL server on 127.0.0.1 for the tests: `start`, `stop`, `kill` (SIGKILL the
# postmaster, as a crash), `url`. PostgreSQL refuses to run as root, so as root it runs as the
# `postgres` user. Data lives in $ACTOR_PG_DIR (default /tmp/actor-rs-pg); the port is
# $ACTOR_PG_PORT, or the first free one from 54329, chosen at the first start and kept in
# $ACTOR_PG_DIR.port.
set -euo pipefail

DIR="${ACTOR_PG_DIR:-/tmp/actor-rs-pg}"
PORT_FILE="$DIR.port"
# shellcheck source=.ci/port.sh
source "$(dirname "$0")/port.sh"
choose_port "${ACTOR_PG_PORT:-}" "$PORT_FILE" 54329
BIN=""
for candidate in /usr/local/bin /usr/lib/postgresql/*/bin; do
    if [ -x "$candidate/pg_ctl" ] && [ -x "$candidate/initdb" ]; then BIN="$candidate"; break; fi
done
if [ -z "$BIN" ] && command -v pg_ctl >/dev/null; then BIN="$(dirname "$(command -v pg_ctl)")"; fi
if [ -z "$BIN" ]; then echo "postgres.sh: no PostgreSQL server binaries found" >&2; exit 1; fi

as_owner() {
    if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

case "${1:-}" in
start)
    if [ ! -f "$DIR/PG_VERSION" ]; then
        rm -rf "$DIR"
        mkdir -p "$DIR"
        [ "$(id -u)" = 0 ] && chown postgres "$DIR"
        as_owner "$BIN/initdb" -D "$DIR" -U postgres --auth=trust -E UTF8 >/dev/null
    fi
    # Already running: nothing to do.
    if as_owner "$BIN/pg_ctl" -D "$DIR" status >/dev/null 2>&1; then exit 0; fi
    as_owner "$BIN/pg_ctl" -D "$DIR" -l "$DIR/server.log" -w -t 60 \
        -o "-h 127.0.0.1 -p $PORT -k /tmp -c fsync=on -c max_connections=200" start >/dev/null
    ;;
stop)
    as_owner "$BIN/pg_ctl" -D "$DIR" -m fast -w stop >/dev/null 2>&1 || true
    ;;
kill)
    if [ -f "$DIR/postmaster.pid" ]; then
        kill -9 "$(head -1 "$DIR/postmaster.pid")" || true
        # The backends notice their postmaster is gone and exit; wait for the port to free up.
        for _ in $(seq 1 100); do
            if ! pgrep -u postgres -f "postgres.*$DIR" >/dev/null 2>&1 && ! pgrep -u postgres -x postgres >/dev/null 2>&1; then break; fi
            sleep 0.1
        done
    fi
    ;;
url)
    echo "postgres://postgres@127.0.0.1:$PORT/postgres"
    ;;
*)
    echo "usage: postgres.sh start|stop|kill|url" >&2
    exit 2
    ;;
esac
