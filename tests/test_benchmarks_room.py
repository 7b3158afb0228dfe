"""benchmarks/ calls the installed package (issue 33 part 3): no script puts the checkout on
sys.path to import denseface, and none imports another script for what the package provides
(the measuring machine, result files, speed photos: denseface.eval.report / eval.calibration)."""
from __future__ import annotations

import re
from pathlib import Path

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"
#: Scripts that still change sys.path, and why (a new script is not listed: the package is
#: installed, ``pip install -e .``, and a script run as ``python benchmarks/x.py`` finds its
#: siblings already, its own folder being sys.path[0]).
ROOT_ON_PATH = {
    "bench_web.py": "imports its sibling scripts as benchmarks.bench_video / benchmarks.qualitative",
}
#: Scripts that still take machine() from compare_detectors (not yet moved).
SIBLING_HELPERS: dict[str, str] = {}
ROOT_INSERT = re.compile(r"sys\.path\.(insert|append)\(")


def test_benchmarks_do_not_put_the_checkout_on_sys_path():
    found = sorted(p.name for p in BENCHMARKS.glob("*.py") if ROOT_INSERT.search(p.read_text()))
    assert set(found) <= set(ROOT_ON_PATH), f"put the checkout on sys.path: {set(found) - set(ROOT_ON_PATH)}"


def test_the_package_helpers_are_not_taken_from_a_sibling_script():
    shared = re.compile(r"from (benchmarks\.)?compare_detectors import .*\b(machine|write_json|speed_images)\b")
    taking = sorted(p.name for p in BENCHMARKS.glob("*.py")
                    if p.name not in SIBLING_HELPERS and shared.search(p.read_text()))
    assert not taking, f"import machine / write_json / speed photos from denseface.eval: {taking}"
