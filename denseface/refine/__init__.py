"""Label refinement: fit the 3DMM to human sparse landmarks, starting from a teacher's fits.

- :mod:`.mapping`: landmark-to-mesh mappings (data): ``aflw21_fit``, ``aflw21_3ddfa``, ``ibug68``.
- :mod:`.fitter`: batched robust Levenberg-Marquardt fit (torch).
- :mod:`.refiner`: :class:`Refiner` / :class:`RefineConfig`: a FitTable in, refined table + flags out.
- :mod:`.holdout`: leave-points-out evaluation.
- :mod:`.teacher`: the 3DDFA-V2 MobileNetV1-0.5 teacher (its labels are scored on AFLW2000-3D
  by denseface.eval.label_quality); the command is denseface.cli.data_refine.
"""
from .mapping import LandmarkMapping, get_mapping
from .refiner import STATUS, RefineConfig, RefineResult, Refiner

__all__ = ["LandmarkMapping", "get_mapping", "STATUS", "RefineConfig", "RefineResult", "Refiner"]
