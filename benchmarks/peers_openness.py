"""The ``openness`` part of benchmarks/peers.py: eyes that close and mouths that open, against
human points, for denseface, MediaPipe Face Mesh and dlib on the same faces in the same run.

- Held-out 300-W faces (denseface.data.human68's fixed split: 20 % of the photos, seed 20; no
  model was trained or chosen on them): each method with its own detector on the crop, the face
  matched to the human points as in the w300 part. Per method: the inter-ocular NME of its 68
  points; the eye aspect ratio (EAR, Soukupova and Cech 2016, denseface.metrics) and the
  inner-lip opening, as Pearson r with the same quantity from the human points; the mean
  |predicted - true| EAR on near-closed eyes (human EAR < 0.2); the share of open eyes (human
  EAR >= 0.25) read open (EAR >= 0.2). denseface gives both conventions: ``landmarks68_300w``
  (the points as people annotate them) and ``landmarks68`` (the dense points' own 68).
- Held-out closed eyes of CEW (denseface.data.closed_eyes: whole blocks of photo numbers, never
  trained on): both eyes closed in every photo. Per method: faces found, and the share of them
  read closed (EAR < 0.2), and their mean EAR.

dlib's shape predictor was trained on 300-W, these images included: its 300-W rows are not a
fair comparison (CEW is new to every method).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from denseface.data.closed_eyes import closed_eye_files
from denseface.data.human68 import held_out_photos, read_labels
from denseface.metrics import eye_aspect_ratio, openness_scores
from denseface.paths import shared_path

#: Rows of the report: (method key, label).
ROWS = (("denseface_300w", "denseface `landmarks68_300w` (human convention)"),
        ("denseface_68", "denseface `landmarks68` (the dense points' 68)"),
        ("denseface_300w_no_eyes", "denseface `landmarks68_300w`, `--no-eyes` (the main network's eyes)"),
        ("denseface_68_no_eyes", "denseface `landmarks68`, `--no-eyes`"),
        ("mediapipe", "MediaPipe Face Mesh 0.10.21 (468 -> 68)"),
        ("dlib", "dlib 68-point shape predictor (trained on 300-W)"))


def _largest(faces68: list[np.ndarray]) -> int | None:
    """The face with the largest 68-point box (CEW photos hold one face each)."""
    sizes = [np.ptp(f[:, 0]) * np.ptp(f[:, 1]) if np.isfinite(f[:, :2]).all() else -1 for f in faces68]
    return int(np.argmax(sizes)) if sizes and max(sizes) > 0 else None


def _ours(paths: list[Path], pick) -> dict[str, np.ndarray]:
    """denseface's default pipeline on each photo, with and without the eye stage -> both
    conventions of the picked face."""
    from denseface import DenseFace
    out = {}
    for suffix, eyes in (("", True), ("_no_eyes", False)):
        model = DenseFace(config={"eyes": eyes})
        human, dense = (np.full((len(paths), 68, 2), np.nan) for _ in range(2))
        for i, p in enumerate(paths):
            faces = model.predict(str(p))
            k = pick(i, [f.landmarks68 for f in faces])
            if k is not None:
                dense[i] = faces[k].landmarks68[:, :2]
                if faces[k].landmarks68_300w is not None:
                    human[i] = faces[k].landmarks68_300w
        out[f"denseface_300w{suffix}"], out[f"denseface_68{suffix}"] = human, dense
    return out


def _peer_points(peer, paths: list[Path], tag: str, pick) -> np.ndarray:
    r = peer.predict(paths, tag)
    out = np.full((len(paths), 68, 2), np.nan)
    for i in range(len(paths)):
        faces = [r["points68"][i, k] for k in range(r["points68"].shape[1]) if r["found"][i, k]]
        k = pick(i, faces)
        if k is not None:
            out[i] = faces[k][:, :2]
    return out


def predictions(peers: dict, paths: list[Path], tag: str, pick) -> dict[str, np.ndarray]:
    preds = _ours(paths, pick)
    for name, peer in peers.items():
        preds[name] = _peer_points(peer, paths, tag, pick)
    return preds


def part_openness(peers: dict, pick_face) -> dict:
    """Run both data sets through every method; the result file's content."""
    folder = shared_path("data", "w300_afw_helen")
    labels = read_labels(folder)
    held = held_out_photos(labels["source"])
    names, gt = labels["names"][held], labels["pts68"][held].astype(np.float64)
    paths = [folder / "images" / str(n) for n in names]
    w300 = predictions(peers, paths, "openness_w300", lambda i, faces: pick_face(faces, gt[i]))
    cew_paths = closed_eye_files(shared_path("data", "cew_closed"), "val")
    cew = predictions(peers, cew_paths, "openness_cew", lambda i, faces: _largest(faces))
    ear_h = eye_aspect_ratio(gt)
    rows = {}
    for key, label in ROWS:
        if key not in w300:
            continue
        found = np.isfinite(w300[key]).all((1, 2))
        s = openness_scores(w300[key][found], w300[key][found], gt[found])
        found_c = np.isfinite(cew[key]).all((1, 2))
        ear_c = eye_aspect_ratio(cew[key][found_c])
        rows[key] = {"label": label, "w300_faces": len(gt), "w300_found": int(found.sum()),
                     "nme": s["nme_300w"], "ear_r": s["ear_r_300w"], "mouth_r": s["mouth_r_300w"],
                     "near_closed_ear_err": s["near_closed_err_300w"],
                     "open_read_open_pct": 100 * s["open_read_open_300w"],
                     "cew_faces": len(cew_paths), "cew_found": int(found_c.sum()),
                     "cew_read_closed_pct": 100 * float((ear_c < 0.2).mean()) if found_c.any() else None,
                     "cew_mean_ear": float(ear_c.mean()) if found_c.any() else None}
    return {"w300_split": "denseface.data.human68 held-out photos (20 %, seed 20)",
            "w300_faces": len(gt), "near_closed_faces": int((ear_h < 0.2).sum()),
            "open_faces": int((ear_h >= 0.25).sum()),
            "cew_split": "denseface.data.closed_eyes held-out blocks", "cew_faces": len(cew_paths),
            "rows": rows}


