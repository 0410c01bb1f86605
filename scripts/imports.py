#!/usr/bin/env python3
"""The import graph of src/: which module names which, and whether any of them form a circle.

    python3 scripts/imports.py [--edges]

Reads every .rs file under src/ as text (comments, doc comments and string literals
left out) and finds each path it names: `crate::a::b`, `super::x`, and the names of
`use` lines, resolved to the longest module that exists. A file is a module
(`src/download/job.rs` is `download::job`, a `mod.rs` its folder's), and `lib.rs`
is `crate`. A child module naming its parent (`super::Job`) is an arrow too, and
`--edges` shows it.

Prints the circles (strongly connected sets of two or more modules), first between
the top-level modules (`download`, `bench`, `cli`...), then between files, and the
arrows from a lower layer (download, serve, save, report, timeline, har) to `cli`, `bench`,
lib.rs or clap. Exits 1 if there is any of these, so it can stand in a check. `--edges`
also prints every arrow. Standard library only.

What the file circles leave out, and why: an arrow from a module to one of its own
ancestors (`download::asyncio` naming `super::Event`, defined in `download/mod.rs`).
A folder's `mod.rs` declares its children, so it always names them; what they share
lives there, and Rust lets a child see its parent's items, private ones included, for
that purpose. Counting that arrow would make every folder whose files share a type a
"circle", and the check would say nothing. A circle through siblings (`bench::run` and
`bench::child` naming each other), or out of the folder and back, still counts, as does
any arrow to `crate`: lib.rs holds the entry points, which nothing below should name.
The top-level circles are unaffected: within one top-level module there is no arrow.
"""

import re
import sys
from pathlib import Path

SRC = Path(__file__).resolve().parent.parent / "src"
LOWER = ("download", "serve", "save", "report", "timeline", "har")


def module_of(path: Path) -> str:
    parts = list(path.relative_to(SRC).with_suffix("").parts)
    if parts in (["lib"], ["main"]):
        return "crate" if parts == ["lib"] else "main"
    if parts[-1] == "mod":
        parts = parts[:-1]
    return "::".join(parts)


def strip(text: str) -> str:
    """The code of `text`, without comments and string literals."""
    text = re.sub(r"r#+\"(?:.|\n)*?\"#+", '""', text)
    text = re.sub(r"//[^\n]*", "", text)
    text = re.sub(r"/\*(?:.|\n)*?\*/", "", text)
    text = re.sub(r'b?"(?:\\.|[^"\\])*"', '""', text)
    return text


def resolve(path: list, modules: set) -> str | None:
    """The longest module `path` starts with."""
    for n in range(len(path), 0, -1):
        name = "::".join(path[:n])
        if name in modules:
            return name
    return None


IDENT = r"[A-Za-z_][A-Za-z0-9_]*"


def add_edges(me: str, code: str, here: list, modules: set, edges: dict) -> None:
    """The arrows from `me` that `code`, in module `here`, draws."""
    # `crate::a::b`, `self::a`, `super::a` (and `super::super::a`).
    for m in re.finditer(rf"\b((?:crate|super|self)(?:::{IDENT})+)", code):
        words = m.group(1).split("::")
        if words[0] == "crate":
            base, rest = [], words[1:]
        elif words[0] == "self":
            base, rest = here, words[1:]
        else:
            base, rest = here, words
            while rest and rest[0] == "super":
                base = base[:-1]
                rest = rest[1:]
        target = resolve(base + rest, modules) or ("::".join(base) or "crate")
        if target != me and target in modules:
            edges[me].add(target)
    # A bare `a::b` naming a child module of this file's (as `bench::run_bench` in lib.rs,
    # `child::child_main` in bench/mod.rs), not preceded by `::`.
    for m in re.finditer(rf"(?<![:\w])({IDENT})::", code):
        child = "::".join(here[: len(me.split("::")) if me != "crate" else 0] + [m.group(1)])
        if child in modules and child != me:
            edges[me].add(child)
    # `use crate::{a, b::c}`.
    for m in re.finditer(r"\buse\s+crate::\{([^;]*)\}", code):
        for name in re.findall(IDENT, m.group(1)):
            if name in modules and name != me:
                edges[me].add(name)


def main() -> int:
    files = sorted(SRC.rglob("*.rs"))
    modules = {module_of(f) for f in files}
    edges: dict[str, set] = {m: set() for m in modules}
    clap: set = set()
    for f in files:
        me = module_of(f)
        whole = strip(f.read_text())
        if re.search(r"\bclap(_complete|_mangen)?::", whole):
            clap.add(me)
        module = [] if me in ("crate", "main") else me.split("::")
        # A file's unit tests (`mod tests`, at its end) are a module below it: their
        # `super` is the file.
        cut = re.search(r"#\[cfg\(test\)\]\s*mod\s+tests\b", whole)
        parts = [(whole, module)]
        if cut:
            parts = [(whole[: cut.start()], module), (whole[cut.start() :], module + ["tests"])]
        for code, here in parts:
            add_edges(me, code, here, modules, edges)
    edges.pop("main", None)
    for targets in edges.values():
        targets.discard("main")

    def top(m: str) -> str:
        return m.split("::")[0]

    top_edges: dict[str, set] = {}
    for m, targets in edges.items():
        for t in targets:
            a, b = top(m), top(t)
            # A module naming its own parent is within one top-level module; `crate` is
            # lib.rs, the entry points, which names everything.
            if a != b:
                top_edges.setdefault(a, set()).add(b)
            top_edges.setdefault(b, set())
        top_edges.setdefault(top(m), set())

    if "--edges" in sys.argv:
        for m in sorted(edges):
            print(f"{m} -> {', '.join(sorted(edges[m])) or '(nothing)'}")
        print()

    def ancestor(t: str, m: str) -> bool:
        return t != "crate" and m.startswith(t + "::")

    # See the module's doc: a child naming its ancestor is how a folder module is built.
    file_edges = {m: {t for t in targets if not ancestor(t, m)} for m, targets in edges.items()}

    bad = 0
    for what, graph in (("top-level modules", top_edges), ("files", file_edges)):
        circles = [c for c in sccs(graph) if len(c) > 1]
        if circles:
            bad += 1
            for c in circles:
                print(f"a circle of {len(c)} {what}: {', '.join(sorted(c))}")
        else:
            print(f"no circle between {what} ({len(graph)} of them)")
    up = sorted(
        (m, t)
        for m, targets in edges.items()
        for t in targets
        if top(m) in LOWER and top(t) in ("cli", "bench", "crate")
    )
    for m, t in up:
        print(f"a lower layer names a higher one: {m} -> {t}")
    lower_clap = sorted(m for m in clap if top(m) in LOWER)
    for m in lower_clap:
        print(f"a lower layer names clap: {m}")
    if not up and not lower_clap:
        print(f"no arrow from {', '.join(LOWER)} to cli, bench, lib.rs or clap")
    return 1 if bad or up or lower_clap else 0


def sccs(graph: dict) -> list:
    """Tarjan's strongly connected components."""
    index, low, stack, on, out = {}, {}, [], set(), []
    sys.setrecursionlimit(10000)

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = set()
            while True:
                w = stack.pop()
                on.discard(w)
                comp.add(w)
                if w == v:
                    break
            out.append(comp)

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


if __name__ == "__main__":
    sys.exit(main())
