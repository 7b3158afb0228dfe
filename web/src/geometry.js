// Boxes, square face crops and the crop <-> image point maps: the JavaScript twin of
// denseface.geometry.boxes, denseface.geometry.crop and denseface.models.codec.
//
// Frames: image pixels, x right, y down, OpenCV's convention (pixel centres at integers);
// z towards the viewer on the same scale. Boxes are [x0, y0, x1, y1] in image pixels.
// A crop of side S maps its box onto [0, S]: crop point = s * (p - [x0, y0]), s = S / (x1 - x0).

/** [x0, y0, x1, y1] bounding box of points (array of [x, y, ...]), image pixels. */
export function landmarkBbox(points) {
  let x0 = Infinity, y0 = Infinity, x1 = -Infinity, y1 = -Infinity;
  for (const p of points) {
    if (p[0] < x0) x0 = p[0];
    if (p[0] > x1) x1 = p[0];
    if (p[1] < y0) y0 = p[1];
    if (p[1] > y1) y1 = p[1];
  }
  return [x0, y0, x1, y1];
}

/** A landmark box -> the training crop: square, same centre, side factor * max(w, h). */
export function roiBox(box, factor) {
  const [x0, y0, x1, y1] = box;
  const cx = 0.5 * (x0 + x1), cy = 0.5 * (y0 + y1);
  const half = 0.5 * factor * Math.max(x1 - x0, y1 - y0);
  return [cx - half, cy - half, cx + half, cy + half];
}

/** The training crop of landmark points: roiBox of their bounding box. */
export function roiBoxFromLandmarks(points, factor) {
  return roiBox(landmarkBbox(points), factor);
}

/** Mean side (w + h) / 2 of a box, pixels. */
export function boxSize(box) {
  return 0.5 * ((box[2] - box[0]) + (box[3] - box[1]));
}

/** Intersection over union of two boxes. */
export function boxIou(a, b) {
  const iw = Math.max(0, Math.min(a[2], b[2]) - Math.max(a[0], b[0]));
  const ih = Math.max(0, Math.min(a[3], b[3]) - Math.max(a[1], b[1]));
  const inter = iw * ih;
  const union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter;
  return union > 0 ? inter / union : 0;
}

/** Indices of boxes (K x [x0, y0, x1, y1], image pixels), main face first: value = box area -
 * 2 x squared distance from the box centre to the image centre (width / 2, height / 2), highest
 * first, ties in the given order (Python's denseface.geometry.boxes.main_face_order, insightface's
 * max_num rule): large, central faces win whatever their detector scores. */
export function mainFaceOrder(boxes, width, height) {
  const value = boxes.map((b) => {
    const dx = 0.5 * (b[0] + b[2]) - width / 2, dy = 0.5 * (b[1] + b[3]) - height / 2;
    return (b[2] - b[0]) * (b[3] - b[1]) - 2 * (dx * dx + dy * dy);
  });
  return boxes.map((_, i) => i).sort((i, j) => value[j] - value[i]);   // Array.sort is stable
}

/** A detector box -> the square training crop with a calibrated mapping {scale, shift_x,
 * shift_y} (denseface.geometry.boxes.BoxToCrop): centre = box centre + shift * size, side =
 * scale * size, size = boxSize(box). */
export function boxToCrop(mapping, box) {
  const size = boxSize(box);
  const cx = 0.5 * (box[0] + box[2]) + mapping.shift_x * size;
  const cy = 0.5 * (box[1] + box[3]) + mapping.shift_y * size;
  const half = 0.5 * mapping.scale * size;
  return [cx - half, cy - half, cx + half, cy + half];
}

/** 2x3 matrix (row-major [a, b, c, d, e, f]) mapping source pixels to crop pixels. */
export function cropMatrix(box, size) {
  const [x0, y0, x1, y1] = box;
  const sx = size / (x1 - x0), sy = size / (y1 - y0);
  return [sx, 0, -sx * x0, 0, sy, -sy * y0];
}

