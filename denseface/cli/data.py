"""`denseface data ...`: build training sets, refine labels, check the data folder."""
from __future__ import annotations


HELP = "build training sets, refine 3DMM labels, check the data folder"


def register(sub) -> None:
    p = sub.add_parser("data", help=HELP)
    dsub = p.add_subparsers(dest="data_command", required=True, metavar="SUBCOMMAND")
    from . import data_build, data_refine

    data_build.register(dsub)
    data_refine.register(dsub)
    from . import data_profile

    data_profile.register(dsub)
    from . import data_check

    data_check.register(dsub)
