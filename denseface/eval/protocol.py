"""The Benchmark protocol: every benchmark is one class in one module of ``denseface.eval``,
registered by name, and ``denseface eval <name>`` is generated from the registry.

A benchmark states, in its own module:

- ``name`` (the command ``denseface eval <name>``) and ``help`` (its line in ``--help``);
- its config: the command-line arguments (``add_arguments``; the shared ones below) and the
  config dataclass they fill;
- its data loader and its scoring (the module's functions, e.g. ``load_aflw2000`` and
  ``summarise``), predictions through the one prediction path (denseface.eval.predictions);
- ``published``: the published rows its report compares with (data in denseface.eval.published);
- ``run(args)``: the whole benchmark -> the one result type,
  :class:`~denseface.eval.report.BenchmarkResult`, written by the one writer
  :func:`~denseface.eval.report.write_result`.

A new benchmark is one new module here with a ``@register_benchmark`` class, plus its published
numbers in ``published.py`` (docs/architecture.md shows one).
"""
from __future__ import annotations

import argparse
import importlib
import pkgutil
from typing import ClassVar

from ..errors import ConfigError
from .report import BenchmarkResult

_REGISTRY: dict[str, type[Benchmark]] = {}


class Benchmark:
    """One benchmark (see the module doc); subclasses set the class attributes and the two
    methods."""

    name: ClassVar[str] = ""
    help: ClassVar[str] = ""
    published: ClassVar[tuple] = ()

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        """The benchmark's command-line arguments (``--out`` among them)."""
        raise NotImplementedError

    def run(self, args: argparse.Namespace) -> BenchmarkResult:
        """Predict, score and report, from the parsed arguments."""
        raise NotImplementedError


def register_benchmark(cls: type[Benchmark]) -> type[Benchmark]:
    """Class decorator: add a Benchmark to the registry under its ``name``."""
    if not cls.name or cls.name in _REGISTRY:
        raise ValueError(f"a benchmark needs a name of its own, got {cls.name!r}")
    _REGISTRY[cls.name] = cls
    return cls


def benchmarks() -> dict[str, Benchmark]:
    """Every registered benchmark by name. The modules of denseface.eval are imported first, so
    each registers itself: the list is the registry, kept by no hand."""
    package = importlib.import_module(__package__)
    for module in pkgutil.iter_modules(package.__path__):
        importlib.import_module(f"{__package__}.{module.name}")
    return {name: cls() for name, cls in _REGISTRY.items()}


# ------------------------------------------------------------------ the shared arguments
def add_model_args(p: argparse.ArgumentParser) -> None:
    """``--model`` and the 68-point protocols' run options (RunConfig)."""
    from .predictions import RunConfig

    run = RunConfig()
    p.add_argument("--model", default=None,
                   help="registry name (denseface models), .onnx (ONNX Runtime) or .pt checkpoint; "
                        "default: the package default model")
    p.add_argument("--out", required=True, help="output folder (report.json, per_image.csv, report.md)")
    p.add_argument("--configs", default="", help="3DDFA test.configs folder (default: shared copy)")
    p.add_argument("--batch", type=int, default=run.batch, help=f"images per model call (default {run.batch})")
    p.add_argument("--workers", type=int, default=run.workers,
                   help=f"image decoding threads (default {run.workers})")
    p.add_argument("--threads", type=int, default=None, help="ONNX Runtime threads (default: all cores)")
    p.add_argument("--limit", type=int, default=0,
                   help="evaluate this many evenly spaced images only (default 0 = all)")
    add_tta_arg(p)
    p.add_argument("--no-progress", action="store_true", help="no progress bar")


def add_tta_arg(p: argparse.ArgumentParser) -> None:
    from ..infer.api import TTA_MODES, PredictConfig

    p.add_argument("--tta", choices=TTA_MODES, default=PredictConfig.tta,
                   help="flip: average each crop with its mirror image, as predict does by default; "
                        f"none: the crop alone (default {PredictConfig.tta})")


