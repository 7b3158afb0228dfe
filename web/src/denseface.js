// The DenseFace API in the browser: image -> faces with 520 dense 3D landmarks, the 68 subset
// and head pose; the JavaScript twin of denseface.infer.api.DenseFace, with the same pipeline,
// options and defaults:
//
// 1. find faces (YuNet, ./detector.js, the Python detector: the same file, pre- and
//    post-processing and cascade of detection copies) or take the user's boxes;
// 2. map each box to the square training crop (the detector's calibrated mapping; a user box is
//    read as a landmark box and enlarged by 3DDFA's policy);
// 3. crop (OpenCV's bilinear sampling, bit-identical) and run the network (ONNX Runtime Web),
//    with flip averaging on the last pass when config.tta is "flip";
// 4. decode crop pixels to image pixels;
// 5. second pass (passes = 2): re-crop from the predicted 68 points and predict again;
// 6. the eye stage (./eyes.js, config.eyes, with the eye model given): the eyelids read again
//    from eye patches of the image, for models with the landmarks68_300w head.
//
// Every coordinate is in image pixels: x right, y down, OpenCV's pixel centres; z towards the
// viewer on the same scale. A face: {box: [x0, y0, x1, y1], score, landmarks: N x [x, y, z],
// landmarks68: 68 x [x, y, z], landmarks68_300w: 68 x [x, y] (the 300-W annotation convention, from
// models with that second head; else null), pose: {yaw, pitch, roll} degrees, visibility: N
// booleans and visibility68: 68 (each point seen, or hidden by the face itself), cropBox: the
// last pass's crop}.

import data from './generated/data.js';
import { boxSize, boxToCrop, landmarkBbox, mainFaceOrder, roiBox, roiBoxFromLandmarks } from './geometry.js';
import { PixelReader, detectionView, regionPixels } from './image.js';
import { LANDMARKS68_300W, LandmarkNetwork, POINTS, UNCERTAINTY } from './network.js';
import { EyeStage } from './eyes.js';
import { estimatePose } from './pose.js';
import { opennessFields } from './openness.js';
import { faceVisibility, outwardTriangles } from './visibility.js';
import { setUpRuntime } from './runtime.js';

/** Defaults of PredictConfig that apply here (passes, tta, min_face_px, roi_factor, eyes and the
 * detection copies: detect_max_side, cascade_side, cascade_min_face_px). */
export const PREDICT_DEFAULTS = Object.freeze(data.predict);
/** Test-time augmentation modes (PredictConfig.tta). */
export const TTA_MODES = Object.freeze(['flip', 'none']);

/** Bad options or boxes, with a readable message. */
export class ConfigError extends Error {}

/** The predict config with its defaults, checked as Python's PredictConfig is. */
export function predictConfig(options = {}) {
  const c = { ...PREDICT_DEFAULTS, ...options };
  if (!(c.passes === 1 || c.passes === 2)) throw new ConfigError(`passes must be 1 or 2, got ${c.passes}`);
  if (!(Number.isFinite(c.min_face_px) && c.min_face_px >= 0)) throw new ConfigError(`min_face_px must be a number >= 0, got ${c.min_face_px}`);
  if (c.roi_factor !== null && !(Number.isFinite(c.roi_factor) && c.roi_factor > 0)) throw new ConfigError(`roi_factor must be a number > 0 or null, got ${c.roi_factor}`);
  if (!TTA_MODES.includes(c.tta)) throw new ConfigError(`tta must be one of ${TTA_MODES.join(', ')}, got ${c.tta}`);
  if (typeof c.eyes !== 'boolean') throw new ConfigError(`eyes must be true or false, got ${c.eyes}`);
  return c;
}

