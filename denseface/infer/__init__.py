"""Inference: model runners, face detectors, the DenseFace API, video tracking."""
