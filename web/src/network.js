// The landmark network: the shipped ONNX file, unchanged, in ONNX Runtime Web; the JavaScript
// twin of denseface.models.runners.OnnxRunner and denseface.infer.api.run_crops.
//
// Input: (B, 3, S, S) float32 RGB 0..255 (mean/std are inside the network); output: (B, N, 3)
// normalised crop coordinates p / S - 0.5. The config (input size, point count, landmark set,
// crop factor) is read from the file's metadata key "denseface_config", as Python does.

import { cropInto, cropToImage, decodePoints, unmirrorCropPoints } from './geometry.js';
import { fetchBytes } from './fetch_bytes.js';
import { readOnnxMetadata } from './onnx_metadata.js';
import { createSession, ort, setUpRuntime } from './runtime.js';

export const ONNX_CONFIG_KEY = 'denseface_config';

/** A model that cannot be loaded, with a readable message. */
export class ModelError extends Error {}

/** A tiny module with one SIMD instruction (i8x16.popcnt): valid only where WebAssembly SIMD is. */
const SIMD_PROBE = new Uint8Array([0, 97, 115, 109, 1, 0, 0, 0, 1, 5, 1, 96, 0, 1, 123, 3, 2, 1, 0, 10, 10, 1, 8,
  0, 65, 0, 253, 15, 253, 98, 11]);

/** Whether this JavaScript engine runs WebAssembly SIMD, which ONNX Runtime Web needs. */
export function hasWasmSimd() {
  return typeof WebAssembly === 'object' && WebAssembly.validate(SIMD_PROBE);
}

/** The JSON under `key` in an ONNX file's metadata (ModelError naming `name`: not an ONNX file,
 * or `missing` when the key is absent). */
export function onnxMetadataJson(bytes, key, name, missing) {
  let meta;
  try {
    meta = readOnnxMetadata(bytes);
  } catch (e) {
    throw new ModelError(`${name}: not an ONNX file (${e.message})`);
  }
  if (!(key in meta)) throw new ModelError(`${name}: ${missing}`);
  return JSON.parse(meta[key]);
}

/** The model's config from its ONNX bytes (ModelError when missing or malformed). */
export function modelConfig(bytes, name = 'the model') {
  const config = onnxMetadataJson(bytes, ONNX_CONFIG_KEY, name,
    'ONNX file has no denseface config metadata (export it with `denseface export`)');
  if (config.channel_order !== 'RGB' || config.value_range[0] !== 0 || config.value_range[1] !== 255) {
    throw new ModelError(`${name}: expects ${config.channel_order} ${config.value_range}; this page feeds RGB 0..255`);
  }
  return config;
}

/** The network's outputs (names of the ONNX graph, as denseface.models.runners): "points"
 * (B, N, 3); for models with the second head (config.head_300w), "landmarks68_300w" (B, 68, 2):
 * the 68 points as people annotate them (300-W); for models with the uncertainty head
 * (config.head_uncertainty), "uncertainty" (B, N): each point's sigma, a fraction of the crop
 * side (sigma: true). */
export const POINTS = 'points';
export const LANDMARKS68_300W = 'landmarks68_300w';
export const UNCERTAINTY = 'uncertainty';

export function outputSpecs(config) {
  const specs = [{ name: POINTS, n: config.num_points, dims: 3 }];
  if (config.head_300w) specs.push({ name: LANDMARKS68_300W, n: 68, dims: 2 });
  if (config.head_uncertainty) specs.push({ name: UNCERTAINTY, n: config.num_points, dims: 1, sigma: true });
  return specs;
}

/** One face's sigmas in image pixels (denseface.infer.crops.run_crop_outputs): raw fractions of
 * the crop side, times the side, averaged with the mirror's (permuted by `flip`) when given,
 * over the crop's pixels per image pixel. */
function decodeSigma(raw, mirrored, flip, S, M) {
  const scale = S / Math.sqrt(Math.abs(M[0] * M[4] - M[1] * M[3]));
  return Array.from(raw, (v, j) => (mirrored ? 0.5 * (v + mirrored[flip[j]]) : v) * scale);
}

/** The horizontal mirror (x -> S - 1 - x) of `planes` S x S planes at `from`, written at `to`. */
function mirrorPlanes(data, from, to, planes, S) {
  for (let row = 0; row < planes * S; row++) {
    const a = from + row * S, b = to + row * S + S - 1;
    for (let x = 0; x < S; x++) data[b - x] = data[a + x];
  }
}

