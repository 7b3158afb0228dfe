// Face detection in the browser: YuNet, the detector of `denseface predict` (the same vendored
// ONNX file, OpenCV Zoo, MIT), run by ONNX Runtime Web beside the landmark network, with the
// same pre- and post-processing as denseface.infer.detectors.yunet (the JavaScript twin):
//
// - input: the image (RGBA pixels) padded with black to multiples of 32 at the bottom and right,
//   as (1, 3, H, W) float32 BGR 0..255;
// - per stride s in 8, 16, 32, one anchor per cell (row r, column c): score = sqrt(clip(cls, 0, 1)
//   * clip(obj, 0, 1)); box centre = ((c, r) + bbox[:2]) * s, size = exp(bbox[2:]) * s;
//   keypoints = ((c, r) + kps) * s; faces scoring at least the threshold;
// - non-maximum suppression as OpenCV's NMSBoxes (best score first, IoU above nms_threshold
//   dropped), at most top_k faces, best first.
//
// Frames: detect() takes RGBA pixels ({data, width, height}) and returns boxes [x0, y0, x1, y1] in
// those pixels (x right, y down), with 5 keypoints (right eye, left eye, nose tip, right and left
// mouth corner; the person's right and left). The box goes to the network's crop through the
// calibrated mapping of the Python detector (cropMapping). Where to search (the detection copy,
// the cascade, a region) is DenseFace.detect's job, as FaceCropper.detect's in Python.

import data from './generated/data.js';
import { boxIou } from './geometry.js';
import { fetchBytes } from './fetch_bytes.js';
import { checkDigest, createSession, ort } from './runtime.js';

/** A detector that cannot be loaded or run, with a readable message. */
export class DetectorError extends Error {}

const STRIDES = [8, 16, 32];

/** (1, 3, ph, pw) float32 BGR 0..255 of RGBA pixels, black padding at the bottom and right. */
export function inputBlob(image, ph, pw) {
  const { data: px, width: w, height: h } = image;
  const blob = new Float32Array(3 * ph * pw), plane = ph * pw;
  for (let y = 0; y < h; y++) {
    let s = y * w * 4, d = y * pw;
    for (let x = 0; x < w; x++, s += 4, d++) {
      blob[d] = px[s + 2];
      blob[plane + d] = px[s + 1];
      blob[2 * plane + d] = px[s];
    }
  }
  return blob;
}

/** The faces of one stride scoring at least `threshold`: {box, score, keypoints} in input pixels
 * (denseface.infer.detectors.yunet.decode_stride). cols = padded width / stride. */
export function decodeStride(outputs, stride, cols, threshold) {
  const cls = outputs[`cls_${stride}`], obj = outputs[`obj_${stride}`];
  const bbox = outputs[`bbox_${stride}`], kps = outputs[`kps_${stride}`];
  const out = [];
  for (let i = 0; i < cls.length; i++) {
    const score = Math.sqrt(Math.min(Math.max(cls[i], 0), 1) * Math.min(Math.max(obj[i], 0), 1));
    if (!(score >= threshold)) continue;
    const c = i % cols, r = Math.floor(i / cols);
    const cx = (c + bbox[4 * i]) * stride, cy = (r + bbox[4 * i + 1]) * stride;
    const w = Math.exp(bbox[4 * i + 2]) * stride, h = Math.exp(bbox[4 * i + 3]) * stride;
    const keypoints = [];
    for (let k = 0; k < 5; k++) keypoints.push([(kps[10 * i + 2 * k] + c) * stride, (kps[10 * i + 2 * k + 1] + r) * stride]);
    out.push({ box: [cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], score, keypoints });
  }
  return out;
}

/** OpenCV's NMSBoxes: best score first (stable), a box overlapping a kept one by more than
 * `iou` is dropped. */
export function nms(detections, iou) {
  const order = detections.map((d, i) => i).sort((a, b) => detections[b].score - detections[a].score || a - b);
  const kept = [];
  for (const i of order) {
    if (kept.every((k) => boxIou(detections[k].box, detections[i].box) <= iou)) kept.push(i);
  }
  return kept.map((i) => detections[i]);
}

export class YuNetDetector {
  /**
   * model: URL (or bytes) of the YuNet ONNX file (default: the package data's file name, beside
   * the page's models); verify: check its sha256 (default true; needs SubtleCrypto, else
   * skipped); scoreThreshold, nmsThreshold, topK: the Python detector's defaults unless given.
   * ONNX Runtime Web must be set up (runtime.js setUpRuntime) before.
   */
  static async create({ model, verify = true, scoreThreshold = null, nmsThreshold = null, topK = null } = {}) {
    const spec = data.detector;
    if (!model) throw new DetectorError('the detector needs model, the URL of the YuNet ONNX file');
    const name = typeof model === 'string' ? model : 'the YuNet file';
    let bytes = typeof model === 'string' ? await fetchBytes(model, DetectorError) : new Uint8Array(model);
    if (verify) bytes = await checkDigest(bytes, spec.sha256, name, DetectorError);
    let session;
    try {
      session = await createSession(bytes);
    } catch (e) {
      throw new DetectorError(`${name}: ONNX Runtime Web cannot load it (${e && e.message ? e.message : e})`);
    }
    return new YuNetDetector(session, {
      scoreThreshold: scoreThreshold ?? spec.score_threshold, nmsThreshold: nmsThreshold ?? spec.nms_threshold,
      topK: topK ?? spec.top_k, cropMapping: spec.crop_mapping,
    });
  }

  constructor(session, { scoreThreshold, nmsThreshold, topK, cropMapping }) {
    this.name = 'yunet';
    this.session = session;
    this.inputName = session.inputNames[0];
    this.scoreThreshold = scoreThreshold;
    this.nmsThreshold = nmsThreshold;
    this.topK = topK;
    this.cropMapping = cropMapping;   // the Python detector's calibrated box -> crop mapping
    this.queue = Promise.resolve();
  }

  /** Faces in RGBA pixels, boxes in its pixels, best score first (one call at a time). */
  detect(image) {
    const run = this.queue.then(() => this.run(image));
    this.queue = run.catch(() => {});
    return run;
  }

  async run(image) {
    const ph = Math.ceil(image.height / 32) * 32, pw = Math.ceil(image.width / 32) * 32;
    const input = new ort.Tensor('float32', inputBlob(image, ph, pw), [1, 3, ph, pw]);
    let result;
    try {
      result = await this.session.run({ [this.inputName]: input });
    } catch (e) {
      throw new DetectorError(`the face detector failed (${e && e.message ? e.message : e})`);
    } finally {
      input.dispose?.();
    }
    const outputs = {};
    for (const [k, v] of Object.entries(result)) outputs[k] = v.data;
    let found = [];
    for (const s of STRIDES) found = found.concat(decodeStride(outputs, s, pw / s, this.scoreThreshold));
    for (const v of Object.values(result)) v.dispose?.();
    return nms(found, this.nmsThreshold).slice(0, this.topK).map((d) => ({ ...d, label: this.name }));
  }

  async close() {
    await this.session.release?.();
  }
}
