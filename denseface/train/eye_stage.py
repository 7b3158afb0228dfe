"""Training the eye stage (denseface.infer.eyes): eye patches cut where inference cuts them.

``denseface train --config configs/eyes_v1.yaml`` (a config with ``stage: eyes``). Data:
- the train photos of a human-68 folder (300-W: the human eye points are the targets);
- the train blocks of a CEW folder (closed eyes, no points: a weak target, each eye's corners
  where the first stage puts them and each upper-lid point together with its lower-lid partner,
  on their midline).
Each face goes through ``DenseFace``'s default pipeline (the shipped model: a 300-W face from the
box of its human points, a CEW photo from the detector) and its two eye patches are cut around
the predicted human-convention eye points, as at inference; crops are cached in ``cache_dir``.
Augmentation: a random similarity of the patch (placement errors of the first stage) and
photometric changes. Held-out parts (300-W's held-out photos, CEW's held-out blocks) are scored
every ``val_every`` epochs (denseface.metrics.openness_scores on the eyes, CEW read closed);
the last epoch is kept (a one-cycle schedule), as ``eye_net.pt`` and ``eyes.onnx``.
"""
from __future__ import annotations

import csv
import dataclasses
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Literal

import cv2
import numpy as np
from annotated_types import Ge, Gt

from ..geometry.eye_patch import EYE_INDICES, to_patch
from ..metrics import six_point_ear
from ..models.eye_net import EyeConfig

PosInt = Annotated[int, Ge(1)]
NonNegFloat = Annotated[float, Ge(0)]


@dataclass
class EyeStageConfig:
    __pydantic_config__ = {"extra": "forbid", "strict": True}
    stage: Literal["eyes"] = "eyes"
    out_dir: str = "runs/eyes"
    human68_dir: str = ""        # "" = the shared data/w300_afw_helen
    closed_eyes_dir: str = ""    # "" = the shared data/cew_closed
    cache_dir: str = ""          # "" = out_dir
    epochs: PosInt = 40
    batch_size: PosInt = 64
    lr: Annotated[float, Gt(0)] = 2e-3
    weight_decay: NonNegFloat = 1e-4
    closed_weight: NonNegFloat = 1.0
    rotation_deg: NonNegFloat = 10.0
    scale: tuple[float, float] = (0.9, 1.1)
    shift_px: NonNegFloat = 3.0
    gamma: tuple[float, float] = (0.6, 1.5)
    blur_p: NonNegFloat = 0.3
    grey_p: NonNegFloat = 0.2
    seed: Annotated[int, Ge(0)] = 0
    threads: Annotated[int, Ge(0)] = 0
    limit_faces: Annotated[int, Ge(0)] = 0   # per source and part, 0 = all (smoke tests)
    val_every: PosInt = 5
    net: EyeConfig = field(default_factory=EyeConfig)


# -- data ----------------------------------------------------------------------------------
def _collect(paths: list[Path], boxes, human68, cfg: EyeConfig) -> dict[str, np.ndarray]:
    """Patches of each face's two eyes, the human targets (NaN without), the first stage's points."""
    from tqdm import tqdm

    from ..infer.api import DenseFace
    from ..infer.eyes import cut_eye_patches
    from ..io.images import read_image, to_rgb
    from .extra_targets import main_face

    df = DenseFace(config={"eyes": False})    # the first stage's eyes place the patches
    out = {"patches": [], "target": [], "first": []}
    for i, p in enumerate(tqdm(paths, desc="eye patches", file=sys.stderr, mininterval=5)):
        img = to_rgb(read_image(p))
        pred = main_face(df, img, None if boxes is None else boxes[i]).landmarks68_300w
        patches, mats = cut_eye_patches(img, pred, cfg.width, cfg.height, cfg.width_factor)
        for k, idx in enumerate(EYE_INDICES):
            out["patches"].append(patches[k])
            out["first"].append(to_patch(pred[idx], mats[k], k == 1))
            out["target"].append(np.full((6, 2), np.nan) if human68 is None
                                 else to_patch(human68[i][idx], mats[k], k == 1))
    return {k: np.stack(v) for k, v in out.items()}


def eye_data(cfg: EyeStageConfig) -> dict[str, dict[str, np.ndarray]]:
    """``{"human68_train", "human68_val", "closed_eyes_train", "closed_eyes_val"}`` -> patches,
    targets and first-stage points (cached in ``cache_dir``)."""
    from ..data.closed_eyes import closed_eye_files
    from ..geometry.boxes import landmark_bbox
    from ..paths import shared_path
    from .extra_targets import cached_arrays, human68_part

    cache = Path(cfg.cache_dir or cfg.out_dir)
    h_dir = Path(cfg.human68_dir) if cfg.human68_dir else shared_path("data", "w300_afw_helen")
    c_dir = Path(cfg.closed_eyes_dir) if cfg.closed_eyes_dir else shared_path("data", "cew_closed")

    def human68(part: str) -> dict[str, np.ndarray]:
        _, files, pts = human68_part(h_dir, part, cfg.limit_faces)
        return _collect(files, [landmark_bbox(p) for p in pts], pts, cfg.net)

    def closed_eyes(part: str) -> dict[str, np.ndarray]:
        return _collect(closed_eye_files(c_dir, part)[:cfg.limit_faces or None], None, None, cfg.net)

    return {f"{name}_{part}": cached_arrays(cache / f"eyes_{name}_{part}.npz", lambda make=make, part=part: make(part))
            for part in ("train", "val") for name, make in (("human68", human68), ("closed_eyes", closed_eyes))}


