"""`denseface landmarks ...` subcommands."""
from __future__ import annotations


def register(sub) -> None:
    p = sub.add_parser("landmarks", help="(not yet implemented)")
    p.set_defaults(func=lambda args: print("not yet implemented"))
