"""The uncertainty head (``config.head_uncertainty``): each point's expected error, learned on the
frozen network.

``denseface train --config configs/uncertainty_mbv1_050.yaml`` (a config with ``stage:
uncertainty``) reads a trained model, keeps every weight it has, and adds a small MLP on its
pooled features (denseface.models.regressor.UncertaintyHead) that predicts, for each of the N
points, sigma: the per-axis standard deviation of an isotropic 2D Gaussian on the point's (x, y)
error, in normalised crop units. So the points never change, and the model file only grows by
the head.

- **Fit:** the Gaussian negative log-likelihood ``2 log sigma + r^2 / (2 sigma^2)`` of the
  model's own errors r against the 3D labels of the train split, on crops as the trainer sees
  them (each crop and its exact mirror; with ``augment`` the trainer's augmentation too, so the
  errors look like those of photos the network was not fitted to).
- **Calibration:** one scale t multiplies every sigma so that, on the val split, the share of
  errors within sigma is what the distribution says (``1 - exp(-1/2)``, 39.3 %) for the
  flip-averaged prediction, as inference runs it, against ``calibrate_on``: the val 3D labels
  at every point (the default: the convention the points are trained in) or the human AFLW
  points (16 of the 21, those that are single iBUG points and not ears). Both are reported.
- Written: ``model.pt`` (the model with its head), ``model.onnx`` (exported, parity checked),
  ``log.csv`` (train and val likelihood per epoch), ``calibration.json``.
"""
from __future__ import annotations

import csv
import dataclasses
import json
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Literal

import numpy as np
from annotated_types import Ge, Gt

#: Share of 2D isotropic Gaussian errors within one sigma of the truth (a Rayleigh radius).
WITHIN_ONE_SIGMA = 1.0 - float(np.exp(-0.5))
#: AFLW-21 points that are one iBUG-68 point each, not an ear (denseface.landmarks.ibug68).
AFLW21_SINGLE = (0, 1, 2, 3, 4, 5, 6, 8, 9, 11, 13, 14, 15, 17, 19, 20)


@dataclass
class UncertaintyConfig:
    __pydantic_config__ = {"extra": "forbid", "strict": True}
    stage: Literal["uncertainty"] = "uncertainty"
    model: str = "denseface/weights/dense520_mbv1_050.pt"   # a checkpoint; its weights are kept
    float32_from: str = ""       # an ONNX export of that model: its float32 weights replace the checkpoint's fp16 ones
    out_dir: str = "runs/uncertainty"
    train_dir: str = ""          # "" = the shared data/aflw_pl/train
    val_dir: str = ""            # "" = the shared data/aflw_pl/val
    train_labels: str = ""       # "" = the folder's own labels.npz
    val_labels: str = ""
    augment: bool = True
    calibrate_on: Literal["labels", "human"] = "labels"   # the truth the val scale is chosen against
    hidden: Annotated[int, Ge(1)] = 64
    epochs: Annotated[int, Ge(1)] = 30
    batch_size: Annotated[int, Ge(1)] = 512
    lr: Annotated[float, Gt(0)] = 1e-3
    weight_decay: Annotated[float, Ge(0)] = 1e-4
    seed: Annotated[int, Ge(0)] = 0
    threads: Annotated[int, Ge(0)] = 0
    limit: Annotated[int, Ge(0)] = 0    # faces per split, 0 = all (smoke tests)


# -- the pieces, pure numpy where they can be ------------------------------------------------
def gaussian_nll(log_sigma, r2):
    """Mean negative log-likelihood (constants dropped) of 2D errors with squared radius ``r2``
    under isotropic Gaussians of per-axis sigma ``exp(log_sigma)``; torch or numpy arrays."""
    return (2.0 * log_sigma + 0.5 * r2 * (-2.0 * log_sigma).exp()).mean() if hasattr(log_sigma, "exp") \
        else float(np.mean(2.0 * log_sigma + 0.5 * r2 * np.exp(-2.0 * log_sigma)))


def within_sigma(radius: np.ndarray, sigma: np.ndarray, k: float = 1.0) -> float:
    """Share of finite errors whose radius is at most k sigma."""
    ok = np.isfinite(radius) & np.isfinite(sigma)
    return float((radius[ok] <= k * sigma[ok]).mean())


def calibration_scale(radius: np.ndarray, sigma: np.ndarray) -> float:
    """The scale t for which ``within_sigma(radius, t * sigma)`` is WITHIN_ONE_SIGMA (the
    quantile of radius / sigma), over finite pairs."""
    ok = np.isfinite(radius) & np.isfinite(sigma) & (sigma > 0)
    return float(np.quantile(radius[ok] / sigma[ok], WITHIN_ONE_SIGMA))


