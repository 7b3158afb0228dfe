// The DenseFace API in the browser: image -> faces with 520 dense 3D landmarks, the 68 subset
// and head pose; the JavaScript twin of denseface.infer.api.DenseFace, with the same pipeline,
// options and defaults:
//
// 1. find faces (BlazeFace, ./detector.js) or take the user's boxes;
// 2. map each box to the square training crop (the detector's calibrated mapping; a user box is
//    read as a landmark box and enlarged by 3DDFA's policy);
// 3. crop (OpenCV's bilinear sampling, bit-identical) and run the network (ONNX Runtime Web),
//    with flip averaging when config.tta is "flip";
// 4. decode crop pixels to image pixels;
// 5. second pass (passes = 2): re-crop from the predicted 68 points and predict again.
//
// Every coordinate is in image pixels: x right, y down, OpenCV's pixel centres; z towards the
// viewer on the same scale. A face: {box: [x0, y0, x1, y1], score, landmarks: N x [x, y, z],
// landmarks68: 68 x [x, y, z], landmarks68_300w: 68 x [x, y] (the 300-W annotation convention, from
// models with that second head; else null), pose: {yaw, pitch, roll} degrees, cropBox: the last
// pass's crop}.

import data from './generated/data.js';
import { boxIou, boxSize, boxToCrop, landmarkBbox, roiBox, roiBoxFromLandmarks } from './geometry.js';
import { PixelReader } from './image.js';
import { LANDMARKS68_300W, LandmarkNetwork, POINTS } from './network.js';
import { estimatePose } from './pose.js';

/** Defaults of PredictConfig that apply here (passes, min_face_px, roi_factor, tta). */
export const PREDICT_DEFAULTS = Object.freeze(data.predict);
/** A later detector's face is another face when its crop overlaps every earlier one's less. */
const MERGE_IOU = 0.3;
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

export class DenseFace {
  /**
   * model: URL (or bytes) of the ONNX file. detector: a detector name ("blazeface_full",
   * "blazeface_short"), a detector object ({name, cropMapping, detect(pixels, region)}), a list
   * of them (the first one's faces, plus the others' faces that it missed), or null (then every
   * call gives boxes); default ["blazeface_full", "blazeface_short"]. regionDetector: one
   * detector for detect() calls on a region (the tracker's drift check on a face's
   * neighbourhood); default "blazeface_short" when detector is given by name, else the detector. detectorOptions: {baseUrl, scoreThreshold, verify} for
   * BlazeFace (baseUrl: the folder of @mediapipe/face_detection's files). config: PredictConfig
   * fields (passes, tta, min_face_px, roi_factor). wasmPaths / threads: ONNX Runtime Web's.
   */
  static async create({ model, detector = data.default_detector, regionDetector = undefined,
    detectorOptions = {}, config = {}, wasmPaths = null, threads = null } = {}) {
    const cfg = predictConfig(config);
    const network = await LandmarkNetwork.create(model, { wasmPaths, threads });
    const byName = typeof detector === 'string' || (Array.isArray(detector) && detector.every((d) => typeof d === 'string'));
    const region = regionDetector === undefined
      ? (byName ? data.default_region_detector : (Array.isArray(detector) ? detector[0] : detector)) : regionDetector;
    const made = {};
    const make = async (spec) => {
      if (typeof spec !== 'string') return spec;
      if (!made[spec]) {
        const { BlazeFaceDetector } = await import('./detector.js');
        made[spec] = BlazeFaceDetector.create({ name: spec, ...detectorOptions });
      }
      return made[spec];
    };
    const whole = [];   // one after the other: MediaPipe loads its wasm once
    for (const d of (Array.isArray(detector) ? detector : [detector])) whole.push(await make(d));
    const near = await make(region);
    return new DenseFace(network, whole, cfg, near);
  }

  constructor(network, detector, config, regionDetector = detector) {
    const mc = network.config;
    const set = data.landmark_sets[mc.landmark_set];
    if (!set) throw new ConfigError(`the model's landmark set '${mc.landmark_set}' is not in this package`);
    if (set.n_points !== mc.num_points) throw new ConfigError(`the model predicts ${mc.num_points} points but its landmark set has ${set.n_points}`);
    this.network = network;
    /** the detectors of whole images (the first one's faces, plus the others' that it missed) */
    this.detectors = (Array.isArray(detector) ? detector : [detector]).filter((d) => d);
    this.regionDetector = regionDetector || this.detectors[0] || null;
    this.config = config;
    this.modelConfig = mc;
    this.landmarkSet = set;
    this.meanShape = set.mean_shape;
    this.triangles = set.triangles;
    this.idx68 = set.idx68;
    this.roiFactor = config.roi_factor ?? mc.roi_factor;
    /** each output's flip permutation when every crop is averaged with its mirror (config.tta) */
    this.ttaFlips = config.tta === 'flip'
      ? { [POINTS]: Int32Array.from(set.flip), [LANDMARKS68_300W]: Int32Array.from(data.ibug68_flip) } : null;
    this.reader = new PixelReader();
  }