/** The matrix that samples the image as cv2.resize of the box does (a destination pixel centre
 * i looks at source (i + 0.5) / s - 0.5 + x0) for a crop whose points map by M. */
export function resizeSampling(M) {
  const out = M.slice();
  out[2] += 0.5 * out[0] - 0.5;
  out[5] += 0.5 * out[4] - 0.5;
  return out;
}

/** OpenCV's inverse of a 2x3 affine matrix (cv::invertAffineTransform's arithmetic, in the
 * same order, so the sampled pixels are bit-identical to cv2.warpAffine's). */
export function invertAffine(M) {
  const m = M.slice();
  let D = m[0] * m[4] - m[1] * m[3];
  D = D !== 0 ? 1.0 / D : 0.0;
  const A11 = m[4] * D, A22 = m[0] * D;
  m[0] = A11; m[1] *= -D; m[3] *= -D; m[4] = A22;
  const b1 = -m[0] * m[2] - m[1] * m[5];
  const b2 = -m[3] * m[2] - m[4] * m[5];
  m[2] = b1; m[5] = b2;
  return m;
}

/** Round half to even, as C's lrint (OpenCV's cvRound). */
export function rint(x) {
  const r = Math.round(x);
  return (r - x === 0.5 && r % 2 !== 0) ? r - 1 : r;
}

/**
 * Crop a square of side `size` from an RGBA image, exactly as denseface.geometry.crop_image
 * (cv2.warpAffine, INTER_LINEAR, black border) does: OpenCV's fixed-point bilinear sampling
 * (1/32-pixel coordinates, 15-bit weights), bit-identical for 8-bit images.
 *
 * image: {data: Uint8ClampedArray RGBA, width, height} (an ImageData). box: [x0, y0, x1, y1]
 * image pixels. out: Float32Array of 3 * size * size receiving the crop in NCHW RGB order
 * (values 0..255), written at `offset`; mirror: write the horizontal pixel mirror
 * (crop[:, ::-1]) instead. Returns M, the 2x3 matrix mapping image points into the crop.
 */
export function cropInto(image, box, size, out, offset = 0, mirror = false) {
  const M = cropMatrix(box, size);
  sampleAffine(image, invertAffine(resizeSampling(M)), size, size, out, offset, mirror);
  return M;
}

/**
 * cv2.warpAffine of an RGBA image with INTER_LINEAR into a width x height patch, bit-identical
 * for 8-bit images: OpenCV's fixed-point bilinear sampling (1/32-pixel coordinates, 15-bit
 * weights). m: the inverse 2x3 matrix (patch pixel -> image pixel, as invertAffine gives);
 * out: Float32Array receiving the patch in NCHW RGB order (0..255) at `offset`; mirror: write
 * the horizontal mirror instead; replicate: BORDER_REPLICATE (else BORDER_CONSTANT, black).
 */
