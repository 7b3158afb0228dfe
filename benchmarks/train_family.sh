#!/usr/bin/env bash
# The whole model family from scratch, as it was run on the 2-core development machine
# (docs/MODEL_CARD.md "Recipes"). Every step resumes (--resume), so the script can be re-run
# after an interruption. The pilots chose the fast model's recipe on aflw_pl val NME21; their
# logs are docs/training_logs/pilot_*.csv.
set -euo pipefail
cd "$(dirname "$0")/.."
SHARED=${DENSEFACE_SHARED:-../shared}

# labels: the teacher's fits refined towards the human AFLW-21 points
[ -f runs/refined/train/labels.npz ] || denseface data refine --data "$SHARED/data/aflw_pl/train" --out runs/refined/train/labels.npz
[ -f runs/refined/val/labels.npz ] || denseface data refine --data "$SHARED/data/aflw_pl/val" --out runs/refined/val/labels.npz

# pilots for dense520_mbv1_050 (configs/pilots/mbv1_base.yaml plus one override set each)
denseface train --config configs/pilots/mbv1_base.yaml --set out_dir=runs/pilots/A_lr3e-5 --resume
denseface train --config configs/pilots/mbv1_base.yaml --set out_dir=runs/pilots/C_noaug \
    augment.enabled=false data.flip_double=true epochs=1 --resume
denseface train --config configs/pilots/mbv1_base.yaml --set out_dir=runs/pilots/E_noaug_l2 \
    augment.enabled=false data.flip_double=true epochs=1 loss.name=l2 --resume
denseface train --config configs/pilots/mbv1_3ep.yaml --resume

# the shipped models
denseface train --config configs/dense520_mbv1_050.yaml --resume
denseface train --config configs/pilots/mbv1_wing_stage2.yaml --resume   # pilot: a Wing second stage (lost on val)
denseface train --config configs/pilots/mbv2_two_stage.yaml --resume     # pilot: the two-stage recipe shipped before issue 20
denseface train --config configs/pilots/mbv2_two_stage_2.yaml --resume   # its Wing second stage, from stage 1's best.pt
denseface train --config configs/dense520_mbv2_100.yaml --resume          # one 32-epoch Wing schedule (won on val)
python benchmarks/model_family.py head-ranks runs/dense520_mbv1_050/best.pt        # the rank, chosen on val
python benchmarks/model_family.py ship dense520_mbv1_050 runs/dense520_mbv1_050/best.pt --head-rank 128 --head-300w
python benchmarks/model_family.py ship dense520_mbv2_100 runs/dense520_mbv2_100_wing/best.pt --weights-fp16

# the paper's loss study (Figure 3): one fixed budget per loss from ImageNet MobileNetV2
denseface eval ablation --config configs/loss_study.yaml --losses l2,wing,hybrid --epochs 3 \
    --limit-train 0 --limit-val 0 --out runs/loss_study --report docs/loss_study
