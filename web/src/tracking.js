// Video: motion-compensated adaptive smoothing, and tracking that re-detects only on loss.
// The JavaScript twin of denseface.infer.tracking, with the same parameters and defaults (read
// from the generated package data, which tests check against the Python side).
//
// Smoothing: each frame's points (the dense landmarks and the human-convention 68 at the dense
// 68's depth) are split into the face's rigid motion in the image (the least-squares 2D
// similarity from the mean shape: translation, log-scale, angle) and its shape in its own frame
// (in face heights); each is filtered by a One Euro filter (Casiez et al. 2012) whose cutoff is
// min_cutoff + beta * max(0, speed - deadzone), one speed per row (the motion's four numbers
// share one; each point has its own), with a warm start (the n-th sample weighs at least 1/n).
// Tracking: each frame is cropped from the previous frame's 68 points moved by the smoothed
// motion's last step (one network pass); the detector runs on the whole frame only when no face
// is tracked or a track is lost, plus a drift check on the track's neighbourhood every
// `verify_every` frames. All points are image pixels (x right, y down, z towards the viewer,
// same scale).

import data from './generated/data.js';
import { lazyFields } from './denseface.js';
import { opennessFields } from './openness.js';
import { boxIou } from './geometry.js';
import { estimatePose } from './pose.js';

/** Default smoothing ({shape, motion} One Euro settings), as denseface.infer.tracking. */
export const SMOOTHING_DEFAULTS = Object.freeze(data.smoothing);
/** Default tracker settings, as denseface.infer.tracking.TrackerConfig. */
export const TRACKER_DEFAULTS = Object.freeze(data.tracker);

function alpha(cutoff, dt) {
  const tau = 1.0 / (2.0 * Math.PI * cutoff);
  return 1.0 / (1.0 + tau / dt);
}

/** One Euro filter over a Float64Array of `rows` rows of equal width (rows = its length: each
 * element alone); each row's cutoff comes from the norm of its low-passed derivative. */
export class OneEuroFilter {
  constructor({ min_cutoff = 1.0, beta = 0.05, d_cutoff = 1.0, deadzone = 0.0 } = {}) {
    this.config = { min_cutoff, beta, d_cutoff, deadzone };
    this.reset();
  }

  reset() {
    this.x = null; this.dx = null; this.t = null; this.n = 0;
  }

  /** Filter sample x (array-like of numbers, `rows` rows) taken at time t (seconds, increasing). */
  filter(x, t, rows = null) {
    x = Float64Array.from(x);
    if (this.x === null || this.x.length !== x.length || this.t === null || t <= this.t) {
      this.x = x.slice(); this.dx = new Float64Array(x.length); this.t = t; this.n = 1;
      return x;
    }
    const c = this.config, dt = t - this.t, ad = alpha(c.d_cutoff, dt);
    const nRows = rows || x.length, width = x.length / nRows;
    this.n += 1;
    for (let r = 0; r < nRows; r++) {
      let speed2 = 0;
      for (let i = r * width; i < (r + 1) * width; i++) {
        this.dx[i] += ad * ((x[i] - this.x[i]) / dt - this.dx[i]);
        speed2 += this.dx[i] * this.dx[i];
      }
      const speed = Math.max(Math.sqrt(speed2) - c.deadzone, 0);
      const a = Math.max(alpha(c.min_cutoff + c.beta * speed, dt), 1.0 / this.n);
      for (let i = r * width; i < (r + 1) * width; i++) this.x[i] += a * (x[i] - this.x[i]);
    }
    this.t = t;
    return this.x.slice();
  }
}

/** Least-squares 2D similarity dst ~ a * src + b between point lists ([x, y, ...]), with
 * a = scale * exp(i angle) and b as [re, im] pairs (denseface.infer.tracking.similarity_2d);
 * srcY: the sign of src's y (-1: a y-up source against y-down points). */
export function similarity2d(src, dst, srcY = 1) {
  const n = src.length;
  let msx = 0, msy = 0, mdx = 0, mdy = 0;
  for (let i = 0; i < n; i++) { msx += src[i][0]; msy += srcY * src[i][1]; mdx += dst[i][0]; mdy += dst[i][1]; }
  msx /= n; msy /= n; mdx /= n; mdy /= n;
  let re = 0, im = 0, ss = 0;
  for (let i = 0; i < n; i++) {
    const sx = src[i][0] - msx, sy = srcY * src[i][1] - msy, dx = dst[i][0] - mdx, dy = dst[i][1] - mdy;
    re += sx * dx + sy * dy; im += sx * dy - sy * dx; ss += sx * sx + sy * sy;
  }
  const a = [re / ss, im / ss];
  return { a, b: [mdx - (a[0] * msx - a[1] * msy), mdy - (a[0] * msy + a[1] * msx)] };
}

