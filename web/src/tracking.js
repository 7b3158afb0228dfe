// Video: motion-compensated One Euro smoothing, and tracking that re-detects only on loss.
// The JavaScript twin of denseface.infer.tracking, with the same parameters and defaults (read
// from the generated package data, which tests check against the Python side).
//
// Smoothing: each frame's landmarks are split into the face's rigid motion (the least-squares
// similarity from the mean shape: translation, log-scale, rotation vector) and its shape in its
// own frame (in face heights); each is filtered by a One Euro filter (Casiez et al. 2012).
// Tracking: each frame is cropped from the previous frame's 68 points (one network pass); the
// detector runs on the whole frame only when no face is tracked or a track is lost, plus a drift
// check on the track's neighbourhood every `verify_every` frames. All points are image pixels
// (x right, y down, z towards the viewer, same scale).

import data from './generated/data.js';
import { boxIou } from './geometry.js';
import { matrixToRotvec, rotvecToMatrix, similarityFit } from './rotations.js';

/** Default smoothing ({shape, motion} One Euro settings), as denseface.infer.tracking. */
export const SMOOTHING_DEFAULTS = Object.freeze(data.smoothing);
/** Default tracker settings, as denseface.infer.tracking.TrackerConfig. */
export const TRACKER_DEFAULTS = Object.freeze(data.tracker);

function alpha(cutoff, dt) {
  const tau = 1.0 / (2.0 * Math.PI * cutoff);
  return 1.0 / (1.0 + tau / dt);
}

/** One Euro filter over a Float64Array (each element filtered alone). */
export class OneEuroFilter {
  constructor({ min_cutoff = 1.0, beta = 0.05, d_cutoff = 1.0 } = {}) {
    this.config = { min_cutoff, beta, d_cutoff };
    this.reset();
  }

  reset() {
    this.x = null; this.dx = null; this.t = null;
  }

  /** Filter sample x (array-like of numbers) taken at time t (seconds, increasing). */
  filter(x, t) {
    x = Float64Array.from(x);
    if (this.x === null || this.x.length !== x.length || this.t === null || t <= this.t) {
      this.x = x.slice(); this.dx = new Float64Array(x.length); this.t = t;
      return x;
    }
    const c = this.config, dt = t - this.t, ad = alpha(c.d_cutoff, dt);
    for (let i = 0; i < x.length; i++) {
      const dxi = (x[i] - this.x[i]) / dt;
      this.dx[i] = this.dx[i] + ad * (dxi - this.dx[i]);
      const cutoff = c.min_cutoff + c.beta * Math.abs(this.dx[i]);
      this.x[i] = this.x[i] + alpha(cutoff, dt) * (x[i] - this.x[i]);
    }
    this.t = t;
    return this.x.slice();
  }
}

/** Motion-compensated smoothing of one face's landmarks over time. */
export class FaceSmoother {
  constructor(meanShape, config = SMOOTHING_DEFAULTS) {
    this.config = config;
    this.mean = meanShape;
    let lo = Infinity, hi = -Infinity;
    for (const p of meanShape) { lo = Math.min(lo, p[1]); hi = Math.max(hi, p[1]); }
    this.height = hi - lo;   // model units per face height
    this.shape = new OneEuroFilter(config.shape);
    this.motion = new OneEuroFilter(config.motion);
  }

  /** Smoothed landmarks (array of [x, y, z], image pixels) of the frame at time t seconds. */
  smooth(landmarks, t) {
    const n = landmarks.length, h = this.height;
    const p = landmarks.map((q) => [q[0], -q[1], q[2]]);            // y up
    const { s, R, t: tr } = similarityFit(this.mean, p);
    const size = s * h;
    const shape = new Float64Array(n * 3);                            // own frame, face heights
    for (let i = 0; i < n; i++) {
      const d = [p[i][0] - tr[0], p[i][1] - tr[1], p[i][2] - tr[2]];
      for (let k = 0; k < 3; k++) shape[i * 3 + k] = (d[0] * R[0][k] + d[1] * R[1][k] + d[2] * R[2][k]) / s / h;
    }
    const rv = matrixToRotvec(R);
    const motion = [tr[0] / size, tr[1] / size, tr[2] / size, Math.log(s), rv[0], rv[1], rv[2]];
    const sh = this.shape.filter(shape, t);
    const m = this.motion.filter(motion, t);
    const sf = Math.exp(m[3]), Rf = rotvecToMatrix([m[4], m[5], m[6]]);
    const tf = [m[0] * sf * h, m[1] * sf * h, m[2] * sf * h];
    const out = new Array(n);
    for (let i = 0; i < n; i++) {
      const a = [sh[i * 3] * h, sh[i * 3 + 1] * h, sh[i * 3 + 2] * h];
      const q = [0, 1, 2].map((k) => sf * (Rf[k][0] * a[0] + Rf[k][1] * a[1] + Rf[k][2] * a[2]) + tf[k]);
      out[i] = [q[0], -q[1], q[2]];
    }
    return out;
  }
}

