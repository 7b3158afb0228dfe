"""The ``video`` part of benchmarks/peers.py: steady video, denseface's tracker beside MediaPipe
Face Mesh in video mode, on clips with ground truth, in the same run.

Clips (:func:`write_clip`): a photo with human 68 points placed in a 640x480 frame (the face's
68-point box :data:`FACE_PX` px on its longer side, grey around the photo), 90 frames at 30 fps,
every frame with its own Gaussian sensor noise (sigma :data:`NOISE_SIGMA` grey levels), written
as MP4 (mp4v) and read back, so codec loss is real. Two kinds per photo:

- ``still``: the photo does not move;
- ``moving``: a smooth known motion about the face's centre (rotation +-10 deg, scale +-12 %,
  shift up to 60 px; :func:`motion_matrix`).

Ground truth: the human 68 points moved by each frame's matrix. Test photos: held-out 300-W faces
(denseface.data.human68's fixed split, AFW and HELEN; no model was trained or chosen on them),
evenly spaced over the split. Tuning photos (``--tune``, to choose the smoothing): the annotated
photos of shared/data/face_landmark_samples (benchmarks/bench_video.py's sources), never the
test photos.

Methods, each on the decoded frames of the same files:

- ``denseface``: :class:`denseface.infer.tracking.FaceTracker` with its default smoothing, one
  face (``max_faces=1``), its ``landmarks68_300w`` (the human convention);
- ``denseface_raw``: the same tracker without smoothing;
- ``denseface_photo``: every frame predicted on its own as a photo (``DenseFace.predict``: the
  detector, two passes, flip averaging, the eye stage);
- ``mediapipe``: MediaPipe Face Mesh (the legacy solution with ``static_image_mode=False``: its
  detector until a face is found, then each frame's ROI from the previous frame's points), in
  its own venv through ``benchmarks/peer_mediapipe.py video``; its 468 points -> 68 as the other
  parts map them. The face nearest the ground truth (benchmarks/peers.py ``pick_face``).

Metrics, in % of the inter-ocular distance (outer eye corners, points 36 and 45, the 300-W
convention) of the ground truth (each frame's for the NME, the first frame's for the rest):
``jitter`` (still clips) is the mean over the 68 points of each point's spread over the frames
(root-mean-square distance from its mean position); ``step`` (still) the mean frame-to-frame
displacement of a point; ``step_moving`` the same on moving clips after undoing each frame's
known motion (in the photo's frame, rescaled to the frame's size: the noise left on a moving
face); ``nme`` the mean point error, on still and on moving clips. Frames where a method finds
no face count as missing (reported).
"""
from __future__ import annotations

import time
from dataclasses import asdict
from pathlib import Path

import cv2
import numpy as np

from denseface.data.human68 import held_out_photos, read_labels
from denseface.eval.steady_video import (FACE_PX, FPS, FRAME_H, FRAME_W, FRAMES, KINDS, MOTION, NOISE_SIGMA,
                                         TARGETS, TEST_FACES, Clip, body, scores, summary, targets_met,
                                         tuning_section)
from denseface.paths import shared_path

def held_out_faces(n: int = TEST_FACES) -> list[tuple[str, np.ndarray, np.ndarray]]:
    """(name, RGB photo, human 68 points) of ``n`` held-out 300-W faces, evenly spaced over the
    split's faces sorted by name."""
    from denseface.io.images import read_image, to_rgb

    folder = shared_path("data", "w300_afw_helen")
    labels = read_labels(folder)
    held = np.flatnonzero(held_out_photos(labels["source"]))
    held = held[np.argsort(labels["names"][held])]
    pick = held[np.linspace(0, len(held) - 1, n).round().astype(int)]
    names = [str(labels["names"][i]) for i in pick]
    return [(name.rsplit(".", 1)[0], to_rgb(read_image(folder / "images" / name)),
             labels["pts68"][i].astype(np.float64)) for name, i in zip(names, pick)]


def tuning_photos() -> list[tuple[str, np.ndarray, np.ndarray]]:
    """(name, RGB photo, 68 points) of the annotated face_landmark_samples photos (not the test
    set; benchmarks/bench_video.py's clip sources)."""
    from denseface.eval.moving_clip import clip_sources
    from denseface.io.images import read_image, to_rgb
    from denseface.paths import shared_root

    return [(name, to_rgb(read_image(path)), face) for name, path, face in clip_sources(shared_root())]


