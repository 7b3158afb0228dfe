"""The published figures every benchmark report compares with, as data (one home): the
68-point tables of Basak et al. 2023 (AFLW2000-3D, AFLW), the aflw_pl teacher's row, and the
AFLW2000-3D dense-alignment and head-pose figures of other methods, each with its source.
Protocols differ from ours where the reports say so (docs/evaluation.md)."""
from __future__ import annotations

#: Basak et al. 2023, Table 1: AFLW2000-3D, 68 points, NME % by yaw bin and their mean.
PAPER_TABLE1 = (
    ("3DDFA (Zhu et al. 2016)", 3.43, 4.24, 7.17, 4.94),
    ("3DSTN (Bhagavatula et al. 2017)", 3.15, 4.33, 5.98, 4.49),
    ("3D-FAN (Bulat & Tzimiropoulos 2017)", 3.16, 3.53, 4.60, 3.76),
    ("3DDFA TPAMI (Zhu et al. 2017)", 2.84, 3.57, 4.96, 3.79),
    ("PRNet (Feng et al. 2018)", 2.75, 3.51, 4.61, 3.62),
    ("2DASL (Tu et al. 2020)", 2.75, 3.46, 4.45, 3.55),
    ("3DDFA-V2 (Guo et al. 2020)", 2.63, 3.42, 4.48, 3.51),
    ("SynergyNet (Wu et al. 2021, its table in github choyingw/SynergyNet demo/alignment.png)",
     2.65, 3.30, 4.27, 3.41),
    ("Paper: denseface MobileNetV2 (Basak et al. 2023)", 2.86, 3.68, 4.76, 3.77),
)
#: The paper's Table 3 cost columns: (backbone, px, params M, "gMac", "gFlop") as printed.
PAPER_TABLE3 = (("resnet18", 256, 16.03, 5.13, 2.56), ("mobilenetv2_100", 256, 4.18, 0.39, 0.19))
#: The aflw_pl teacher (3DDFA-V2 MobileNetV1-0.5) as measured in data/aflw_pl/README.md.
TEACHER_ROW = ("aflw_pl teacher: 3DDFA-V2 mb05 (aflw_pl README)", 2.925, 3.667, 4.784, 3.792, 3.350)
TEACHER_REANNOTATED_BALANCED = 3.022

#: Basak et al. 2023, Table 2: AFLW (21 points), NME % by yaw bin and their mean.
PAPER_TABLE2 = (
    ("ESR (Cao et al. 2014)", 5.66, 7.12, 11.94, 8.24),
    ("3DDFA (Zhu et al. 2016)", 4.75, 4.83, 6.39, 5.32),
    ("3D-FAN (Bulat & Tzimiropoulos 2017)", 4.40, 4.52, 5.17, 4.69),
    ("3DDFA TPAMI (Zhu et al. 2017)", 4.11, 4.38, 5.16, 4.55),
    ("PRNet (Feng et al. 2018)", 4.19, 4.69, 5.45, 4.77),
    ("3DDFA-V2 (Guo et al. 2020)", 3.98, 4.31, 4.99, 4.43),
    ("Paper: denseface MobileNetV2 (Basak et al. 2023)", 4.04, 4.45, 5.20, 4.57),
)

#: Published AFLW2000-3D dense-alignment figures (NME %), with where they come from. Their
#: protocol differs from ours (see docs/evaluation.md and the report).
PUBLISHED_DENSE = (
    ("DSFNet (Li et al., CVPR 2023)", "3D", 3.80,
     "abstract / project page: \"3.80% NME on AFLW2000-3D\" for 3D dense face alignment; protocol = "
     "SADRNet's code (lhyfst/DSFNet src/run/predict.py uses SADRNet's NME)"),
    ("SADRNet (Ruan et al., TIP 2021)", "3D", 4.02,
     "as listed for AFLW2000-3D 3D dense face alignment by the benchmark aggregators (wizwand / "
     "papers-with-code); consistent with DSFNet's claim that 3.80 is 5.5% below the previous best"),
)

#: Published AFLW2000-3D head-pose MAE (degrees): (method, yaw, pitch, roll, mean, crop protocol / source).
PUBLISHED_POSE = (
    ("HopeNet (Ruiz et al., CVPRW 2018), alpha=2", 6.47, 6.56, 5.44, 6.16,
     "loose crop of the 21 AFLW points' box (pt2d; k = 0.2: +2k of the box width left and right, +2k of "
     "its height on top, +0.6k below), resized to 224; trained on 300W-LP (deep-head-pose datasets.py). "
     "Figures as tabulated by FSA-Net, SynergyNet and the 6DRepNet README"),
    ("FSA-Net (Yang et al., CVPR 2019)", 4.50, 6.08, 4.64, 5.07,
     "crop of the pt2d box with 0.6 x its width/height added on each side, clipped, resized to 64; "
     "introduced the +-99 degree filter (FSA-Net data/type1/TYY_create_db_type1.py); 6DRepNet README table"),
    ("3DDFA-V2 (Guo et al., ECCV 2020)", 4.06, 5.26, 3.48, 4.27,
     "not published by its authors; measured by SynergyNet's authors on 3DDFA's 120-px crops of the "
     "ground-truth roi boxes (SynergyNet Table, choyingw/SynergyNet demo/orientation.png); their model, "
     "not necessarily mb05"),
    ("img2pose (Albiero et al., CVPR 2021)", 3.426, 5.034, 3.278, 3.913,
     "no crop: the whole photo, detector-free 6DoF regression (Faster R-CNN), trained on WIDER FACE "
     "pseudo-labels; img2pose paper Table (as quoted in opentrack neuralnet-tracker's README)"),
    ("SynergyNet (Wu et al., 3DV 2021)", 3.42, 4.09, 2.55, 3.35,
     "3DDFA's 120-px crops of the ground-truth 68-point roi boxes (the crops we use); +-99 degree filter "
     "(benchmark.py benchmark_FOE); Table of the paper (choyingw/SynergyNet demo/orientation.png)"),
    ("6DRepNet (Hempel et al., ICIP 2022)", 3.63, 4.91, 3.37, 3.97,
     "HopeNet's loose pt2d crop (k = 0.2), 224 px; +-99 degree filter (create_filename_list.py); errors "
     "taken as the minimum over 0/+-180/+-360 degree offsets (sixdrepnet/test.py); 6DRepNet README table"),
)
