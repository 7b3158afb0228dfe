"""Leave-points-out check: how well do fits predict human points they were not fitted to?

Each image's visible human points are split at random into ``folds`` groups. For each fold
the refinement sees every other point; the fold's points are then compared (crop px) with
where the initial fit and the refined fit put them, both through the same mapping.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..metrics import YAW_BIN_NAMES, bin_means, yaw_bin
from ..mesh.readers import FitTable
from .refiner import Refiner


@dataclass
class HoldoutResult:
    """Per held-out point: image row, point index, error (px) of the initial and refined fit."""

    rows: np.ndarray
    points: np.ndarray
    err_init: np.ndarray
    err_refined: np.ndarray
    seconds: float

    def summary(self, yaw: np.ndarray | None = None) -> dict:
        out = {"held_out_points": int(len(self.rows)),
               "init_mean_px": float(self.err_init.mean()), "refined_mean_px": float(self.err_refined.mean()),
               "init_median_px": float(np.median(self.err_init)),
               "refined_median_px": float(np.median(self.err_refined)),
               "refined_better_frac": float((self.err_refined < self.err_init).mean()),
               "seconds": round(self.seconds, 1)}
        if yaw is not None:
            bins = yaw_bin(np.asarray(yaw)[self.rows])
            for name, e0, e1 in zip(YAW_BIN_NAMES, bin_means(self.err_init, bins),
                                    bin_means(self.err_refined, bins)):
                out[f"init_mean_px[{name}]"], out[f"refined_mean_px[{name}]"] = e0, e1
        return out

    def per_point(self, n_points: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(count, init mean px, refined mean px) per mapping point."""
        cnt = np.bincount(self.points, minlength=n_points)
        s0 = np.bincount(self.points, self.err_init, minlength=n_points)
        s1 = np.bincount(self.points, self.err_refined, minlength=n_points)
        with np.errstate(invalid="ignore", divide="ignore"):
            return cnt, s0 / cnt, s1 / cnt


def fold_assignment(visible: np.ndarray, folds: int, seed: int = 0) -> np.ndarray:
    """(N, K) fold id in 0..folds-1 for visible points (-1 elsewhere), balanced per image."""
    rng = np.random.default_rng(seed)
    out = np.full(visible.shape, -1, np.int64)
    for i in range(visible.shape[0]):
        idx = np.flatnonzero(visible[i])
        perm = rng.permutation(len(idx))
        out[i, idx[perm]] = (np.arange(len(idx)) + rng.integers(folds)) % folds
    return out


def holdout_eval(refiner: Refiner, table: FitTable, folds: int = 5, seed: int = 0,
                 points: np.ndarray | None = None) -> HoldoutResult:
    """Refine ``folds`` times, each time hiding one fold of every image's human points."""
    import time

    t0 = time.time()
    targets = np.asarray(table.pts21 if points is None else points, np.float64)
    visible = np.isfinite(targets).all(-1)
    fold = fold_assignment(visible, folds, seed)
    G, ids = refiner.mapping.averaging_matrix()
    rows, pts, e0, e1 = [], [], [], []

    def mapped(tab: FitTable) -> np.ndarray:
        out = np.empty((len(tab), refiner.mapping.n_points, 2))
        for i in range(len(tab)):
            out[i] = G @ refiner.bfm.vertices(tab.fit(i), ids)[:, :2]
        return out

    init = mapped(table)
    for f in range(folds):
        hidden = fold == f
        sub = np.flatnonzero(hidden.any(1))
        if sub.size == 0:
            continue
        seen = np.where(hidden[sub, :, None], np.nan, targets[sub])
        res = refiner.run(table.subset(sub), points=seen)
        fin = mapped(res.table)
        r, k = np.nonzero(hidden[sub])
        tgt = targets[sub][r, k]
        rows.append(sub[r])
        pts.append(k)
        e0.append(np.linalg.norm(init[sub][r, k] - tgt, axis=-1))
        e1.append(np.linalg.norm(fin[r, k] - tgt, axis=-1))
    cat = lambda xs, dt: np.concatenate(xs).astype(dt) if xs else np.zeros(0, dt)  # noqa: E731
    return HoldoutResult(cat(rows, np.int64), cat(pts, np.int64), cat(e0, np.float64), cat(e1, np.float64),
                         time.time() - t0)