def run_config(args: argparse.Namespace):
    """The RunConfig of :func:`add_model_args`' arguments (and detector mode's box policy)."""
    from ..infer.detectors import BoxToCrop
    from .predictions import RunConfig

    if args.batch < 1 or args.workers < 1:
        raise ConfigError("--batch and --workers must be >= 1")
    policy = None
    if getattr(args, "box_scale", None) is not None:
        policy = BoxToCrop(args.box_scale, args.box_shift_x, args.box_shift_y)
    return RunConfig(args.batch, args.workers, not args.no_progress, policy)


def add_models_args(p: argparse.ArgumentParser) -> None:
    """The arguments of the benchmarks that score several models beside the teacher (dense, pose)."""
    p.add_argument("--models", nargs="+", default=[None], metavar="NAME_OR_PATH",
                   help="denseface models: registry names or .onnx/.pt files (default: the shipped model)")
    p.add_argument("--out", required=True, help="output folder (report.json, report.md, per_image.csv)")
    p.add_argument("--data", default="", help="AFLW2000-3D folder, jpg + mat (default: shared data/aflw2000_3d)")
    p.add_argument("--configs", default="", help="3DDFA test.configs folder (default: shared copy)")
    p.add_argument("--bfm", default="", help="BFM folder, 3DDFA layout (default: shared models/bfm_3ddfa_53215)")
    p.add_argument("--teacher", default="", help="3DDFA-V2 mb05 folder (default: shared models/3ddfa_v2_mb05)")
    p.add_argument("--no-teacher", action="store_true", help="do not score the teacher")
    p.add_argument("--limit", type=int, default=0, help="score this many evenly spaced images (0 = all)")
    p.add_argument("--batch", type=int, default=64, help="images per model call (default 64)")
    p.add_argument("--workers", type=int, default=2, help="image decoding threads (default 2)")
    p.add_argument("--threads", type=int, default=1, help="ONNX Runtime / torch threads (default 1)")
    p.add_argument("--prior", type=float, default=None, help="point-fit prior weight (default: PointFitConfig's)")
    add_tta_arg(p)
    p.add_argument("--no-progress", action="store_true", help="no progress bar")


def models_config(args: argparse.Namespace, cls):
    """A DenseConfig (or subclass ``cls``) of :func:`add_models_args`' arguments."""
    from ..mesh.point_fit import PointFitConfig

    if args.batch < 1 or args.workers < 1 or args.threads < 1:
        raise ConfigError("--batch, --workers and --threads must be >= 1")
    fit = PointFitConfig() if args.prior is None else PointFitConfig(prior=args.prior)
    return cls(data_dir=args.data, configs_dir=args.configs, bfm_dir=args.bfm,
               face_mask=getattr(args, "face_mask", ""),
               teacher_dir=None if args.no_teacher else args.teacher, limit=args.limit,
               batch=args.batch, workers=args.workers, threads=args.threads,
               progress=not args.no_progress, fit=fit, tta=args.tta)


def nme_summary(result: BenchmarkResult) -> BenchmarkResult:
    """The printed lines of a 68-point protocol's result (its NME by bin) and its problems:
    images skipped (partial) and faces not detected."""
    r, d = result.report, result.details or {}
    bins = " / ".join("–" if v is None or v != v else f"{v:.3f}" for v in r["nme_bins"])
    result.summary = [f"{r['model']}: NME {bins} (balanced {r['nme_balanced']:.3f}, all {r['nme_all']:.3f}) "
                      f"over {r['n']} images"]
    if d.get("n_undetected"):
        result.problems.append(f"{d['n_undetected']} faces not detected")
    if d.get("n_failed"):
        result.problems += [f"skipped {name}: {why}" for name, why in list(d["failed"].items())[:10]]
        result.problems.append(f"{d['n_failed']} images skipped")
        result.partial = True
    return result
