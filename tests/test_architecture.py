"""The package's layer order (docs/architecture.md), checked on the real import graph: every
``import`` inside denseface points to its own layer or a lower one; and the benchmarks use the
package's metrics and data readers instead of copies."""
from __future__ import annotations

import ast
import re
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "denseface"

#: Bottom to top; a module may import from its own layer and the layers below it only. Where
#: two stages use each other's work the order between them is stated by a layer each: training
#: crops faces as inference does and exports what it trains (train -> infer, train -> export,
#: never back), and the cost report times an exported model (eval -> export, never back).
LAYERS = (
    ("errors", "paths"),
    ("geometry",),
    ("io",),
    ("metrics",),
    ("mesh", "landmarks"),
    ("models", "weights"),
    ("data", "losses", "refine"),
    ("infer",),
    ("export",),
    ("train",),
    ("eval",),
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


BENCHMARKS = PACKAGE.parent / "benchmarks"
#: Scripts that run in a peer's own Python (MediaPipe, dlib), where denseface is not importable.
PEER_ENV_SCRIPTS = ("peer_common.py", "peer_dlib.py", "peer_mediapipe.py")
#: The package's homes of metrics and benchmark data readers.
METRIC_AND_LOADER_MODULES = ("metrics.py", "eval/datasets.py", "eval/calibration.py")
#: A metric by its name: an NME of any kind (nme, nme68, io_nme, nme_2d, ...).
METRIC_NAME = re.compile(r"(^|_)nme(\d+|_2d|_3d)?$")


def public_functions(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), str(path))
    return {n.name for n in tree.body if isinstance(n, ast.FunctionDef) and not n.name.startswith("_")}


def test_benchmarks_define_no_metric_or_dataset_loader_of_their_own():
    """benchmarks/ scores with denseface.metrics and reads benchmark data with
    denseface.eval.datasets / eval.calibration: no script defines a function of theirs again (by
    name) or a metric of its own (an NME)."""
    package = set().union(*(public_functions(PACKAGE / m) for m in METRIC_AND_LOADER_MODULES))
    own = []
    for path in sorted(BENCHMARKS.glob("*.py")):
        if path.name in PEER_ENV_SCRIPTS:
            continue
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.FunctionDef) and (node.name in package or METRIC_NAME.search(node.name)):
                own.append(f"benchmarks/{path.name}:{node.lineno} {node.name}")
    assert not own, "benchmarks defining their own metric or loader (use the package's):\n" + "\n".join(own)


MAX_MODULE_LINES, MAX_FUNCTION_LINES = 450, 80


def test_modules_and_functions_stay_small():
    """No module over 450 lines, no function over 80 (issue 22)."""
    big = []
    for path in sorted(PACKAGE.rglob("*.py")):
        src = path.read_text()
        rel = path.relative_to(PACKAGE.parent)
        if len(src.splitlines()) > MAX_MODULE_LINES:
            big.append(f"{rel}: {len(src.splitlines())} lines")
        for node in ast.walk(ast.parse(src, str(path))):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                n = node.end_lineno - node.lineno + 1
                if n > MAX_FUNCTION_LINES:
                    big.append(f"{rel}:{node.lineno} {node.name}: {n} lines")
    assert not big, "too big:\n" + "\n".join(big)
