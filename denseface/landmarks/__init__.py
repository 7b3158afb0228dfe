"""Dense landmark sets: definitions (package data), the builder, the paper authors' set."""
from .ibug68 import AFLW21_FROM_68, FLIP_68, aflw21_from_68
from .landmark_set import DEFAULT_SET, REGION_NAMES, LandmarkSet, load_landmark_set

__all__ = ["AFLW21_FROM_68", "FLIP_68", "aflw21_from_68", "DEFAULT_SET", "REGION_NAMES",
           "LandmarkSet", "load_landmark_set"]
