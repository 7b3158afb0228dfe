"""``denseface export --format web``: a static folder that runs denseface in a web browser.

The JavaScript package lives in the source checkout's ``web/`` folder (an ES module, docs/web.md)
and runs the shipped ONNX file unchanged with ONNX Runtime Web; faces are found by MediaPipe's
BlazeFace from the npm package ``@mediapipe/face_detection``. Both come from the npm registry
(``npm ci`` in ``web/``, versions pinned by its lockfile); every third-party file that the folder
serves is checked here against the sha256 digests below before it is copied, and again by the
page when it loads them (SubtleCrypto, where the browser offers it).

What the package needs from Python (the landmark set, the defaults of prediction, tracking and
smoothing, BlazeFace's calibrated box -> crop mappings and the digests) is generated into one
JavaScript module, ``web/src/generated/data.js``, by :func:`write_package_data`; a test checks
that the committed module equals what this code generates, so the two sides cannot drift.

Layout of the exported folder (any static server can serve it, e.g. ``python -m http.server``)::

    index.html demo.js demo.css site.json    the demo page and its settings
    denseface/                               the JavaScript package (web/src)
    models/<model>.onnx                      the network, unchanged
    vendor/onnxruntime-web/                  ONNX Runtime Web's wasm build (MIT)
    vendor/mediapipe-face_detection/         BlazeFace models, graphs and wasm (Apache-2.0)
    THIRD_PARTY.md manifest.json             licences; every file's size and sha256
"""
from __future__ import annotations

import json
import shutil
from dataclasses import asdict, dataclass
from pathlib import Path

from ..errors import ConfigError, DenseFaceError, OutputError
from ..io.files import atomic_output, sha256_of
from ..paths import PACKAGE_DIR

#: The web package of a source checkout (web/, beside the denseface package).
WEB_DIR = PACKAGE_DIR.parent / "web"
#: The generated module of package data (see write_package_data).
PACKAGE_DATA_MODULE = Path("src") / "generated" / "data.js"

DETECTOR_PACKAGE = "@mediapipe/face_detection"
DETECTOR_VERSION = "0.4.1646425229"   # 0.4.1657300184 (the latest) fails in its own graph
#: Files of @mediapipe/face_detection that the page loads, with their sha256 (npm pack of the
#: pinned version). The non-SIMD wasm is left out: ONNX Runtime Web needs WebAssembly SIMD too.
DETECTOR_FILES = {
    "face_detection.js": "464efd192f197f1000ab60bedde235f349b8ee2967e1443cc3a29cebf42cbce2",
    "face_detection_short.binarypb": "771c6b632d5ba58a41d3160abfd80185a1d18081f52bcefc5baec9f3d10aa8d9",
    "face_detection_short_range.tflite": "3bc182eb9f33925d9e58b5c8d59308a760f4adea8f282370e428c51212c26633",
    "face_detection_full.binarypb": "8d2032a5b33f06e1c87e92ad7ee6c397c9afa008b9de515daa8a889cc5b4b18b",
    "face_detection_full_range_sparse.tflite": "671dd2f9ed11a78436fc21cc42357a803dfc6f73e9fb86541be942d5716c2dce",
    "face_detection_solution_simd_wasm_bin.js": "ac6721ba5e4ddba4b145116e5012a0e2536c95cd814230e7095fbda78c4e46b7",
    "face_detection_solution_simd_wasm_bin.wasm": "ed927313be5ead0002008a7bc18177ecd342c60fd75795e4611fb44e19c4745b",
    "face_detection_solution_simd_wasm_bin.data": "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
}
RUNTIME_PACKAGE = "onnxruntime-web"
RUNTIME_VERSION = "1.22.0"
#: Files of onnxruntime-web's dist/ that the page loads (its wasm-only build), with their sha256.
RUNTIME_FILES = {
    "ort.wasm.min.mjs": "6ef726f355b791129f7ddf3f62e7877a16b9b777abe87004b8ab306e6b9cf265",
    "ort-wasm-simd-threaded.mjs": "30dd851d9c00622940500f71ddd2ff8820c5cb65270816080175b958705385a8",
    "ort-wasm-simd-threaded.wasm": "71aef04959c5c1b6de461b6538e2058e306610034a85aad2742d0c7fd4533fe4",
}
#: BlazeFace's two models (the @mediapipe/face_detection "model" option) as detector names; their
#: box -> crop mappings are calibrated like the Python detectors' (benchmarks/bench_web.py
#: --calibrate writes them into denseface/infer/detectors/data/crop_mappings.json).
BROWSER_DETECTORS = {"blazeface_short": "short", "blazeface_full": "full"}
#: The page's detector on whole images: the full-range model, plus the faces that only the
#: short-range model finds (close-ups that the full-range model misses); docs/web.md.
DEFAULT_BROWSER_DETECTOR = ("blazeface_full", "blazeface_short")
#: The detector of the tracker's drift check, which looks at one face's neighbourhood only (the
#: face fills about a third of it: the short-range model's kind of picture, at a quarter of the
#: full-range model's time in a browser without a GPU; docs/web.md).
DEFAULT_BROWSER_REGION_DETECTOR = "blazeface_short"
#: The score threshold of BlazeFace (MediaPipe's own default, minDetectionConfidence).
BROWSER_DETECTOR_SCORE_THRESHOLD = 0.5

SITE_VENDOR_RUNTIME = "vendor/onnxruntime-web"
SITE_VENDOR_DETECTOR = "vendor/mediapipe-face_detection"


