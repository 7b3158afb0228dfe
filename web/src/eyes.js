// The eye stage: the eyelids read again from eye patches of the original image; the JavaScript
// twin of denseface.infer.eyes and denseface.geometry.eye_patch, running the shipped eye-stage
// ONNX file (denseface/weights/eyes_v1.onnx) unchanged in ONNX Runtime Web.
//
// After the last pass, each eye of a face with landmarks68_300w is cut from the image (corners
// level, the left eye mirrored, cv2.warpAffine INTER_LINEAR / BORDER_REPLICATE bit-identical),
// the network gives its six points again (patch pixels, the right eye's order p1..p6), and they
// replace the eye points (iBUG 36-47) of landmarks68_300w; the same displacement, times each
// eye's foreshortening gate, moves the dense points through the landmark set's eye spread
// (generated/data.js, from Python).
//
// Frames: image pixels (x right, y down, OpenCV's pixel centres); z is not changed. A patch is
// width x height pixels with the eye's corners on its horizontal midline, 1 / width_factor of
// the width apart, centred. Input of the network: (B, 3, height, width) float32 RGB 0..255;
// output "eye_points" (B, 6, 2) patch pixels.

import data from './generated/data.js';
import { fetchBytes } from './fetch_bytes.js';
import { invertAffine, sampleAffine } from './geometry.js';
import { ModelError, onnxMetadataJson } from './network.js';
import { createSession, ort } from './runtime.js';

export const EYE_CONFIG_KEY = 'denseface_eye_config';
/** iBUG indices of each eye, the subject's right eye first. */
export const EYE_INDICES = [[36, 37, 38, 39, 40, 41], [42, 43, 44, 45, 46, 47]];
/** The left eye's six points (42..47) in a mirrored patch, in the right eye's order p1..p6. */
export const MIRRORED_ORDER = [3, 2, 1, 0, 5, 4];
/** Eye width (share of the wider eye's) mapped linearly to the gate 0..1 (infer.eyes.GATE_RANGE). */
export const GATE_RANGE = Object.freeze(data.eye_stage.gate_range);

/** 2x3 matrix (row-major [a, b, c, d, e, f]) from image pixels to patch pixels: cornerA ->
 * cornerB level, centred, the patch widthFactor times their distance wide; mirror flips the
 * patch horizontally (x -> width - 1 - x). eye_patch.eye_patch_matrix in the same arithmetic. */
export function eyePatchMatrix(a, b, width, height, widthFactor, mirror) {
  const dx = b[0] - a[0], dy = b[1] - a[1];
  const n = Math.max(Math.sqrt(dx * dx + dy * dy), 1e-6);   // np.linalg.norm's arithmetic
  const s = width / (widthFactor * n), c = dx / n, sn = dy / n;
  const m00 = c * s, m01 = sn * s, m10 = -sn * s, m11 = c * s;
  const mx = (a[0] + b[0]) / 2.0, my = (a[1] + b[1]) / 2.0;
  const t0 = (width - 1) / 2.0 - (m00 * mx + m01 * my), t1 = (height - 1) / 2.0 - (m10 * mx + m11 * my);
  if (!mirror) return [m00, m01, t0, m10, m11, t1];
  return [-m00, -m01, -t0 + (width - 1.0), m10, m11, t1];
}

/** The two patch matrices of a face's 68 points (68 x [x, y, ...]): right eye, then the left
 * eye mirrored. */
export function eyeMatrices(points68, width, height, widthFactor) {
  return EYE_INDICES.map((idx, k) => eyePatchMatrix(points68[idx[0]], points68[idx[3]], width, height,
    widthFactor, k === 1));
}

/** Six patch points (flat x, y; the right eye's order) -> image pixels in iBUG order (6 x [x, y])
 * (eye_patch.from_patch). */
export function fromPatch(flat, M, mirrored) {
  const [a, b, c, d, e, f] = M;
  const det = a * e - b * d, ia = e / det, ib = -b / det, id = -d / det, ie = a / det;
  return Array.from({ length: 6 }, (_, i) => {
    const j = mirrored ? MIRRORED_ORDER.indexOf(i) : i;
    const x = flat[2 * j] - c, y = flat[2 * j + 1] - f;
    return [ia * x + ib * y, id * x + ie * y];
  });
}

/** [right, left] weights in [0, 1] of a face's 68 points: each eye's width (corner to corner)
 * relative to the wider eye's, mapped linearly from lo (0) to hi (1) (infer.eyes.foreshortening_gate). */
