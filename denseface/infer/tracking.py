"""Video: motion-compensated One Euro smoothing, and tracking that re-detects only on loss.

Smoothing (:class:`FaceSmoother`). Each frame's landmarks are split into the face's rigid
motion, the least-squares similarity from the landmark set's mean shape (translation, scale,
rotation; denseface.geometry.rotations), and its shape in the face's own frame (the landmarks
with that similarity undone, in face heights). The two are filtered apart with One Euro filters
(Casiez, Roussel & Vogel, CHI 2012: a first-order low-pass whose cutoff rises with the signal's
speed, ``cutoff = min_cutoff + beta * |dx/dt|``, Hz, the speed itself low-passed at
``d_cutoff`` Hz): the shape strongly (the per-frame jitter of a landmark regressor lives there),
the motion lightly (so a moving head is followed without lag). Speeds are in face heights per
second for the shape and translation, radians per second for rotation, and log-scale per second.

Tracking: each frame is cropped from the previous frame's predicted 68 landmarks (3DDFA's
crop policy, one network pass), and the detector runs on the whole frame only when no face is
tracked, when a track is lost, or every ``redetect_every`` frames if that is set. A track is
lost when its new crop box is less than ``min_inside`` inside the frame, when its size changes
by more than ``max_scale_change`` between frames, when it gets smaller than ``min_face_px``,
when the prediction is not finite, or when the drift check (every ``verify_every`` frames, the
detector on the track's neighbourhood only) finds no face ``max_misses`` times in a row. When
the drift check finds the face elsewhere than the track, the track restarts from that
detection (two passes), keeping its smoothing state.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np

from ..geometry.boxes import box_iou
from ..geometry.rotations import similarity_fit
from .api import DenseFace, Face, Timings
from .pose import Y_FLIP, estimate_pose


@dataclass
class OneEuroConfig:
    """min_cutoff (Hz), beta (1/px), d_cutoff (Hz); see the module docstring."""

    min_cutoff: float = 1.0
    beta: float = 0.05
    d_cutoff: float = 1.0


def _alpha(cutoff, dt: float):
    tau = 1.0 / (2.0 * np.pi * cutoff)
    return 1.0 / (1.0 + tau / dt)


class OneEuroFilter:
    """Vectorised One Euro filter over an array of any shape (each element filtered alone)."""

    def __init__(self, config: OneEuroConfig | None = None):
        self.config = config or OneEuroConfig()
        self.x: np.ndarray | None = None
        self.dx: np.ndarray | None = None
        self.t: float | None = None

    def reset(self) -> None:
        self.x = self.dx = self.t = None

    def __call__(self, x: np.ndarray, t: float) -> np.ndarray:
        """Filter sample ``x`` taken at time ``t`` (seconds, increasing)."""
        x = np.asarray(x, np.float64)
        if self.x is None or self.x.shape != x.shape or self.t is None or t <= self.t:
            self.x, self.dx, self.t = x.copy(), np.zeros_like(x), float(t)
            return x.copy()
        c = self.config
        dt = t - self.t
        dx = (x - self.x) / dt
        self.dx = self.dx + _alpha(c.d_cutoff, dt) * (dx - self.dx)
        cutoff = c.min_cutoff + c.beta * np.abs(self.dx)
        self.x = self.x + _alpha(cutoff, dt) * (x - self.x)
        self.t = float(t)
        return self.x.copy()


@dataclass
class SmoothingConfig:
    """Video smoothing (see the module docstring): ``shape`` filters the face's shape in its own
    frame, ``motion`` its rigid motion. Lower min_cutoff = steadier; higher beta = less lag."""

    shape: OneEuroConfig = field(default_factory=lambda: OneEuroConfig(min_cutoff=1.0, beta=5.0))
    motion: OneEuroConfig = field(default_factory=lambda: OneEuroConfig(min_cutoff=6.0, beta=20.0))


class FaceSmoother:
    """Motion-compensated smoothing of one face's landmarks over time."""

    def __init__(self, mean_shape: np.ndarray, config: SmoothingConfig | None = None):
        from scipy.spatial.transform import Rotation

        self._rot = Rotation
        self.config = config or SmoothingConfig()
        self.mean = np.asarray(mean_shape, np.float64)
        self.height = float(np.ptp(self.mean[:, 1]))   # model units per face height
        self.shape = OneEuroFilter(self.config.shape)
        self.motion = OneEuroFilter(self.config.motion)

    def __call__(self, landmarks: np.ndarray, t: float) -> np.ndarray:
        """Smoothed (N, 3) image-pixel landmarks of the frame at time ``t`` seconds."""
        p = np.asarray(landmarks, np.float64) @ Y_FLIP            # image px, y up
        s, R, tr = similarity_fit(self.mean, p)                    # p ~ s * mean @ R.T + tr
        size = s * self.height                                     # face height in pixels
        shape = ((p - tr) @ R / s) / self.height                   # own frame, face heights
        motion = np.concatenate([tr / size, [np.log(s)], self._rot.from_matrix(R).as_rotvec()])
        shape = self.shape(shape, t) * self.height
        m = self.motion(motion, t)
        s_f, R_f = float(np.exp(m[3])), self._rot.from_rotvec(m[4:]).as_matrix()
        tr_f = m[:3] * s_f * self.height
        return (s_f * shape @ R_f.T + tr_f) @ Y_FLIP


