#!/usr/bin/env bash
# A throwaway NATS server on 127.0.0.1 for actor-remote's tests and benchmark: `start`, `stop`,
# `url`. State (pid, port, log) lives beside $ACTOR_NATS_DIR (default /tmp/actor-rs-nats); the
# port is $ACTOR_NATS_PORT, or the first free one from 14222, chosen at the first start.
set -euo pipefail

DIR="${ACTOR_NATS_DIR:-/tmp/actor-rs-nats}"
mkdir -p "$DIR"
PORT_FILE="$DIR/port"
PID_FILE="$DIR/pid"
# shellcheck source=.ci/port.sh
source "$(dirname "$0")/port.sh"
choose_port "${ACTOR_NATS_PORT:-}" "$PORT_FILE" 14222
BIN="$(command -v nats-server || true)"
[ -z "$BIN" ] && [ -x /usr/sbin/nats-server ] && BIN=/usr/sbin/nats-server

running() { [ -f "$PID_FILE" ] && kill -0 "$(cat "$PID_FILE")" 2>/dev/null; }

case "${1:-}" in
start)
    if [ -z "$BIN" ]; then echo "nats.sh: no nats-server found" >&2; exit 1; fi
    if running; then exit 0; fi
    nohup "$BIN" -a 127.0.0.1 -p "$PORT" -l "$DIR/server.log" >/dev/null 2>&1 &
    echo $! > "$PID_FILE"
    for _ in $(seq 1 100); do
        if ! port_free "$PORT"; then exit 0; fi
        sleep 0.1
    done
    echo "nats.sh: the server did not listen on $PORT within 10 s" >&2
    exit 1
    ;;
stop)
    if running; then kill "$(cat "$PID_FILE")" || true; fi
    rm -f "$PID_FILE"
    ;;
url)
    echo "nats://127.0.0.1:$PORT"
    ;;
*)
    echo "usage: nats.sh start|stop|url" >&2
    exit 2
    ;;
esac
