"""`denseface data refine`: fit 3DMMs to human sparse landmarks."""
from __future__ import annotations


def register(dsub) -> None:
    p = dsub.add_parser("refine", help="(not yet implemented)")
    p.set_defaults(func=lambda args: print("not yet implemented"))