def features_and_errors(model, dataset, batch: int = 256) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Pooled features (M, F) float32, squared error radii (M, N) (x, y, normalised crop units)
    of the model's own points against the dataset's targets, and the predictions (M, N, 3)."""
    import torch

    model.eval()
    feats, r2, preds = [], [], []
    loader = torch.utils.data.DataLoader(dataset, batch_size=batch, shuffle=False, num_workers=0)
    with torch.inference_mode():
        for x, y, _ in loader:
            f = model.features(x.float())
            p = model.head(f).view(len(x), -1, 3)
            feats.append(f.numpy().astype(np.float32))
            preds.append(p.numpy())
            r2.append(((p - y)[..., :2] ** 2).sum(-1).numpy())
    return np.concatenate(feats), np.concatenate(r2), np.concatenate(preds)


def fit_head(head, F: np.ndarray, R2: np.ndarray, cfg: UncertaintyConfig, val=None) -> list[dict]:
    """Train ``head`` (UncertaintyHead) by the Gaussian likelihood of R2 given F; AdamW with a
    cosine schedule. ``val``: (F, R2) scored after each epoch. Returns the log rows."""
    import torch

    Ft, Rt = torch.from_numpy(F), torch.from_numpy(R2.astype(np.float32))
    opt = torch.optim.AdamW(head.parameters(), cfg.lr, weight_decay=cfg.weight_decay)
    steps = max(1, len(F) // cfg.batch_size)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, cfg.epochs * steps)
    with torch.no_grad():   # start at the mean error of each point
        head.mlp[-1].bias.copy_(0.5 * torch.log(Rt.mean(0) / 2.0 + 1e-12))
        head.mlp[-1].weight.mul_(0.01)
    gen, rows = torch.Generator().manual_seed(cfg.seed), []
    for epoch in range(cfg.epochs):
        head.train()
        total = 0.0
        for idx in torch.randperm(len(F), generator=gen)[:steps * cfg.batch_size].view(steps, -1):
            loss = gaussian_nll(head.mlp(Ft[idx]), Rt[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            total += loss.item()
        row = {"epoch": epoch + 1, "train_nll": round(total / steps, 4)}
        if val is not None:
            head.eval()
            with torch.no_grad():
                row["val_nll"] = round(float(gaussian_nll(head.mlp(torch.from_numpy(val[0])), torch.from_numpy(val[1]))), 4)
        rows.append(row)
        print(f"uncertainty epoch {epoch + 1}/{cfg.epochs}: {row}", file=sys.stderr, flush=True)
    return rows


def flip_averaged_errors(model, split, lset, truth: str) -> tuple[np.ndarray, np.ndarray]:
    """Error radii and sigmas (crop pixels) of the model's flip-averaged points on ``split``'s
    crops (denseface.infer.crops.run_crop_outputs, as inference runs them) against ``truth``:
    "labels", the split's 3D labels at every point (the convention the points are trained in,
    and AFLW2000-3D's), or "human", its human AFLW points (AFLW21_SINGLE)."""
    from ..infer.crops import run_crop_outputs
    from ..landmarks.ibug68 import AFLW21_FROM_68
    from ..models.runners import POINTS, UNCERTAINTY, TorchRunner

    runner = TorchRunner(model)
    crop = np.array([0.0, 0.0, split.images.shape[2], split.images.shape[1]])
    ids = (np.arange(lset.n_points) if truth == "labels"
           else lset.idx68[[AFLW21_FROM_68[k][0] for k in AFLW21_SINGLE]])
    radius, sigma = [], []
    for i in range(0, len(split.images), 256):
        imgs = list(split.images[i:i + 256])
        out = run_crop_outputs(runner, imgs, [crop] * len(imgs), flip=lset.flip)
        target = (split.points[i:i + 256, :, :2] if truth == "labels"
                  else np.asarray(split.table.pts21[i:i + 256], np.float64)[:, AFLW21_SINGLE])
        radius.append(np.linalg.norm(out[POINTS][:, ids, :2] - target, axis=-1))
        sigma.append(out[UNCERTAINTY][:, ids])
    return np.concatenate(radius), np.concatenate(sigma)


def calibration_report(radius: np.ndarray, sigma: np.ndarray, scale: float = 1.0) -> dict:
    """The scale that would calibrate these errors, and the shares within 1, 2, 3 x ``scale`` sigma."""
    return {"scale_to_calibrate": calibration_scale(radius, scale * sigma),
            "points": int((np.isfinite(radius) & np.isfinite(sigma)).sum()),
            **{f"within_{k}_sigma": within_sigma(radius, scale * sigma, k) for k in (1, 2, 3)}}


def restore_float32(model, onnx_path: str | Path) -> list[str]:
    """Copy into ``model`` the float32 weights of an ONNX export of it (initializers named as
    its parameters, ``m.<name>`` or ``<name>``, of the same shape): the checkpoint stores fp16,
    the shipped ONNX file may keep float32 (e.g. the second head's); never the uncertainty head
    being fitted. Returns the names copied."""
    import onnx
    import torch
    from onnx import numpy_helper

    weights = {i.name.removeprefix("m."): numpy_helper.to_array(i) for i in onnx.load(str(onnx_path)).graph.initializer}
    copied = []
    with torch.no_grad():
        for name, p in model.named_parameters():
            w = weights.get(name)
            if (w is not None and not name.startswith("head_uncertainty.") and w.shape == tuple(p.shape)
                    and w.dtype == np.float32):
                p.copy_(torch.from_numpy(w.copy()))
                copied.append(name)
    return copied


