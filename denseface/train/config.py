"""Training configuration: one dataclass tree, read from YAML and validated by pydantic.

Types are strict (``epochs: true`` or ``epochs: 2.9`` are errors, not 1 and 2), ranges are
checked, unknown keys, duplicate keys and YAML aliases are refused, each with one line naming
the key. The dataclasses stay plain dataclasses for the code that uses them.
"""
from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Literal

from annotated_types import Ge, Gt

from ..data.augment import AugmentConfig
from ..errors import ConfigError
from ..losses import LossConfig

STRICT = {"extra": "forbid", "strict": True}
NonNegInt = Annotated[int, Ge(0)]
PosInt = Annotated[int, Ge(1)]
NonNegFloat = Annotated[float, Ge(0)]


@dataclass
class DataConfig:
    """Split folders in the aflw_pl layout; ``train_labels`` overrides train/labels.npz
    (e.g. refined labels). Paths default to the shared aflw_pl set."""

    __pydantic_config__ = STRICT
    train_dir: str = ""
    val_dir: str = ""
    train_labels: str = ""
    val_labels: str = ""
    bfm: str = ""
    landmark_set: str = "dense520"
    limit_train: NonNegInt = 0      # 0 = all
    limit_val: NonNegInt = 0
    flip_double: bool = True  # every sample twice per epoch, once flipped
    workers: NonNegInt = 1
    on_device: bool = False   # keep decoded crops on the device and augment there (GPU)


@dataclass
class OptimConfig:
    __pydantic_config__ = STRICT
    optimizer: Literal["adamw", "sgd"] = "adamw"
    lr: Annotated[float, Gt(0)] = 2e-3
    weight_decay: NonNegFloat = 1e-4
    momentum: NonNegFloat = 0.9
    schedule: Literal["cosine", "poly"] = "cosine"
    poly_power: Annotated[float, Gt(0)] = 0.9
    warmup_epochs: NonNegFloat = 1.0
    min_lr_ratio: NonNegFloat = 0.01


def _extra_augment() -> AugmentConfig:
    """Heavier augmentation for the small extra sets than the default's."""
    return AugmentConfig(rotation_deg=30.0, scale=(0.9, 1.1), translate=0.06, blur_p=0.4, grey_p=0.2)


@dataclass
class ExtraConfig:
    """Faces without 3D labels trained beside the 3D labels (denseface.train.extra_targets):
    ``human68`` (300-W's human 68 points, the second head and the shared eyelid and lip points)
    and ``closed_eyes`` (CEW: upper lids onto lower lids). Folders default to the shared data;
    pseudo-labels come from ``pseudo_model`` ("" = ``init_from``), cached in ``cache`` ("" =
    out_dir/extra_<source>_<part>.npz). Each face is seen ``repeat_*`` times per epoch (twice
    more with ``data.flip_double``)."""

    __pydantic_config__ = STRICT
    sources: list[Literal["human68", "closed_eyes"]] = field(default_factory=list)
    human68_dir: str = ""
    closed_eyes_dir: str = ""
    pseudo_model: str = ""
    cache_dir: str = ""
    limit_faces: NonNegInt = 0          # per source and part, 0 = all (smoke tests)
    repeat_human68: PosInt = 4
    repeat_closed_eyes: PosInt = 4
    keep_weight: NonNegFloat = 0.5      # pseudo-labelled points
    shared_weight: NonNegFloat = 2.0    # human (or closed-lid) points
    head_300w_weight: NonNegFloat = 1.0
    head_300w_lr_scale: NonNegFloat = 0.01   # the second head's learning rate, of optim.lr
    spread_fraction: Annotated[float, Gt(0)] = 0.25   # propagation width, of the eye width
    augment: AugmentConfig = field(default_factory=_extra_augment)


