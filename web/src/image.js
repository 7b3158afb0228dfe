// Images in the browser: decoding files exactly as Python does, and any drawable -> RGBA pixels.
//
// Pixels are {data: Uint8ClampedArray RGBA, width, height} (an ImageData, or the same shape of
// plain object in node). Image pixels: x right, y down, (0, 0) the centre of the top-left pixel.

/** A readable error for a file the browser cannot decode. */
export class ImageDecodeError extends Error {}

/**
 * Decode an image file (a Blob or File) to an ImageBitmap without colour management, which gives
 * the same pixels as Python's decoder (OpenCV, libjpeg-turbo / libpng) for JPEG and PNG files;
 * EXIF orientation is applied as Python does. Throws ImageDecodeError naming the file.
 */
export async function decodeImageFile(blob) {
  try {
    return await createImageBitmap(blob, { colorSpaceConversion: 'none', premultiplyAlpha: 'none', imageOrientation: 'from-image' });
  } catch (e) {
    const name = blob && blob.name ? blob.name : 'the file';
    throw new ImageDecodeError(`${name}: cannot be decoded as an image (${e && e.name ? e.name : 'error'})`);
  }
}

function isPixels(source) {
  return source && source.data instanceof Uint8ClampedArray && Number.isInteger(source.width)
    && Number.isInteger(source.height) && source.data.length === source.width * source.height * 4;
}

function sourceSize(source) {
  if (typeof HTMLVideoElement !== 'undefined' && source instanceof HTMLVideoElement) return [source.videoWidth, source.videoHeight];
  if (typeof HTMLImageElement !== 'undefined' && source instanceof HTMLImageElement) return [source.naturalWidth, source.naturalHeight];
  if (typeof VideoFrame !== 'undefined' && source instanceof VideoFrame) return [source.displayWidth, source.displayHeight];
  return [source.width, source.height];
}

/** Reads drawables into RGBA pixels through one reused canvas. */
export class PixelReader {
  constructor() {
    this.canvas = null;
    this.context = null;
  }

  /** RGBA pixels of an ImageData / pixel object (returned as is), an ImageBitmap, a canvas, an
   * <img>, a <video> (its current frame) or a VideoFrame. */
  read(source) {
    if (isPixels(source)) return source;
    const [w, h] = sourceSize(source);
    if (!(w > 0 && h > 0)) throw new ImageDecodeError('the image or video frame is empty (0 x 0 pixels)');
    if (this.canvas === null) {
      this.canvas = new OffscreenCanvas(w, h);
      this.context = this.canvas.getContext('2d', { willReadFrequently: true });
    }
    if (this.canvas.width !== w || this.canvas.height !== h) {
      this.canvas.width = w;
      this.canvas.height = h;
    }
    this.context.drawImage(source, 0, 0);
    return this.context.getImageData(0, 0, w, h);
  }
}

// ------------------------------------------------------------------ detection copies (resizing)
// The JavaScript twin of denseface.io.images.detection_view: the copy of an image that a face
// detector searches, downscaled so its longer side is at most maxSide, by area averaging (OpenCV's
// INTER_AREA), or with `fast` by whole-factor area averaging and then bilinearly (INTER_LINEAR).
// The arithmetic is OpenCV's in float (OpenCV's is float32 or fixed point, in another order), so
// a pixel may differ by one level: the detector's boxes agree within a few percent of their size
// (tests/test_web.py).

/** Python's round(): half to even. */
function roundHalfEven(x) {
  const r = Math.round(x);
  return (r - x === 0.5 && r % 2 !== 0) ? r - 1 : r;
}

/** OpenCV's INTER_AREA table for one axis: typed arrays of source index, destination index and
 * weight, one entry per (source, destination) overlap, in source order. */
