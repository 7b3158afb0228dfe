// Face detection in the browser: MediaPipe's BlazeFace from the npm package
// @mediapipe/face_detection (Apache-2.0; models, graphs and wasm inside the package).
//
// Frames: detect() takes RGBA pixels ({data, width, height}) and returns boxes [x0, y0, x1, y1]
// in those pixels (x right, y down), best score first, with 6 keypoints (right eye, left eye,
// nose tip, mouth centre, right and left ear tragion; the person's right and left) in the same
// pixels. The box goes to the network's crop through its calibrated mapping (cropMapping, fitted
// on non-test photos by benchmarks/bench_web.py --calibrate, as each Python detector is).
//
// Every file is fetched from `baseUrl` (the package's files, served with the page; nothing from
// a CDN) and, where the browser offers SubtleCrypto (https or localhost), checked against the
// sha256 digests recorded on the Python side before MediaPipe sees it.
// MediaPipe's graph runs on WebGL 2 (software WebGL in a browser without a GPU).

import data from './generated/data.js';
import { fetchBytes } from './fetch_bytes.js';

/** A detector that cannot be loaded or run, with a readable message. */
export class DetectorError extends Error {}

const RUNTIME_FILES = [
  'face_detection.js',
  'face_detection_solution_simd_wasm_bin.js',
  'face_detection_solution_simd_wasm_bin.wasm',
  'face_detection_solution_simd_wasm_bin.data',
];
const MODEL_FILES = {
  short: ['face_detection_short.binarypb', 'face_detection_short_range.tflite'],
  full: ['face_detection_full.binarypb', 'face_detection_full_range_sparse.tflite'],
};
const MIME = { '.js': 'text/javascript', '.wasm': 'application/wasm' };

function hex(buffer) {
  return Array.from(new Uint8Array(buffer), (b) => b.toString(16).padStart(2, '0')).join('');
}

/** {file: url} of the package files, each checked against its sha256 when SubtleCrypto exists
 * (then served to MediaPipe from the checked bytes, as blob URLs). */
async function checkedUrls(baseUrl, names, digests, verify) {
  const subtle = globalThis.crypto && globalThis.crypto.subtle;
  const urls = {};
  await Promise.all(names.map(async (name) => {
    const url = new URL(name, baseUrl).href;
    if (!verify || !subtle) { urls[name] = url; return; }
    const bytes = await fetchBytes(url, DetectorError);
    const got = hex(await subtle.digest('SHA-256', bytes));
    if (got !== digests[name]) {
      throw new DetectorError(`${url}: sha256 mismatch (got ${got.slice(0, 12)}..., expected ${digests[name].slice(0, 12)}...)`);
    }
    const ext = name.slice(name.lastIndexOf('.'));
    urls[name] = URL.createObjectURL(new Blob([bytes], { type: MIME[ext] || 'application/octet-stream' }));
  }));
  return urls;
}

let scriptLoaded = null;
function loadScript(url) {
  if (globalThis.FaceDetection) return Promise.resolve();
  if (!scriptLoaded) {
    scriptLoaded = new Promise((resolve, reject) => {
      const s = document.createElement('script');
      s.src = url;
      s.onload = () => resolve();
      s.onerror = () => { scriptLoaded = null; reject(new DetectorError(`${url}: the MediaPipe script does not load`)); };
      document.head.appendChild(s);
    });
  }
  return scriptLoaded;
}

/** A detection's score: MediaPipe's solution API returns it in its (minified) classification
 * list, the one array field besides the box and the landmarks. */
export function scoreOf(detection) {
  for (const [key, value] of Object.entries(detection)) {
    if (key === 'boundingBox' || key === 'landmarks' || !Array.isArray(value) || !value.length) continue;
    for (const [k, v] of Object.entries(value[0])) {
      if (k !== 'index' && typeof v === 'number' && v >= 0 && v <= 1) return v;
    }
  }
  return NaN;
}

