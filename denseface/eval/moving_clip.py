"""Synthetic moving clips with ground truth, made from annotated photos (the video benchmark,
benchmarks/bench_video.py, and the web page's tracking parts, benchmarks/bench_web.py).

A clip moves one annotated photo (shared/data/face_landmark_samples, 68-point ground truth)
through a 640x480 frame under a known smooth motion (:func:`motion_matrix`): shift (+-40 px,
+-25 px), in-plane rotation (+-8 deg) and scale (+-10 %), plus a few-frame occlusion of the lower
face (:data:`OCCLUDED`). Each frame's ground truth is the annotation moved by that frame's
matrix (photo pixels -> frame pixels). :func:`score_track` scores predictions in frame pixels.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from ..io.images import read_image, to_rgb
from ..metrics import bbox_size, nme_2d
from .calibration import calibration_images

FRAME_W, FRAME_H, FPS = 640, 480, 25.0
OCCLUDED = range(50, 55)          # frames whose lower face is covered
AFTER_OCCLUSION = 2               # frames after the occluder also left out of the NME figures


@dataclass
class Clip:
    """One synthetic clip: its frames, each frame's ground truth and motion."""
    name: str
    frames: np.ndarray    # (T, H, W, 3) RGB uint8
    gt68: np.ndarray      # (T, 68, 2) image pixels
    motion: np.ndarray    # (T, 2, 3) photo pixels -> frame pixels


def clip_sources(shared: Path) -> list[tuple[str, Path, np.ndarray]]:
    """(name, image, 68 points) of the annotated photos with a face of at least 80 px."""
    fls = shared / "data" / "face_landmark_samples"
    out, seen = [], set()
    for a in calibration_images(shared):
        if fls not in a.path.parents or "dlib_examples" in str(a.path):
            continue
        face = max(a.faces68, key=lambda p: float(np.ptp(p, 0).prod()))
        if np.ptp(face, 0).max() < 80:
            continue
        name = a.path.parent.name + "/" + a.path.stem
        if "300vw" in str(a.path):
            if "300vw" in seen:
                continue
            seen.add("300vw")
        out.append((name, a.path, face))
    return out


def motion_matrix(t: int, n: int, centre: np.ndarray, base_scale: float) -> np.ndarray:
    """The known motion of frame t: about the face centre, scale, rotate, then shift."""
    ph = 2 * np.pi * t / n
    angle = 8.0 * np.sin(1.3 * ph)
    scale = base_scale * (1.0 + 0.10 * np.sin(0.9 * ph + 0.5))
    shift = np.array([40.0 * np.sin(ph), 25.0 * np.sin(1.7 * ph + 1.0)])
    M = cv2.getRotationMatrix2D((float(centre[0]), float(centre[1])), angle, scale)
    M[:, 2] += np.array([FRAME_W / 2, FRAME_H / 2]) - centre + shift
    return M


def make_clip(name: str, image_path: Path, face68: np.ndarray, n: int) -> Clip:
    """n frames of the photo moved by :func:`motion_matrix` (the face about 200 px), the lower
    face covered in the :data:`OCCLUDED` frames; face68 in photo pixels."""
    photo = to_rgb(read_image(image_path))
    centre = 0.5 * (face68.min(0) + face68.max(0))
    base = 200.0 / float(np.ptp(face68, 0).max())     # the face about 200 px in the frame
    frames, gts, mats = [], [], []
    for t in range(n):
        M = motion_matrix(t, n, centre, base)
        f = cv2.warpAffine(photo, M, (FRAME_W, FRAME_H), flags=cv2.INTER_LINEAR,
                           borderMode=cv2.BORDER_CONSTANT, borderValue=(40, 40, 40))
        gt = face68 @ M[:, :2].T + M[:, 2]
        if t in OCCLUDED:   # a bar over the mouth and jaw
            lo, hi = gt.min(0), gt.max(0)
            y0 = int(lo[1] + 0.55 * (hi[1] - lo[1]))
            cv2.rectangle(f, (int(lo[0] - 10), y0), (int(hi[0] + 10), int(hi[1] + 10)), (90, 90, 90), -1)
        frames.append(f)
        gts.append(gt)
        mats.append(M)
    return Clip(name, np.stack(frames), np.stack(gts), np.stack(mats))


def nearest_face(faces, gt68: np.ndarray):
    """The predicted face whose 68 points are closest to the ground truth, or None."""
    if not faces:
        return None
    return min(faces, key=lambda f: float(np.linalg.norm(f.landmarks68[:, :2] - gt68, axis=1).mean()))


def back_to_photo(points: np.ndarray, M: np.ndarray) -> np.ndarray:
    """Points in frame pixels mapped back through the inverse of M into photo pixels."""
    A = np.vstack([M, [0, 0, 1]])
    inv = np.linalg.inv(A)[:2]
    return points @ inv[:, :2].T + inv[:, 2]


def score_track(clip: Clip, preds: list[np.ndarray | None]) -> dict:
    """Per-frame NME (%), and jitter (%) of predictions (T entries of (68, 2) or None)."""
    n = len(clip.frames)
    norm = bbox_size(clip.gt68)
    nme = np.full(n, np.nan)
    back = np.full((n, 68, 2), np.nan)
    for t, p in enumerate(preds):
        if p is not None:
            nme[t] = nme_2d(p, clip.gt68[t], norm[t])
            back[t] = back_to_photo(p, clip.motion[t])
    photo_norm = float(np.median(norm / np.sqrt(np.abs(np.linalg.det(clip.motion[:, :, :2])))))
    step = 100.0 * np.linalg.norm(np.diff(back, axis=0), axis=2).mean(1) / photo_norm   # (T-1,)
    return {"nme": nme, "jitter_steps": step}
