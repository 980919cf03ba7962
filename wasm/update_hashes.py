#!/usr/bin/env python3
"""Rewrites each `hash:` line in the registries to the sha256 of the binary its entry's
`path:` names in wasm/bin. Run by build.sh after rebuilding the guests."""
import hashlib, pathlib, re, sys

root = pathlib.Path(__file__).resolve().parent.parent
bin_dir = root / "wasm" / "bin"
registries = [root / "wasm" / "_index.yaml", *sorted((root / "examples").rglob("_index.yaml"))]

for reg in registries:
    text = reg.read_text()
    blocks = re.split(r"(?m)^(?=  - name:)", text)
    out = []
    for block in blocks:
        m = re.search(r"(?m)^\s+path:\s*/?(\S+\.wasm)\s*$", block)
        if m and (bin_dir / m.group(1)).is_file():
            digest = hashlib.sha256((bin_dir / m.group(1)).read_bytes()).hexdigest()
            block = re.sub(r"(?m)^(\s+hash:\s*)sha256:[0-9a-f]*", rf"\g<1>sha256:{digest}", block)
        out.append(block)
    new = "".join(out)
    if new != text:
        reg.write_text(new)
        print(f"updated hashes in {reg.relative_to(root)}", file=sys.stderr)
