"""Picture of a landmark set on the BFM mean face: front and profile views.

Views are orthographic in model coordinates (BFM units, y up). Front: x right, y up, seen from
+z. Profile: seen from the subject's right (-x), the face pointing right (z right, y up).
The mean face is drawn as a shaded mesh (painter's order), the set's triangles as lines, its
points coloured by region and the 68 iBUG landmarks highlighted.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ..errors import OutputError
from ..mesh.bfm import BFM
from .landmark_set import REGION_NAMES, LandmarkSet

MM = 1000.0  # BFM units per millimetre

#: colours of REGION_NAMES, in order
REGION_COLOURS = ("#1f77b4", "#2ca02c", "#ff7f0e", "#d62728", "#9467bd", "#8c564b", "#17becf")


def _view(points: np.ndarray, view: str) -> tuple[np.ndarray, np.ndarray]:
    """(N, 3) model points -> (N, 2) picture coordinates in mm and (N,) depth towards the
    viewer (larger = nearer)."""
    p = points / MM
    if view == "front":
        return p[:, [0, 1]], p[:, 2]
    if view == "profile":
        return p[:, [2, 1]], -p[:, 0]
    raise ValueError(f"unknown view {view!r}")


def _draw_mesh(ax, bfm: BFM, view: str) -> None:
    from matplotlib.collections import PolyCollection

    xy, depth = _view(bfm.mean.astype(np.float64), view)
    tri = bfm.triangles
    p3 = bfm.mean.astype(np.float64)[tri]
    normal = np.cross(p3[:, 1] - p3[:, 0], p3[:, 2] - p3[:, 0])
    normal /= np.linalg.norm(normal, axis=1, keepdims=True) + 1e-12
    toward = np.array([0.0, 0.0, 1.0]) if view == "front" else np.array([-1.0, 0.0, 0.0])
    shade = 0.35 + 0.6 * np.abs(normal @ toward)
    order = np.argsort(depth[tri].mean(1))  # far first
    polys = PolyCollection(xy[tri[order]], facecolors=np.repeat(shade[order, None], 3, 1),
                           edgecolors="none", antialiased=False, zorder=1)
    ax.add_collection(polys)


def plot_landmark_set(bfm: BFM, lmset: LandmarkSet, path: str | Path, title: str | None = None,
                      dpi: int = 130) -> Path:
    """Save the two-view picture as a PNG; returns the path."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.lines import Line2D

    path = Path(path)
    if not path.parent.is_dir():
        raise OutputError("output folder does not exist", path=path.parent)
    pts = bfm.mean[lmset.vertex_ids].astype(np.float64)
    cx = 0.5 * (bfm.mean[:, 0].min() + bfm.mean[:, 0].max())
    fig, axes = plt.subplots(1, 2, figsize=(12, 6.6), gridspec_kw={"width_ratios": [1.2, 1]})
    for ax, view in zip(axes, ("front", "profile")):
        _draw_mesh(ax, bfm, view)
        xy, _ = _view(pts, view)
        # profile: only the near (subject's right) half is visible
        show = np.ones(len(pts), bool) if view == "front" else pts[:, 0] <= cx + 0.5 * MM
        tri = lmset.triangles[show[lmset.triangles].all(1)]
        ax.triplot(xy[:, 0], xy[:, 1], tri, color="k", lw=0.35, alpha=0.6, zorder=2)
        colours = np.array(REGION_COLOURS)[lmset.region]
        ax.scatter(xy[show, 0], xy[show, 1], s=9, c=colours[show], zorder=3, linewidths=0)
        is68 = np.zeros(len(pts), bool)
        is68[lmset.idx68] = True
        ax.scatter(xy[show & is68, 0], xy[show & is68, 1], s=34, facecolors="none",
                   edgecolors="red", linewidths=1.1, zorder=4)
        ax.set_aspect("equal")
        ax.autoscale_view()
        ax.set_title(f"{view} view")
        ax.set_xlabel("z (mm)" if view == "profile" else "x (mm)")
        ax.set_ylabel("y (mm)")
    handles = [Line2D([], [], ls="", marker="o", color=c, label=n)
               for n, c in zip(REGION_NAMES, REGION_COLOURS)]
    handles.append(Line2D([], [], ls="", marker="o", mfc="none", mec="red", label="iBUG 68"))
    fig.legend(handles=handles, loc="lower center", ncol=len(handles), frameon=False)
    fig.suptitle(title or f"{lmset.name}: {lmset.n_points} points, {len(lmset.triangles)} triangles "
                 f"on the BFM mean face")
    fig.tight_layout(rect=(0, 0.05, 1, 1))
    try:
        fig.savefig(path, dpi=dpi)
    except OSError as e:
        raise OutputError(f"cannot write picture ({e})", path=path) from None
    finally:
        plt.close(fig)
    return path
