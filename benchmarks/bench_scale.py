"""Throughput of many-image prediction: 1 process, a process pool, Ray Data (docs/scale.md).

    python benchmarks/bench_scale.py                   # 1000 AFLW2000-3D images, all setups
    python benchmarks/bench_scale.py --images 100      # a quick check
    python benchmarks/bench_scale.py --no-ray --no-doc # ... without Ray, only printed

The first N AFLW2000-3D images (``load_aflw2000(limit=N)``: evenly spaced over the 2000) are
predicted twice over, with ground-truth boxes (each image's 68-point box, min/max of pts68,
given as a user box, which denseface reads as a landmark box: no detector) and with the default
detector, by:

1. ``1 process``: ``run_batch`` in one process, ONNX Runtime and detector on 1 thread;
2. ``--workers W``: the process pool (W processes, 1 thread each), as ``denseface predict
   --workers W`` runs it;
3. ``Ray, W CPUs``: a local Ray instance (``ray.init(num_cpus=W)``), ``from_items`` of the paths
   (and boxes) -> ``map_batches(DenseFaceBatchPredictor)`` on W actors -> ``write_parquet``.

The local setups write the per-image JSON files (the CLI's default); Ray writes Parquet. Each
setup runs in a fresh subprocess (so memory is its own). Measured: wall time end to end (worker
start and model loading included: the pool's and Ray's actors start inside it), images/s end to
end, and the steady rate (images per second over the last 90% of the images, i.e. without the
start-up; results arrive by chunks; for Ray the sum of each actor's rate after its first batch
of 16); speed-up against 1 process and what each added core brings, (speed-up - 1) / (W - 1);
peak resident memory (VmHWM) of each process that predicts: the 1 process, each pool worker
(its own getrusage), each Ray actor (polled from /proc). The machine's load average is
reported with the numbers: throughput scaling can only be judged on a quiet machine.
Results: benchmarks/results/scale.json and the marked section of docs/scale.md.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]

DOC = ROOT / "docs" / "scale.md"
RESULTS = ROOT / "benchmarks" / "results" / "scale.json"


def aflw_inputs(n: int):
    """(paths, {path: [68-point box]}) of n AFLW2000-3D images."""
    from denseface.eval.datasets import load_aflw2000
    from denseface.paths import shared_root

    shared = shared_root()
    if shared is None:
        sys.exit("bench_scale: no shared data folder (../shared or $DENSEFACE_SHARED)")
    data = load_aflw2000(shared / "data" / "aflw2000_3d", shared / "data" / "3ddfa_test_configs",
                         limit=n)
    paths = [str(p) for p in data.image_paths]
    boxes = {p: [[float(v) for v in (*pts[:, :2].min(0), *pts[:, :2].max(0))]]
             for p, pts in zip(paths, data.pts68)}
    return paths, boxes


class RssPoller:
    """Peak resident memory (VmHWM, bytes) of processes, polled from /proc every 0.2 s:
    ``match(pid, cmdline)`` picks them."""

    def __init__(self, match):
        self.match, self.peak, self._stop = match, {}, threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()

    def _run(self):
        while True:
            self.poll()
            if self._stop.wait(0.2):
                self.poll()
                return

    def poll(self):
        for d in Path("/proc").iterdir():
            if not d.name.isdigit():
                continue
            try:
                cmd = (d / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
                if not self.match(int(d.name), cmd):
                    continue
                for line in (d / "status").read_text().splitlines():
                    if line.startswith("VmHWM:"):
                        kb = int(line.split()[1])
                        self.peak[int(d.name)] = max(self.peak.get(int(d.name), 0), kb * 1024)
            except (OSError, ValueError):
                continue


def run_local(paths, boxes, workers: int) -> dict:
    """1 process (workers=1) or the pool: run_batch writing the per-image JSON files."""
    from denseface.infer.api import ModelSpec
    from denseface.infer.batch import BatchOptions, run_batch

    spec = ModelSpec(threads=1)
    model = spec.build()
    if boxes is None:
        _ = model.detector
    stamps: list[float] = []
    with tempfile.TemporaryDirectory() as out:
        options = BatchOptions(out_dir=Path(out), progress=False, workers=workers, boxes_for=boxes)
        t0 = time.perf_counter()
        summary = run_batch(model, paths, options, log=lambda line: None, spec=spec,
                            on_result=lambda n: stamps.extend([time.perf_counter()] * n))
        wall = time.perf_counter() - t0
    if workers == 1:
        peaks = [_own_peak_rss()]
    else:
        peaks = sorted(summary.worker_peak_rss.values())
    steady = steady_rate(stamps)
    return {"wall_s": wall, "done": summary.done, "failed": len(summary.failed),
            "faces": summary.faces, "first_result_s": stamps[0] - t0 if stamps else None,
            "steady_images_per_s": steady, "peak_rss_bytes": peaks}


def run_ray(paths, boxes, cpus: int) -> dict:
    """A local Ray instance with ``cpus`` CPUs: from_items -> map_batches -> write_parquet.
    Each batch's rows get the time it was done (``t_done``), for the steady rate."""
    from denseface.infer.ray_data import DenseFaceBatchPredictor, require_ray

    ray = require_ray()

    class TimedPredictor(DenseFaceBatchPredictor):
        def __call__(self, batch):
            import pyarrow as pa

            table = super().__call__(batch)
            n = table.num_rows
            table = table.append_column("t_done", pa.array([time.time()] * n, pa.float64()))
            return table.append_column("pid", pa.array([os.getpid()] * n, pa.int64()))

    ray.init(num_cpus=cpus, include_dashboard=False, log_to_driver=False)
    try:
        items = [{"path": p, **({"boxes": boxes[p]} if boxes else {})} for p in paths]
        me = os.getpid()
        with tempfile.TemporaryDirectory() as out, RssPoller(
                lambda pid, cmd: pid != me and "MapBatches(" in cmd) as poller:
            t0, t0_clock = time.perf_counter(), time.time()
            ds = ray.data.from_items(items).map_batches(
                TimedPredictor, fn_constructor_kwargs={"threads": 1},
                compute=ray.data.ActorPoolStrategy(size=cpus), num_cpus=1, batch_size=16)
            ds.write_parquet(out)
            wall = time.perf_counter() - t0
            import pyarrow.dataset as pads

            table = pads.dataset(out).to_table(columns=["error", "faces", "t_done", "pid"])
        import pyarrow.compute as pc

        stamps, pids = table.column("t_done").to_numpy(), table.column("pid").to_numpy()
        first = stamps.min()
        # each actor's rate after its first batch, summed (batches of 16 are coarse stamps)
        rates = [actor_rate(stamps[pids == pid]) for pid in np.unique(pids)]
        steady = sum(r for r in rates if r) or None
        keys, counts = np.unique(np.stack([pids, stamps], 1), axis=0, return_counts=True)
        batches = [(int(q), round(float(t - t0_clock), 3), int(c)) for (q, t), c in zip(keys, counts)]

        errors = int(pc.sum(pc.is_valid(table.column("error"))).as_py() or 0)
        faces = int(pc.sum(pc.fill_null(pc.list_value_length(table.column("faces")), 0)).as_py() or 0)
        return {"wall_s": wall, "done": table.num_rows - errors, "failed": errors, "faces": faces,
                "first_result_s": float(first - t0_clock), "steady_images_per_s": steady,
                "batches": batches,        # (actor pid, seconds from the start, rows)
                "peak_rss_bytes": sorted(poller.peak.values())}
    finally:
        ray.shutdown()


