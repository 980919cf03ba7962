#!/usr/bin/env python3
"""Fails if any two modules of the library import each other, directly or through others.

Every file under src/ is a module (`src/kernel/host.rs` is `kernel::host`, `mod.rs` its
folder's module). A module depends on every module its `crate::`/`super::` paths name
(the deepest module the path reaches) and on the children it declares with `mod`. Test
modules (`tests.rs`, `*_tests.rs`) and the binary (`main.rs`, `cli/`) are left out: tests
may look anywhere, and nothing in the library imports the binary.
"""
import re
import sys
from pathlib import Path

SRC = Path(__file__).resolve().parent.parent / "src"


def module_of(path):
    parts = list(path.relative_to(SRC).with_suffix("").parts)
    if parts[-1] in ("mod", "lib"):
        parts.pop()
    return tuple(parts)


def skipped(path):
    rel = path.relative_to(SRC)
    return (
        rel.parts[0] == "cli"
        or rel.name == "main.rs"
        or rel.name == "tests.rs"
        or rel.name.endswith("_tests.rs")
    )


def paths_in(text):
    """Every `crate::...` / `super::...` path, with `use a::{b::c, d}` groups expanded."""
    text = re.sub(r"//.*", "", text)
    found = []
    for m in re.finditer(r"(?<!pub\()\b(crate|super)\b((?:::[A-Za-z_][A-Za-z0-9_]*)*)(::\{([^{}]*)\})?", text):
        head = [m.group(1)] + [p for p in m.group(2).split("::") if p]
        found.append(head)
        if m.group(4):
            for item in m.group(4).split(","):
                item = item.strip().split(" as ")[0]
                if item and item != "self":
                    found.append(head + item.split("::"))
    return found


def main():
    files = {module_of(p): p for p in SRC.rglob("*.rs") if not skipped(p)}
    modules = set(files)
    edges = {m: set() for m in modules}
    for mod, path in files.items():
        # An inline `#[cfg(test)] mod tests { use super::*; }` (at the end, by custom)
        # refers to its own file: leave it out.
        text = re.split(r"#\[cfg\(test\)\]\s*mod\s+[a-z_]+\s*\{", path.read_text())[0]
        for child in re.findall(r"^\s*(?:pub(?:\([a-z]+\))?\s+)?mod\s+([a-z_0-9]+)\s*;", text, re.M):
            if mod + (child,) in modules:
                edges[mod].add(mod + (child,))
        for path_parts in paths_in(text):
            if path_parts[0] == "crate":
                base, rest = (), path_parts[1:]
            else:
                base = mod[:-1]
                rest = path_parts[1:]
                # `super::super::x`
                while rest and rest[0] == "super":
                    base, rest = base[:-1], rest[1:]
            target = base
            for part in rest:
                if target + (part,) in modules:
                    target = target + (part,)
                else:
                    break
            if target != mod and target in modules and target != ():
                edges[mod].add(target)
    cycles = []
    state = {}

    def visit(m, stack):
        state[m] = "open"
        stack.append(m)
        for n in sorted(edges[m]):
            if state.get(n) == "open":
                cycles.append(stack[stack.index(n):] + [n])
            elif n not in state:
                visit(n, stack)
        stack.pop()
        state[m] = "done"

    for m in sorted(modules):
        if m not in state:
            visit(m, [])
    name = lambda m: "::".join(m) or "crate"
    if cycles:
        for c in cycles:
            print("import cycle: " + " -> ".join(name(m) for m in c))
        sys.exit(1)
    top = sorted({(m[0], t[0]) for m in modules for t in edges[m] if m and t and m[0] != t[0]})
    print(f"no import cycles among {len(modules)} modules; top-level dependencies:")
    for a, b in top:
        print(f"  {a} -> {b}")


main()