/** User boxes -> [[x0, y0, x1, y1], ...] (ConfigError when malformed or outside the image). */
export function validateBoxes(boxes, width, height) {
  const list = Array.isArray(boxes) && boxes.length === 4 && boxes.every((v) => typeof v === 'number') ? [boxes] : boxes;
  if (!Array.isArray(list)) throw new ConfigError(`a box must be 4 numbers x0,y0,x1,y1, got ${JSON.stringify(boxes)}`);
  return list.map((b) => {
    if (!Array.isArray(b) || b.length !== 4 || !b.every(Number.isFinite)) throw new ConfigError(`a box must be 4 numbers x0,y0,x1,y1, got ${JSON.stringify(b)}`);
    if (b[2] <= b[0] || b[3] <= b[1]) throw new ConfigError(`box ${JSON.stringify(b)} is empty (needs x1 > x0 and y1 > y0)`);
    if (b[2] <= 0 || b[3] <= 0 || b[0] >= width || b[1] >= height) throw new ConfigError(`box ${JSON.stringify(b)} lies outside the ${width}x${height} image`);
    return b.map(Number);
  });
}

/** The JavaScript of the detection copies run once on blank pixels (each way of resizing), so
 * that the engine has compiled it before the first photo. */
function warmUpResizing(config) {
  const side = config.cascade_side || 224, blank = (w, h) => ({ data: new Uint8ClampedArray(w * h * 4), width: w, height: h });
  detectionView(blank(Math.round(2.5 * side), Math.round(1.9 * side)), side, true);   // whole-factor areas, then bilinear
  detectionView(blank(Math.round(1.6 * side), Math.round(1.2 * side)), side);          // area averaging at any ratio
}

export class DenseFace {
  /**
   * model: URL (or bytes) of the ONNX file. detector: "yunet" (the default, the detector of
   * `denseface predict`), a detector object ({name, cropMapping, detect(pixels)}: boxes in the
   * pixels it is given), or null (then every call gives boxes). detectorOptions: {model (URL or
   * bytes of the YuNet file), verify, scoreThreshold, nmsThreshold, topK}. config: PredictConfig
   * fields (passes, tta, min_face_px, roi_factor, eyes, detect_max_side, cascade_side,
   * cascade_min_face_px). eyeModel: URL (or bytes) of the eye-stage ONNX file (the exported
   * folder's site.json names it): with it the eye stage runs unless config.eyes is false, for
   * models with the landmarks68_300w head. wasmPaths / wasmGz / threads: ONNX Runtime Web's
   * (runtime.js).
   */
  static async create({ model, detector = 'yunet', detectorOptions = {}, config = {}, eyeModel = null,
    wasmPaths = null, wasmGz = null, threads = null } = {}) {
    const cfg = predictConfig(config);
    if (typeof detector === 'string' && detector !== 'yunet') throw new ConfigError(`unknown detector '${detector}' (known: yunet)`);
    const runtime = setUpRuntime({ wasmPaths, wasmGz, threads });   // the files are fetched side by side
    const loading = Promise.all([
      LandmarkNetwork.create(model, { wasmPaths, wasmGz, threads }),
      detector === 'yunet' ? import('./detector.js').then((m) => m.YuNetDetector.create(detectorOptions)) : detector,
      cfg.eyes && eyeModel ? EyeStage.create(eyeModel) : null,
      runtime,
    ]);
    if (detector !== null) warmUpResizing(cfg);   // while the files arrive
    const [network, det, eyes] = await loading;
    return new DenseFace(network, det, cfg, eyes);
  }

  /** One untimed run of every stage at the sizes a photo uses first (the network with and
   * without the mirror, the detector on a cascade-sized copy), so that ONNX Runtime Web has
   * compiled and allocated what the first photo needs. */
  async warmUp() {
    const S = this.modelConfig.input_size, plane = 3 * S * S;
    await this.network.forward(new Float32Array(plane), 1);
    if (this.ttaFlips) await this.network.forward(new Float32Array(2 * plane), 2);
    if (this.eyeStage) await this.eyeStage.warmUp();
    if (this.detector) {
      const side = this.config.cascade_side || this.config.detect_max_side || 320, h = Math.round(0.75 * side);
      await this.detector.detect({ data: new Uint8ClampedArray(side * h * 4), width: side, height: h });
    }
  }

