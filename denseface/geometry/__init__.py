"""Geometry at the bottom of the package: boxes, crops, 2D/3D transforms (numpy + OpenCV).

Frames: image pixels, x right, y down, pixel centres at integers (OpenCV); z towards the
viewer on the same pixel scale. Boxes are ``[x0, y0, x1, y1]`` floats in image pixels.
Nothing here imports any other denseface module.
"""
