"""``denseface export --format web``: a static folder that runs denseface in a web browser.

The JavaScript package lives in the source checkout's ``web/`` folder (an ES module, docs/web.md)
and runs three ONNX files unchanged with ONNX Runtime Web: the shipped landmark network, the
eye stage (denseface/weights/eyes_v1.onnx, denseface.infer.eyes: the eye patches cut and the eye
points moved in JavaScript as in Python) and YuNet, the face detector of ``denseface predict``
(the file vendored in denseface/infer/detectors/data, with the same pre- and post-processing and
cascade in JavaScript). ONNX Runtime Web comes from
the npm registry (``npm ci`` in ``web/``, version pinned by its lockfile); every third-party file
that the folder serves is checked here against the sha256 digests below before it is copied, and
again by the page when it loads it (SubtleCrypto, where the browser offers it). Its 11 MB wasm is
served gzip-compressed (a quarter of the size) and inflated by the page.

What the package needs from Python (the landmark set, the defaults of prediction, detection,
tracking and smoothing, YuNet's settings and calibrated box -> crop mapping, and the digests) is
generated into one JavaScript module, ``web/src/generated/data.js``, by
:func:`write_package_data`; a test checks that the committed module equals what this code
generates, so the two sides cannot drift.

Layout of the exported folder (any static server can serve it, e.g. ``python -m http.server``)::

    index.html demo.js demo.css site.json    the demo page and its settings
    denseface/                               the JavaScript package (web/src)
    models/<model>.onnx                      the network, unchanged
    models/face_detection_yunet_2026may.onnx the face detector (OpenCV Zoo, MIT) and its licence
    models/eyes_v1.onnx                      the eye stage (denseface.infer.eyes), unchanged
    vendor/onnxruntime-web/                  ONNX Runtime Web's wasm build (MIT), the wasm gzipped
    THIRD_PARTY.md manifest.json             licences; every file's size and sha256
"""
from __future__ import annotations

import gzip
import json
import shutil
from dataclasses import asdict, dataclass
from pathlib import Path

from ..errors import ConfigError, DenseFaceError, OutputError
from ..io.files import atomic_output, sha256_of
from ..paths import PACKAGE_DIR

#: The web package of a source checkout (web/, beside the denseface package).
WEB_DIR = PACKAGE_DIR.parent / "web"
#: The YuNet licence, shipped beside its file.
DETECTOR_LICENCE = PACKAGE_DIR / "infer" / "detectors" / "data" / "LICENSE_yunet.txt"
#: The generated module of package data (see write_package_data).
PACKAGE_DATA_MODULE = Path("src") / "generated" / "data.js"

RUNTIME_PACKAGE = "onnxruntime-web"
RUNTIME_VERSION = "1.22.0"
#: Files of onnxruntime-web's dist/ that the page loads (its wasm-only build), with their sha256.
RUNTIME_FILES = {
    "ort.wasm.min.mjs": "6ef726f355b791129f7ddf3f62e7877a16b9b777abe87004b8ab306e6b9cf265",
    "ort-wasm-simd-threaded.mjs": "30dd851d9c00622940500f71ddd2ff8820c5cb65270816080175b958705385a8",
    "ort-wasm-simd-threaded.wasm": "71aef04959c5c1b6de461b6538e2058e306610034a85aad2742d0c7fd4533fe4",
}
#: The runtime's wasm, served gzip-compressed as WASM_GZ (the page inflates it and checks the
#: digest of RUNTIME_FILES[WASM]).
WASM = "ort-wasm-simd-threaded.wasm"
WASM_GZ = WASM + ".gz"

SITE_VENDOR_RUNTIME = "vendor/onnxruntime-web"
SITE_MODELS = "models"
#: Decimals of the exported eye spread weights (an error of at most 5e-10 of a displacement).
EYE_SPREAD_DECIMALS = 9
#: Where the demo page's index.html names the model (its preload link), replaced by the export.
MODEL_PLACEHOLDER = "__MODEL__"