def with_uncertainty_head(path: str | Path):
    """The checkpoint at ``path`` as a model with an (unfitted) uncertainty head; every other
    weight kept."""
    from ..models.regressor import DenseRegressor, load_model

    base = load_model(path)
    model = DenseRegressor(dataclasses.replace(base.config, head_uncertainty=True))
    missing = model.load_state_dict(base.state_dict(), strict=False).missing_keys
    assert all(k.startswith("head_uncertainty.") for k in missing), missing
    return model


def calibrate(model, head, val_split, lset, truth: str) -> dict:
    """Scale ``head`` (in place) so that its sigmas are calibrated on ``val_split`` against
    ``truth``; the shares within 1, 2, 3 sigma against both truths, before and after."""
    import torch

    errs = {t: flip_averaged_errors(model, val_split, lset, t) for t in ("labels", "human")}
    scale = calibration_scale(*errs[truth])
    with torch.no_grad():   # the scale lives in the head: sigma * t = exp(mlp + log t)
        head.mlp[-1].bias.add_(float(np.log(scale)))
    return {"calibrated_on": truth, "scale": scale,
            "before": {t: calibration_report(*e) for t, e in errs.items()},
            "after": {t: calibration_report(*e, scale) for t, e in errs.items()}}


def write_run(model, out: Path, cfg: UncertaintyConfig, cal: dict, rows: list[dict]) -> None:
    """model.pt (fp16), model.onnx (from those weights, float32 ones from ``cfg.float32_from``;
    parity checked), calibration.json and log.csv in ``out``."""
    from ..export.onnx import export_onnx, parity_max_abs_px
    from ..models.regressor import load_model, save_checkpoint

    save_checkpoint(model, out / "model.pt", half=True, uncertainty=dataclasses.asdict(cfg), calibration=cal)
    model = load_model(out / "model.pt")      # the fp16-rounded weights, as shipped
    if cfg.float32_from:
        cal["float32_from_onnx"] = restore_float32(model, cfg.float32_from)
    export_onnx(model, out / "model.onnx")
    S = model.config.input_size
    crops = np.random.default_rng(0).integers(0, 256, (4, S, S, 3), dtype=np.uint8)
    cal["onnx_parity_px"] = parity_max_abs_px(model, out / "model.onnx", crops)
    (out / "calibration.json").write_text(json.dumps(cal, indent=1) + "\n")
    with open(out / "log.csv", "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[-1]))
        w.writeheader()
        w.writerows(rows)


def train_uncertainty(cfg: UncertaintyConfig) -> Path:
    import torch

    from ..data.augment import AugmentConfig
    from ..data.dataset import LandmarkDataset, load_split
    from ..landmarks import load_landmark_set
    from ..mesh.bfm import load_bfm
    from ..models.regressor import UncertaintyHead
    from ..paths import shared_path
    from .config import start_stage
    from .extra_targets import cached_arrays

    out = start_stage(cfg)
    model = with_uncertainty_head(cfg.model)
    lset, bfm, S = load_landmark_set(model.config.landmark_set), load_bfm(None), model.config.input_size
    folders = {"train": (cfg.train_dir or shared_path("data", "aflw_pl", "train"), cfg.train_labels),
               "val": (cfg.val_dir or shared_path("data", "aflw_pl", "val"), cfg.val_labels)}
    splits: dict = {}

    def split(part: str):   # loaded on first use (cached features need no train images)
        if part not in splits:
            d, lab = folders[part]
            splits[part] = load_split(d, bfm, lset, lab or None, limit=cfg.limit or None)
        return splits[part]

    def errors(part: str, augment: bool) -> dict[str, np.ndarray]:   # cached: refits reuse them
        return cached_arrays(out / f"features_{part}{'_augmented' if augment else ''}.npz",
                             lambda: dict(zip(("F", "R2"), features_and_errors(model, LandmarkDataset(
                                 split(part), lset.flip, S, AugmentConfig(enabled=augment), flip_double=True))[:2])))
    t0 = time.time()
    train, val = errors("train", cfg.augment), errors("val", False)
    print(f"features: {len(train['F'])} train, {len(val['F'])} val crops ({time.time() - t0:.0f} s)", file=sys.stderr)
    torch.manual_seed(cfg.seed)     # the head's start does not depend on whether features were cached
    head = UncertaintyHead(train["F"].shape[1], model.config.num_points, cfg.hidden)
    rows = fit_head(head, train["F"], train["R2"], cfg, val=(val["F"], val["R2"]))
    model.head_uncertainty = head.eval()
    cal = calibrate(model, head, split("val"), lset, cfg.calibrate_on)
    write_run(model, out, cfg, cal, rows)
    print(f"calibration: {cal}", file=sys.stderr)
    return out