def motion_matrix(t: int, centre: np.ndarray, scale: float, moving: bool) -> np.ndarray:
    """The (2, 3) matrix of frame ``t``: the photo's face centre to the frame's centre at
    ``scale``; when ``moving``, also rotated, scaled and shifted smoothly (:data:`MOTION`)."""
    ph = 2 * np.pi * t / FRAMES      # the motion is fixed in time: a shorter clip is its start
    angle, s, shift = 0.0, scale, np.zeros(2)
    if moving:
        angle = MOTION["rotation_deg"] * np.sin(1.3 * ph)
        s = scale * (1.0 + MOTION["scale"] * np.sin(0.9 * ph + 0.5))
        shift = MOTION["shift_px"] * np.array([np.sin(ph), 0.6 * np.sin(1.7 * ph + 1.0)])
    M = cv2.getRotationMatrix2D((float(centre[0]), float(centre[1])), angle, s)
    M[:, 2] += np.array([FRAME_W / 2, FRAME_H / 2]) - centre + shift
    return M


def write_clip(name: str, photo: np.ndarray, face68: np.ndarray, kind: str, folder: Path,
               n: int = FRAMES, seed: int = 0) -> Clip:
    """Write one clip as MP4 (see the module docstring) -> its Clip."""
    centre = 0.5 * (face68.min(0) + face68.max(0))
    scale = FACE_PX / float(np.ptp(face68, 0).max())
    rng = np.random.default_rng(seed)
    path = folder / f"{name.replace('/', '_')}_{kind}.mp4"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), FPS, (FRAME_W, FRAME_H), True)
    gts, mats = [], []
    for t in range(n):
        M = motion_matrix(t, centre, scale, kind == "moving")
        f = cv2.warpAffine(photo, M, (FRAME_W, FRAME_H), flags=cv2.INTER_LINEAR,
                           borderMode=cv2.BORDER_CONSTANT, borderValue=(60, 60, 60)).astype(np.float32)
        f += rng.normal(0.0, NOISE_SIGMA, f.shape).astype(np.float32)
        writer.write(cv2.cvtColor(np.clip(f + 0.5, 0, 255).astype(np.uint8), cv2.COLOR_RGB2BGR))
        gts.append(face68 @ M[:, :2].T + M[:, 2])
        mats.append(M)
    writer.release()
    return Clip(name, kind, path, np.stack(gts), np.stack(mats))


def read_clip(path: Path) -> list[np.ndarray]:
    """Every frame of an MP4 as RGB uint8 (OpenCV's decoder, as MediaPipe's worker reads it)."""
    cap = cv2.VideoCapture(str(path))
    frames = []
    while True:
        ok, bgr = cap.read()
        if not ok or bgr is None:
            break
        frames.append(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))
    cap.release()
    return frames


# ------------------------------------------------------------------------------ denseface
def _nearest(faces, gt: np.ndarray):
    if not faces:
        return None
    return min(faces, key=lambda f: float(np.linalg.norm(f.landmarks68[:, :2] - gt, axis=1).mean()))


def human68(face) -> np.ndarray:
    """A face's human-convention 68 points (the dense 68 for a model without that head)."""
    return (face.landmarks68_300w if face.landmarks68_300w is not None else face.landmarks68)[:, :2]


def track_raw(model, frames: list[np.ndarray], gt: np.ndarray) -> list:
    """The tracker without smoothing (one face) -> its face per frame (None where it has none)."""
    from denseface.infer.tracking import FaceTracker, TrackerConfig

    tracker = FaceTracker(model, TrackerConfig(max_faces=1), None)
    return [_nearest(tracker.update(frame, t / FPS), gt[t]) for t, frame in enumerate(frames)]


def smoothed(model, raw: list, smoothing) -> np.ndarray:
    """(T, 68, 2) human-convention points of a raw track through one FaceSmoother (the filter
    alone: the tracker's crops, which follow the smoothing, are not replayed; NaN where the track
    has no face)."""
    from denseface.infer.tracking import FaceSmoother

    smoother = FaceSmoother(model.mean_shape, smoothing, model.landmark_set.idx68)
    out = np.full((len(raw), 68, 2), np.nan)
    for t, f in enumerate(raw):
        if f is not None:
            out[t] = human68(smoother.face(f, t / FPS))
    return out


