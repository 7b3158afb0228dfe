"""The ``denseface`` command. Each pipeline stage adds its own subcommands.

User mistakes (DenseFaceError) print one line ``denseface: error: <file>: <problem>`` and
exit with the error's code (see denseface.errors); no traceback.
"""
from __future__ import annotations

import argparse
import importlib
import sys

from ..errors import DenseFaceError

#: modules under denseface.cli that define ``register(subparsers)``
STAGES = ("landmarks", "data", "train", "eval", "predict", "export")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="denseface",
        description="Dense 3D facial landmarks (520 points) from one photo.")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in STAGES:
        importlib.import_module(f"denseface.cli.{name}").register(sub)
    return p


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        rc = args.func(args)
    except DenseFaceError as e:
        print(f"denseface: error: {e}", file=sys.stderr)
        return e.exit_code
    except KeyboardInterrupt:
        print("denseface: interrupted", file=sys.stderr)
        return 130
    return int(rc or 0)


if __name__ == "__main__":
    sys.exit(main())
