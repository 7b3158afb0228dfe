"""Cost table (the paper's Table 3): parameters, MACs and CPU latency per face.

MACs come from ``torch.utils.flop_counter`` (it counts FLOPs of convolutions and matrix
products, 2 per multiply-add; MACs = FLOPs / 2). Latency is the wall time of one forward pass of
a batch of 1, after warm-up, for PyTorch (eager, ``torch.set_num_threads``) and ONNX Runtime
(``intra_op_num_threads``), excluding image decoding and cropping. Both the minimum and the
median over the repeats are kept: on a machine shared with other jobs the minimum is the better
estimate of the model's own cost, the median shows what contention does to it.
"""
from __future__ import annotations

import os
import platform
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import OutputError
from .published import PAPER_TABLE3

@dataclass
class CostConfig:
    backbones: tuple[str, ...] = ("3ddfa_mobilenetv1_050", "mobilenetv2_100", "resnet18")
    sizes: tuple[int, ...] = (120, 128, 256)
    threads: tuple[int, ...] = (1, 2)
    num_points: int = 520
    warmup: int = 5
    repeats: int = 30


@dataclass
class CostRow:
    backbone: str
    size: int
    params_m: float
    gmacs: float
    latency_ms: dict = field(default_factory=dict)   # {"torch/1": (min ms, median ms), ...}


def params_and_macs(model, size: int) -> tuple[int, int]:
    """(number of parameters, multiply-accumulates of one forward pass at size x size)."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    n_params = sum(p.numel() for p in model.parameters())
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        model(torch.zeros(1, 3, size, size))
    return n_params, counter.get_total_flops() // 2


def _timings_ms(fn, warmup: int, repeats: int) -> tuple[float, float]:
    """(minimum, median) wall time of ``fn()`` in milliseconds over ``repeats`` calls."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return 1000.0 * float(np.min(times)), 1000.0 * float(np.median(times))


def torch_latency_ms(model, size: int, threads: int, warmup: int, repeats: int) -> tuple[float, float]:
    """(min, median) ms of one batch-1 forward pass in PyTorch with ``threads`` threads."""
    import torch

    old = torch.get_num_threads()
    torch.set_num_threads(threads)
    x = torch.rand(1, 3, size, size) * 255
    try:
        with torch.inference_mode():
            return _timings_ms(lambda: model(x), warmup, repeats)
    finally:
        torch.set_num_threads(old)


def onnx_latency_ms(path: Path, size: int, threads: int, warmup: int, repeats: int) -> tuple[float, float]:
    """(min, median) ms of one batch-1 forward pass in ONNX Runtime with ``threads`` threads."""
    from ..models.runners import OnnxRunner

    runner = OnnxRunner(path, threads=threads)
    x = np.random.default_rng(0).uniform(0, 255, (1, size, size, 3)).astype(np.float32)
    return _timings_ms(lambda: runner.forward(x), warmup, repeats)


def measure_costs(cfg: CostConfig, progress: bool = True) -> list[CostRow]:
    from tqdm import tqdm

    from ..export.onnx import export_onnx
    from ..models import create_model

    rows = []
    jobs = [(b, s) for b in cfg.backbones for s in cfg.sizes]
    with tempfile.TemporaryDirectory() as tmp:
        for backbone, size in tqdm(jobs, desc="cost", disable=not progress):
            model = create_model(backbone, num_points=cfg.num_points, input_size=size).eval()
            n_params, macs = params_and_macs(model, size)
            row = CostRow(backbone, size, n_params / 1e6, macs / 1e9)
            onnx_path = export_onnx(model, Path(tmp) / f"{backbone}_{size}.onnx")
            for t in cfg.threads:
                row.latency_ms[f"torch/{t}"] = torch_latency_ms(model, size, t, cfg.warmup, cfg.repeats)
                row.latency_ms[f"onnxruntime/{t}"] = onnx_latency_ms(onnx_path, size, t, cfg.warmup,
                                                                     cfg.repeats)
            rows.append(row)
    return rows


def machine_note() -> str:
    cpu = platform.processor() or "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg()) if hasattr(os, "getloadavg") else "n/a"
    import onnxruntime
    import torch
    return (f"{cpu}, {os.cpu_count()} logical cores; torch {torch.__version__}, onnxruntime "
            f"{onnxruntime.__version__}; load average at the end of the run: {load}")


def cost_markdown(rows: list[CostRow], cfg: CostConfig, note: str = "") -> str:
    keys = [f"{b}/{t}" for b in ("torch", "onnxruntime") for t in cfg.threads]
    head = " | ".join(f"{k.split('/')[0].replace('onnxruntime', 'ORT')} {k.split('/')[1]}T" for k in keys)
    lines = [
        "# Cost table (paper Table 3)", "",
        f"Models: `create_model(backbone, num_points={cfg.num_points}, input_size=S)` (a timm "
        f"backbone or 3DDFA-V2's MobileNetV1-0.5 with a {cfg.num_points}x3 regression head). MACs from torch.utils.flop_counter "
        "(MACs = FLOPs / 2). Latency per face in ms, **min / median** of "
        f"{cfg.repeats} forward passes of one face (batch 1) after {cfg.warmup} warm-up passes, "
        "on the CPU, without decoding or cropping; nT = n threads. On a shared CPU the minimum "
        "estimates the model's own cost, the median includes waiting for other jobs.", "",
        f"| backbone | input px | params (M) | GMACs | {head} |",
        "|---|---|---|---|" + "---|" * len(keys),
    ]
    for r in rows:
        lat = " | ".join(f"{r.latency_ms[k][0]:.1f} / {r.latency_ms[k][1]:.1f}" for k in keys)
        lines.append(f"| {r.backbone} | {r.size} | {r.params_m:.2f} | {r.gmacs:.3f} | {lat} |")
    lines += ["", "Paper (Table 3, 256 px) beside ours:", "",
              "| backbone | paper params (M) | ours | paper \"gMac\" | paper \"gFlop\" | our GMACs | our GFLOPs |",
              "|---|---|---|---|---|---|---|"]
    ours = {(r.backbone, r.size): r for r in rows}
    for b, size, p, m, f in PAPER_TABLE3:
        r = ours.get((b, size))
        mine = (f"{r.params_m:.2f} | {m:.2f} | {f:.2f} | {r.gmacs:.3f} | {2 * r.gmacs:.3f}" if r
                else f"– | {m:.2f} | {f:.2f} | – | –")
        lines.append(f"| {b} | {p:.2f} | {mine} |")
    lines += ["", "In both paper rows \"gFlop\" is half of \"gMac\", which cannot hold (one "
              "multiply-accumulate is two FLOPs), so at least one of its cost columns is mislabelled; "
              "the numbers above are ours, measured as stated.", ""]
    if note:
        lines += [note, ""]
    return "\n".join(lines)


def write_cost_table(out_md: str | Path, cfg: CostConfig | None = None, progress: bool = True) -> Path:
    """Measure and write the markdown table; returns its path."""
    cfg = cfg or CostConfig()
    rows = measure_costs(cfg, progress)
    note = ("Machine: " + machine_note() + " (the load average is measured when the table is "
            "written; on a loaded machine the latencies are upper bounds, and 2-thread numbers "
            "suffer most).")
    out = Path(out_md)
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(cost_markdown(rows, cfg, note))
    except OSError as e:
        raise OutputError(f"cannot write the table ({e.strerror})", path=out) from None
    return out
