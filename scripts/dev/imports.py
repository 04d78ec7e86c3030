#!/usr/bin/env python3
"""The crate's import graph: every `crate::a::b::...` path a file under src/ names (in `use`
lines or inline), resolved to the file that defines that module, and the import circles in it
(strongly connected components of two or more files), grouped as `files` or by top-level `dir`.

usage: scripts/dev/imports.py [--by file|dir|layer] [--edges]
Exits 1 when there is a circle.
"""
import os, re, sys
from collections import defaultdict

by = sys.argv[sys.argv.index("--by") + 1] if "--by" in sys.argv else "file"
root = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "src"))

def module_file(segs):
    """The file of the longest module prefix of segs."""
    for n in range(len(segs), 0, -1):
        base = os.path.join(root, *segs[:n])
        for f in (base + ".rs", os.path.join(base, "mod.rs")):
            if os.path.isfile(f):
                return os.path.relpath(f, root)
    return None

def expand(body):
    """Paths of a use tree body: `a::{b, c::{d}}` -> [a::b, a::c::d]."""
    out, depth, cur, parts = [], 0, "", []
    body = body.strip()
    m = re.match(r"^([a-z_0-9:]*?)(?:::)?\{(.*)\}$", body, re.S)
    if not m:
        return [body]
    prefix, inner = m.group(1), m.group(2)
    for ch in inner:
        if ch == "{": depth += 1
        if ch == "}": depth -= 1
        if ch == "," and depth == 0:
            parts.append(cur); cur = ""
        else:
            cur += ch
    parts.append(cur)
    for p in parts:
        p = p.strip()
        if not p:
            continue
        for q in expand(p):
            out.append(f"{prefix}::{q}" if prefix else q)
    return out

edges = defaultdict(set)
for d, _, fs in os.walk(root):
    for f in fs:
        if not f.endswith(".rs"):
            continue
        rel = os.path.relpath(os.path.join(d, f), root)
        if rel in ("lib.rs", "main.rs") or rel.startswith("cli/"):
            continue
        text = open(os.path.join(d, f)).read()
        text = re.sub(r"//[^\n]*", "", text)
        paths = []
        # The module path of this file, for `super::` and `self::`.
        here = rel[:-3].split("/")
        if here[-1] == "mod":
            here = here[:-1]
        for m in re.finditer(r"\b(crate|super|self)::((?:[A-Za-z_0-9]+::)*(?:\{[^;]*?\}(?=\s*;)|[A-Za-z_0-9]+))", text):
            base = {"crate": [], "super": here[:-1], "self": here}[m.group(1)]
            paths.extend("::".join(base + [q]) if base else q for q in expand(m.group(2)))
        for p in paths:
            segs = [s for s in p.split("::") if re.fullmatch(r"[a-z_0-9]+", s)]
            target = module_file(segs) if segs else None
            if target and target != rel:
                edges[rel].add(target)

def node(f):
    if by == "file":
        return f
    parts = f.split("/")
    # `--by dir` keeps each task apart; `--by layer` counts task/ as one layer.
    if by == "dir" and parts[0] == "task" and len(parts) > 2:
        return "task/" + parts[1]
    return parts[0].removesuffix(".rs")

g = defaultdict(set)
for a, bs in edges.items():
    for b in bs:
        if node(a) != node(b):
            g[node(a)].add(node(b))
nodes = sorted(set(g) | {b for bs in g.values() for b in bs})
if "--edges" in sys.argv:
    for n in nodes:
        print(f"{n} -> {', '.join(sorted(g[n]))}")
index, low, stack, on, comps, counter = {}, {}, [], set(), [], [0]
def visit(v):
    index[v] = low[v] = counter[0]; counter[0] += 1
    stack.append(v); on.add(v)
    for w in sorted(g[v]):
        if w not in index:
            visit(w); low[v] = min(low[v], low[w])
        elif w in on:
            low[v] = min(low[v], index[w])
    if low[v] == index[v]:
        comp = []
        while True:
            w = stack.pop(); on.discard(w); comp.append(w)
            if w == v:
                break
        comps.append(comp)
sys.setrecursionlimit(10000)
for n in nodes:
    if n not in index:
        visit(n)
circles = [sorted(c) for c in comps if len(c) > 1]
for c in circles:
    print(f"import circle ({len(c)}):", " ".join(c))
print(f"{len(nodes)} {by}s, {sum(len(v) for v in g.values())} edges, {len(circles)} circle(s)")
sys.exit(1 if circles else 0)