def package_data() -> dict:
    """Everything the JavaScript package takes from Python (JSON-serialisable): the landmark
    sets, the defaults of PredictConfig, TrackerConfig and SmoothingConfig, the browser
    detectors with their calibrated mappings, and the third-party files' digests."""
    from ..infer.api import PredictConfig
    from ..infer.detectors.base import calibrated_crop_mapping
    from ..infer.tracking import SmoothingConfig, TrackerConfig
    from ..landmarks import load_landmark_set
    from ..landmarks.ibug68 import FLIP_68

    ls = load_landmark_set("dense520")
    sets = {ls.name: {"n_points": ls.n_points, "idx68": ls.idx68.tolist(), "flip": ls.flip.tolist(),
                      "triangles": ls.triangles.tolist(),
                      "mean_shape": [[float(v) for v in p] for p in ls.mean_shape]}}
    detectors = {}
    for name, model in BROWSER_DETECTORS.items():
        m = calibrated_crop_mapping(name)
        detectors[name] = {"model": model, "score_threshold": BROWSER_DETECTOR_SCORE_THRESHOLD,
                           "crop_mapping": None if m is None else asdict(m)}
    predict = {k: v for k, v in asdict(PredictConfig()).items()
               if k in ("passes", "min_face_px", "roi_factor", "tta")}
    return {
        "landmark_sets": sets,
        # the second head's 68 points (models with head_300w) mirror through the iBUG flip
        "ibug68_flip": FLIP_68.tolist(),
        "predict": predict,
        "tracker": asdict(TrackerConfig()),
        "smoothing": asdict(SmoothingConfig()),
        "detectors": detectors,
        "default_detector": list(DEFAULT_BROWSER_DETECTOR),
        "default_region_detector": DEFAULT_BROWSER_REGION_DETECTOR,
        "detector_package": {"name": DETECTOR_PACKAGE, "version": DETECTOR_VERSION, "sha256": DETECTOR_FILES},
        "runtime_package": {"name": RUNTIME_PACKAGE, "version": RUNTIME_VERSION, "sha256": RUNTIME_FILES},
    }


def render_package_data(data: dict) -> str:
    """The JavaScript module of :func:`package_data` (deterministic text)."""
    body = ",\n".join(f" {json.dumps(k)}: {json.dumps(data[k], sort_keys=True, separators=(',', ':'))}"
                       for k in sorted(data))
    return ("// Generated by `python -m denseface.export.web` (denseface/export/web.py): do not edit.\n"
            "// The landmark set, the Python defaults, BlazeFace's calibrated mappings and the\n"
            "// third-party files' sha256; tests/test_web.py checks it matches the Python side.\n"
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
    detector = _checked(web / "node_modules" / DETECTOR_PACKAGE, DETECTOR_FILES, DETECTOR_PACKAGE, DETECTOR_VERSION)
    data = web / PACKAGE_DATA_MODULE
    if not data.is_file() or data.read_text() != render_package_data(package_data()):
        raise DenseFaceError("the generated package data is out of date with the Python side "
                             "(run `python -m denseface.export.web`)", path=data)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise OutputError(f"cannot create folder ({e.strerror})", path=out) from None
    written = [_copy(src, out / "denseface" / src.relative_to(web / "src")) for src in sorted((web / "src").rglob("*.js"))]
    written += [_copy(web / "demo" / name, out / name) for name in ("index.html", "demo.js", "demo.css")]
    written += [_copy(src, out / SITE_VENDOR_RUNTIME / src.name) for src in runtime]
    written += [_copy(src, out / SITE_VENDOR_DETECTOR / src.name) for src in detector]
    written.append(_copy(model, out / "models" / model.name))
    site = {"model": f"models/{model.name}", "detector_base_url": SITE_VENDOR_DETECTOR + "/",
            "runtime_base_url": SITE_VENDOR_RUNTIME + "/"}
    written.append(_write(out / "site.json", json.dumps(site, indent=1) + "\n"))
    written.append(_write(out / "THIRD_PARTY.md", third_party_notice(model.name)))
    manifest = {"files": {str(p.relative_to(out)): {"bytes": p.stat().st_size, "sha256": sha256_of(p)}
                          for p in sorted(written)}}
    manifest["total_bytes"] = sum(f["bytes"] for f in manifest["files"].values())
    _write(out / "manifest.json", json.dumps(manifest, indent=1) + "\n")
    return manifest


def third_party_notice(model_name: str) -> str:
    return (
        "# Third-party files in this folder\n\n"
        f"- `{SITE_VENDOR_RUNTIME}/`: {RUNTIME_PACKAGE} {RUNTIME_VERSION} (npm), Microsoft, MIT licence "
        "(https://github.com/microsoft/onnxruntime).\n"
        f"- `{SITE_VENDOR_DETECTOR}/`: {DETECTOR_PACKAGE} {DETECTOR_VERSION} (npm), Google, Apache-2.0 "
        "(its package.json; https://github.com/google/mediapipe): BlazeFace short- and full-range "
        "models, their graphs and the MediaPipe solution wasm.\n"
        f"- `models/{model_name}`: the denseface network; research use only (trained on data under "
        "non-commercial terms, see the model card of the denseface repository).\n"
        "- `denseface/`, `index.html`, `demo.js`, `demo.css`: denseface, Apache-2.0.\n\n"
        "`manifest.json` lists every file with its size and sha256.\n")


if __name__ == "__main__":
    print(write_package_data())