def detector_data() -> dict:
    """The browser's face detector: YuNet with the Python backend's settings (score and NMS
    thresholds, top_k), its calibrated box -> crop mapping, its file name and sha256."""
    from ..infer.detectors.base import calibrated_crop_mapping
    from ..infer.detectors.yunet import MODEL_FILE, MODEL_SHA256, YuNetConfig

    c, m = YuNetConfig(), calibrated_crop_mapping("yunet")
    return {"name": "yunet", "file": MODEL_FILE.name, "sha256": MODEL_SHA256,
            "score_threshold": c.score_threshold, "nms_threshold": c.nms_threshold, "top_k": c.top_k,
            "crop_mapping": None if m is None else asdict(m)}


def package_data() -> dict:
    """Everything the JavaScript package takes from Python (JSON-serialisable): the landmark
    sets (with the eye stage's (N, 12) spread of the eye points' displacements, rounded to
    EYE_SPREAD_DECIMALS), the defaults of PredictConfig, TrackerConfig and SmoothingConfig, the
    face detector (:func:`detector_data`), the eye stage's gate range (its patch config travels
    inside its file, as in Python), and the third-party files' digests."""
    from ..infer.api import PredictConfig
    from ..infer.eyes import GATE_RANGE, eye_spread
    from ..infer.tracking import SmoothingConfig, TrackerConfig
    from ..landmarks import load_landmark_set
    from ..landmarks.ibug68 import FLIP_68
    from ..landmarks.visibility import visibility_thresholds

    ls = load_landmark_set("dense520")
    sets = {ls.name: {"n_points": ls.n_points, "idx68": ls.idx68.tolist(), "flip": ls.flip.tolist(),
                      "triangles": ls.triangles.tolist(),
                      "mean_shape": [[float(v) for v in p] for p in ls.mean_shape],
                      "eye_spread": [[round(float(v), EYE_SPREAD_DECIMALS) for v in row] for row in eye_spread(ls)]}}
    predict = {k: v for k, v in asdict(PredictConfig()).items()
               if k in ("passes", "min_face_px", "roi_factor", "tta", "detect_max_side", "cascade_side",
                        "cascade_min_face_px", "eyes")}
    return {
        "landmark_sets": sets,
        # the second head's 68 points (models with head_300w) mirror through the iBUG flip
        "ibug68_flip": FLIP_68.tolist(),
        "predict": predict,
        "tracker": asdict(TrackerConfig()),
        "smoothing": asdict(SmoothingConfig()),
        "detector": detector_data(),
        # the eye stage (denseface.infer.eyes): the eye width range of its foreshortening gate
        "eye_stage": {"gate_range": list(GATE_RANGE)},
        # Face.visibility's per-point thresholds of each landmark set (denseface.landmarks.visibility)
        "visibility": {ls.name: dict(zip(("min_nz", "tolerance"), (a.tolist() for a in visibility_thresholds(ls))))},
        "runtime_package": {"name": RUNTIME_PACKAGE, "version": RUNTIME_VERSION, "sha256": RUNTIME_FILES,
                            "wasm_gz": WASM_GZ},
    }


def render_package_data(data: dict) -> str:
    """The JavaScript module of :func:`package_data` (deterministic text)."""
    body = ",\n".join(f" {json.dumps(k)}: {json.dumps(data[k], sort_keys=True, separators=(',', ':'))}"
                       for k in sorted(data))
    return ("// Generated by `python -m denseface.export.web` (denseface/export/web.py): do not edit.\n"
            "// The landmark set, the Python defaults, the face detector's settings and calibrated\n"
            "// mapping, the third-party files' sha256; tests/test_web.py checks it matches the Python side.\n"
            f"export default {{\n{body}\n}};\n")


def write_package_data(web_dir: Path = WEB_DIR) -> Path:
    """(Re)write ``web/src/generated/data.js`` from the Python side."""
    return _write(Path(web_dir) / PACKAGE_DATA_MODULE, render_package_data(package_data()))


