"""The ``denseface`` command. Each pipeline stage adds its own subcommands.

User mistakes (DenseFaceError) print one line ``denseface: error: <file>: <problem>`` and
exit with the error's code (see denseface.errors); no traceback. A command that needs an
optional dependency that is missing (torch for training, export and the cost table) says which
extra to install, in one line, and exits with EXIT_USAGE.
"""
from __future__ import annotations

import argparse
import importlib
import sys

from ..errors import EXIT_USAGE, DenseFaceError

#: modules under denseface.cli that define ``register(subparsers)``
STAGES = ("landmarks", "data", "train", "eval", "predict", "export", "models")

#: top-level modules of the optional ``train`` extra (pyproject.toml)
TRAIN_EXTRA_MODULES = ("torch", "torchvision", "timm", "onnx", "onnxscript", "matplotlib", "safetensors")
TRAIN_EXTRA_HINT = "pip install -e '.[train]' in the denseface checkout"


def build_parser() -> argparse.ArgumentParser:
    from .. import __version__

    p = argparse.ArgumentParser(
        prog="denseface",
        description="Dense 3D facial landmarks (520 points) from one photo. Commands marked "
                    "[train] need the optional train extra (torch): " + TRAIN_EXTRA_HINT + ".")
    p.add_argument("--version", action="version", version=f"denseface {__version__}")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in STAGES:
        importlib.import_module(f"denseface.cli.{name}").register(sub)
    return p


def missing_extra_message(e: ModuleNotFoundError, command: str) -> str | None:
    """The one-line hint for a missing optional dependency, or None for any other import error."""
    top = (e.name or "").split(".")[0]
    if top not in TRAIN_EXTRA_MODULES:
        return None
    return f"`denseface {command}` needs {top}, from the optional [train] extra: {TRAIN_EXTRA_HINT}"


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        rc = args.func(args)
    except DenseFaceError as e:
        print(f"denseface: error: {e}", file=sys.stderr)
        return e.exit_code
    except ModuleNotFoundError as e:
        hint = missing_extra_message(e, args.command)
        if hint is None:
            raise
        print(f"denseface: error: {hint}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("denseface: interrupted", file=sys.stderr)
        return 130
    return int(rc or 0)


if __name__ == "__main__":
    sys.exit(main())