function areaTable(src, dst) {
  const scale = src / dst, s = [], d = [], a = [];
  for (let k = 0; k < dst; k++) {
    const f1 = k * scale, f2 = f1 + scale;
    const cell = Math.min(scale, src - f1);
    const s1 = Math.ceil(f1), s2 = Math.floor(f2);
    if (s1 - f1 > 1e-3) { s.push(s1 - 1); d.push(k); a.push((s1 - f1) / cell); }
    for (let i = s1; i < s2; i++) { s.push(i); d.push(k); a.push(1 / cell); }
    if (f2 - s2 > 1e-3 && s2 < src) { s.push(s2); d.push(k); a.push(Math.min(Math.min(f2 - s2, 1), cell) / cell); }
  }
  return { src: Int32Array.from(s), dst: Int32Array.from(d), w: Float64Array.from(a) };
}

/** OpenCV's INTER_LINEAR sampling for one axis: per destination index the source index and the
 * weight of the next source pixel. */
function linearTable(src, dst) {
  const scale = src / dst, idx = new Int32Array(dst), frac = new Float64Array(dst);
  for (let d = 0; d < dst; d++) {
    let f = (d + 0.5) * scale - 0.5, s = Math.floor(f);
    f -= s;
    if (s < 0) { s = 0; f = 0; }
    if (s >= src - 1) { s = src - 1; f = 0; }
    idx[d] = s;
    frac[d] = f;
  }
  return { idx, frac };
}

function bilinear(image, w, h, W, H) {
  const src = image.data, stride = image.width * 4, out = new Uint8ClampedArray(w * h * 4);
  const xs = linearTable(W, w), ys = linearTable(H, h);
  const c0 = new Int32Array(w), c1 = new Int32Array(w);
  for (let x = 0; x < w; x++) { c0[x] = xs.idx[x] * 4; c1[x] = Math.min(xs.idx[x] + 1, W - 1) * 4; }
  for (let y = 0; y < h; y++) {
    const fy = ys.frac[y], gy = 1 - fy, r0 = ys.idx[y] * stride, r1 = Math.min(ys.idx[y] + 1, H - 1) * stride;
    let o = y * w * 4;
    for (let x = 0; x < w; x++, o += 4) {
      const fx = xs.frac[x], gx = 1 - fx, a = r0 + c0[x], b = r0 + c1[x], c = r1 + c0[x], d = r1 + c1[x];
      out[o] = roundHalfEven((src[a] * gx + src[b] * fx) * gy + (src[c] * gx + src[d] * fx) * fy);
      out[o + 1] = roundHalfEven((src[a + 1] * gx + src[b + 1] * fx) * gy + (src[c + 1] * gx + src[d + 1] * fx) * fy);
      out[o + 2] = roundHalfEven((src[a + 2] * gx + src[b + 2] * fx) * gy + (src[c + 2] * gx + src[d + 2] * fx) * fy);
      out[o + 3] = 255;
    }
  }
  return { data: out, width: w, height: h };
}

/** Area averaging by a whole factor k (each output pixel the mean of a k x k block, summed in
 * registers: the sums are whole numbers, exact in any order). */
function boxDown(image, w, h, k) {
  const src = image.data, stride = image.width * 4, out = new Uint8ClampedArray(w * h * 4);
  const inv = 1 / (k * k), block = 4 * k;
  for (let y = 0; y < h; y++) {
    const top = y * k * stride;
    let o = y * w * 4;
    for (let x = 0; x < w; x++, o += 4) {
      let r = 0, g = 0, b = 0;
      for (let j = 0, row = top + x * block; j < k; j++, row += stride) {
        for (let s = row, end = row + block; s < end; s += 4) {
          r += src[s];
          g += src[s + 1];
          b += src[s + 2];
        }
      }
      out[o] = roundHalfEven(r * inv);
      out[o + 1] = roundHalfEven(g * inv);
      out[o + 2] = roundHalfEven(b * inv);
      out[o + 3] = 255;
    }
  }
  return { data: out, width: w, height: h };
}

/** Area averaging at any ratio (OpenCV's INTER_AREA tables): the source rows that overlap an
 * output row summed with their weights into one float32 row of RGB (alpha is never read), then
 * resized across. */