def photo_points(model, frames: list[np.ndarray], gt: np.ndarray) -> np.ndarray:
    out = np.full((len(frames), 68, 2), np.nan)
    for t, frame in enumerate(frames):
        f = _nearest(model.predict_array(frame), gt[t])
        if f is not None:
            out[t] = human68(f)
    return out


def tracker_fps(model, frames: list[np.ndarray], smoothing) -> float:
    """Frames per second of the tracker with ``smoothing`` (one face) over a clip, after one
    untimed pass over its first frames."""
    from denseface.infer.tracking import FaceTracker, TrackerConfig

    for timed in (False, True):
        tracker = FaceTracker(model, TrackerConfig(max_faces=1), smoothing)
        use = frames if timed else frames[:10]
        t0 = time.perf_counter()
        for t, frame in enumerate(use):
            tracker.update(frame, t / FPS)
    return len(frames) / (time.perf_counter() - t0)


# ------------------------------------------------------------------------------ metrics
# ------------------------------------------------------------------------------ the part
def make_clips(photos, folder: Path, n: int = FRAMES) -> list[Clip]:
    folder.mkdir(parents=True, exist_ok=True)
    return [write_clip(name, rgb, face, kind, folder, n, seed=1000 * i + k)
            for i, (name, rgb, face) in enumerate(photos) for k, kind in enumerate(KINDS)]


def mediapipe_points(peer, clips: list[Clip]) -> tuple[list[np.ndarray], list[np.ndarray], dict]:
    """MediaPipe in video mode on every clip: (T, 68, 2) per clip (the face nearest the ground
    truth), the checksums of the frames it decoded, and its meta."""
    from denseface.eval.peers import pick_face

    r = peer.video([c.path for c in clips], "video")
    out, sums = [], []
    for v, c in enumerate(clips):
        T = len(c.gt)
        p = np.full((T, 68, 2), np.nan)
        for t in range(min(T, int(r["frames"][v]))):
            faces = [r["points68"][v, t, k] for k in range(r["found"].shape[2]) if r["found"][v, t, k]]
            k = pick_face(faces, c.gt[t])
            if k is not None:
                p[t] = faces[k][:, :2]
        out.append(p)
        sums.append(r["checksums"][v, :T])
    return out, sums, {"ms_per_frame": float(np.nanmedian(r["ms"])), **r["meta"]}


def part_video(peers: dict, workdir: Path, n_faces: int = TEST_FACES, frames: int = FRAMES) -> dict:
    """Test clips through every method; the result file's content."""
    from denseface import DenseFace
    from denseface.infer.tracking import SmoothingConfig

    clips = make_clips(held_out_faces(n_faces), workdir / "video_clips", frames)
    mp, mp_sums, mp_meta = (mediapipe_points(peers["mediapipe"], clips)
                            if "mediapipe" in peers else (None, None, None))
    model = DenseFace(threads=1)
    cv2.setNumThreads(1)
    rows, fps, same_frames = [], [], []
    for i, c in enumerate(clips):
        decoded = read_clip(c.path)
        raw = track_raw(model, decoded, c.gt)
        preds = {"denseface": tracked_points(model, decoded, SmoothingConfig()),
                 "denseface_raw": np.stack([np.full((68, 2), np.nan) if f is None else human68(f) for f in raw]),
                 "denseface_photo": photo_points(model, decoded, c.gt)}
        if mp is not None:
            preds["mediapipe"] = mp[i]
            same_frames.append(bool(np.array_equal(mp_sums[i], [int(f.sum(dtype=np.int64)) for f in decoded])))
        if c.kind == "moving":
            fps.append(tracker_fps(model, decoded, SmoothingConfig()))
        rows.append({"clip": c.name, "kind": c.kind, "methods": {m: scores(p, c) for m, p in preds.items()}})
        print(f"peers: video {c.name} {c.kind}: " + ", ".join(
            f"{m} {rows[-1]['methods'][m]['nme']:.2f}" for m in preds), flush=True)
    s = summary(rows)
    return {"clips": len(clips), "frames": frames, "fps": FPS, "size": [FRAME_W, FRAME_H],
            "noise_sigma": NOISE_SIGMA, "face_px": FACE_PX, "motion": MOTION, "codec": "mp4v (MPEG-4 part 2) in MP4",
            "photos": "held-out 300-W faces (denseface.data.human68's split, 20 %, seed 20), evenly spaced",
            "smoothing": asdict(SmoothingConfig()), "mediapipe": mp_meta,
            "mediapipe_decoded_same_frames": all(same_frames) if same_frames else None,
            "tracker_fps_median": float(np.median(fps)), "tracker_fps_note": "denseface's tracker, one "
            "640x480 face, 1 thread, frames already decoded, on the moving clips (median over clips)",
            "rows": rows, "summary": s, "targets": TARGETS, "met": targets_met(s)}


