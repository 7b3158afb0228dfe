"""The peers benchmark's scoring and the sections of docs/peers.md (benchmarks/peers.py runs
denseface, MediaPipe Face Mesh and dlib side by side and saves benchmarks/results/peers_*.json;
``--report-only`` renders docs/peers.md from them again)."""
from __future__ import annotations

import json
import subprocess
from pathlib import Path

import numpy as np

from ..metrics import balanced_mean, bin_means, interocular, nme_2d, point_errors

#: Faces a peer's worker reports per photo at most.
MAX_FACES = 4
#: 300-W parts (0-based iBUG indices).
PARTS = {"jaw": (0, 17), "brows": (17, 27), "nose": (27, 36), "eyes": (36, 48), "mouth": (48, 68)}


class Peer:
    """One peer's worker script (benchmarks/peer_<name>.py), run with its venv's python in a
    subprocess, so that the peer never becomes a dependency of denseface; its files go to
    workdir. ``problem`` says why a peer cannot run (``ok`` is then False)."""

    def __init__(self, name: str, python: str, worker: Path, workdir: Path):
        self.name, self.python, self.worker, self.workdir = name, python, worker, workdir
        self.info: dict | None = None
        self.problem = ""
        if not Path(python).is_file():
            self.problem = f"no python at {python} (run: bash benchmarks/peers_env.sh {name})"
            return
        r = subprocess.run([python, str(worker), "info"], capture_output=True, text=True)
        if r.returncode != 0:
            last = (r.stderr.strip().splitlines() or ["failed"])[-1]
            self.problem = f"{python} cannot run its worker: {last}"
            return
        self.info = json.loads(r.stdout)

    @property
    def ok(self) -> bool:
        return self.info is not None

    def _run(self, args: list[str]) -> None:
        log = self.workdir / f"{self.name}.log"
        with open(log, "a") as f:
            r = subprocess.run([self.python, str(self.worker), *args], stdout=f, stderr=f)
        if r.returncode != 0:
            raise RuntimeError(f"{self.name} worker failed (exit {r.returncode}); see {log}")

    def _list(self, paths: list[Path], tag: str) -> Path:
        lst = self.workdir / f"{self.name}_{tag}.txt"
        lst.write_text("\n".join(str(p) for p in paths) + "\n")
        return lst

    def predict(self, paths: list[Path], tag: str, regions: np.ndarray | None = None) -> dict:
        """Worker ``predict``: regions are ROIs (MediaPipe, (N, 5)) or boxes (dlib, (N, 4))."""
        out = self.workdir / f"{self.name}_{tag}.npz"
        args = ["predict", "--images", str(self._list(paths, tag)), "--out", str(out),
                "--max-faces", str(MAX_FACES)]
        if regions is not None:
            reg = self.workdir / f"{self.name}_{tag}_regions.npy"
            np.save(reg, regions)
            args += ["--rois" if self.name == "mediapipe" else "--boxes", str(reg)]
        self._run(args)
        with np.load(out) as z:
            return {k: z[k] for k in z.files}

    def video(self, paths: list[Path], tag: str) -> dict:
        """Worker ``video`` (MediaPipe only): each video tracked in the peer's video mode."""
        out = self.workdir / f"{self.name}_{tag}.npz"
        self._run(["video", "--videos", str(self._list(paths, tag)), "--out", str(out)])
        with np.load(out) as z:
            r = {k: z[k] for k in z.files}
        return {**r, "meta": json.loads(str(r["meta"]))}

    def time(self, paths: list[Path], tag: str, repeats: int, warmup: int) -> dict:
        out = self.workdir / f"{self.name}_{tag}.json"
        self._run(["time", "--images", str(self._list(paths, tag)), "--out", str(out),
                   "--repeats", str(repeats), "--warmup", str(warmup), "--max-faces", "1"])
        return json.loads(out.read_text())


def pick_face(faces68: list[np.ndarray], gt68: np.ndarray) -> int | None:
    """The face whose 68 points' box centre lies inside the ground truth's 68-point box, the
    nearest to its centre; None if there is none."""
    lo, hi = gt68[:, :2].min(0), gt68[:, :2].max(0)
    best, best_d = None, np.inf
    for k, f in enumerate(faces68):
        if not np.isfinite(f[:, :2]).all():
            continue
        c = 0.5 * (f[:, :2].min(0) + f[:, :2].max(0))
        if np.all(c >= lo) and np.all(c <= hi):
            d = float(np.linalg.norm(c - 0.5 * (lo + hi)))
            if d < best_d:
                best, best_d = k, d
    return best


