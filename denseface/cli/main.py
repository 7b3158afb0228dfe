"""The ``denseface`` command. Each pipeline stage adds its own subcommands.

Start-up stays light: only the command being run builds its full sub-parser (its defaults come
from its stage's config classes, which import that stage); the others are listed by their
module's ``HELP`` line alone, so ``denseface --help``, ``--version`` and ``denseface models``
import neither OpenCV nor SciPy nor the inference and evaluation code.

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

#: modules under denseface.cli, each one command: ``HELP`` (its line in ``denseface --help``) and
#: ``register(subparsers)`` (its whole sub-parser)
STAGES = ("landmarks", "data", "train", "eval", "predict", "export", "models")

#: top-level modules of the optional ``train`` extra (pyproject.toml)
TRAIN_EXTRA_MODULES = ("torch", "torchvision", "timm", "onnx", "onnxscript", "matplotlib", "safetensors")
TRAIN_EXTRA_HINT = "pip install -e '.[train]' in the denseface checkout"
#: how every error of the command starts, whichever part found it (argparse or the commands)
ERROR_PREFIX = "denseface: error: "


class OneLineParser(argparse.ArgumentParser):
    """argparse with usage errors on one line (the flag, the problem, the allowed values), like
    every other problem, instead of the usage block; exit code 2 (EXIT_USAGE)."""

    def error(self, message: str):
        message = (message.replace("invalid int value:", "expected a whole number, got")
                   .replace("invalid float value:", "expected a number, got"))
        self.exit(EXIT_USAGE, f"{ERROR_PREFIX}{message} (see {self.prog} --help)\n")


class PrintVersion(argparse.Action):
    """``--version``: the installed version, looked up only when asked for."""

    def __init__(self, option_strings, dest=argparse.SUPPRESS, default=argparse.SUPPRESS,
                 help="show program's version number and exit"):
        super().__init__(option_strings, dest=dest, default=default, nargs=0, help=help)

    def __call__(self, parser, namespace, values, option_string=None):
        from .. import __version__

        print(f"denseface {__version__}")
        parser.exit()


def command_of(argv: list[str]) -> str | None:
    """The command an argument list names: its first word that is not an option (or None)."""
    return next((a for a in argv if not a.startswith("-")), None)


def build_parser(full: tuple[str, ...] | list[str] | None = None) -> argparse.ArgumentParser:
    """The ``denseface`` parser: the commands in ``full`` (None: all) with their whole
    sub-parsers, every other one by name and ``HELP`` line only (enough to list it)."""
    p = OneLineParser(
        prog="denseface",
        description="Dense 3D facial landmarks (520 points) from one photo. Commands marked "
                    "[train] need the optional train extra (torch): " + TRAIN_EXTRA_HINT + ".")
    p.add_argument("--version", action=PrintVersion)
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in STAGES:
        module = importlib.import_module(f"denseface.cli.{name}")
        if full is None or name in full:
            module.register(sub)
        else:
            sub.add_parser(name, help=module.HELP)
    return p


def missing_extra_message(e: ModuleNotFoundError, command: str) -> str | None:
    """The one-line hint for a missing optional dependency, or None for any other import error."""
    top = (e.name or "").split(".")[0]
    if top not in TRAIN_EXTRA_MODULES:
        return None
    return f"`denseface {command}` needs {top}, from the optional [train] extra: {TRAIN_EXTRA_HINT}"


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    parser = build_parser(full=[command_of(argv)])
    args = parser.parse_args(argv)
    try:
        rc = args.func(args)
    except DenseFaceError as e:
        print(f"{ERROR_PREFIX}{e}", file=sys.stderr)
        return e.exit_code
    except ModuleNotFoundError as e:
        hint = missing_extra_message(e, args.command)
        if hint is None:
            raise
        print(f"{ERROR_PREFIX}{hint}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("denseface: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:   # the reader of stdout went away (e.g. `denseface models | head`)
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())   # no second error at exit
        return 141
    return int(rc or 0)


if __name__ == "__main__":
    sys.exit(main())
