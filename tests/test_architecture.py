"""The package's layer order (docs/architecture.md), checked on the real import graph: every
``import`` inside denseface points to its own layer or a lower one; and the benchmarks use the
package's metrics and data readers instead of copies."""
from __future__ import annotations

import ast
import re
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "denseface"

#: Bottom to top; a module may import from its own layer and the layers below it only, and
#: inside a layer from the names before its own in the tuple, never after (so two modules of one
#: layer never use each other: paths -> errors, landmarks -> mesh, data -> refine, __main__ ->
#: cli). The pipeline stages each have a layer; every use of one stage by another is stated
#: with its reason in STAGE_USES.
LAYERS = (
    ("errors", "paths"),
    ("geometry",),
    ("io",),
    ("metrics",),
    ("mesh", "landmarks"),
    ("models", "weights"),
    ("refine", "losses", "data"),
    ("infer",),
    ("export",),
    ("train",),
    ("eval",),
    ("cli", "__main__"),
)
RANK = {name: i for i, names in enumerate(LAYERS) for name in names}
#: (layer, place in the layer) of each top module: imports go to a smaller one or the same module
ORDER = {name: (i, j) for i, names in enumerate(LAYERS) for j, name in enumerate(names)}
#: The pipeline stages, and every use of one by another with why it is right (the layers above
#: say it may never run back). A new use is a decision: state it here.
STAGES = ("infer", "export", "train", "eval")
STAGE_USES = {
    ("export", "infer"): "the web export ships inference's own settings (detector file and mapping, "
                         "tracker, eye stage) and the ONNX file stores the eye stage's config key",
    ("train", "infer"): "training crops faces exactly as DenseFace does: the 300-W head's fit "
                        "(points_map.pipeline_crop), the faces without 3D labels, the eye stage, "
                        "the uncertainty head; one crop path, not a copy",
    ("train", "export"): "the eye stage's and the uncertainty head's trainers export what they train",
    ("eval", "infer"): "every benchmark predicts through the code DenseFace runs",
    ("eval", "export"): "the cost report times the exported ONNX file, the form that ships "
                        "(cost.measure_costs), not the torch module",
    ("eval", "train"): "the loss ablation trains its models",
}


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


def package_imports() -> list[tuple[str, str, str]]:
    """(where, source top module, imported top module) of every import inside the package."""
    out = []
    for path in sorted(PACKAGE.rglob("*.py")):
        src = top_module(path)
        if src == "__init__":
            continue
        out += [(f"{path.relative_to(PACKAGE.parent)}:{line}", src, dst)
                for line, dst in imported_modules(path) if dst in RANK]
    return out


def test_imports_point_down():
    """Down the layers, and inside a layer towards the names before (issue 33: imports between
    two modules of one layer were not seen)."""
    upward = [f"{where} ({src} -> {dst})" for where, src, dst in package_imports() if ORDER[dst] > ORDER[src]]
    assert not upward, "imports pointing up the layers:\n" + "\n".join(upward)


def test_stages_use_each_other_only_as_stated():
    unstated = sorted(f"{where} ({src} -> {dst})" for where, src, dst in package_imports()
                      if src in STAGES and dst in STAGES and src != dst and (src, dst) not in STAGE_USES)
    assert not unstated, "a stage uses another without a stated reason (STAGE_USES):\n" + "\n".join(unstated)


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


MAX_MODULE_LINES, MAX_FUNCTION_LINES = 450, 60
#: Functions still over MAX_FUNCTION_LINES, by "path:name" -> their length when listed. The list
#: may only shrink: split one, then remove it here (a listed function that grew, or one that is
#: now short enough, fails the test too). Issue 33 left these in modules other work was changing.
OVER_LONG_FUNCTIONS: dict[str, int] = {}


def sizes(folder: Path = PACKAGE) -> tuple[dict[str, int], dict[str, int]]:
    """(lines of each module, lines of each function as "path:name") under folder (the package
    by default), paths relative to the checkout."""
    modules, functions = {}, {}
    for path in sorted(folder.rglob("*.py")):
        src = path.read_text()
        rel = path.relative_to(PACKAGE.parent).as_posix()
        modules[rel] = len(src.splitlines())
        for node in ast.walk(ast.parse(src, str(path))):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                key = f"{rel}:{node.name}"
                functions[key] = max(functions.get(key, 0), node.end_lineno - node.lineno + 1)
    return modules, functions


def test_modules_and_functions_stay_small():
    """No module over 450 lines, no function over 60 (issues 22 and 33), but the listed ones,
    which may not grow."""
    modules, functions = sizes()
    big = [f"{rel}: {n} lines" for rel, n in modules.items() if n > MAX_MODULE_LINES]
    big += [f"{key}: {n} lines" for key, n in functions.items()
            if n > max(MAX_FUNCTION_LINES, OVER_LONG_FUNCTIONS.get(key, 0))]
    assert not big, "too big:\n" + "\n".join(big)
    stale = [key for key, n in OVER_LONG_FUNCTIONS.items() if functions.get(key, 0) <= MAX_FUNCTION_LINES]
    assert not stale, "short enough now, remove from OVER_LONG_FUNCTIONS:\n" + "\n".join(stale)


#: benchmarks/ scripts still over the limits (issue 33 part 3), by "benchmarks/x.py" or
#: "benchmarks/x.py:function" -> their length when listed. The list may only shrink, as above:
#: move a reusable piece (scoring, tables) into denseface/eval/, then lower or remove its entry.
OVER_LONG_SCRIPTS: dict[str, int] = {}


def test_benchmark_scripts_stay_small():
    """benchmarks/ is held to the package's limits (450 lines a script, 60 a function), but the
    scripts and functions in OVER_LONG_SCRIPTS, which may not grow."""
    modules, functions = sizes(BENCHMARKS)
    lines = {**modules, **functions}
    limit = {key: MAX_MODULE_LINES if ":" not in key else MAX_FUNCTION_LINES for key in lines}
    big = [f"{key}: {n} lines" for key, n in lines.items() if n > max(limit[key], OVER_LONG_SCRIPTS.get(key, 0))]
    assert not big, "too big (move the reusable part into denseface/eval/):\n" + "\n".join(big)
    stale = [key for key, n in OVER_LONG_SCRIPTS.items() if lines.get(key, 0) <= limit.get(key, 0)
             or lines.get(key, 0) < n]
    assert not stale, "shorter now: lower or remove in OVER_LONG_SCRIPTS:\n" + "\n".join(stale)