@dataclass
class TrackerConfig:
    """See the module docstring. max_faces: most faces tracked (None: all detected).

    Drift check every ``verify_every`` frames (0 = never): the detector looks at the track's
    neighbourhood only (its crop box grown ``verify_region`` times, downscaled to
    ``verify_side`` px). A face there whose calibrated crop overlaps the track's crop less than
    ``verify_iou`` means the track drifted: it restarts from that detection. No face there
    ``max_misses`` checks in a row means the track is lost."""

    redetect_every: int = 0
    min_inside: float = 0.5
    max_scale_change: float = 1.5
    min_face_px: float = 16.0
    max_faces: int | None = None
    match_iou: float = 0.3  # a re-detected face keeps a track's smoothing when crops overlap this much
    verify_every: int = 10
    verify_region: float = 2.0
    verify_side: int = 160
    verify_iou: float = 0.4
    max_misses: int = 3


@dataclass
class Track:
    face: Face                  # last raw (unsmoothed) prediction: the next crop comes from it
    smoother: FaceSmoother | None
    misses: int = 0             # drift checks in a row that found no face


class FaceTracker:
    """Per-frame faces for a video: ``update(frame, t)`` -> smoothed faces of this frame."""

    def __init__(self, model: DenseFace, config: TrackerConfig | None = None,
                 smoothing: SmoothingConfig | None = SmoothingConfig(), boxes=None):
        self.model = model
        self.config = config or TrackerConfig()
        self.smoothing = smoothing
        self.boxes = boxes
        self.tracks: list[Track] = []
        self.frame_index = 0
        self.detections = 0  # how many frames ran the detector on the whole frame
        self.checks = 0      # drift checks (detector on a track's neighbourhood)
        self.restarts = 0    # tracks restarted by a drift check

    def update(self, frame: np.ndarray, t: float, timings: Timings | None = None) -> list[Face]:
        """Faces in ``frame`` (grey or RGB uint8) at time ``t`` seconds."""
        timings = timings or Timings()
        c = self.config
        periodic = c.redetect_every > 0 and self.frame_index % c.redetect_every == 0
        kept: list[Track] = []
        if self.tracks and not periodic:
            new = self.model.track(frame, [tr.face for tr in self.tracks], timings)
            for tr, face in zip(self.tracks, new):
                if self.is_tracked(face, tr.face, frame.shape):
                    kept.append(Track(face, tr.smoother, tr.misses))
            if (kept and self.boxes is None and c.verify_every > 0
                    and self.frame_index % c.verify_every == 0):  # user boxes: no detector to ask
                kept = [v for v in (self._verified(tr, frame, timings) for tr in kept) if v is not None]
        if not kept or periodic:
            kept = self._detect(frame, timings)
        self.tracks = kept
        self.frame_index += 1
        return [self._smoothed(tr, t) for tr in kept]

    def _detect(self, frame: np.ndarray, timings: Timings) -> list[Track]:
        self.detections += 1
        faces = self.model.predict_array(frame, boxes=self.boxes, max_faces=self.config.max_faces,
                                         timings=timings)
        tracks = []
        for f in faces:
            old = max(self.tracks, key=lambda tr: box_iou(tr.face.crop_box, f.crop_box), default=None)
            if old is not None and box_iou(old.face.crop_box, f.crop_box) >= self.config.match_iou:
                smoother = old.smoother
            else:
                smoother = FaceSmoother(self.model.mean_shape, self.smoothing) if self.smoothing else None
            tracks.append(Track(f, smoother))
        return tracks

    def _verified(self, track: Track, frame: np.ndarray, timings: Timings) -> Track | None:
        """The drift check (see TrackerConfig): the track, a restarted track, or None (lost)."""
        c = self.config
        box = track.face.crop_box
        centre, half = 0.5 * (box[:2] + box[2:]), 0.5 * c.verify_region * (box[2:] - box[:2])
        self.checks += 1
        with timings.stage("detect"):
            found = self.model.detect(frame, np.concatenate([centre - half, centre + half]), c.verify_side)
        if not found:
            return Track(track.face, track.smoother, track.misses + 1) if track.misses < c.max_misses else None
        crops = [self.model.crop_box_of(d) for d in found]
        ious = [box_iou(b, box) for b in crops]
        k = int(np.argmax(ious))
        if ious[k] >= c.verify_iou:
            return Track(track.face, track.smoother, 0)
        self.restarts += 1
        (face,) = self.model.faces_in_crops(frame, [found[k]], [crops[k]], timings)
        return Track(face, track.smoother, 0)

    def is_tracked(self, face: Face, previous: Face, frame_shape) -> bool:
        """False when the track is lost (see the module docstring)."""
        c = self.config
        if not np.isfinite(face.landmarks).all():
            return False
        box = self.model.crop_box_from_landmarks(face.landmarks68)
        side, prev_side = box[2] - box[0], previous.crop_box[2] - previous.crop_box[0]
        if side / self.model.roi_factor < c.min_face_px or prev_side <= 0:
            return False
        if not (1.0 / c.max_scale_change <= side / prev_side <= c.max_scale_change):
            return False
        h, w = frame_shape[:2]
        iw = max(0.0, min(box[2], w) - max(box[0], 0.0))
        ih = max(0.0, min(box[3], h) - max(box[1], 0.0))
        return iw * ih >= c.min_inside * side * side

    def _smoothed(self, track: Track, t: float) -> Face:
        if track.smoother is None:
            return track.face
        lm = track.smoother(track.face.landmarks, t)
        lm68 = lm[self.model.landmark_set.idx68]
        human = track.face.landmarks68_300w   # moved as the smoothing moved the 68 points
        if human is not None:
            human = human + (lm68 - track.face.landmarks68)[:, :2]
        return replace(track.face, landmarks=lm, landmarks68=lm68, landmarks68_300w=human,
                       pose=estimate_pose(lm, self.model.mean_shape))