/** Per-frame faces for a video: `await tracker.update(frame, t)` -> smoothed faces. */
export class FaceTracker {
  /** model: a DenseFace (./denseface.js); config: TrackerConfig fields (defaults as Python);
   * smoothing: {shape, motion} One Euro settings, or null for none; boxes: user face boxes
   * (then no detector is asked). */
  constructor(model, { config = {}, smoothing = SMOOTHING_DEFAULTS, boxes = null } = {}) {
    this.model = model;
    this.config = { ...TRACKER_DEFAULTS, ...config };
    this.smoothing = smoothing;
    this.boxes = boxes;
    this.tracks = [];
    this.frameIndex = 0;
    this.detections = 0;   // frames that ran the detector on the whole frame
    this.checks = 0;       // drift checks
    this.restarts = 0;     // tracks restarted by a drift check
  }

  /** Faces in `frame` (anything DenseFace.predict takes) at time t seconds. */
  async update(frame, t) {
    const image = this.model.imageData(frame);
    const c = this.config;
    const periodic = c.redetect_every > 0 && this.frameIndex % c.redetect_every === 0;
    let kept = [];
    if (this.tracks.length && !periodic) {
      const fresh = await this.model.track(image, this.tracks.map((tr) => tr.face));
      this.tracks.forEach((tr, i) => {
        if (this.isTracked(fresh[i], tr.face, image)) kept.push({ face: fresh[i], smoother: tr.smoother, misses: tr.misses });
      });
      if (kept.length && this.boxes === null && c.verify_every > 0 && this.frameIndex % c.verify_every === 0) {
        const verified = [];
        for (const tr of kept) {
          const v = await this.verified(tr, image);
          if (v !== null) verified.push(v);
        }
        kept = verified;
      }
    }
    if (!kept.length || periodic) kept = await this.detect(image);
    this.tracks = kept;
    this.frameIndex += 1;
    return kept.map((tr) => this.smoothed(tr, t));
  }

  async detect(image) {
    this.detections += 1;
    const faces = await this.model.predict(image, { boxes: this.boxes, maxFaces: this.config.max_faces });
    return faces.map((f) => {
      let old = null, best = -1;
      for (const tr of this.tracks) {
        const iou = boxIou(tr.face.cropBox, f.cropBox);
        if (iou > best) { best = iou; old = tr; }
      }
      const smoother = old !== null && best >= this.config.match_iou ? old.smoother
        : (this.smoothing ? new FaceSmoother(this.model.meanShape, this.smoothing) : null);
      return { face: f, smoother, misses: 0 };
    });
  }

  /** The drift check: the track, a restarted track, or null (lost). */
  async verified(track, image) {
    const c = this.config, box = track.face.cropBox;
    const cx = 0.5 * (box[0] + box[2]), cy = 0.5 * (box[1] + box[3]);
    const hw = 0.5 * c.verify_region * (box[2] - box[0]), hh = 0.5 * c.verify_region * (box[3] - box[1]);
    this.checks += 1;
    const found = await this.model.detect(image, [cx - hw, cy - hh, cx + hw, cy + hh], c.verify_side);
    if (!found.length) return track.misses < c.max_misses ? { ...track, misses: track.misses + 1 } : null;
    const crops = found.map((d) => this.model.cropBoxOf(d));
    const ious = crops.map((b) => boxIou(b, box));
    let k = 0;
    for (let i = 1; i < ious.length; i++) if (ious[i] > ious[k]) k = i;
    if (ious[k] >= c.verify_iou) return { ...track, misses: 0 };
    this.restarts += 1;
    const [face] = await this.model.facesInCrops(image, [found[k]], [crops[k]]);
    return { face, smoother: track.smoother, misses: 0 };
  }

  /** False when the track is lost (see the module comment). */
  isTracked(face, previous, image) {
    const c = this.config;
    for (const p of face.landmarks) if (!(Number.isFinite(p[0]) && Number.isFinite(p[1]) && Number.isFinite(p[2]))) return false;
    const box = this.model.cropBoxFromLandmarks(face.landmarks68);
    const side = box[2] - box[0], prev = previous.cropBox[2] - previous.cropBox[0];
    if (side / Math.SQRT2 < c.min_face_px || prev <= 0) return false;
    if (!(1.0 / c.max_scale_change <= side / prev && side / prev <= c.max_scale_change)) return false;
    const iw = Math.max(0, Math.min(box[2], image.width) - Math.max(box[0], 0));
    const ih = Math.max(0, Math.min(box[3], image.height) - Math.max(box[1], 0));
    return iw * ih >= c.min_inside * side * side;
  }

  smoothed(track, t) {
    if (!track.smoother) return track.face;
    const lm = track.smoother.smooth(track.face.landmarks, t);
    const face = this.model.makeFace(track.face.box, track.face.score, lm, track.face.cropBox);
    face.visibility = track.face.visibility;       // the frame's own prediction's, as Python's tracker
    face.visibility68 = track.face.visibility68;
    const human = track.face.landmarks68_300w;   // moved as the smoothing moved the 68 points
    if (human) {
      face.landmarks68_300w = human.map((p, i) => [p[0] + face.landmarks68[i][0] - track.face.landmarks68[i][0],
        p[1] + face.landmarks68[i][1] - track.face.landmarks68[i][1]]);
    }
    return face;
  }
}

