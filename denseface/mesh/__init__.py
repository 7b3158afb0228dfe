"""3DMM meshes and fits: BFM loading, the Fit type, readers of fit files, position maps."""
from .bfm import BFM, load_bfm, load_bfm_3ddfa, load_bfm_face3d
from .fit import Fit, fit_from_pose_para, pose_from_camera, rotation_3ddfa

__all__ = ["BFM", "Fit", "load_bfm", "load_bfm_3ddfa", "load_bfm_face3d", "fit_from_pose_para",
           "pose_from_camera", "rotation_3ddfa"]