@dataclass
class TrainConfig:
    __pydantic_config__ = STRICT
    out_dir: str = "runs/default"
    backbone: str = "mobilenetv2_100"
    input_size: Annotated[int, Ge(32)] = 120
    pretrained: str = ""      # backbone weights: "imagenet" (installed package), "teacher" (3DDFA-V2
                              # mb05 from teacher_dir), or a timm-layout state dict path
    teacher_dir: str = ""     # folder of mb05_120x120.pth; "" = shared models/3ddfa_v2_mb05
    head_init: Literal["random", "ridge"] = "random"   # ridge: closed form on the frozen features
    ridge_lambda: Annotated[float, Gt(0)] = 0.01
    freeze_bn: bool = False   # keep BatchNorm statistics of the initialisation (BN layers in eval mode)
    init_from: str = ""       # a denseface checkpoint (best.pt) to start from, head included (fine-tuning)
    epochs: PosInt = 30
    batch_size: PosInt = 64
    seed: NonNegInt = 0
    device: Literal["auto", "cpu", "cuda"] = "auto"
    amp: Literal["auto", "off", "bf16", "fp16"] = "auto"   # auto = bf16 on CUDA, off on CPU
    channels_last: bool = True      # NHWC activations (1.3x img/s on the CPU, docs/benchmarks_train.md)
    select_metric: Literal["nme21", "nme68", "nme_300w"] = "nme21"   # val metric choosing best.pt
    threads: NonNegInt = 0          # torch CPU threads, 0 = default
    max_steps_per_epoch: NonNegInt = 0   # 0 = full epoch (for smoke tests)
    data: DataConfig = field(default_factory=DataConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    loss: LossConfig = field(default_factory=LossConfig)
    augment: AugmentConfig = field(default_factory=AugmentConfig)
    extra: ExtraConfig = field(default_factory=ExtraConfig)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


def _known_keys(loc: tuple) -> list[str]:
    cls = TrainConfig
    for part in loc:
        f = {f.name: f for f in dataclasses.fields(cls)}.get(part)
        if f is None or not dataclasses.is_dataclass(f.default_factory if f.default_factory is not
                                                         dataclasses.MISSING else None):
            break
        cls = f.default_factory
    return [f.name for f in dataclasses.fields(cls)]


def config_from_dict(d: dict) -> TrainConfig:
    """Validate a mapping (as read from YAML) into a TrainConfig; ConfigError names the key."""
    from pydantic import TypeAdapter, ValidationError

    if not isinstance(d, dict):
        raise ConfigError(f"config: expected a mapping, got {type(d).__name__}")
    try:
        text = json.dumps(d, allow_nan=False)
    except (TypeError, ValueError) as e:
        raise ConfigError(f"config holds a value that is not a plain number, string, list or "
                          f"mapping ({e})") from None
    try:
        return TypeAdapter(TrainConfig).validate_json(text)
    except ValidationError as e:
        err = e.errors()[0]
        key = ".".join(str(p) for p in err["loc"])
        if err["type"] in ("unexpected_keyword_argument", "extra_forbidden"):
            known = ", ".join(_known_keys(err["loc"][:-1]))
            raise ConfigError(f"unknown config key '{key}' (known: {known})") from None
        raise ConfigError(f"config key '{key}': invalid value {err.get('input')!r} "
                          f"({err['msg'][0].lower() + err['msg'][1:]})") from None


def _strict_yaml_loader():
    """A SafeLoader that refuses duplicate keys and aliases (no billion-laughs expansion)."""
    import yaml

    class StrictLoader(yaml.SafeLoader):
        def compose_node(self, parent, index):
            if self.check_event(yaml.AliasEvent):
                event = self.peek_event()
                raise yaml.constructor.ConstructorError(
                    None, None, "YAML aliases (*name) are not allowed", event.start_mark)
            return super().compose_node(parent, index)

        def construct_mapping(self, node, deep=False):
            seen = set()
            for key_node, _ in node.value:
                key = self.construct_object(key_node, deep=deep)
                if key in seen:
                    raise yaml.constructor.ConstructorError(
                        None, None, f"duplicate key '{key}'", key_node.start_mark)
                seen.add(key)
            return super().construct_mapping(node, deep)

    return StrictLoader


def parse_yaml(text: str, where: str | Path | None = None):
    """YAML text -> Python data with the strict loader; ConfigError with the line on failure."""
    import yaml

    try:
        return yaml.load(text, Loader=_strict_yaml_loader())  # noqa: S506 (a SafeLoader subclass)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        problem = getattr(e, "problem", None) or "invalid YAML"
        line = f" at line {mark.line + 1}" if mark else ""
        raise ConfigError(f"invalid YAML{line}: {problem}", path=where) from None


def apply_overrides(d: dict, overrides: dict | None, path: str | Path | None = None) -> dict:
    """Set dotted ``overrides`` (``{"optim.lr": 1e-3}``) in the mapping ``d``, in place."""
    for k, v in (overrides or {}).items():
        node = d
        *parents, last = k.split(".")
        for p in parents:
            node = node.setdefault(p, {})
            if not isinstance(node, dict):
                raise ConfigError(f"--set {k}: '{p}' is not a section", path=path)
        node[last] = v
    return d


def read_config_mapping(path: str | Path, overrides: dict | None = None) -> dict:
    """A YAML config file as a mapping, dotted ``overrides`` applied; ConfigError names the file
    and the problem (missing, not a file, unreadable, not UTF-8, not a mapping)."""
    path = Path(path)
    if not path.exists():
        raise ConfigError("config file does not exist", path=path)
    if not path.is_file():
        raise ConfigError("config path is not a file", path=path)
    try:
        text = path.read_bytes().decode("utf-8")
    except OSError as e:
        raise ConfigError(f"cannot read config ({e.strerror})", path=path) from None
    except UnicodeDecodeError:
        raise ConfigError("config is not UTF-8 text", path=path) from None
    d = parse_yaml(text, path) or {}
    if not isinstance(d, dict):
        raise ConfigError("config must be a YAML mapping", path=path)
    return apply_overrides(d, overrides, path)


def load_config(path: str | Path, overrides: dict | None = None) -> TrainConfig:
    d = read_config_mapping(path, overrides)
    try:
        return config_from_dict(d)
    except ConfigError as e:
        raise ConfigError(e.problem, path=path) from None


def load_stage_config(path: str | Path, cls, overrides: dict | None = None):
    """The config of a training stage beside the regressor's (``cls``: a strict pydantic
    dataclass, e.g. the eye stage's or the uncertainty head's) from YAML, with dotted
    ``overrides``; ConfigError names the key."""
    from pydantic import TypeAdapter, ValidationError

    d = read_config_mapping(path, overrides)
    try:
        return TypeAdapter(cls).validate_json(json.dumps(d))
    except ValidationError as e:
        err = e.errors()[0]
        raise ConfigError(f"config key '{'.'.join(str(p) for p in err['loc'])}': {err['msg']}", path=path) from None


def start_stage(cfg) -> Path:
    """A stage run's start: torch's threads (``cfg.threads``, 0 = its default) and seed
    (``cfg.seed``) set, the run folder ``cfg.out_dir`` made; returns it."""
    import torch

    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    torch.manual_seed(cfg.seed)
    out = Path(cfg.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    return out
