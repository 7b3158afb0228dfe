"""``python -m denseface ...`` is the ``denseface`` command (``torchrun -m denseface train ...``
for multi-process training)."""
import sys

from .cli.main import main

sys.exit(main())
