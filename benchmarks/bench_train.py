"""CPU training throughput (img/s) per backbone and input size, and the data loader's beside it.

    python benchmarks/bench_train.py [--steps 8] [--out docs/benchmarks_train.md]

Model: forward + backward + AdamW step at batch 64 on random crops (the loss is the hybrid
loss). Loader: LandmarkDataset with full augmentation on aflw_pl val crops, batch 64,
with 0 and 1 worker processes. bf16: torch.autocast on the CPU.
"""
from __future__ import annotations

import argparse
import os
import platform
import time
from pathlib import Path

import numpy as np
import torch


def model_throughput(backbone: str, size: int, steps: int, amp: bool, batch: int = 64) -> float:
    from denseface.landmarks import load_landmark_set
    from denseface.losses import LossConfig, build_loss
    from denseface.models import create_model

    s = load_landmark_set()
    m = create_model(backbone, s.n_points, size).train()
    loss_fn = build_loss(LossConfig(), s.idx68)
    opt = torch.optim.AdamW(m.parameters(), 1e-3)
    x = torch.rand(batch, 3, size, size) * 255
    y = torch.rand(batch, s.n_points, 3) - 0.5
    times = []
    for i in range(steps + 2):
        t0 = time.perf_counter()
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=amp):
            p = m(x)
        loss = loss_fn(p.float(), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        if i >= 2:
            times.append(time.perf_counter() - t0)
    return batch / float(np.median(times))


def loader_throughput(size: int, workers: int, batches: int = 30, batch: int = 64) -> float:
    from denseface.data.augment import AugmentConfig
    from denseface.data.dataset import LandmarkDataset, load_split
    from denseface.landmarks import load_landmark_set
    from denseface.mesh import load_bfm
    from denseface.paths import shared_path

    s = load_landmark_set()
    split = load_split(shared_path("data", "aflw_pl", "val"), load_bfm(), s)
    ds = LandmarkDataset(split, s, size, AugmentConfig(), flip_double=True)
    dl = torch.utils.data.DataLoader(ds, batch_size=batch, shuffle=True, num_workers=workers,
                                     drop_last=True)
    it = iter(dl)
    next(it)
    t0 = time.perf_counter()
    n = 0
    for _ in range(batches):
        next(it)
        n += batch
    return n / (time.perf_counter() - t0)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--steps", type=int, default=8)
    ap.add_argument("--out", default="docs/benchmarks_train.md")
    args = ap.parse_args()
    rows = []
    for backbone in ("mobilenetv2_100", "resnet18"):
        for size in (120, 256):
            fp32 = model_throughput(backbone, size, args.steps, amp=False)
            bf16 = model_throughput(backbone, size, args.steps, amp=True)
            rows.append((backbone, size, fp32, bf16))
            print(rows[-1], flush=True)
    loader = {(size, w): loader_throughput(size, w) for size in (120, 256) for w in (0, 1)}
    print(loader)
    lines = [
        "# Training throughput on the CPU",
        "",
        f"Machine: {platform.processor() or platform.machine()}, {torch.get_num_threads()} torch threads, "
        f"torch {torch.__version__}, load average {os.getloadavg()[0]:.1f} at the end. Batch 64, "
        f"forward + backward + AdamW step, median of {args.steps} steps. Written by "
        "`python benchmarks/bench_train.py`.",
        "",
        "| backbone | input | fp32 img/s | bf16 autocast img/s |",
        "|---|---|---|---|",
        *[f"| {b} | {s} | {f:.1f} | {h:.1f} |" for b, s, f, h in rows],
        "",
        "Data loader (aflw_pl crops decoded in memory, full augmentation, flips doubled), img/s:",
        "",
        "| input | 0 workers (in the training process) | 1 worker |",
        "|---|---|---|",
        *[f"| {s} | {loader[(s, 0)]:.0f} | {loader[(s, 1)]:.0f} |" for s in (120, 256)],
        "",
        "The loader must run at least 3x the model's training throughput; the ratio below is "
        "loader (0 workers) over the fastest model row at the same size.",
        "",
        *[f"- {s} px: {loader[(s, 0)] / max(r[2], r[3]):.0f}x ({r[0]})" for s in (120, 256)
          for r in rows if r[1] == s and r[0] == "mobilenetv2_100"],
        "",
        "bf16 autocast helps on this CPU (avx512_bf16), most at 256 px, so the CPU configs use "
        "`amp: bf16`; on CUDA `amp: auto` picks bf16.",
        "",
    ]
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text("\n".join(lines))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
