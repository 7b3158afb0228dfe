#!/usr/bin/env bash
# Virtual environments for the peers of benchmarks/peers.py (MediaPipe Face Mesh and dlib), kept
# OUTSIDE the checkout and never imported by denseface itself: benchmarks/peers.py runs each peer
# in its own venv through a worker script (benchmarks/peer_mediapipe.py, benchmarks/peer_dlib.py).
#
#   bash benchmarks/peers_env.sh                 # both, into /work/venvs/{mediapipe,dlib}
#   bash benchmarks/peers_env.sh mediapipe       # one of them
#   PEERS_VENV_DIR=/opt/venvs PYTHON=python3.11 bash benchmarks/peers_env.sh
#
# What is installed, all from PyPI with pip (nothing is downloaded at run time):
# - mediapipe==0.10.21 (Apache-2.0): the legacy Face Mesh solution; its wheel ships
#   face_detection_short_range.tflite (BlazeFace) and face_landmark.tflite (468 points). It needs
#   numpy < 2, hence its own venv.
# - dlib-bin==20.0.1.post1 (Boost Software License): a prebuilt wheel of dlib 20.0.1 (no build)
#   and face_recognition_models==0.3.0 (its sdist ships dlib's shape_predictor_68_face_landmarks.dat,
#   trained on iBUG 300-W, whose images are for research use). If dlib-bin has no wheel for this
#   platform, DLIB_PACKAGE=dlib builds dlib from source (needs cmake and a C++ compiler).
# Each venv's python path is what benchmarks/peers.py takes (--mediapipe-python, --dlib-python).
set -euo pipefail

VENV_DIR="${PEERS_VENV_DIR:-/work/venvs}"
PYTHON="${PYTHON:-python3}"
DLIB_PACKAGE="${DLIB_PACKAGE:-dlib-bin==20.0.1.post1}"
PEERS=("$@")
[ ${#PEERS[@]} -eq 0 ] && PEERS=(mediapipe dlib)

make_venv() {  # make_venv NAME PACKAGES...
    local name="$1"; shift
    local dir="$VENV_DIR/$name"
    [ -x "$dir/bin/python" ] || "$PYTHON" -m venv "$dir"
    "$dir/bin/python" -m pip install -q --upgrade pip
    "$dir/bin/python" -m pip install -q "$@"
    echo "peers_env: $name ready: $dir/bin/python"
}

for peer in "${PEERS[@]}"; do
    case "$peer" in
        mediapipe) make_venv mediapipe "mediapipe==0.10.21" "numpy<2" ;;
        dlib) make_venv dlib "$DLIB_PACKAGE" "face_recognition_models==0.3.0" "numpy" "opencv-python-headless" "setuptools<81" ;;
        *) echo "peers_env: unknown peer '$peer' (mediapipe, dlib)" >&2; exit 2 ;;
    esac
done
