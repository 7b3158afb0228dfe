"""Video: motion-compensated adaptive smoothing, and tracking that re-detects only on loss.

Smoothing (:class:`FaceSmoother`). Each frame's points (the N dense landmarks, and the
human-convention 68 lifted to 3D at the depth of the dense 68) are split into the face's rigid
motion in the image, the least-squares 2D similarity from the landmark set's mean shape
(translation, log-scale, in-plane angle: :func:`similarity_2d`), and its shape in the face's
own frame (the points with that similarity undone, in face heights; z divided by the scale).
The two are filtered apart with One Euro filters (Casiez, Roussel & Vogel, CHI 2012: a
first-order low-pass whose cutoff rises with the signal's speed) in a form measured for faces
(benchmarks/peers_video.py, docs/video.md):

- ``cutoff = min_cutoff + beta * max(0, speed - deadzone)`` Hz. A speed within the dead zone is
  taken for noise, so a still face gets the low-pass at ``min_cutoff`` alone, while a face that
  moves opens the filter at once (a speed of the noise's size no longer raises the cutoff, which
  held noisy samples and made points wander);
- one speed per row: the motion's four numbers share one cutoff (the norm of their low-passed
  derivative: face heights, log-scale and radians per second), each point of the shape has its
  own (the norm of its velocity in face heights per second), so a blink opens its eyelids'
  filter only;
- a warm start: the n-th sample after a reset weighs at least 1/n, so a new track's output is
  the mean of its first samples rather than its first sample held.

Tracking also uses the smoothed motion: each crop is taken where the face will be, the last raw
68 points moved by the smoothed motion's last frame-to-frame step (:meth:`FaceSmoother.ahead`),
so a moving face is cropped as a still one (no crop lag; ``TrackerConfig.crop_ahead``).

Tracking: each frame is cropped from the previous frame's predicted 68 landmarks (moved ahead as
above when smoothing; 3DDFA's crop policy, one network pass), and the detector runs on the whole
frame only when no face is tracked, when a track is lost, or every ``redetect_every`` frames if
that is set. A track is lost when its new crop box is less than ``min_inside`` inside the frame,
when its size changes by more than ``max_scale_change`` between frames, when it gets smaller
than ``min_face_px``, when the prediction is not finite, or when the drift check (every
``verify_every`` frames, the detector on the track's neighbourhood only) finds no face
``max_misses`` times in a row. When the drift check finds the face elsewhere than the track, the
track restarts from that detection (two passes), keeping its smoothing state.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np

from ..geometry.boxes import box_iou
from .api import DenseFace, Face, Timings
from .pose import estimate_pose


@dataclass
class OneEuroConfig:
    """min_cutoff (Hz), beta (Hz per unit of speed), d_cutoff (Hz: the speed's own low-pass),
    deadzone (speed taken for noise; 0: the classic One Euro); see the module docstring."""

    min_cutoff: float = 1.0
    beta: float = 0.05
    d_cutoff: float = 1.0
    deadzone: float = 0.0


def _alpha(cutoff, dt: float):
    tau = 1.0 / (2.0 * np.pi * cutoff)
    return 1.0 / (1.0 + tau / dt)


class OneEuroFilter:
    """Vectorised One Euro filter. A 1-D array filters each element alone; an (R, D) array
    filters each row with one cutoff from its speed (the norm of the row's low-passed
    derivative), so a point's x, y and z, or a face's whole motion, slow down and speed up
    together. Warm start: the n-th sample since a reset is taken with a weight of at least 1/n,
    so a still signal's output is the mean of the samples so far until the low-pass's own
    weight is larger (the first sample alone is not held)."""

    def __init__(self, config: OneEuroConfig | None = None):
        self.config = config or OneEuroConfig()
        self.x: np.ndarray | None = None
        self.dx: np.ndarray | None = None
        self.t: float | None = None
        self.n = 0

    def reset(self) -> None:
        self.x = self.dx = self.t = None
        self.n = 0

    def __call__(self, x: np.ndarray, t: float) -> np.ndarray:
        """Filter sample ``x`` taken at time ``t`` (seconds, increasing)."""
        x = np.asarray(x, np.float64)
        if self.x is None or self.x.shape != x.shape or self.t is None or t <= self.t:
            self.x, self.dx, self.t, self.n = x.copy(), np.zeros_like(x), float(t), 1
            return x.copy()
        c = self.config
        dt = t - self.t
        self.n += 1
        self.dx += _alpha(c.d_cutoff, dt) * ((x - self.x) / dt - self.dx)
        speed = np.abs(self.dx) if x.ndim < 2 else np.sqrt((self.dx ** 2).sum(-1, keepdims=True))
        speed = np.maximum(speed - c.deadzone, 0.0)
        self.x += np.maximum(_alpha(c.min_cutoff + c.beta * speed, dt), 1.0 / self.n) * (x - self.x)
        self.t = float(t)
        return self.x.copy()


def similarity_2d(src: np.ndarray, dst: np.ndarray) -> tuple[complex, complex]:
    """Least-squares 2D similarity ``dst ~ a * src + b`` between (N,) complex point sets (x + iy):
    ``a`` = scale * exp(i * angle), ``b`` the translation."""
    ms, md = src.mean(), dst.mean()
    s0 = src - ms
    a = complex(np.vdot(s0, dst - md) / np.vdot(s0, s0).real)
    return a, complex(md - a * ms)


@dataclass
class SmoothingConfig:
    """Video smoothing (see the module docstring): ``shape`` filters the face's shape in its own
    frame (speeds: face heights per second per point), ``motion`` its rigid motion (one speed).
    Lower min_cutoff = steadier; higher beta or lower deadzone = less lag. The defaults were
    chosen on clips of non-test photos (benchmarks/peers_video.py --tune, docs/video.md)."""

    shape: OneEuroConfig = field(default_factory=lambda: OneEuroConfig(min_cutoff=0.1, beta=50.0, d_cutoff=5.0,
                                                                       deadzone=0.2))
    motion: OneEuroConfig = field(default_factory=lambda: OneEuroConfig(min_cutoff=0.1, beta=300.0, d_cutoff=1.0,
                                                                        deadzone=0.25))


class FaceSmoother:
    """Motion-compensated smoothing of one face's landmarks over time (see the module docstring).
    Points in and out are image pixels (x right, y down, z towards the viewer, same scale)."""

    def __init__(self, mean_shape: np.ndarray, config: SmoothingConfig | None = None,
                 idx68: np.ndarray | None = None):
        self.config = config or SmoothingConfig()
        self.mean = np.asarray(mean_shape, np.float64)
        self.idx68 = idx68          # the 68 among the landmarks (for :meth:`face`)
        self.mean_xy = self.mean[:, 0] - 1j * self.mean[:, 1]    # image orientation (y down)
        self.height = float(np.ptp(self.mean[:, 1]))   # model units per face height
        self.shape = OneEuroFilter(self.config.shape)
        self.motion = OneEuroFilter(self.config.motion)
        self._last: tuple[complex, complex] | None = None   # the last smoothed similarity (a, b)
        #: the last frame-to-frame step of the smoothed similarity, z -> a * z + b (image px)
        self.step: tuple[complex, complex] | None = None

    def ahead(self, points: np.ndarray) -> np.ndarray:
        """(K, >=2) image-pixel points moved one frame further by the smoothed motion's last step
        (where the face will be if it keeps moving so; unchanged before two frames)."""
        if self.step is None:
            return points
        z = self.step[0] * (points[:, 0] + 1j * points[:, 1]) + self.step[1]
        out = np.array(points, np.float64, copy=True)
        out[:, 0], out[:, 1] = z.real, z.imag
        return out

    def __call__(self, landmarks: np.ndarray, t: float) -> np.ndarray:
        """Smoothed (M, 3) image-pixel landmarks of the frame at time ``t`` seconds. The first N
        rows are the landmark set's points (N = the mean shape's), whose 2D similarity to the
        mean shape gives the motion; rows after them (e.g. the human-convention 68, lifted to 3D)
        are smoothed in the same frame without entering the fit."""
        p = np.asarray(landmarks, np.float64)
        a, b = similarity_2d(self.mean_xy, p[: len(self.mean), 0] + 1j * p[: len(self.mean), 1])
        size = abs(a) * self.height                                # face height in pixels
        xy = ((p[:, 0] + 1j * p[:, 1]) - b) / a                   # own frame, model units
        shape = np.column_stack([xy.real, xy.imag, p[:, 2] / abs(a)]) / self.height
        angle = np.angle(a)
        if self.motion.x is not None:   # unwrapped next to the last smoothed angle (no jump at +-pi)
            last = self.motion.x[0, 3]
            angle = last + (angle - last + np.pi) % (2 * np.pi) - np.pi
        motion = np.array([[b.real / size, b.imag / size, np.log(abs(a)), angle]])
        shape = self.shape(shape, t) * self.height
        m = self.motion(motion, t)[0]
        a_f = np.exp(m[2] + 1j * m[3])
        b_f = (m[0] + 1j * m[1]) * abs(a_f) * self.height
        if self._last is not None:     # this frame's smoothed motion from the previous frame's
            step = a_f / self._last[0]
            self.step = (step, b_f - step * self._last[1])
        self._last = (a_f, b_f)
        xy = a_f * (shape[:, 0] + 1j * shape[:, 1]) + b_f
        return np.column_stack([xy.real, xy.imag, shape[:, 2] * abs(a_f)])

    def face(self, face: Face, t: float) -> Face:
        """The raw ``face`` of the frame at time ``t`` seconds, smoothed: its landmarks, the 68,
        the human-convention 68 (smoothed with them, at the depth of the landmarks' 68) and the
        pose of the smoothed landmarks."""
        human = face.landmarks68_300w
        points = face.landmarks if human is None else np.concatenate(
            [face.landmarks, np.column_stack([human[:, :2], face.landmarks68[:, 2]])])
        out = self(points, t)
        n = len(face.landmarks)
        lm = out[:n]
        return replace(face, landmarks=lm, landmarks68=lm[self.idx68],
                       landmarks68_300w=None if human is None else out[n:, :2],
                       pose=estimate_pose(lm, self.mean))


@dataclass
class TrackerConfig:
    """See the module docstring. max_faces: most faces tracked (None: all detected).

    Drift check every ``verify_every`` frames (0 = never): the detector looks at the track's
    neighbourhood only (its crop box grown ``verify_region`` times, downscaled to
    ``verify_side`` px). A face there whose calibrated crop overlaps the track's crop less than
    ``verify_iou`` means the track drifted: it restarts from that detection. No face there
    ``max_misses`` checks in a row means the track is lost. crop_ahead: with smoothing, each
    crop comes from the last points moved by the smoothed motion's last step (False: from the
    last points as they were)."""

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
    crop_ahead: bool = True


@dataclass
class Track:
    face: Face                  # last raw (unsmoothed) prediction: the next crop comes from it (moved ahead)
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
        timings = timings or Timings(cpu=False)
        c = self.config
        periodic = c.redetect_every > 0 and self.frame_index % c.redetect_every == 0
        kept: list[Track] = []
        if self.tracks and not periodic:
            new = self.model.track(frame, [self._ahead(tr) for tr in self.tracks], timings,
                                   pose=self.smoothing is None)   # smoothing poses the smoothed points
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

    def _ahead(self, track: Track) -> Face:
        """The face the next crop comes from: the last raw prediction, its 68 points moved by the
        smoothed motion's last step (no move without smoothing)."""
        if track.smoother is None or not self.config.crop_ahead:
            return track.face
        return replace(track.face, landmarks68=track.smoother.ahead(track.face.landmarks68))

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
                smoother = (FaceSmoother(self.model.mean_shape, self.smoothing, self.model.landmark_set.idx68)
                            if self.smoothing else None)
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
        return track.face if track.smoother is None else track.smoother.face(track.face, t)