@dataclass
class WebExportConfig:
    """out: the folder to write (created; existing files of the same names are replaced).
    model: a registry name, an .onnx file or None (the package default). web_dir: the web
    package (a source checkout's web/ with ``npm ci`` run in it)."""

    out: Path
    model: str | None = None
    web_dir: Path = WEB_DIR

    def __post_init__(self) -> None:
        self.out = Path(self.out)
        self.web_dir = Path(self.web_dir)
        if self.out.exists() and not self.out.is_dir():
            raise ConfigError("the web export goes to a folder, but this is a file", path=self.out)


def _model_file(model: str | None) -> Path:
    from ..models.registry import resolve_model_path
    from ..models.runners import OnnxRunner

    path = Path(model) if model and Path(model).suffix == ".onnx" else Path(resolve_model_path(model))
    if path.suffix != ".onnx":
        raise ConfigError(f"the browser runs ONNX files; '{path.name}' is not one", path=path)
    OnnxRunner(path)   # a readable model with its denseface config in the metadata
    return path


def _checked(folder: Path, files: dict[str, str], package: str, version: str) -> list[Path]:
    """The files of an installed npm package, each checked against its sha256."""
    meta = folder / "package.json"
    hint = "run `npm ci` in the web/ folder of a denseface source checkout"
    if not meta.is_file():
        raise DenseFaceError(f"the npm package {package} is not installed ({hint})", path=folder)
    got = json.loads(meta.read_text()).get("version")
    if got != version:
        raise DenseFaceError(f"{package} {got} is installed, the page needs {version} ({hint})", path=folder)
    out = []
    for name, digest in files.items():
        path = folder / name
        if not path.is_file():
            raise DenseFaceError(f"{package} {version} has no {name} ({hint})", path=path)
        if sha256_of(path) != digest:
            raise DenseFaceError(f"sha256 mismatch of {package}'s {name} (expected {digest[:12]}...)", path=path)
        out.append(path)
    return out


def _copy(src: Path, dst: Path) -> Path:
    dst.parent.mkdir(parents=True, exist_ok=True)
    with atomic_output(dst) as tmp:
        shutil.copyfile(src, tmp)
    return dst


def _gzip(src: Path, dst: Path) -> Path:
    """``src`` gzip-compressed (level 9, no name or time in the header: the same bytes each time)."""
    dst.parent.mkdir(parents=True, exist_ok=True)
    with atomic_output(dst) as tmp:
        tmp.write_bytes(gzip.compress(src.read_bytes(), 9, mtime=0))
    return dst


def _detector_file() -> Path:
    """The vendored YuNet file, checked against its sha256."""
    from ..infer.detectors.yunet import MODEL_FILE, MODEL_SHA256

    if not MODEL_FILE.is_file() or sha256_of(MODEL_FILE) != MODEL_SHA256:
        raise DenseFaceError("the package's YuNet file is missing or altered (reinstall denseface)", path=MODEL_FILE)
    return MODEL_FILE


def _eye_stage_file() -> Path | None:
    """The shipped eye stage (denseface.infer.eyes), when installed and readable as one; the
    page reads the eyes with it for models with the human-convention head (as Python does)."""
    from ..infer.eyes import SHIPPED, EyeStage
    from ..landmarks import load_landmark_set

    if not SHIPPED.is_file():
        return None
    EyeStage(SHIPPED, load_landmark_set("dense520"))   # its config inside, else one clear line
    return SHIPPED


def _write(dst: Path, text: str) -> Path:
    dst.parent.mkdir(parents=True, exist_ok=True)
    with atomic_output(dst) as tmp:
        tmp.write_text(text)
    return dst