export function sampleAffine(image, m, width, height, out, offset = 0, mirror = false, replicate = false) {
  const { data, width: W, height: H } = image;
  const AB = 1024, ROUND = 16;          // AB_BITS = 10; AB_SCALE / INTER_TAB_SIZE / 2
  const plane = width * height;
  const adelta = new Int32Array(width), bdelta = new Int32Array(width);
  for (let x = 0; x < width; x++) {
    adelta[x] = rint(m[0] * x * AB);
    bdelta[x] = rint(m[3] * x * AB);
  }
  const clampX = (v) => (v < 0 ? 0 : v >= W ? W - 1 : v), clampY = (v) => (v < 0 ? 0 : v >= H ? H - 1 : v);
  for (let y = 0; y < height; y++) {
    const X0 = rint((m[1] * y + m[2]) * AB) + ROUND;
    const Y0 = rint((m[4] * y + m[5]) * AB) + ROUND;
    for (let x = 0; x < width; x++) {
      const X = (X0 + adelta[x]) >> 5, Y = (Y0 + bdelta[x]) >> 5;   // 1/32 pixel
      const sx = X >> 5, sy = Y >> 5, fx = X & 31, fy = Y & 31;
      const w00 = (32 - fx) * (32 - fy), w01 = fx * (32 - fy), w10 = (32 - fx) * fy, w11 = fx * fy;
      const dx = mirror ? width - 1 - x : x;
      const o = offset + y * width + dx;
      if (replicate) {       // each neighbour clamped into the image
        const a0 = clampX(sx) * 4, a1 = clampX(sx + 1) * 4, r0 = clampY(sy) * W * 4, r1 = clampY(sy + 1) * W * 4;
        for (let c = 0; c < 3; c++) {
          const v = w00 * data[r0 + a0 + c] + w01 * data[r0 + a1 + c] + w10 * data[r1 + a0 + c] + w11 * data[r1 + a1 + c];
          out[o + c * plane] = Math.min(255, (v * 32 + 16384) >> 15);
        }
        continue;
      }
      const inX0 = sx >= 0 && sx < W, inX1 = sx + 1 >= 0 && sx + 1 < W;
      const inY0 = sy >= 0 && sy < H, inY1 = sy + 1 >= 0 && sy + 1 < H;
      const i00 = (sy * W + sx) * 4, i10 = i00 + W * 4;
      for (let c = 0; c < 3; c++) {
        let v = 0;
        if (inY0) {
          if (inX0) v += w00 * data[i00 + c];
          if (inX1) v += w01 * data[i00 + 4 + c];
        }
        if (inY1) {
          if (inX0) v += w10 * data[i10 + c];
          if (inX1) v += w11 * data[i10 + 4 + c];
        }
        // weights * 32 are OpenCV's 15-bit coefficients; (v * 32 + 2^14) >> 15
        out[o + c * plane] = Math.min(255, (v * 32 + 16384) >> 15);
      }
    }
  }
}

/** Normalised network outputs (p / S - 0.5) -> crop pixels, in float32 as Python does;
 * n points of dims coordinates. */
export function decodePoints(outputs, size, n, dims = 3) {
  const out = new Float32Array(n * dims);
  for (let i = 0; i < n * dims; i++) out[i] = Math.fround(Math.fround(outputs[i] + 0.5) * size);
  return out;
}

/**
 * Points predicted on the horizontal pixel mirror of a crop -> the same anatomical points in
 * the crop itself (denseface.models.codec.unmirror_crop_points). mirrored: crop pixels (n * 3
 * flat) of the mirror; flip: the landmark set's permutation; size: the crop side S; scale:
 * crop pixels per source pixel in x. x maps by S - scale - x (not S - 1 - x: a crop pixel
 * centre i shows label coordinate i + (1 - scale) / 2); y and z are unchanged.
 */
export function unmirrorCropPoints(mirrored, flip, size, scale, dims = 3) {
  const n = flip.length;
  const inverse = new Int32Array(n);
  for (let i = 0; i < n; i++) inverse[flip[i]] = i;
  const out = new Float64Array(n * dims);
  for (let i = 0; i < n; i++) {
    const j = inverse[i];
    out[i * dims] = size - scale - mirrored[j * dims];
    for (let k = 1; k < dims; k++) out[i * dims + k] = mirrored[j * dims + k];
  }
  return out;
}

/** Crop pixels (n * dims flat, dims 3 or 2) -> image points [[x, y(, z)], ...]; z divided by
 * the crop's scale. */
export function cropToImage(points, M, n, dims = 3) {
  const [a, b, c, d, e, f] = M;
  const det = a * e - b * d;
  const ia = e / det, ib = -b / det, id = -d / det, ie = a / det;
  const ic = -(ia * c + ib * f), iff = -(id * c + ie * f);
  const s = Math.sqrt(Math.abs(det));
  const out = new Array(n);
  for (let i = 0; i < n; i++) {
    const x = points[i * dims], y = points[i * dims + 1];
    out[i] = [ia * x + ib * y + ic, id * x + ie * y + iff];
    if (dims > 2) out[i].push(points[i * dims + 2] / s);
  }
  return out;
}