def closed_targets(first: np.ndarray) -> np.ndarray:
    """(M, 6, 2) weak targets of closed eyes: the first stage's corners, each upper-lid point and
    its lower-lid partner (p2-p6, p3-p5) together on their midline."""
    t = np.array(first, np.float64, copy=True)
    for up, low in ((1, 5), (2, 4)):
        mid = (first[:, up] + first[:, low]) / 2.0
        t[:, up], t[:, low] = mid, mid
    return t


def augment(rng: np.random.Generator, cfg: EyeStageConfig, patch: np.ndarray, target: np.ndarray):
    """A random similarity of the patch and its target, then gamma, blur and grey."""
    c = cfg.net
    M = cv2.getRotationMatrix2D(((c.width - 1) / 2, (c.height - 1) / 2), rng.uniform(-cfg.rotation_deg, cfg.rotation_deg),
                                rng.uniform(*cfg.scale))
    M[:, 2] += rng.uniform(-cfg.shift_px, cfg.shift_px, 2)
    x = cv2.warpAffine(patch, M, (c.width, c.height), borderMode=cv2.BORDER_REPLICATE).astype(np.float32)
    x = 255.0 * (x / 255.0) ** rng.uniform(*cfg.gamma)
    if rng.random() < cfg.blur_p:
        x = cv2.GaussianBlur(x, (3, 3), rng.uniform(0.3, 1.2))
    if rng.random() < cfg.grey_p:
        x = np.repeat(x.mean(-1, keepdims=True), 3, -1)
    return x, target @ M[:, :2].T + M[:, 2]


# -- training ------------------------------------------------------------------------------
def scores(pred_h: np.ndarray, data_h: dict, pred_c: np.ndarray) -> dict:
    """Held-out scores: per face (both eyes averaged) the EAR's r with the humans', the near-closed
    error, open eyes read open; the eye points' error (patch px); CEW read closed (EAR < 0.2)."""
    ear_h = six_point_ear(data_h["target"]).reshape(-1, 2).mean(1)
    ear_p = six_point_ear(pred_h).reshape(-1, 2).mean(1)
    near, open_ = ear_h < 0.2, ear_h >= 0.25
    return {"ear_r": float(np.corrcoef(ear_p, ear_h)[0, 1]),
            "near_closed_err": float(np.abs(ear_p - ear_h)[near].mean()) if near.any() else float("nan"),
            "open_read_open": float((ear_p[open_] >= 0.2).mean()) if open_.any() else float("nan"),
            "eye_px": float(np.linalg.norm(pred_h - data_h["target"], axis=-1).mean()),
            "closed_read_closed": float((six_point_ear(pred_c).reshape(-1, 2).mean(1) < 0.2).mean())}


def train_eye_stage(cfg: EyeStageConfig) -> Path:
    import torch

    from ..export.onnx import export_eye_stage
    from ..models.eye_net import EyeNet, save_eye_net
    from .config import start_stage

    out = start_stage(cfg)
    d = eye_data(cfg)
    h, c = d["human68_train"], d["closed_eyes_train"]
    X = np.concatenate([h["patches"], c["patches"]])
    Y = np.concatenate([h["target"], closed_targets(c["first"])])
    W = np.r_[np.ones(len(h["patches"])), np.full(len(c["patches"]), cfg.closed_weight)].astype(np.float32)
    net = EyeNet(cfg.net)
    opt = torch.optim.AdamW(net.parameters(), cfg.lr, weight_decay=cfg.weight_decay)
    steps = max(1, len(X) // cfg.batch_size)    # a set smaller than a batch is one batch
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, cfg.lr, total_steps=cfg.epochs * steps)
    rng, rows, t0 = np.random.default_rng(cfg.seed), [], time.time()
    for epoch in range(cfg.epochs):
        net.train()
        order, total = rng.permutation(len(X)), 0.0
        for b in range(steps):
            idx = order[b * cfg.batch_size:(b + 1) * cfg.batch_size]
            xb, yb = zip(*[augment(rng, cfg, X[i], Y[i]) for i in idx])
            x = torch.from_numpy(np.stack(xb)).permute(0, 3, 1, 2).float()
            loss = ((net(x) - torch.from_numpy(np.stack(yb)).float()).abs().sum(-1).mean(-1)
                    * torch.from_numpy(W[idx])).mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            total += loss.item()
        if (epoch + 1) % cfg.val_every == 0 or epoch + 1 == cfg.epochs:
            row = {"epoch": epoch + 1, "train_loss": round(total / steps, 4),
                   **{k: round(v, 4) for k, v in scores(_run(net, d["human68_val"]["patches"]), d["human68_val"],
                                                       _run(net, d["closed_eyes_val"]["patches"])).items()}}
            rows.append(row)
            print(f"eyes epoch {epoch + 1}/{cfg.epochs} ({time.time() - t0:.0f} s): {row}", file=sys.stderr, flush=True)
    with open(out / "log.csv", "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    first = scores(d["human68_val"]["first"], d["human68_val"], d["closed_eyes_val"]["first"])
    save_eye_net(net, out / "eye_net.pt", train_config=dataclasses.asdict(cfg), val=rows[-1], first_stage=first)
    export_eye_stage(net, out / "eyes.onnx")
    print(f"first stage on the same held-out eyes: {first}", file=sys.stderr)
    return out


def _run(net, patches: np.ndarray) -> np.ndarray:
    import torch
    net.eval()
    with torch.inference_mode():
        return net(torch.from_numpy(patches.astype(np.float32)).permute(0, 3, 1, 2)).numpy()