# ------------------------------------------------------------------------------ reports
# ------------------------------------------------------------------------------ tuning
#: A synthetic blink added to the tuning clips' still tracks (frames after its start: the share
#: of the eye's opening that is closed), to check that smoothing keeps blinks.
BLINK = (0.35, 0.75, 1.0, 1.0, 0.75, 0.4, 0.15)
EYELIDS = ((37, 41), (38, 40), (43, 47), (44, 46))   # upper, lower lid point pairs (iBUG 0-based)


def with_blink(raw: list, start: int) -> list:
    """A copy of a raw track whose human-convention eyelids close as :data:`BLINK` from frame
    ``start`` (the upper and lower lid points meet at their midpoint)."""
    from dataclasses import replace

    out = list(raw)
    for k, closed in enumerate(BLINK):
        f = out[start + k]
        p = f.landmarks68_300w.copy()
        for up, lo in EYELIDS:
            mid = 0.5 * (p[up] + p[lo])
            p[up] += closed * (mid - p[up])
            p[lo] += closed * (mid - p[lo])
        out[start + k] = replace(f, landmarks68_300w=p)
    return out


def blink_kept(model, tracks: list[dict], smoothing, start: int = 45) -> float:
    """The share of a synthetic blink's eye-aspect-ratio drop that smoothing keeps (mean over
    the still tracks): 1 = all of it."""
    from denseface.metrics import eye_aspect_ratio

    kept = []
    for t in tracks:
        if t["clip"].kind != "still":
            continue
        raw = with_blink(t["raw"], start)
        ear_raw = eye_aspect_ratio(np.stack([human68(f) for f in raw]))
        ear = eye_aspect_ratio(smoothed(model, raw, smoothing))
        base = np.median(ear_raw[: start])
        drop = base - ear_raw[start: start + len(BLINK)].min()
        kept.append((base - ear[start: start + len(BLINK) + 3].min()) / drop)
    return float(np.mean(kept))


def tracked_points(model, frames: list[np.ndarray], smoothing, crop_ahead: bool = True) -> np.ndarray:
    """(T, 68, 2) human-convention points of the tracker with ``smoothing`` (one face)."""
    from denseface.infer.tracking import FaceTracker, TrackerConfig

    tracker = FaceTracker(model, TrackerConfig(max_faces=1, crop_ahead=crop_ahead), smoothing)
    out = np.full((len(frames), 68, 2), np.nan)
    for t, frame in enumerate(frames):
        faces = tracker.update(frame, t / FPS)
        if faces:
            out[t] = human68(faces[0])
    return out


def tuning_candidates() -> dict:
    """The smoothings compared on the tuning clips (named; "default" is SmoothingConfig()), each
    with the tracker's crops taken ahead unless its name says otherwise."""
    from denseface.infer.tracking import OneEuroConfig as E, SmoothingConfig as S

    return {"none": None,
            "previous settings (shape 1 Hz / 5, motion 6 Hz / 20, no dead zones)": S(E(1.0, 5.0), E(6.0, 20.0)),
            "classic One Euro, strong": S(E(0.1, 0.0), E(0.1, 100.0)),
            "motion dead zone 0.15": S(E(0.1, 50.0, 5.0, 0.2), E(0.1, 300.0, 1.0, 0.15)),
            "default": S(),
            "default, crops not taken ahead": S(),
            "motion dead zone 0.35": S(E(0.1, 50.0, 5.0, 0.2), E(0.1, 300.0, 1.0, 0.35)),
            "shape without speed": S(E(0.1, 0.0), E(0.1, 300.0, 1.0, 0.25)),
            "shape dead zone 0.3": S(E(0.1, 100.0, 5.0, 0.3), E(0.1, 300.0, 1.0, 0.25))}