def export_web(config: WebExportConfig) -> dict:
    """Write the static folder (see the module docstring); returns its manifest: every file
    written, with its size and sha256, and the total bytes (other files already in the folder
    are left alone and not counted)."""
    web, out = config.web_dir, config.out
    if not (web / "package.json").is_file() or not (web / "src" / "index.js").is_file():
        raise DenseFaceError("not the web package of a denseface source checkout (web/ with "
                             "package.json and src/)", path=web)
    model = _model_file(config.model)
    runtime = _checked(web / "node_modules" / RUNTIME_PACKAGE, {f"dist/{k}": v for k, v in RUNTIME_FILES.items()},
                       RUNTIME_PACKAGE, RUNTIME_VERSION)
    detector = _detector_file()
    data = web / PACKAGE_DATA_MODULE
    if not data.is_file() or data.read_text() != render_package_data(package_data()):
        raise DenseFaceError("the generated package data is out of date with the Python side "
                             "(run `python -m denseface.export.web`)", path=data)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise OutputError(f"cannot create folder ({e.strerror})", path=out) from None
    written = [_copy(src, out / "denseface" / src.relative_to(web / "src")) for src in sorted((web / "src").rglob("*.js"))]
    written += [_copy(web / "demo" / name, out / name) for name in ("demo.js", "demo.css")]
    page = (web / "demo" / "index.html").read_text().replace(MODEL_PLACEHOLDER, f"{SITE_MODELS}/{model.name}")
    written.append(_write(out / "index.html", page))
    written += [_copy(src, out / SITE_VENDOR_RUNTIME / src.name) for src in runtime if src.name != WASM]
    written.append(_gzip([src for src in runtime if src.name == WASM][0], out / SITE_VENDOR_RUNTIME / WASM_GZ))
    written.append(_copy(model, out / SITE_MODELS / model.name))
    written.append(_copy(detector, out / SITE_MODELS / detector.name))
    eyes = _eye_stage_file()
    if eyes is not None:
        written.append(_copy(eyes, out / SITE_MODELS / eyes.name))
    written.append(_copy(DETECTOR_LICENCE, out / SITE_MODELS / DETECTOR_LICENCE.name))
    site = {"model": f"{SITE_MODELS}/{model.name}", "detector_model": f"{SITE_MODELS}/{detector.name}",
            "eye_model": None if eyes is None else f"{SITE_MODELS}/{eyes.name}",
            "runtime_base_url": SITE_VENDOR_RUNTIME + "/", "runtime_wasm_gz": f"{SITE_VENDOR_RUNTIME}/{WASM_GZ}"}
    written.append(_write(out / "site.json", json.dumps(site, indent=1) + "\n"))
    written.append(_write(out / "THIRD_PARTY.md", third_party_notice(model.name)))
    manifest = {"files": {str(p.relative_to(out)): {"bytes": p.stat().st_size, "sha256": sha256_of(p)}
                          for p in sorted(written)}}
    manifest["total_bytes"] = sum(f["bytes"] for f in manifest["files"].values())
    _write(out / "manifest.json", json.dumps(manifest, indent=1) + "\n")
    return manifest


def third_party_notice(model_name: str) -> str:
    from ..infer.eyes import SHIPPED
    return (
        "# Third-party files in this folder\n\n"
        f"- `{SITE_VENDOR_RUNTIME}/`: {RUNTIME_PACKAGE} {RUNTIME_VERSION} (npm), Microsoft, MIT licence "
        f"(https://github.com/microsoft/onnxruntime); `{WASM_GZ}` is its `{WASM}`, gzip-compressed.\n"
        f"- `{SITE_MODELS}/{DETECTOR_LICENCE.name}` and the YuNet file beside it: YuNet, the face detector of "
        "Shiqi Yu's group, from the OpenCV Zoo (https://github.com/opencv/opencv_zoo), MIT licence.\n"
        f"- `{SITE_MODELS}/{model_name}` and the eye stage `{SITE_MODELS}/{SHIPPED.name}`: the denseface "
        "networks; research use only (trained on data under non-commercial terms, see the model card of the "
        "denseface repository).\n"
        "- `denseface/`, `index.html`, `demo.js`, `demo.css`: denseface, Apache-2.0.\n\n"
        "`manifest.json` lists every file with its size and sha256.\n")


if __name__ == "__main__":
    print(write_package_data())