def matched(points68: np.ndarray, found: np.ndarray, gts: list[np.ndarray]) -> np.ndarray:
    """(N, K, 68, 3) worker output -> (N, 68, 3) of the matched face, NaN when none."""
    out = np.full((len(gts), 68, 3), np.nan)
    for i, gt in enumerate(gts):
        faces = [points68[i, k] for k in range(points68.shape[1]) if found[i, k]]
        k = pick_face(faces, gt)
        if k is not None:
            out[i] = faces[k]
    return out


def square(roi_or_box: np.ndarray) -> np.ndarray:
    """[cx, cy, w, h(, rot)] -> the axis-aligned square box [x0, y0, x1, y1] of side w."""
    cx, cy, w = roi_or_box[:3]
    return np.array([cx - w / 2, cy - w / 2, cx + w / 2, cy + w / 2])


def aflw_summary(pred: np.ndarray, data) -> dict:
    """One method's AFLW2000-3D figures: faces found and 68-point NME per yaw bin (pred (N, 68, >=2)
    image pixels, NaN where not found; data an eval.datasets.Aflw2000)."""
    found = np.isfinite(pred).all((1, 2)) if pred.shape[-1] == 2 else np.isfinite(pred[..., :2]).all((1, 2))
    nme = np.where(found, nme_2d(np.nan_to_num(pred[..., :2]), data.pts68), np.nan)
    bins = data.bins
    nb = bin_means(nme, bins)
    return {"found_pct": [100.0 * float(found[bins == b].mean()) for b in range(3)],
            "found_all_pct": 100.0 * float(found.mean()), "nme_bins": nb,
            "nme_balanced": balanced_mean(nb), "nme": nme, "found": found}


def w300_summary(pred: np.ndarray, gt: np.ndarray, afw: np.ndarray) -> dict:
    """One method's 300-W figures on AFW and on all faces: found, inter-ocular NME, per part (pred
    and gt (N, 68, 2) image pixels, pred NaN where not found)."""
    found = np.isfinite(pred[..., :2]).all((1, 2))
    err = point_errors(np.nan_to_num(pred), gt, interocular(gt))   # (N, 68) % of the eye corners' distance
    out = {}
    for subset, sel in (("afw", afw), ("all", np.ones_like(afw))):
        s = sel & found
        row = {"faces": int(sel.sum()), "found": int(s.sum()), "found_pct": 100.0 * float(s.sum()) / max(1, int(sel.sum())),
               "nme": float(err[s].mean()) if s.any() else None}
        for part, (a, b) in PARTS.items():
            row[f"nme_{part}"] = float(err[s, a:b].mean()) if s.any() else None
        out[subset] = row
    return out


def fmt(v, nd: int = 2) -> str:
    """A figure with nd decimals, or a dash (None, NaN)."""
    return "–" if v is None or (isinstance(v, float) and not np.isfinite(v)) else f"{v:.{nd}f}"


METHOD_NAMES = {"denseface": "denseface (default model)", "mediapipe": "MediaPipe Face Mesh 0.10.21",
                "dlib": "dlib 68-point shape predictor"}
MODE_NAMES = {"own": "own detector", "gt": "ground-truth box"}
DETECTOR = {"denseface": "libfacedetection (default chain)", "mediapipe": "BlazeFace short-range",
            "dlib": "HOG + linear SVM, upsampled once"}


def aflw2000_section(d: dict) -> list[str]:
    """The AFLW2000-3D section of docs/peers.md from peers_aflw2000.json."""
    parts = ["## AFLW2000-3D by yaw (the test set: reported only)", "",
             f"{d['n_images']} images ({' / '.join(str(c) for c in d['bin_counts'])} in the bins "
             f"{' / '.join(d['bin_names'])}); NME (%) of the 68 points, 2D, normalised by sqrt(w·h) of "
             "the ground-truth box (the protocol of `denseface eval aflw2000`), on the faces each method "
             "found; *common* = on the faces that every method of that mode found.", "",
             "| method | boxes | found 0–30 / 30–60 / 60–90 | NME 0–30 / 30–60 / 60–90 | balanced | balanced, common faces |",
             "|---|---|---|---|---|---|"]
    for k, r in d["rows"].items():
        m, mode = k.split("|")
        parts.append(f"| {METHOD_NAMES[m]} | {MODE_NAMES[mode]}"
                     + (f" ({DETECTOR[m]})" if mode == "own" else "") + " | "
                     + " / ".join(fmt(v, 1) for v in r["found_pct"]) + " % | "
                     + " / ".join(fmt(v) for v in r["nme_bins"]) + f" | {fmt(r['nme_balanced'])} | "
                     + f"{fmt(r['nme_balanced_common'])} ({r['common_faces']} faces) |")
    maps = d.get("mappings", {})
    parts += ["", "Ground-truth box: denseface reads the 68-point box as a landmark box (its "
              "`boxes=` argument); the peers get the same box through their own convention, a "
              "median mapping fitted on the non-test calibration photos (`benchmarks/results/"
              "peers_calibration.json`): dlib's detector rectangle "
              + (f"(scale {maps['dlib']['scale']}, shift {maps['dlib']['shift_x']}, {maps['dlib']['shift_y']} x box size)" if "dlib" in maps else "")
              + " and the ROI MediaPipe derives from its own 468 points "
              + (f"(scale {maps['mediapipe']['scale']}, shift {maps['mediapipe']['shift_x']}, {maps['mediapipe']['shift_y']})" if "mediapipe" in maps else "")
              + ", rotated so the ground-truth outer eye corners lie level as MediaPipe's rule does. "
              "MediaPipe's jaw points follow its mesh's face outline, while AFLW2000-3D's 68 are 3D "
              "(the hidden side of the jaw where the 3D face is): much of its error at large yaw is there. "
              "dlib's shape predictor is sensitive to its rectangle: a mapping fitted on 2D-annotated "
              "photos, applied to the box of AFLW2000-3D's 3D-fitted points, gives it rectangles that its "
              "own detector would not (median IoU with them about 0.7), hence its higher error with the "
              "ground-truth box than with its own detector on the faces that detector finds; denseface "
              "was trained on crops of exactly this convention (3DDFA's), which favours it in that mode."]
    parts += [f"- {n}: not measured (its venv is missing: `bash benchmarks/peers_env.sh {n}`)." for n in d.get("missing", [])]
    parts.append("")
    return parts


