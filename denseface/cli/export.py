"""`denseface export ...` subcommands."""
from __future__ import annotations


def register(sub) -> None:
    p = sub.add_parser("export", help="(not yet implemented)")
    p.set_defaults(func=lambda args: print("not yet implemented"))
