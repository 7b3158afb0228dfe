"""`denseface data ...`: build training sets, refine labels."""
from __future__ import annotations


def register(sub) -> None:
    p = sub.add_parser("data", help="build training sets and refine 3DMM labels")
    dsub = p.add_subparsers(dest="data_command", required=True, metavar="SUBCOMMAND")
    from ..data import build_cli
    from ..refine import cli as refine_cli

    build_cli.register(dsub)
    refine_cli.register(dsub)
