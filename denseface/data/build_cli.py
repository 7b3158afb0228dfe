"""`denseface data build`: a 300W-LP-layout folder -> a training set (aflw_pl layout)."""
from __future__ import annotations


def register(dsub) -> None:
    p = dsub.add_parser("build", help="(not yet implemented)")
    p.set_defaults(func=lambda args: print("not yet implemented"))