#: The tuning rule: among the candidates that lose nothing on moving clips against the same
#: frames as photos and keep most of a blink, the steadiest on still clips; jitters within
#: ``jitter_tie`` of the lowest count as equal, and of those the one that keeps most of the blink.
TUNING_RULE = {"moving_excess_max": 0.0, "blink_kept_min": 0.8, "jitter_tie": 0.005}


def tune(workdir: Path, frames: int = FRAMES) -> dict:
    """Every candidate smoothing on the tuning clips (never the test photos): still jitter,
    moving NME minus the photos' NME, and the share of a synthetic blink kept; the choice by
    :data:`TUNING_RULE`."""
    from denseface import DenseFace

    model = DenseFace(threads=1)
    cv2.setNumThreads(1)
    clips = make_clips(tuning_photos(), workdir / "tuning_clips", frames)
    decoded = [read_clip(c.path) for c in clips]
    photo = [photo_points(model, f, c.gt) if c.kind == "moving" else None for c, f in zip(clips, decoded)]
    raw = [{"clip": c, "raw": track_raw(model, f, c.gt)} for c, f in zip(clips, decoded) if c.kind == "still"]
    rows = {}
    for name, sm in tuning_candidates().items():
        ahead = "not taken ahead" not in name
        s = [scores(tracked_points(model, f, sm, ahead), c) for c, f in zip(clips, decoded)]
        still = [r for r, c in zip(s, clips) if c.kind == "still"]
        moving = [(r, c, p) for r, c, p in zip(s, clips, photo) if c.kind == "moving"]
        excess = [r["nme"] - scores(p, c)["nme"] for r, c, p in moving]
        rows[name] = {"smoothing": None if sm is None else asdict(sm),
                      "jitter": float(np.mean([r["jitter"] for r in still])),
                      "step": float(np.mean([r["step"] for r in still])),
                      "nme_still": float(np.mean([r["nme"] for r in still])),
                      "moving_excess": float(np.mean(excess)),
                      "step_moving": float(np.mean([r["step_moving"] for r, _, _ in moving])),
                      "blink_kept": blink_kept(model, raw, sm) if sm is not None else 1.0}
        print(f"tune: {name}: " + ", ".join(f"{k} {v:.3f}" for k, v in rows[name].items() if k != "smoothing"),
              flush=True)
    return {"photos": "shared/data/face_landmark_samples (benchmarks/bench_video.py's sources; not the test photos)",
            "clips": len(clips), "frames": frames, "rule": TUNING_RULE, "candidates": rows,
            "chosen": choose(rows)}


def choose(rows: dict) -> str | None:
    """The candidate :data:`TUNING_RULE` picks from ``tune``'s rows (None: none qualifies)."""
    rule = TUNING_RULE
    ok = {k: r for k, r in rows.items()
          if r["moving_excess"] <= rule["moving_excess_max"] and r["blink_kept"] >= rule["blink_kept_min"]}
    if not ok:
        return None
    best = min(r["jitter"] for r in ok.values())
    tied = [k for k, r in ok.items() if r["jitter"] <= best + rule["jitter_tie"]]
    return max(tied, key=lambda k: ok[k]["blink_kept"])


def write_video_doc(d: dict, fmt) -> None:
    """The test results' section of docs/video.md (and the tuning's, when its file exists)."""
    from denseface.eval.report import write_doc_section

    doc = Path(__file__).resolve().parents[1] / "docs" / "video.md"
    write_doc_section(doc, "peers_video", "\n".join(body(d, fmt)))
    tuning = Path(__file__).resolve().parent / "results" / "video_tuning.json"
    if tuning.is_file():
        import json
        write_doc_section(doc, "video_tuning", "\n".join(tuning_section(json.loads(tuning.read_text()), fmt)))


def main(argv: list[str] | None = None) -> int:
    import argparse
    import json
    import tempfile

    ap = argparse.ArgumentParser(description="Choose the video smoothing on the tuning clips "
                                 "(the test run is `python benchmarks/peers.py --parts video`).")
    ap.add_argument("--tune", action="store_true", required=True)
    ap.add_argument("--frames", type=int, default=FRAMES)
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="denseface_video_") as tmp:
        d = tune(Path(tmp), args.frames)
    out = Path(__file__).resolve().parent / "results" / "video_tuning.json"
    out.write_text(json.dumps(d, indent=1) + "\n")
    print(f"tune: chosen {d['chosen']}; wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
