"""Batch augmentation on the training device (GPU) for datasets kept in device memory.

The geometry is sampled exactly as on the CPU path (denseface.data.augment.sample_geometry,
one 2x3 pixel matrix per sample), so points follow images identically; images are warped
with ``grid_sample``. Photometric steps run batched in torch.
"""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from .augment import AugmentConfig, geometry_targets, sample_geometry


def _pixel_to_norm(size: int) -> np.ndarray:
    """3x3 matrix: pixel centres 0..size-1 -> [-1, 1] (align_corners=True)."""
    a = 2.0 / (size - 1)
    return np.array([[a, 0, -1.0], [0, a, -1.0], [0, 0, 1.0]])


def warp_batch(images: torch.Tensor, matrices: np.ndarray, out_size: int) -> torch.Tensor:
    """images (B,3,H,W) float; matrices (B,2,3) input px -> output px. Returns (B,3,S,S)."""
    B, _, H, W = images.shape
    Nin, Nout = _pixel_to_norm(W), _pixel_to_norm(out_size)
    thetas = []
    for M in matrices:
        M3 = np.vstack([M, [0, 0, 1]])
        thetas.append((Nin @ np.linalg.inv(M3) @ np.linalg.inv(Nout))[:2])
    theta = torch.as_tensor(np.stack(thetas), dtype=images.dtype, device=images.device)
    grid = F.affine_grid(theta, (B, 3, out_size, out_size), align_corners=True)
    return F.grid_sample(images, grid, mode="bilinear", padding_mode="zeros", align_corners=True)


def photometric_batch(x: torch.Tensor, cfg: AugmentConfig, gen: torch.Generator) -> torch.Tensor:
    """x (B,3,S,S) float 0..255 -> same, with gamma, one blur scale per batch, noise, grey."""
    if not cfg.enabled:
        return x
    B, dev = x.shape[0], x.device

    def rand(*shape):
        return torch.rand(*shape, generator=gen, device=dev)

    g = cfg.gamma[0] + (cfg.gamma[1] - cfg.gamma[0]) * rand(B)
    g = torch.where(rand(B) < 0.5, 1.0 / g, g).view(B, 1, 1, 1)
    x = 255.0 * (x / 255.0).clamp(0, 1) ** g
    S = x.shape[-1]
    blur = (rand(B) < cfg.blur_p).view(B, 1, 1, 1)
    small = max(8, int(S * float(cfg.blur_min_scale + (0.8 - cfg.blur_min_scale) * rand(1))))
    xb = F.interpolate(F.interpolate(x, size=(small, small), mode="area"), size=(S, S),
                       mode="bilinear", align_corners=False)
    x = torch.where(blur, xb, x)
    noisy = (rand(B) < cfg.noise_p).view(B, 1, 1, 1)
    sigma = (rand(B) * cfg.noise_std).view(B, 1, 1, 1)
    x = torch.where(noisy, x + torch.randn(x.shape, generator=gen, device=dev) * sigma, x)
    grey = (rand(B) < cfg.grey_p).view(B, 1, 1, 1)
    y = (0.299 * x[:, 0:1] + 0.587 * x[:, 1:2] + 0.114 * x[:, 2:3]).expand_as(x)
    return torch.where(grey, y, x).clamp(0, 255)


class DeviceBatcher:
    """Yields augmented (images (B,3,S,S) float, targets (B,N,3) normalised) batches from a
    LoadedSplit whose images stay on ``device`` as uint8."""

    def __init__(self, split, flip_perm: np.ndarray, input_size: int, cfg: AugmentConfig,
                 batch_size: int, device: torch.device, seed: int = 0, flip_double: bool = False):
        self.images = torch.from_numpy(split.images).permute(0, 3, 1, 2).contiguous().to(device)
        self.points = split.points
        self.source_scale = split.source_scale
        self.flip = flip_perm
        self.size, self.cfg, self.batch_size = input_size, cfg, batch_size
        self.device, self.seed, self.flip_double = device, seed, flip_double
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        n = len(self.points) * (2 if self.flip_double else 1)
        return n // self.batch_size

    def __iter__(self):
        n = len(self.points)
        total = n * (2 if self.flip_double else 1)
        rng = np.random.default_rng((self.seed, self.epoch))
        gen = torch.Generator(device=self.device)
        gen.manual_seed(int(rng.integers(2**31)))
        order = rng.permutation(total)
        in_size = self.images.shape[-1]
        for b in range(len(self)):
            idx = order[b * self.batch_size:(b + 1) * self.batch_size]
            mats, pts = [], []
            for i in idx:
                force_flip = bool(i >= n) if self.flip_double else None
                M, flipped = sample_geometry(rng, self.cfg, in_size, self.size, force_flip)
                pts.append(geometry_targets(self.points[i % n], M, flipped, self.flip,
                                            self.source_scale[i % n]))
                mats.append(M)
            x = self.images[torch.as_tensor(idx % n, device=self.device)].float()
            x = photometric_batch(warp_batch(x, np.stack(mats), self.size), self.cfg, gen)
            y = torch.as_tensor(np.stack(pts) / self.size - 0.5, dtype=torch.float32, device=self.device)
            yield x, y
