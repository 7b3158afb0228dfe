// The whole pipeline in node (ONNX Runtime Web's wasm build) on real photos with given boxes,
// against Python's DenseFace.predict(boxes=...): crops bit-identical, 520 points within 0.05 px.
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
    const df = await DenseFace.create({ model: new Uint8Array(fs.readFileSync(fx.model)), detector: null, config: { tta } });
    let worst = 0;
    for (const p of fx.photos) {
      const faces = await df.predict(pixels(p), { boxes: p.boxes });
      const want = p.faces[tta];
      assert.equal(faces.length, want.length);
      faces.forEach((f, i) => {
        const err = maxAbsDiff(f.landmarks, want[i].landmarks);
        worst = Math.max(worst, err);
        assert.ok(err < TOLERANCE_PX, `${p.name} face ${i}: ${err} px`);
        assert.ok(maxAbsDiff(f.cropBox, want[i].crop_box) < TOLERANCE_PX);
        for (const k of ['yaw', 'pitch', 'roll']) assert.ok(Math.abs(f.pose[k] - want[i].pose[k]) < 0.05, `${k}`);
        if (want[i].landmarks68_300w === null) assert.equal(f.landmarks68_300w, null);
        else assert.ok(maxAbsDiff(f.landmarks68_300w, want[i].landmarks68_300w) < TOLERANCE_PX);
      });
    }
    console.log(`# tta ${tta}: largest difference ${worst.toExponential(2)} px over ${fx.photos.length} photos`);
  });
}