export class LandmarkNetwork {
  /** source: a URL, an ArrayBuffer or a Uint8Array of the ONNX file. options.wasmPaths: where
   * ONNX Runtime Web's wasm files are (default: beside its module); options.wasmGz: {url, sha256}
   * of its gzip-compressed wasm (runtime.js); options.threads: wasm threads (default: ONNX
   * Runtime's own choice, 1 without cross-origin isolation). */
  static async create(source, { wasmPaths = null, wasmGz = null, threads = null } = {}) {
    if (!hasWasmSimd()) {
      throw new ModelError('this browser has no WebAssembly SIMD, which denseface needs (Chrome or Edge 91+, '
        + 'Firefox 89+, Safari 16.4+; or it is turned off)');
    }
    const name = typeof source === 'string' ? source : 'the model';
    const bytes = typeof source === 'string' ? await fetchBytes(source, ModelError) : new Uint8Array(source);
    const config = modelConfig(bytes, name);
    await setUpRuntime({ wasmPaths, wasmGz, threads });
    let session;
    try {
      session = await createSession(bytes);
    } catch (e) {
      throw new ModelError(`${name}: ONNX Runtime Web cannot load it (${e.message})`);
    }
    const missing = outputSpecs(config).map((o) => o.name).filter((o) => !session.outputNames.includes(o));
    if (missing.length) throw new ModelError(`${name}: the ONNX graph lacks the output(s) ${missing.join(', ')} that its config names`);
    return new LandmarkNetwork(session, config);
  }

  constructor(session, config) {
    this.session = session;
    this.config = config;
    this.inputName = session.inputNames[0];
    this.outputs = outputSpecs(config);
  }

  /** Raw normalised outputs by name (Float32Array each) for B crops (Float32Array B * 3 * S * S). */
  async forward(crops, batch) {
    const S = this.config.input_size;
    const input = new ort.Tensor('float32', crops, [batch, 3, S, S]);
    const result = await this.session.run({ [this.inputName]: input });
    input.dispose?.();
    const out = {};
    for (const o of this.outputs) out[o.name] = result[o.name].data;
    return out;
  }

  /**
   * Crop, run, decode (denseface.infer.api.run_crop_outputs): for B crop boxes of one image,
   * each face's outputs in image pixels by name ("points": N x [x, y, z]; "landmarks68_300w":
   * 68 x [x, y] from models with the second head; "uncertainty": N sigmas from models with the
   * uncertainty head), in one network call. flips: {output name:
   * its flip permutation} to average each crop's prediction with its mirror image's (tta
   * "flip"), or null.
   */
  async runCropOutputs(image, boxes, flips = null) {
    const S = this.config.input_size, B = boxes.length;
    if (!B) return [];
    const total = flips ? 2 * B : B, plane = 3 * S * S;
    const crops = new Float32Array(total * plane);
    const Ms = boxes.map((box, i) => cropInto(image, box, S, crops, i * plane));
    if (flips) mirrorPlanes(crops, 0, B * plane, B * 3, S);   // the mirrors: crop[:, ::-1], as Python
    const raw = await this.forward(crops, total);
    return Ms.map((M, i) => {
      const face = {};
      for (const { name, n, dims, sigma } of this.outputs) {
        const k = n * dims, out = raw[name];
        if (sigma) {
          face[name] = decodeSigma(out.subarray(i * k, (i + 1) * k),
            flips ? out.subarray((B + i) * k, (B + i + 1) * k) : null, flips?.[name], S, M);
          continue;
        }
        const pred = decodePoints(out.subarray(i * k, (i + 1) * k), S, n, dims);
        if (!flips) {
          face[name] = cropToImage(pred, M, n, dims);
          continue;
        }
        const mirrored = decodePoints(out.subarray((B + i) * k, (B + i + 1) * k), S, n, dims);
        const back = unmirrorCropPoints(mirrored, flips[name], S, M[0], dims);
        const avg = new Float64Array(k);
        for (let j = 0; j < k; j++) avg[j] = 0.5 * (pred[j] + back[j]);
        face[name] = cropToImage(avg, M, n, dims);
      }
      return face;
    });
  }
}