def w300_section(d: dict) -> list[str]:
    """The 300-W section of docs/peers.md from peers_w300.json."""
    parts = ["## 300-W faces (AFW and HELEN), human 68 points", "",
             f"{d['faces']} faces of `shared/data/w300_afw_helen` ({d['afw_faces']} AFW); crops 2x the "
             "face box. NME (%) normalised by the inter-ocular distance (outer eye corners, points 36 "
             "and 45, the 300-W convention), on the faces each method found. dlib's shape predictor "
             "was trained on 300-W, these images included: its rows are not a fair comparison.", "",
             "| method | found AFW / all | NME AFW | NME all | jaw | brows | nose | eyes | mouth (all faces) |",
             "|---|---|---|---|---|---|---|---|---|"]
    for k, r in d["rows"].items():
        a_, al = r["afw"], r["all"]
        parts.append(f"| {r['label']} | {fmt(a_['found_pct'], 1)} / {fmt(al['found_pct'], 1)} % | "
                     f"{fmt(a_['nme'])} | {fmt(al['nme'])} | " + " | ".join(fmt(al[f'nme_{p}']) for p in PARTS) + " |")
    parts += ["", "Per-image MediaPipe predictions and found flags: `benchmarks/results/peers_w300.npz`.", ""]
    return parts


def time_section(d: dict) -> list[str]:
    """The timing section of docs/peers.md from peers_time.json."""
    parts = ["## Time per face, one core, taking turns", "",
             f"{d['photos']} photos ({d['photo_source']}); each method on one CPU core (ONNX Runtime "
             "and OpenCV 1 thread; the peers' workers pinned to the same core), "
             f"{d['rounds']} rounds in rotating order, {d['repeats']} repeats per photo; ms are "
             "medians over photos, then over rounds; ratios are to denseface in the same round "
             f"(machine: {d['machine']['cpus']} cores shared with a training job, load "
             f"{d['machine']['load_average']} at the start, {d['machine']['date']}). denseface: "
             f"passes {d['denseface_config']['passes']}, tta {d['denseface_config']['tta']}.", "",
             "| method | detector ms / photo | landmarks ms / face | end-to-end ms / photo | × denseface (end-to-end) | × denseface (landmarks) | end-to-end CPU ms |",
             "|---|---|---|---|---|---|---|"]
    for m, s in d["summary"].items():
        parts.append(f"| {METHOD_NAMES[m]} | {fmt(s['detect_ms'])} | {fmt(s['landmarks_ms'])} | "
                     f"{fmt(s['end_to_end_ms'])} | {fmt(s['end_to_end_ms_ratio'])} | {fmt(s['landmarks_ms_ratio'])} | "
                     f"{fmt(s['end_to_end_cpu_ms'])} |")
    dn = d["summary"].get("denseface", {})
    parts += ["", "Landmarks per face: what runs once the face is located — denseface: crop, network "
              f"and decode over all its passes (its network alone: {fmt(dn.get('network_ms'))} ms per face); "
              "MediaPipe: its landmark subgraph on the ROI (crop, face_landmark.tflite, decode); dlib: "
              "the shape predictor. End-to-end: decoded RGB image in, 68 (or 468/520) points out.", ""]
    return parts
