#!/usr/bin/env python3
"""Import circles between the files of src/, the way a reader meets them.

    python3 scripts/import-circles.py [SRC]          # circles between sibling files
    python3 scripts/import-circles.py [SRC] --all    # parent <-> child too

Each file is a node (`src/load/worker/mod.rs` is `load/worker`); a path in
a file (`crate::a::b`, `super::x`, `self::y`, one level of `{...}` groups,
and in a `mod.rs` a bare `child::`) is an edge to the file that defines the
longest module prefix of it. Test modules at the end of a file and comments
are left out. A circle is a strongly connected set of two or more files.
Without `--all`, edges between a module and its own direct child are left
out: a `mod.rs` that declares and dispatches to its children, which use the
types it defines, is how Rust lays out a module, not a circle (the issue's
circles were between siblings: serve <-> prefork, reactor <-> offload,
config <-> protocol, and a parent that reached into its child's privates).
Prints nothing and exits 0 where there is no circle; exits 1 otherwise.
"""
import os
import re
import sys

args = [a for a in sys.argv[1:] if not a.startswith("--")]
root = args[0] if args else "src"
peers_only = "--all" not in sys.argv

files = {}
for d, _, names in os.walk(root):
    for name in names:
        if name.endswith(".rs"):
            path = os.path.join(d, name)
            parts = os.path.relpath(path, root)[:-3].split("/")
            if parts[-1] in ("mod", "lib", "main"):
                parts = parts[:-1]
            files[tuple(parts)] = path


def defining_file(parts):
    for i in range(len(parts), -1, -1):
        if tuple(parts[:i]) in files:
            return tuple(parts[:i])
    return ()


def expand_groups(src):
    def expand(m):
        items = [x.strip() for x in m.group(2).split(",")]
        return " ".join(m.group(1) + "::" + x for x in items if x and "{" not in x)
    for _ in range(3):
        src = re.sub(r"\b((?:crate|super|self)(?:::\w+)*)::\{([^{}]*)\}", expand, src)
    return src


edges = {}
for mod, path in files.items():
    src = open(path).read()
    src = re.sub(r"#\[cfg\(test\)\]\s*mod tests\s*\{.*", "", src, flags=re.S)
    src = re.sub(r"//[^\n]*", "", src)
    src = expand_groups(src)
    targets = set()
    for m in re.finditer(r"\b((?:crate|super|self)(?:::\w+)+)", src):
        segs = m.group(1).split("::")
        if segs[0] == "crate":
            base, rest = [], segs[1:]
        elif segs[0] == "self":
            base, rest = list(mod), segs[1:]
        else:
            ups = len(list(s for s in segs if s == "super"))
            base, rest = list(mod)[: len(mod) - ups], segs[ups:]
        targets.add(defining_file(base + rest))
    if os.path.basename(path) in ("mod.rs", "lib.rs"):
        for child in [k[-1] for k in files if len(k) == len(mod) + 1 and k[: len(mod)] == mod]:
            if re.search(r"(?<![:\w])" + child + r"::", src):
                targets.add(mod + (child,))
    targets.discard(mod)
    if peers_only:
        targets = {t for t in targets if not (t[:-1] == mod or mod[:-1] == t)}
    edges[mod] = targets

index, low, stack, on, circles = {}, {}, [], set(), []
sys.setrecursionlimit(10000)


def visit(v):
    index[v] = low[v] = len(index)
    stack.append(v)
    on.add(v)
    for w in edges[v]:
        if w not in index:
            visit(w)
            low[v] = min(low[v], low[w])
        elif w in on:
            low[v] = min(low[v], index[w])
    if low[v] == index[v]:
        circle = []
        while True:
            w = stack.pop()
            on.discard(w)
            circle.append(w)
            if w == v:
                break
        if len(circle) > 1:
            circles.append(circle)


for v in files:
    if v not in index:
        visit(v)
name = lambda m: "/".join(m) or "lib"
for circle in circles:
    print("circle:", ", ".join(sorted(name(m) for m in circle)))
    for a in circle:
        for b in sorted(edges[a]):
            if b in circle:
                print(f"    {name(a)} -> {name(b)}")
sys.exit(1 if circles else 0)