  /** eyeStage: an EyeStage (./eyes.js) or null; kept only for a model with the landmarks68_300w
   * head (the stage reads its eye points), as Python's open_eye_stage. */
  constructor(network, detector, config, eyeStage = null) {
    const mc = network.config;
    const set = data.landmark_sets[mc.landmark_set];
    if (!set) throw new ConfigError(`the model's landmark set '${mc.landmark_set}' is not in this package`);
    if (set.n_points !== mc.num_points) throw new ConfigError(`the model predicts ${mc.num_points} points but its landmark set has ${set.n_points}`);
    this.network = network;
    this.detector = detector || null;
    this.config = config;
    this.modelConfig = mc;
    this.landmarkSet = set;
    this.meanShape = set.mean_shape;
    this.triangles = set.triangles;
    /** the set's triangles wound outward (DenseFace.mesh_triangles), for Face.visibility */
    this.meshTriangles = outwardTriangles(set.mean_shape, set.triangles);
    /** Face.visibility's per-point thresholds [minNz, tolerance] (Python's visibility_thresholds) */
    const vis = (data.visibility || {})[mc.landmark_set];
    this.visibilityThresholds = vis ? [vis.min_nz, vis.tolerance] : [];
    this.idx68 = set.idx68;
    this.roiFactor = config.roi_factor ?? mc.roi_factor;
    /** each output's flip permutation when every crop is averaged with its mirror (config.tta) */
    this.ttaFlips = config.tta === 'flip'
      ? { [POINTS]: Int32Array.from(set.flip), [LANDMARKS68_300W]: Int32Array.from(data.ibug68_flip),
        [UNCERTAINTY]: Int32Array.from(set.flip) } : null;
    this.reader = new PixelReader();
    /** the eye stage (./eyes.js), or null: off, no eye model, or no landmarks68_300w head */
    this.eyeStage = eyeStage && network.outputs.some((o) => o.name === LANDMARKS68_300W) ? eyeStage : null;
  }

  /** RGBA pixels of any source predict() takes. */
  imageData(source) {
    return this.reader.read(source);
  }

  /** Faces in an image, a video frame, a canvas, an ImageBitmap or RGBA pixels. boxes: user face
   * boxes (each read as the face's landmark box); maxFaces keeps that many: the main faces of
   * the detector's (largest and most central first, mainFaceOrder, as Python's max_faces), the
   * first of the given boxes. */
  async predict(source, { boxes = null, maxFaces = null } = {}) {
    const image = this.imageData(source);
    const [dets, crops] = await this.firstCrops(image, boxes, maxFaces);
    return this.facesInCrops(image, dets, crops);
  }

  /** The faces to predict and their first-pass crop boxes: the given boxes in their order, or
   * the detector's best first; with maxFaces the detector's main faces, main face first
   * (Python's FaceCropper.first_crops). */
  async firstCrops(image, boxes = null, maxFaces = null) {
    let dets, crops;
    if (boxes !== null && boxes !== undefined) {
      dets = validateBoxes(boxes, image.width, image.height).map((b) => ({ box: b, score: 1.0, keypoints: null, label: 'user' }));
      crops = dets.map((d) => roiBox(d.box, this.roiFactor));
    } else {
      dets = await this.detect(image);
      crops = dets.map((d) => this.cropBoxOf(d));
    }
    if (maxFaces !== null && maxFaces !== undefined) {
      const keep = boxes !== null && boxes !== undefined ? dets.map((_, i) => i)
        : mainFaceOrder(dets.map((d) => d.box), image.width, image.height);
      dets = keep.slice(0, maxFaces).map((i) => dets[i]);
      crops = keep.slice(0, maxFaces).map((i) => crops[i]);
    }
    return [dets, crops];
  }