  /** RGBA pixels of any source predict() takes. */
  imageData(source) {
    return this.reader.read(source);
  }

  /** Faces in an image, a video frame, a canvas, an ImageBitmap or RGBA pixels. boxes: user face
   * boxes (each read as the face's landmark box); maxFaces keeps the best-scoring faces. */
  async predict(source, { boxes = null, maxFaces = null } = {}) {
    const image = this.imageData(source);
    const [dets, crops] = await this.firstCrops(image, boxes, maxFaces);
    return this.facesInCrops(image, dets, crops);
  }

  /** The faces to predict and their first-pass crop boxes, best first. */
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
      dets = dets.slice(0, maxFaces);
      crops = crops.slice(0, maxFaces);
    }
    return [dets, crops];
  }

  /** Faces found in RGBA pixels (boxes in its pixels), best first; region: only look inside
   * [x0, y0, x1, y1] (clipped to the image), with the region detector. maxSide is the Python
   * API's downscale for the search; BlazeFace scales its input itself, so it is not needed. */
  async detect(image, region = null, maxSide = null) {   // eslint-disable-line no-unused-vars
    const detectors = region ? [this.regionDetector] : this.detectors;
    if (!detectors.length || !detectors[0]) throw new ConfigError('no face detector: give face boxes, or create DenseFace with a detector');
    let r = null;
    if (region) {
      const x0 = Math.max(0, Math.floor(region[0])), y0 = Math.max(0, Math.floor(region[1]));
      const x1 = Math.min(image.width, Math.ceil(region[2])), y1 = Math.min(image.height, Math.ceil(region[3]));
      if (x1 - x0 < 2 || y1 - y0 < 2) return [];
      r = [x0, y0, x1, y1];
    }
    let faces = [];
    for (const detector of detectors) {
      const found = (await detector.detect(image, r)).map((d) => ({ ...d, detector }));
      const crops = faces.map((f) => this.cropBoxOf(f));
      faces = faces.concat(found.filter((d) => crops.every((c) => boxIou(c, this.cropBoxOf(d)) < MERGE_IOU)));
    }
    return faces.filter((d) => boxSize(d.box) >= this.config.min_face_px).sort((a, b) => b.score - a.score);
  }

  /** The training crop of a detection (the calibrated mapping of the detector that found it;
   * the landmark-box policy for a detector without one). */
  cropBoxOf(detection) {
    const det = detection.detector || this.detectors[0];
    const m = det && det.cropMapping;
    return m ? boxToCrop(m, detection.box) : roiBox(detection.box, this.roiFactor);
  }

  /** The training crop of a face from its points (N or 68 of [x, y, ...]). */
  cropBoxFromLandmarks(points) {
    const p68 = points.length !== 68 ? this.idx68.map((i) => points[i]) : points;
    return roiBoxFromLandmarks(p68, this.roiFactor);
  }

  /** Each crop's outputs in image pixels by name (LandmarkNetwork.runCropOutputs). */
  async run(image, cropBoxes) {
    return this.network.runCropOutputs(image, cropBoxes, this.ttaFlips);
  }

  /** config.passes network passes from the first crops -> [outputs, crop boxes used]. */
  async passes(image, cropBoxes) {
    let outputs = await this.run(image, cropBoxes);
    let used = cropBoxes;
    for (let k = 1; k < this.config.passes; k++) {
      used = outputs.map((o) => this.cropBoxFromLandmarks(o[POINTS]));
      outputs = await this.run(image, used);
    }
    return [outputs, used];
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
    const outputs = await this.run(image, crops);
    return previous.map((f, i) => this.makeFace(landmarkBbox(this.idx68.map((k) => outputs[i][POINTS][k])),
      f.score, outputs[i], crops[i]));
  }

  /** A face from its network outputs (image pixels by name, or just its N x [x, y, z] points).
   * landmarks68_300w: the 68 points as people annotate them (68 x [x, y]) from models with the
   * second head, else null. */
  makeFace(box, score, outputs, cropBox) {
    const named = Array.isArray(outputs) ? { [POINTS]: outputs } : outputs;
    const landmarks = named[POINTS];
    return {
      box, score, landmarks,
      landmarks68: this.idx68.map((k) => landmarks[k]),
      landmarks68_300w: named[LANDMARKS68_300W] || null,
      pose: estimatePose(landmarks, this.meanShape),
      cropBox,
    };
  }
}