export function foreshorteningGate(points68, [lo, hi] = GATE_RANGE) {
  const w = EYE_INDICES.map((idx) => {
    const dx = points68[idx[3]][0] - points68[idx[0]][0], dy = points68[idx[3]][1] - points68[idx[0]][1];
    return Math.sqrt(dx * dx + dy * dy);
  });
  const top = Math.max(Math.max(...w), 1e-9);
  return w.map((v) => Math.min(1, Math.max(0, (v / top - lo) / (hi - lo))));
}

/** The eye stage's config from its ONNX bytes (ModelError when missing or malformed). */
export function eyeConfig(bytes, name = 'the eye model') {
  return onnxMetadataJson(bytes, EYE_CONFIG_KEY, name, `not an eye-stage ONNX file (no ${EYE_CONFIG_KEY} metadata)`);
}

export class EyeStage {
  /** source: a URL, an ArrayBuffer or a Uint8Array of the eye-stage ONNX file (the runtime is
   * set up by createSession's caller, as for the landmark network). */
  static async create(source) {
    const name = typeof source === 'string' ? source : 'the eye model';
    const bytes = typeof source === 'string' ? await fetchBytes(source, ModelError) : new Uint8Array(source);
    const config = eyeConfig(bytes, name);
    let session;
    try {
      session = await createSession(bytes);
    } catch (e) {
      throw new ModelError(`${name}: ONNX Runtime Web cannot load it (${e.message})`);
    }
    return new EyeStage(session, config);
  }

  constructor(session, config) {
    this.session = session;
    this.config = config;
    this.inputName = session.inputNames[0];
    this.outputName = session.outputNames[0];
  }

  /** The two patches (NCHW float32 RGB, right eye then the left mirrored) of each face's 68
   * points into one batch, and their matrices. */
  patches(image, faces68) {
    const { width: w, height: h, width_factor: wf } = this.config, plane = 3 * w * h;
    const batch = new Float32Array(2 * faces68.length * plane);
    const mats = faces68.map((p, f) => eyeMatrices(p, w, h, wf).map((M, k) => {
      sampleAffine(image, invertAffine(M), w, h, batch, (2 * f + k) * plane, false, true);
      return M;
    }));
    return [batch, mats];
  }

  /** The eye points (12 x [x, y], iBUG 36-47, image pixels) of F faces of one image, read
   * around their 68 points (F x 68 x [x, y]), in one network call. */
  async eyePoints(image, faces68) {
    if (!faces68.length) return [];
    const { width: w, height: h } = this.config;
    const [batch, mats] = this.patches(image, faces68);
    const input = new ort.Tensor('float32', batch, [2 * faces68.length, 3, h, w]);
    const result = await this.session.run({ [this.inputName]: input });
    input.dispose?.();
    const out = result[this.outputName].data;
    return mats.map((pair, f) => pair.flatMap((M, k) => fromPatch(out.subarray((2 * f + k) * 12, (2 * f + k + 1) * 12), M, k === 1)));
  }

  /** One untimed run on blank patches (one face), so that the first photo finds it compiled. */
  async warmUp() {
    const { width: w, height: h } = this.config;
    const input = new ort.Tensor('float32', new Float32Array(2 * 3 * w * h), [2, 3, h, w]);
    await this.session.run({ [this.inputName]: input });
    input.dispose?.();
  }

  /** Faces' outputs (image pixels by name: dense points N x [x, y, z] and landmarks68_300w)
   * with the eyes read again (infer.eyes.EyeStage.refine): new objects, the inputs unchanged.
   * spread: the landmark set's eye spread (N x 12, generated/data.js). */
  async refine(image, outputs, spread, pointsName, humanName) {
    const human = outputs.map((o) => o[humanName]);
    const found = await this.eyePoints(image, human);
    const eyes = EYE_INDICES.flat();
    return outputs.map((o, f) => {
      const gate = foreshorteningGate(human[f]);
      const disp = eyes.map((i, j) => {
        const g = gate[j < 6 ? 0 : 1];
        return [(found[f][j][0] - human[f][i][0]) * g, (found[f][j][1] - human[f][i][1]) * g];
      });
      const p300 = human[f].slice();
      eyes.forEach((i, j) => { p300[i] = found[f][j]; });
      const dense = o[pointsName].map((p, n) => {
        const row = spread[n];
        let dx = 0, dy = 0;
        for (let j = 0; j < 12; j++) {
          dx += row[j] * disp[j][0];
          dy += row[j] * disp[j][1];
        }
        return [p[0] + dx, p[1] + dy, ...p.slice(2)];
      });
      return { ...o, [pointsName]: dense, [humanName]: p300 };
    });
  }
}