  /** Faces found in RGBA pixels (boxes in its pixels), best first (FaceCropper.detect). region:
   * only look inside [x0, y0, x1, y1] (clipped to the image), downscaled to maxSide. Without
   * either, the cascade of the config: first on a copy downscaled to cascade_side (made from the
   * image in two cheap steps), then on the detect_max_side copy (made only then) unless the first
   * found exactly one face of at least cascade_min_face_px there. */
  async detect(image, region = null, maxSide = null) {
    if (!this.detector) throw new ConfigError('no face detector: give face boxes, or create DenseFace with a detector');
    const c = this.config;
    if (!region && !maxSide) {
      const longer = Math.max(image.width, image.height);
      if (c.cascade_side && c.cascade_side < (c.detect_max_side ? Math.min(longer, c.detect_max_side) : longer)) {
        const [small, factor] = detectionView(image, c.cascade_side, true);
        const found = await this.foundIn(small, factor);
        if (found.length === 1 && boxSize(found[0].box) * factor >= c.cascade_min_face_px) return found;
      }
      return this.foundIn(...detectionView(image, c.detect_max_side));
    }
    let x0 = 0, y0 = 0, searched = image;
    if (region) {
      x0 = Math.max(0, Math.floor(region[0]));
      y0 = Math.max(0, Math.floor(region[1]));
      const x1 = Math.min(image.width, Math.ceil(region[2])), y1 = Math.min(image.height, Math.ceil(region[3]));
      if (x1 - x0 < 2 || y1 - y0 < 2) return [];
      searched = regionPixels(image, x0, y0, x1, y1);
    }
    const [view, scale] = detectionView(searched, maxSide || c.detect_max_side);
    return this.foundIn(view, scale, x0, y0);
  }

  /** The detector's faces in `view`, a copy of the image (or of its region at x0, y0) scaled
   * by `scale`, in image pixels; faces under min_face_px dropped. */
  async foundIn(view, scale, x0 = 0, y0 = 0) {
    const found = await this.detector.detect(view);
    return found.map((d) => ({
      ...d,
      box: [d.box[0] / scale + x0, d.box[1] / scale + y0, d.box[2] / scale + x0, d.box[3] / scale + y0],
      keypoints: d.keypoints ? d.keypoints.map((p) => [p[0] / scale + x0, p[1] / scale + y0]) : null,
    })).filter((d) => boxSize(d.box) >= this.config.min_face_px);
  }

  /** The training crop of a detection (the calibrated mapping of the detector that found it;
   * the landmark-box policy for a detector without one). */
  cropBoxOf(detection) {
    const m = this.detector && this.detector.cropMapping;
    return m ? boxToCrop(m, detection.box) : roiBox(detection.box, this.roiFactor);
  }

  /** The training crop of a face from its points (N or 68 of [x, y, ...]). */
  cropBoxFromLandmarks(points) {
    const p68 = points.length !== 68 ? this.idx68.map((i) => points[i]) : points;
    return roiBoxFromLandmarks(p68, this.roiFactor);
  }

  /** Each crop's outputs in image pixels by name (LandmarkNetwork.runCropOutputs); the crops'
   * mirrors in the same batch when `flip` and config.tta is "flip". */
  async run(image, cropBoxes, flip = true) {
    return this.network.runCropOutputs(image, cropBoxes, flip ? this.ttaFlips : null);
  }

  /** config.passes network passes from the first crops -> [outputs, crop boxes used]; flip
   * averaging on the last pass only (an earlier pass only places the next crop), as Python. */
  async passes(image, cropBoxes) {
    const last = this.config.passes - 1;
    let outputs = await this.run(image, cropBoxes, last === 0);
    let used = cropBoxes;
    for (let k = 1; k <= last; k++) {
      used = outputs.map((o) => this.cropBoxFromLandmarks(o[POINTS]));
      outputs = await this.run(image, used, k === last);
    }
    return [await this.readEyes(image, outputs), used];
  }

  /** The eye stage over the faces' last outputs (unchanged without one). */
  async readEyes(image, outputs) {
    if (!this.eyeStage || !outputs.length) return outputs;
    return this.eyeStage.refine(image, outputs, this.landmarkSet.eye_spread, POINTS, LANDMARKS68_300W);
  }

  async facesInCrops(image, dets, cropBoxes) {
    if (!dets.length) return [];
    const [outputs, used] = await this.passes(image, cropBoxes);
    return dets.map((d, i) => this.makeFace(d.box, d.score, outputs[i], used[i]));
  }