function areaDown(image, w, h, W, H) {
  const src = image.data, stride = image.width * 4, out = new Uint8ClampedArray(w * h * 4);
  const xt = areaTable(W, w), yt = areaTable(H, h), n = xt.src.length;
  const xs = Int32Array.from(xt.src, (v) => 3 * v), xd = Int32Array.from(xt.dst, (v) => 4 * v), xw = Float32Array.from(xt.w);
  const rows = new Float32Array(W * 3), fround = Math.fround;
  let e = 0;
  for (let y = 0; y < h; y++) {
    const e0 = e;   // down: this output row's source rows, float32 sums as a Float32Array would hold them
    while (e < yt.src.length && yt.dst[e] === y) e++;
    for (let x = 0, q = 0; x < 4 * W; x += 4, q += 3) {
      let r = 0, g = 0, b = 0;
      for (let j = e0; j < e; j++) {
        const s = yt.src[j] * stride + x, a = yt.w[j];
        r = fround(r + a * src[s]);
        g = fround(g + a * src[s + 1]);
        b = fround(b + a * src[s + 2]);
      }
      rows[q] = r;
      rows[q + 1] = g;
      rows[q + 2] = b;
    }
    // across: each output pixel's sources are consecutive entries; float32 sums as a Float32Array would hold them
    const row = y * w * 4;
    for (let i = 0; i < n;) {
      const d = xd[i];
      let r = 0, g = 0, b = 0;
      for (; i < n && xd[i] === d; i++) {
        const s = xs[i], a = xw[i];
        r = fround(r + a * rows[s]);
        g = fround(g + a * rows[s + 1]);
        b = fround(b + a * rows[s + 2]);
      }
      const o = row + d;
      out[o] = roundHalfEven(r);
      out[o + 1] = roundHalfEven(g);
      out[o + 2] = roundHalfEven(b);
      out[o + 3] = 255;
    }
  }
  return { data: out, width: w, height: h };
}

/** RGBA pixels resized to w x h (area averaging, or bilinear with `bilinear`); only the top-left
 * cw x ch of the image when given. */
export function resizePixels(image, w, h, bilinearly = false, cw = image.width, ch = image.height) {
  if (bilinearly) return bilinear(image, w, h, cw, ch);
  const k = cw / w;
  if (Number.isInteger(k) && ch === h * k) return boxDown(image, w, h, k);
  return areaDown(image, w, h, cw, ch);
}

/** The detection copy of RGBA pixels: [copy, scale] with scale = copy / original (<= 1); boxes
 * found on the copy are divided by scale (denseface.io.images.detection_view: area averaging, or
 * with `fast` area averaging by the whole factor k = floor(1 / scale) of the top-left multiple
 * of k pixels, then bilinear). */
export function detectionView(image, maxSide, fast = false) {
  const w = image.width, h = image.height;
  const scale = maxSide && maxSide > 0 ? Math.min(1, maxSide / Math.max(w, h)) : 1;
  if (scale >= 1) return [image, 1];
  const size = [Math.max(1, roundHalfEven(w * scale)), Math.max(1, roundHalfEven(h * scale))];
  const k = Math.floor(1 / scale);
  let view = image;
  if (fast && k >= 2 && Math.min(w, h) >= k) {
    view = resizePixels(image, Math.floor(w / k), Math.floor(h / k), false, w - (w % k), h - (h % k));
  }
  if (view.width !== size[0] || view.height !== size[1]) view = resizePixels(view, size[0], size[1], fast);
  return [view, scale];
}

/** The integer region [x0, y0, x1, y1] of RGBA pixels as pixels of its own. */
export function regionPixels(image, x0, y0, x1, y1) {
  const w = x1 - x0, h = y1 - y0, out = new Uint8ClampedArray(w * h * 4);
  for (let y = 0; y < h; y++) {
    const s = ((y0 + y) * image.width + x0) * 4;
    out.set(image.data.subarray(s, s + w * 4), y * w * 4);
  }
  return { data: out, width: w, height: h };
}