/** WebGL 2 as MediaPipe needs it, or a readable reason why not. */
function checkWebGl2() {
  const canvas = new OffscreenCanvas(1, 1);
  if (!canvas.getContext('webgl2')) {
    throw new DetectorError('face detection needs WebGL 2, which this browser does not offer (turned off, or no GPU and no software fallback)');
  }
}

export class BlazeFaceDetector {
  /**
   * name: "blazeface_full" (faces up to about 5 m, photos) or "blazeface_short" (faces within
   * about 2 m, selfies); baseUrl: the folder holding @mediapipe/face_detection's files;
   * scoreThreshold: keep faces scoring at least this (default: the package data's);
   * verify: check every file's sha256 (default true; needs SubtleCrypto, else skipped).
   */
  static async create({ name = data.default_detector, baseUrl, scoreThreshold = null, verify = true } = {}) {
    const spec = data.detectors[name];
    if (!spec) throw new DetectorError(`unknown detector '${name}' (known: ${Object.keys(data.detectors).join(', ')})`);
    if (!baseUrl) throw new DetectorError('the detector needs baseUrl, the folder of @mediapipe/face_detection\'s files');
    checkWebGl2();
    const base = new URL(baseUrl, globalThis.location?.href).href;
    const names = [...RUNTIME_FILES, ...MODEL_FILES[spec.model]];
    const urls = await checkedUrls(base, names, data.detector_package.sha256, verify);
    await loadScript(urls['face_detection.js']);
    const threshold = scoreThreshold ?? spec.score_threshold;
    const solution = new globalThis.FaceDetection({ locateFile: (file) => urls[file] || new URL(file, base).href });
    solution.setOptions({ model: spec.model, minDetectionConfidence: threshold, selfieMode: false });
    const detector = new BlazeFaceDetector(name, spec, solution, threshold);
    try {
      await solution.initialize();
    } catch (e) {
      throw new DetectorError(`the face detector does not start (${e && e.message ? e.message : e})`);
    }
    return detector;
  }

  constructor(name, spec, solution, threshold) {
    this.name = name;
    this.cropMapping = spec.crop_mapping;   // null until calibrated: then the landmark-box policy
    this.scoreThreshold = threshold;
    this.solution = solution;
    this.canvas = document.createElement('canvas');
    this.context = this.canvas.getContext('2d', { willReadFrequently: true });
    this.results = null;
    this.queue = Promise.resolve();
    solution.onResults((results) => { this.results = results; });
  }

  /** Faces in RGBA pixels, or in the integer region [x0, y0, x1, y1] of them (boxes in the
   * full image's pixels), best score first. MediaPipe scales its input to the network's size
   * (128 px short, 192 px full) itself. */
  detect(image, region = null) {
    const run = this.queue.then(() => this.run(image, region));
    this.queue = run.catch(() => {});
    return run;
  }

  async run(image, region) {
    const [x0, y0, x1, y1] = region || [0, 0, image.width, image.height];
    const w = x1 - x0, h = y1 - y0;
    if (this.canvas.width !== w || this.canvas.height !== h) {
      this.canvas.width = w;
      this.canvas.height = h;
    }
    this.context.putImageData(image, -x0, -y0, x0, y0, w, h);
    this.results = null;
    try {
      await this.solution.send({ image: this.canvas });
    } catch (e) {
      throw new DetectorError(`the face detector failed (${e && e.message ? e.message : e})`);
    }
    const found = (this.results && this.results.detections) || [];
    return found.map((d) => {
      const b = d.boundingBox;
      const box = [(b.xCenter - b.width / 2) * w + x0, (b.yCenter - b.height / 2) * h + y0,
        (b.xCenter + b.width / 2) * w + x0, (b.yCenter + b.height / 2) * h + y0];
      const keypoints = (d.landmarks || []).map((p) => [p.x * w + x0, p.y * h + y0]);
      return { box, score: scoreOf(d), keypoints, label: this.name };
    }).filter((d) => !(d.score < this.scoreThreshold)).sort((a, b) => b.score - a.score);
  }

  async close() {
    await this.solution.close();
  }
}
