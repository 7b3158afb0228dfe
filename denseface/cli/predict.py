"""`denseface predict ...` subcommands."""
from __future__ import annotations


def register(sub) -> None:
    p = sub.add_parser("predict", help="(not yet implemented)")
    p.set_defaults(func=lambda args: print("not yet implemented"))
