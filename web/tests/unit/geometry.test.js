// Crop, decode and box geometry against the numbers Python writes (tests/web_fixtures.py).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { DenseFace } from '../../src/denseface.js';
import { boxIou, boxToCrop, cropInto, cropMatrix, cropToImage, decodePoints, mainFaceOrder, rint, roiBox,
  roiBoxFromLandmarks, unmirrorCropPoints } from '../../src/geometry.js';
import { NO_FIXTURES, maxAbsDiff, rgbaPixels, synthetic } from './fixtures.js';

const fx = NO_FIXTURES ? null : synthetic();

test('rint rounds half to even like OpenCV', () => {
  assert.deepEqual([-2.5, -1.5, -0.5, 0.5, 1.5, 2.5, 2.4, -2.6].map(rint), [-2, -2, -0, 0, 2, 2, 2, -3]);
});

test('crops are bit-identical to cv2.warpAffine (crop_image)', { skip: NO_FIXTURES }, () => {
  const img = rgbaPixels(Buffer.from(fx.image.rgb, 'base64'), fx.image.width, fx.image.height);
  for (const c of fx.crops) {
    const S = c.size, buf = new Float32Array(3 * S * S);
    const M = cropInto(img, c.box, S, buf);
    assert.ok(maxAbsDiff(M, c.M.flat()) < 1e-12);
    const want = Buffer.from(c.crop, 'base64');   // S x S x 3, HWC
    let wrong = 0;
    for (let y = 0; y < S; y++) for (let x = 0; x < S; x++) for (let ch = 0; ch < 3; ch++) {
      if (buf[ch * S * S + y * S + x] !== want[(y * S + x) * 3 + ch]) wrong++;
    }
    assert.equal(wrong, 0, `box ${c.box} size ${S}: ${wrong} values differ`);
    const mirror = new Float32Array(3 * S * S);
    cropInto(img, c.box, S, mirror, 0, true);
    for (let y = 0; y < S; y++) for (let x = 0; x < S; x++) {
      assert.equal(mirror[y * S + x], buf[y * S + (S - 1 - x)]);
    }
  }
});

test('decoding and flip un-mirroring match Python (codec.decode_points, unmirror_crop_points, crop_to_image)', { skip: NO_FIXTURES }, () => {
  const d = fx.decode, S = d.size, N = fx.flip.length;
  const M = cropMatrix(d.box, S);
  assert.ok(maxAbsDiff(M, d.M.flat()) < 1e-12);
  const out = Float32Array.from(d.outputs.flat(2));
  const pred = decodePoints(out.subarray(0, N * 3), S, N);
  const mir = decodePoints(out.subarray(N * 3), S, N);
  const back = unmirrorCropPoints(mir, Int32Array.from(fx.flip), S, M[0]);
  assert.ok(maxAbsDiff(Array.from(back), d.unmirrored.flat()) < 1e-9);
  assert.ok(maxAbsDiff(cropToImage(pred, M, N), d.image_points_none) < 1e-9);
  const avg = new Float64Array(N * 3);
  for (let k = 0; k < N * 3; k++) avg[k] = 0.5 * (pred[k] + back[k]);
  assert.ok(maxAbsDiff(cropToImage(avg, M, N), d.image_points_flip) < 1e-9);
  // the second head's 68 x (x, y) points (models with head_300w), mirrored through the iBUG flip
  const o68 = Float32Array.from(d.outputs_300w.flat(2));
  const p68 = decodePoints(o68.subarray(0, 136), S, 68, 2);
  const b68 = unmirrorCropPoints(decodePoints(o68.subarray(136), S, 68, 2), Int32Array.from(fx.flip68), S, M[0], 2);
  const a68 = new Float64Array(136);
  for (let k = 0; k < 136; k++) a68[k] = 0.5 * (p68[k] + b68[k]);
  assert.ok(maxAbsDiff(cropToImage(a68, M, 68, 2), d.image_points_300w_flip) < 1e-9);
});

test('the package ships the iBUG 68-point flip that Python uses for the second head', { skip: NO_FIXTURES }, async () => {
  const { default: data } = await import('../../src/generated/data.js');
  assert.deepEqual(data.ibug68_flip, fx.flip68);
});

test('boxes: IoU, the crop policy and calibrated mappings match Python', { skip: NO_FIXTURES }, () => {
  for (const b of fx.boxes) {
    assert.ok(Math.abs(boxIou(b.a, b.b) - b.iou) < 1e-12);
    assert.ok(maxAbsDiff(roiBox(b.a, Math.SQRT2), b.roi) < 1e-9);
    assert.ok(maxAbsDiff(roiBoxFromLandmarks(b.points, Math.SQRT2), b.roi_points) < 1e-9);
    assert.ok(maxAbsDiff(boxToCrop(b.mapping, b.a), b.mapped) < 1e-9);
  }
});

test('maxFaces keeps the main faces, as Python\'s max_faces (FaceCropper.first_crops)', { skip: NO_FIXTURES }, async () => {
  const m = fx.main_faces;
  const order = mainFaceOrder(m.faces.map((f) => f.box), m.width, m.height);
  assert.deepEqual(order.map((i) => m.faces[i].box), m.kept[String(m.faces.length)].boxes);
  const detector = { name: 'fixed', cropMapping: m.mapping,
    detect: async () => m.faces.map((f) => ({ box: f.box, score: f.score, keypoints: null, label: '' })) };
  const df = await DenseFace.create({ model: new Uint8Array(fs.readFileSync(fx.model)), detector });
  const image = { data: new Uint8ClampedArray(m.width * m.height * 4), width: m.width, height: m.height };
  for (const [k, want] of Object.entries(m.kept)) {
    const [dets, crops] = await df.firstCrops(image, null, Number(k));
    assert.deepEqual(dets.map((d) => d.box), want.boxes, `maxFaces ${k}`);
    assert.ok(maxAbsDiff(crops, want.crops) < 1e-9, `maxFaces ${k}: crops`);
  }
  const given = [[0, 0, 50, 50], [60, 30, 150, 130]];   // given boxes: the first ones, in their order
  const [dets] = await df.firstCrops(image, given, 1);
  assert.deepEqual(dets.map((d) => d.box), [given[0]]);
});