def section(d: dict, fmt) -> list[str]:
    """The openness section of docs/peers.md."""
    parts = ["## Eyes that close, mouths that open", "",
             f"{d['w300_faces']} held-out 300-W faces ({d['near_closed_faces']} with near-closed eyes, "
             f"human EAR < 0.2; {d['open_faces']} open, EAR >= 0.25) and {d['cew_faces']} held-out "
             "closed-eye photos of CEW (both eyes closed in each). Each method with its own detector. "
             "EAR: the eye aspect ratio of Soukupova and Cech (2016); mouth: the inner-lip opening "
             "|62-66| / |60-64|; r: Pearson's correlation with the human points' value "
             "(`benchmarks/peers_openness.py` has the protocol).", "",
             "| method | NME (%) | EAR r | near-closed EAR error | open eyes read open | mouth r | CEW closed eyes read closed | CEW mean EAR |",
             "|---|---|---|---|---|---|---|---|"]
    for r in d["rows"].values():
        parts.append(f"| {r['label']} | {fmt(r['nme'])} | {fmt(r['ear_r'], 3)} | {fmt(r['near_closed_ear_err'], 3)} | "
                     f"{fmt(r['open_read_open_pct'], 1)} % | {fmt(r['mouth_r'], 3)} | "
                     f"{fmt(r['cew_read_closed_pct'], 1)} % of {r['cew_found']} | {fmt(r['cew_mean_ear'], 3)} |")
    parts += ["", "dlib's shape predictor was trained on 300-W, these images included: its 300-W "
              "columns are not a fair comparison; CEW is new to every method.", ""]
    return parts
