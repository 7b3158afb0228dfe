"""The package's layer order (docs/architecture.md), checked on the real import graph: every
``import`` inside denseface points to its own layer or a lower one."""
from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "denseface"

#: Bottom to top; a module may import from its own layer and the layers below it only.
LAYERS = (
    ("errors", "paths"),
    ("geometry",),
    ("io",),
    ("metrics",),
    ("mesh", "landmarks"),
    ("models", "weights"),
    ("data", "losses", "refine"),
    ("train", "infer"),
    ("eval", "export"),
    ("cli", "__main__"),
)
RANK = {name: i for i, names in enumerate(LAYERS) for name in names}


def top_module(path: Path) -> str:
    rel = path.relative_to(PACKAGE)
    return rel.parts[0].removesuffix(".py")


def imported_modules(path: Path) -> list[tuple[int, str]]:
    """(line, first component under denseface) of every import of a denseface module."""
    tree = ast.parse(path.read_text(), str(path))
    rel_pkg = path.relative_to(PACKAGE).parent.parts
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = list(rel_pkg[:len(rel_pkg) - node.level + 1])
                parts = base + (node.module.split(".") if node.module else [])
                if not parts:   # "from .. import x" at the package root
                    parts = [a.name for a in node.names]
            elif node.module and node.module.split(".")[0] == "denseface":
                parts = node.module.split(".")[1:] or [a.name for a in node.names]
            else:
                continue
            out.append((node.lineno, parts[0]))
        elif isinstance(node, ast.Import):
            for a in node.names:
                if a.name.split(".")[0] == "denseface" and len(a.name.split(".")) > 1:
                    out.append((node.lineno, a.name.split(".")[1]))
    return out


def test_every_module_has_a_layer():
    tops = {top_module(p) for p in PACKAGE.rglob("*.py")} - {"__init__"}
    assert tops <= set(RANK), f"modules without a layer: {sorted(tops - set(RANK))}"


def test_imports_point_down():
    upward = []
    for path in sorted(PACKAGE.rglob("*.py")):
        src = top_module(path)
        if src == "__init__":
            continue
        for line, dst in imported_modules(path):
            if dst in RANK and RANK[dst] > RANK[src]:
                upward.append(f"{path.relative_to(PACKAGE.parent)}:{line} ({src} -> {dst})")
    assert not upward, "imports pointing up the layers:\n" + "\n".join(upward)
