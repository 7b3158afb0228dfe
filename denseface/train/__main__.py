"""``python -m denseface.train`` (for torchrun): the same as ``denseface train``."""
import sys

from ..cli.main import main

sys.exit(main(["train", *sys.argv[1:]]))
