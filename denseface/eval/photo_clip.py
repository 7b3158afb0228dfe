"""Clips made honestly from real photos of one face, with each frame's ground truth.

A clip is a list of shots, each one photo held for some frames, with short cross-fades between
consecutive shots (each fade frame a blend of the two photos, weights stepping evenly). No pixel
of a face is edited: every frame is one photo, or a blend of two, moved by a similarity so the
face stays in place (the least-squares similarity of the photo's stable human points, eye
corners and nose, onto the first photo's, placed in the middle of the frame). Each frame's
ground truth is the human annotation of the photo it shows most of (its weight > 0.5); fade
frames are flagged so that scores can leave them out.

The blink demo (benchmarks/blink_demo.py, docs/video.md) uses three 300-W photos of one man
from one HELEN series (:data:`BLINK_PHOTOS`): eyes open, his right eye shut, and a shout.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import DenseFaceError
from ..infer.events import READOUTS
from ..metrics import eye_aspect_ratios, mouth_opening

#: Stable human 68 points for placing the photos: the eye corners and the nose.
ANCHOR_POINTS = (36, 39, 42, 45, 27, 28, 29, 30, 31, 33, 35)
#: The blink demo's photos (data/w300_afw_helen crop names): one man of HELEN's photo series
#: 118736691 / 118736733 (a collage of one sitting): eyes open; his right eye shut (the left
#: half closed); a shout (mouth wide open, eyes open).
BLINK_PHOTOS = {"open": "helen_118736691_1.jpg", "right_eye_shut": "helen_118736733_2.jpg",
                "shout": "helen_118736733_1.jpg"}
#: The blink demo's shots: (photo key, frames held); 25 fps.
BLINK_SHOTS = (("open", 30), ("right_eye_shut", 6), ("open", 30), ("shout", 18), ("open", 30),
               ("right_eye_shut", 4), ("open", 20), ("shout", 12), ("open", 20))


@dataclass
class PhotoClip:
    """keys: the photos' names; weights (T, P): each frame's blend of the photos (rows sum to
    1); truth: {readout: (P,) its value from each photo's human points}; the video at path."""

    path: Path
    fps: float
    keys: list[str]
    weights: np.ndarray
    truth: dict[str, np.ndarray]

    @property
    def shown(self) -> np.ndarray:
        """(T,) the photo each frame shows most of."""
        return np.argmax(self.weights, 1)

    @property
    def fading(self) -> np.ndarray:
        """(T,) whether a frame blends two photos."""
        return self.weights.max(1) < 1.0

    def frame_truth(self, readout: str) -> np.ndarray:
        """(T,) the readout's ground truth per frame (the shown photo's)."""
        return self.truth[readout][self.shown]


def human_readouts(pts68: np.ndarray) -> dict[str, float]:
    """The openness readouts (denseface.infer.face) of human 68 points (image pixels)."""
    right, left = eye_aspect_ratios(pts68)
    return {"eye_open_left": float(left), "eye_open_right": float(right), "mouth_open": float(mouth_opening(pts68))}


def _placement(points: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """2x3 similarity taking ``points`` (68, 2) onto ``reference`` over ANCHOR_POINTS."""
    from ..geometry.rotations import similarity_fit

    ids = list(ANCHOR_POINTS)
    pad = np.zeros((len(ids), 1))
    s, R, t = similarity_fit(np.hstack([points[ids], pad]), np.hstack([reference[ids], pad]))
    return np.hstack([s * R[:2, :2], t[:2, None]])


def shot_weights(shots: list[tuple[int, int]], n_photos: int, fade: int) -> np.ndarray:
    """(T, P) blend weights of shots [(photo index, frames held)] with ``fade`` frames of
    cross-fade between consecutive shots (weights k / (fade + 1), k = 1..fade)."""
    rows = []
    for k, (photo, hold) in enumerate(shots):
        if k:
            prev = shots[k - 1][0]
            for j in range(1, fade + 1):
                w = np.zeros(n_photos)
                w[prev] += 1.0 - j / (fade + 1)
                w[photo] += j / (fade + 1)
                rows.append(w)
        rows.extend([np.eye(n_photos)[photo]] * hold)
    return np.array(rows)


def make_photo_clip(photos: dict[str, tuple[np.ndarray, np.ndarray]], shots, path: str | Path,
                    size: int = 320, fps: float = 25.0, fade: int = 2, face_share: float = 0.4) -> PhotoClip:
    """Write the clip (mp4v) of ``shots`` [(photo key, frames held)] to ``path``.

    photos: {key: (RGB uint8 image, its (68, 2) human points in its pixels)}; the first shot's
    photo places the face: its anchor points' box centred in a ``size`` square frame, the face's
    68-point box about ``face_share`` of the frame."""
    import cv2

    keys = list(photos)
    first = photos[shots[0][0]][1]
    centre, span = 0.5 * (first.min(0) + first.max(0)), float(np.ptp(first, 0).max())
    k = face_share * size / span
    reference = (first - centre) * k + size / 2.0
    warped = []
    for key in keys:
        image, pts = photos[key]
        M = _placement(np.asarray(pts, np.float64), reference)
        warped.append(cv2.warpAffine(image, M, (size, size), flags=cv2.INTER_LINEAR,
                                     borderMode=cv2.BORDER_CONSTANT, borderValue=(0, 0, 0)).astype(np.float32))
    weights = shot_weights([(keys.index(s), n) for s, n in shots], len(keys), fade)
    path = Path(path)
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, (size, size), True)
    if not writer.isOpened():
        raise DenseFaceError("cannot write the clip (mp4v)", path=path)
    try:
        for w in weights:
            frame = sum(wi * im for wi, im in zip(w, warped) if wi > 0)
            writer.write(cv2.cvtColor(np.clip(np.round(frame), 0, 255).astype(np.uint8), cv2.COLOR_RGB2BGR))
    finally:
        writer.release()
    readouts = [human_readouts(photos[key][1]) for key in keys]
    truth = {r: np.array([ro[r] for ro in readouts]) for r in READOUTS}
    return PhotoClip(path, fps, keys, weights, truth)


def blink_clip(folder: str | Path, path: str | Path, shots=BLINK_SHOTS, **kwargs) -> PhotoClip:
    """The blink demo's clip from a w300_afw_helen folder (:data:`BLINK_PHOTOS`)."""
    from ..data.human68 import read_labels
    from ..io.images import read_image, to_rgb

    folder = Path(folder)
    labels = read_labels(folder)
    names = list(labels["names"])
    photos = {}
    for key, name in BLINK_PHOTOS.items():
        if name not in names:
            raise DenseFaceError(f"{name} is not in labels.npz", path=folder)
        photos[key] = (to_rgb(read_image(folder / "images" / name)), labels["pts68"][names.index(name)])
    return make_photo_clip(photos, shots, path, **kwargs)


def event_frames(events: list[tuple[int, int]], n: int) -> np.ndarray:
    """(n,) bool: the frames inside any of ``events`` [(start, end), ...]."""
    on = np.zeros(n, bool)
    for a, b in events:
        on[a:b] = True
    return on


def score_events(found: list[tuple[int, int]], truth: list[tuple[int, int]], n: int,
                 ignore: np.ndarray | None = None) -> dict:
    """How well events ``found`` match the ground truth's (frames [start, end)) over n frames.

    Per true event, the found event overlapping it most: its IoU and its start and end delays
    (frames, found minus true; positive = late); ``false``: found events overlapping no true
    event; ``frame_agreement``: the share of frames (outside ``ignore``, e.g. fades) on which
    found and true agree."""
    per = []
    for a, b in truth:
        best = max(found, key=lambda e: min(b, e[1]) - max(a, e[0]), default=None)
        overlap = 0 if best is None else min(b, best[1]) - max(a, best[0])
        if overlap <= 0:
            per.append({"truth": [a, b], "found": None, "iou": 0.0})
            continue
        union = max(b, best[1]) - min(a, best[0])
        per.append({"truth": [a, b], "found": list(best), "iou": overlap / union,
                    "start_delay": best[0] - a, "end_delay": best[1] - b})
    false = [list(e) for e in found if all(min(b, e[1]) - max(a, e[0]) <= 0 for a, b in truth)]
    keep = np.ones(n, bool) if ignore is None else ~np.asarray(ignore, bool)
    agree = event_frames(found, n) == event_frames(truth, n)
    return {"events": per, "false": false, "matched": sum(p["found"] is not None for p in per),
            "frame_agreement": float(agree[keep].mean()) if keep.any() else None}