/** Motion-compensated smoothing of one face's points over time. */
export class FaceSmoother {
  constructor(meanShape, config = SMOOTHING_DEFAULTS) {
    this.config = config;
    this.mean = meanShape;
    let lo = Infinity, hi = -Infinity;
    for (const p of meanShape) { lo = Math.min(lo, p[1]); hi = Math.max(hi, p[1]); }
    this.height = hi - lo;   // model units per face height
    this.shape = new OneEuroFilter(config.shape);
    this.motion = new OneEuroFilter(config.motion);
    this.last = null;        // the last smoothed similarity {a, b}
    this.step = null;        // its last frame-to-frame step {a, b}: z -> a z + b, image pixels
  }

  /** Smoothed points (array of [x, y, z], image pixels) of the frame at time t seconds: the
   * first meanShape.length are the landmarks (their similarity gives the motion), any after
   * them are smoothed in the same frame. */
  smooth(points, t) {
    const n = points.length, h = this.height;
    const { a, b } = similarity2d(this.mean, points.slice(0, this.mean.length), -1);
    const s = Math.hypot(a[0], a[1]), size = s * h, d = a[0] * a[0] + a[1] * a[1];
    const shape = new Float64Array(n * 3);                            // own frame, face heights
    for (let i = 0; i < n; i++) {
      const x = points[i][0] - b[0], y = points[i][1] - b[1];
      shape[i * 3] = (x * a[0] + y * a[1]) / d / h;
      shape[i * 3 + 1] = (y * a[0] - x * a[1]) / d / h;
      shape[i * 3 + 2] = points[i][2] / s / h;
    }
    const sh = this.shape.filter(shape, t, n);
    let angle = Math.atan2(a[1], a[0]);
    if (this.motion.x !== null) {   // unwrapped next to the last smoothed angle (no jump at +-pi)
      const last = this.motion.x[3], d = angle - last + Math.PI, tau = 2 * Math.PI;
      angle = last + (d - tau * Math.floor(d / tau)) - Math.PI;
    }
    const m = this.motion.filter([b[0] / size, b[1] / size, Math.log(s), angle], t, 1);
    const sf = Math.exp(m[2]), af = [sf * Math.cos(m[3]), sf * Math.sin(m[3])];
    const bf = [m[0] * sf * h, m[1] * sf * h];
    if (this.last !== null) {
      const l = this.last.a, ll = l[0] * l[0] + l[1] * l[1];
      const st = [(af[0] * l[0] + af[1] * l[1]) / ll, (af[1] * l[0] - af[0] * l[1]) / ll];
      const lb = this.last.b;
      this.step = { a: st, b: [bf[0] - (st[0] * lb[0] - st[1] * lb[1]), bf[1] - (st[0] * lb[1] + st[1] * lb[0])] };
    }
    this.last = { a: af, b: bf };
    const out = new Array(n);
    for (let i = 0; i < n; i++) {
      const x = sh[i * 3] * h, y = sh[i * 3 + 1] * h;
      out[i] = [af[0] * x - af[1] * y + bf[0], af[1] * x + af[0] * y + bf[1], sh[i * 3 + 2] * h * sf];
    }
    return out;
  }

  /** Points ([x, y, ...], image pixels) moved one frame further by the smoothed motion's last
   * step (unchanged before two frames), as FaceSmoother.ahead. */
  ahead(points) {
    if (this.step === null) return points;
    const { a, b } = this.step;
    return points.map((p) => [a[0] * p[0] - a[1] * p[1] + b[0], a[1] * p[0] + a[0] * p[1] + b[1], ...p.slice(2)]);
  }

  /** A raw face smoothed (as FaceSmoother.face): landmarks, the 68, the human-convention 68
   * (smoothed with them at the dense 68's depth) and the pose of the smoothed landmarks; the raw
   * face's other fields kept (its visibility, as Python's), the openness readouts of the smoothed
   * points, fields computed when first read
   * (lazyFields) staying so. */
  face(face, t, idx68) {
    const human = face.landmarks68_300w, n = face.landmarks.length;
    const points = human
      ? face.landmarks.concat(human.map((p, i) => [p[0], p[1], face.landmarks68[i][2]])) : face.landmarks;
    const out = this.smooth(points, t);
    const landmarks = out.slice(0, n);
    const kept = {}, lazy = {};
    for (const [name, d] of Object.entries(Object.getOwnPropertyDescriptors(face))) {
      if (d.get) lazy[name] = () => face[name]; else kept[name] = d.value;
    }
    Object.assign(kept, {
      landmarks,
      landmarks68: idx68.map((k) => landmarks[k]),
      landmarks68_300w: human ? out.slice(n).map((p) => [p[0], p[1]]) : null,
    });
    return lazyFields(kept, { ...lazy, ...opennessFields(kept), pose: () => estimatePose(landmarks, this.mean) });
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
      const fresh = await this.model.track(image, this.tracks.map((tr) => this.ahead(tr)));
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

  /** The face the next crop comes from: the last raw face, its 68 points moved ahead by the
   * smoothed motion (as FaceTracker._ahead). */
  ahead(track) {
    if (!track.smoother || !this.config.crop_ahead) return track.face;
    return { ...track.face, landmarks68: track.smoother.ahead(track.face.landmarks68) };
  }

  smoothed(track, t) {
    return track.smoother ? track.smoother.face(track.face, t, this.model.idx68) : track.face;
  }
}