def steady_rate(stamps: list[float], skip: float = 0.1) -> float | None:
    """Images per second after the first ``skip`` of them (the start-up is over by then):
    completions in (t_skip, t_last] over that time. ``stamps``: each image's completion time."""
    stamps = sorted(stamps)
    k = max(1, int(np.ceil(skip * len(stamps))))
    t0 = stamps[k - 1]
    later = [t for t in stamps if t > t0]
    return len(later) / (stamps[-1] - t0) if later else None


def actor_rate(stamps) -> float | None:
    """Rows per second of one actor after its first batch (rows stamped by batch)."""
    stamps = np.sort(np.asarray(stamps))
    later = stamps[stamps > stamps[0]]
    return len(later) / (later[-1] - stamps[0]) if len(later) else None


def _own_peak_rss() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def one(args) -> None:
    """Subprocess: one setup, its result as JSON on stdout."""
    paths, boxes = aflw_inputs(args.images)
    boxes = boxes if args.boxes == "gt" else None
    if args.setup == "ray":
        res = run_ray(paths, boxes, args.workers)
    else:
        res = run_local(paths, boxes, 1 if args.setup == "single" else args.workers)
    print("RESULT " + json.dumps(res))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--images", type=int, default=1000, help="AFLW2000-3D images (default 1000)")
    ap.add_argument("--workers", type=int, default=2, help="pool processes and Ray CPUs (default 2)")
    ap.add_argument("--no-ray", action="store_true", help="skip the Ray setup")
    ap.add_argument("--no-doc", action="store_true",
                    help="only print: do not rewrite docs/scale.md and benchmarks/results/scale.json")
    ap.add_argument("--boxes", choices=("gt", "detector", "both"), default="both")
    ap.add_argument("--setup", choices=("single", "pool", "ray"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.setup:
        return one(args)

    load_start = os.getloadavg()
    started = time.strftime("%Y-%m-%d %H:%M")
    no_ray = args.no_ray
    if not no_ray:
        from denseface.errors import DenseFaceError
        from denseface.infer.ray_data import require_ray

        try:
            require_ray()
        except DenseFaceError as e:
            print(f"bench_scale: {e}; the Ray setup is skipped", file=sys.stderr)
            no_ray = True
    setups = ["single", "pool"] + ([] if no_ray else ["ray"])
    results = []
    for boxes in (("gt", "detector") if args.boxes == "both" else (args.boxes,)):
        for setup in setups:
            cmd = [sys.executable, __file__, "--setup", setup, "--boxes", boxes,
                   "--images", str(args.images), "--workers", str(args.workers)]
            proc = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
            line = next((ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")), None)
            if line is None:
                sys.exit(f"bench_scale: {setup}/{boxes} failed:\n{proc.stderr[-3000:]}")
            res = {"setup": setup, "boxes": boxes, **json.loads(line[7:])}
            res["images_per_s"] = args.images / res["wall_s"]
            results.append(res)
            print(f"{boxes:8s} {setup:6s} {res['wall_s']:7.2f} s  {res['images_per_s']:6.1f} img/s  "
                  f"steady {res['steady_images_per_s'] or float('nan'):6.1f}  peak MB "
                  f"{[round(b / 2**20) for b in res['peak_rss_bytes']]}", flush=True)
    meta = {"images": args.images, "workers": args.workers, "cpus": os.cpu_count(),
            "started": started, "load_start": load_start, "load_end": os.getloadavg(),
            "model": _model_name()}
    text = report(meta, results)
    print(text)
    if not args.no_doc:
        RESULTS.parent.mkdir(parents=True, exist_ok=True)
        RESULTS.write_text(json.dumps({"meta": meta, "results": results}, indent=1) + "\n")
        from denseface.eval.report import write_doc_section

        write_doc_section(DOC, "scale", text)


def _model_name() -> str:
    from denseface.models.registry import resolve_model_path

    return resolve_model_path(None).name


def report(meta: dict, results: list[dict]) -> str:
    w = meta["workers"]
    names = {"single": "1 process", "pool": f"`--workers {w}`", "ray": f"Ray, {w} CPUs ({w} actors)"}
    la0, la1 = meta["load_start"], meta["load_end"]
    out = [f"Model `{meta['model']}`; {meta['images']} AFLW2000-3D images (450 x 450 jpg); "
           f"{meta['cpus']} CPU cores; 1-minute load average {la0[0]:.1f} at the start and "
           f"{la1[0]:.1f} at the end ({meta['started']}). Every process runs ONNX Runtime and the "
           "detector on 1 thread. `python benchmarks/bench_scale.py --images "
           f"{meta['images']}`.", "",
           "| boxes | setup | wall s | images/s | images/s steady | speed-up (steady) | per added core "
           "| peak RSS per worker MB |",
           "|---|---|---|---|---|---|---|---|"]
    for boxes in dict.fromkeys(r["boxes"] for r in results):
        rows = [r for r in results if r["boxes"] == boxes]
        base = next((r for r in rows if r["setup"] == "single"), None)
        for r in rows:
            rate, steady = r["images_per_s"], r["steady_images_per_s"]
            ref = base and (base["steady_images_per_s"] if steady else base["images_per_s"])
            speed = (steady or rate) / ref if ref else None
            per_core = ("" if r["setup"] == "single" or speed is None or w < 2
                        else f"{(speed - 1) / (w - 1):.2f}")
            label = "ground truth (68-point box)" if boxes == "gt" else "default detector"
            mem = ", ".join(f"{b / 2**20:.0f}" for b in r["peak_rss_bytes"]) or "?"
            out.append(f"| {label} | {names[r['setup']]} | {r['wall_s']:.2f} | {rate:.1f} | "
                       f"{'' if steady is None else f'{steady:.1f}'} | "
                       f"{'' if speed is None else f'{speed:.2f}x' + ('' if steady else ' (end to end)')} | "
                       f"{per_core} | {mem} |")
    if la0[0] >= 1.0 or meta["images"] < 1000:
        out += ["", f"**Not a scaling measurement**: {meta['images']} images, load average "
                f"{la0[0]:.1f} at the start on {meta['cpus']} cores (other jobs took CPU time from "
                "every setup, differently from run to run). It shows the script works; judge the "
                "scaling from a 1000-image run started on a quiet machine (load below 1; the load at "
                "the end includes the benchmark's own processes)."]
    out += ["", "images/s = images / wall (start-up included); steady = images/s over the last 90% "
            "of the images (start-up excluded; Ray: the sum of each actor's rate after its first "
            "batch); speed-up against 1 process on the "
            "same measure; per added core = (speed-up - 1) / (cores - 1)."]
    return "\n".join(out)


if __name__ == "__main__":
    main()
