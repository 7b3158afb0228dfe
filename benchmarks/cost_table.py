"""Write docs/eval/cost_table.md: parameters, MACs and CPU latency (batch 1; PyTorch and ONNX
Runtime; 1 and 2 threads) of mobilenetv2_100 and resnet18 at 120/128/256 px (paper Table 3).

    python benchmarks/cost_table.py [--out docs/eval/cost_table.md] [--repeats 30]

Same as ``denseface eval cost``. Takes a few minutes on 2 cores.
"""
from __future__ import annotations

import argparse
from pathlib import Path

from denseface.eval.cost import CostConfig, write_cost_table

ROOT = Path(__file__).resolve().parent.parent


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=str(ROOT / "docs" / "eval" / "cost_table.md"))
    ap.add_argument("--repeats", type=int, default=30)
    args = ap.parse_args()
    out = write_cost_table(args.out, CostConfig(repeats=args.repeats))
    print(out.read_text())


if __name__ == "__main__":
    main()