  /** One pass per face, cropping from the previous frame's points (video tracking); the faces'
   * boxes become their 68 points' bounding boxes, scores are kept. */
  async track(image, previous) {
    if (!previous.length) return [];
    const crops = previous.map((f) => this.cropBoxFromLandmarks(f.landmarks68));
    const outputs = await this.readEyes(image, await this.run(image, crops));
    return previous.map((f, i) => this.makeFace(landmarkBbox(this.idx68.map((k) => outputs[i][POINTS][k])),
      f.score, outputs[i], crops[i]));
  }

  /** A face from its network outputs (image pixels by name, or just its N x [x, y, z] points).
   * landmarks68_300w: the 68 points as people annotate them (68 x [x, y]) from models with the
   * second head, else null. visibility (N booleans) and visibility68 (68): whether each point
   * is seen or hidden by the face itself (./visibility.js, Python's Face.visibility);
   * eye_open_right, eye_open_left, mouth_open as Python's (./openness.js). pose, openness and
   * the visibility are computed when first read (lazyFields): a tracked frame's raw face, which
   * its smoothed face replaces, and a page that never reads them do not pay for them. */
  makeFace(box, score, outputs, cropBox) {
    const named = Array.isArray(outputs) ? { [POINTS]: outputs } : outputs;
    const landmarks = named[POINTS];
    const face = {
      box, score, landmarks,
      landmarks68: this.idx68.map((k) => landmarks[k]),
      landmarks68_300w: named[LANDMARKS68_300W] || null,
      ...uncertaintyOf(named[UNCERTAINTY], this.idx68.map((k) => landmarks[k]), this.idx68),
      cropBox,
    };
    return lazyFields(face, {
      ...opennessFields(face),
      pose: () => estimatePose(landmarks, this.meanShape),
      visibility: () => faceVisibility(landmarks, this.meshTriangles, ...this.visibilityThresholds),
      visibility68: () => this.idx68.map((k) => face.visibility[k]),
    });
  }
}

/** `target` with each of `fields` ({name: () => value}) computed when first read and then kept
 * as a plain property (enumerable, so spreads, JSON and structured copies see the values;
 * assigning one replaces it). */
export function lazyFields(target, fields) {
  const keep = (name, value) => Object.defineProperty(target, name, { value, enumerable: true, writable: true, configurable: true });
  for (const [name, compute] of Object.entries(fields)) {
    Object.defineProperty(target, name, {
      enumerable: true, configurable: true,
      get() { const value = compute(); keep(name, value); return value; },
      set(value) { keep(name, value); },
    });
  }
  return target;
}

/** Python's face_quality scale: quality = exp(-expected NME / QUALITY_SCALE_NME). */
export const QUALITY_SCALE_NME = 10;

/** uncertainty (N sigmas, image pixels), uncertainty68 (the 68 points' sigmas, by idx68) and
 * quality (denseface.infer.face.face_quality: exp(-e / 10), e the expected NME in percent: the
 * 68 sigmas' mean times sqrt(pi / 2) over sqrt(w * h) of the 68 points' box); all null for a
 * model without the uncertainty head. */
export function uncertaintyOf(sigma, landmarks68, idx68) {
  if (!sigma) return { uncertainty: null, uncertainty68: null, quality: null };
  const sigma68 = idx68.map((k) => sigma[k]);
  const xs = landmarks68.map((p) => p[0]), ys = landmarks68.map((p) => p[1]);
  const area = (Math.max(...xs) - Math.min(...xs)) * (Math.max(...ys) - Math.min(...ys));
  const mean = sigma68.reduce((a, b) => a + b, 0) / sigma68.length;
  const expectedNme = 100 * mean * Math.sqrt(Math.PI / 2) / Math.sqrt(area);
  const quality = Number.isFinite(area) && area > 0 ? Math.exp(-expectedNme / QUALITY_SCALE_NME) : 0;
  return { uncertainty: sigma, uncertainty68: sigma68, quality };
}
