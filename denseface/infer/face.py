"""One predicted face (:class:`Face`) and its JSON form."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..metrics import eye_aspect_ratios, mouth_opening
from .pose import Pose


@dataclass
class Face:
    """One face. box [x0, y0, x1, y1] (detector or user box) and its score; landmarks (N, 3)
    and landmarks68 (68, 3) in image pixels with z on the same scale (towards the viewer);
    pose in degrees (see denseface.infer.pose); crop_box: the square crop the last pass used;
    mesh: the full BFM mesh (53215, 3) fitted to the landmarks, same frame, when asked for
    (``mesh="full"``; not part of the JSON form); landmarks68_300w (68, 2) image pixels: the 68
    points as people annotate them (300-W: the jaw on the visible outline), from models with
    the second head, else None (docs/predict.md says which 68 to use when).

    uncertainty (N,) and uncertainty68 (68,), image pixels, from models with the uncertainty
    head (else None): each point's sigma, the per-axis standard deviation of an isotropic 2D
    Gaussian on its (x, y) error (about 39 % of points lie within sigma of the truth, 86 % within
    2 sigma; calibrated on aflw_pl val, docs/predict.md); ``quality`` sums them up per face.

    visibility (N,) and visibility68 (68,) bool: whether each point is seen (True) or hidden by
    the face itself (False), from the predicted points in an orthographic view
    (denseface.geometry.visibility.face_visibility: the normal of the points' mesh faces the
    viewer and the mesh is not in front of it; docs/predict.md "Visibility"); None for a Face
    made without them.

    Openness readouts (docs/predict.md), from ``landmarks68_300w`` when the model has it, else
    from ``landmarks68``: ``eye_open_right`` / ``eye_open_left`` the eye aspect ratio of the
    subject's right eye (points 36-41, on the image's left in a frontal photo) and left eye
    (42-47), about 0.25-0.35 open and below 0.2 closed; ``mouth_open`` the inner-lip opening
    |62 - 66| / |60 - 64| (0 with the lips together).

    expression (10,): the expression coefficients of the BFM fit to the 520 points
    (denseface.mesh.point_fit.EXPRESSION_FIT), when asked for (``PredictConfig.expression``;
    else None). Basis: the 10 expression components of bfm_3ddfa_53215 (3DDFA's ``w_exp_sim``,
    the first 10 of AFLW2000-3D's / 300W-LP's ``Exp_Para`` basis), in that order and in its
    units: the mesh in model coordinates is ``u + w_shp @ shape + w_exp @ expression``, so the
    numbers read as 3DDFA(-V2)'s 10 expression parameters; their scales are ``BFM.exp_std``
    (about 1.5, 1.4, 0.54, 0.53, 0.19, 0.24, 0.25, 0.35, 0.15, 0.24); docs/predict.md."""

    box: np.ndarray
    score: float
    landmarks: np.ndarray
    landmarks68: np.ndarray
    pose: Pose
    crop_box: np.ndarray
    mesh: np.ndarray | None = None
    landmarks68_300w: np.ndarray | None = None
    expression: np.ndarray | None = None
    visibility: np.ndarray | None = None
    visibility68: np.ndarray | None = None
    uncertainty: np.ndarray | None = None
    uncertainty68: np.ndarray | None = None

    @property
    def quality(self) -> float | None:
        """How much to trust this face, in (0, 1] (1: no expected error), from models with the
        uncertainty head, else None: ``exp(-e / 10)``, where e is the face's expected NME, the
        mean expected error radius of its 68 points (sigma * sqrt(pi / 2)) in percent of
        sqrt(w * h) of their box (the AFLW2000-3D normaliser); docs/predict.md shows how it
        ranks faces by their error."""
        if self.uncertainty68 is None:
            return None
        return face_quality(self.uncertainty68, self.landmarks68)

    @property
    def _points_for_openness(self) -> np.ndarray:
        return self.landmarks68 if self.landmarks68_300w is None else self.landmarks68_300w

    @property
    def eye_open_right(self) -> float:
        return float(eye_aspect_ratios(self._points_for_openness)[0])

    @property
    def eye_open_left(self) -> float:
        return float(eye_aspect_ratios(self._points_for_openness)[1])

    @property
    def mouth_open(self) -> float:
        return float(mouth_opening(self._points_for_openness))

    def __repr__(self) -> str:
        box = ", ".join(f"{v:.0f}" for v in np.asarray(self.box, np.float64))
        p = self.pose.as_dict()
        return (f"Face(box=[{box}], score={self.score:.2f}, {len(self.landmarks)} points, "
                f"yaw={p['yaw']:.1f}, pitch={p['pitch']:.1f}, roll={p['roll']:.1f}"
                + (f", mesh {len(self.mesh)} vertices" if self.mesh is not None else "") + ")")

    def to_dict(self, decimals: int = 3) -> dict:
        """The JSON form (docs/predict.md); non-finite numbers become null."""
        return {"box": _round(self.box, decimals), "score": _round(self.score, 4),
                "landmarks": _round(self.landmarks, decimals),
                "landmarks68": _round(self.landmarks68, decimals),
                "landmarks68_300w": (None if self.landmarks68_300w is None
                                     else _round(self.landmarks68_300w, decimals)),
                "pose": {k: _round(v, 3) for k, v in self.pose.as_dict().items()},
                "eye_open_left": _round(self.eye_open_left, 4), "eye_open_right": _round(self.eye_open_right, 4),
                "mouth_open": _round(self.mouth_open, 4),
                "visibility": None if self.visibility is None else np.asarray(self.visibility, bool).tolist(),
                "visibility68": None if self.visibility68 is None else np.asarray(self.visibility68, bool).tolist(),
                "expression": None if self.expression is None else _round(self.expression, 4),
                "uncertainty": None if self.uncertainty is None else _round(self.uncertainty, decimals),
                "uncertainty68": None if self.uncertainty68 is None else _round(self.uncertainty68, decimals),
                "quality": None if self.uncertainty68 is None else _round(self.quality, 4)}


#: quality = exp(-expected NME / QUALITY_SCALE_NME) (Face.quality)
QUALITY_SCALE_NME = 10.0


def face_quality(sigma68: np.ndarray, landmarks68: np.ndarray) -> float:
    """exp(-e / QUALITY_SCALE_NME), e the expected NME in percent: the mean expected error radius
    of the 68 points, sigma * sqrt(pi / 2) (the mean of a Rayleigh distribution), over sqrt(w * h)
    of their 2D box; image pixels in."""
    xy = np.asarray(landmarks68, np.float64)[:, :2]
    w, h = np.ptp(xy[:, 0]), np.ptp(xy[:, 1])
    if not (np.isfinite(w * h) and w * h > 0):
        return 0.0
    expected_nme = 100.0 * float(np.mean(sigma68)) * np.sqrt(np.pi / 2) / np.sqrt(w * h)
    return float(np.exp(-expected_nme / QUALITY_SCALE_NME))


def _round(a, decimals: int):
    """Rounded nested lists for JSON; non-finite values become None."""
    arr = np.round(np.asarray(a, np.float64), decimals)
    finite = np.isfinite(arr)
    if finite.all():
        return arr.tolist()
    return np.where(finite, arr, None).tolist()
