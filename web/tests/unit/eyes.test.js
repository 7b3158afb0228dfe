// The eye stage's geometry (./src/eyes.js) against Python's (denseface.infer.eyes,
// denseface.geometry.eye_patch; tests/web_fixtures.py): patch matrices, patches bit-identical to
// cv2.warpAffine with the border repeated, patch points mapped back, foreshortening gates.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { EyeStage, GATE_RANGE, eyeMatrices, foreshorteningGate, fromPatch } from '../../src/eyes.js';
import { NO_FIXTURES, maxAbsDiff, rgbaPixels, synthetic } from './fixtures.js';

const fx = NO_FIXTURES ? null : synthetic();

test('eye patches and their matrices are Python\'s, bit-identical (border repeated)', { skip: NO_FIXTURES }, () => {
  const e = fx.eyes, img = rgbaPixels(Buffer.from(fx.image.rgb, 'base64'), fx.image.width, fx.image.height);
  const stage = new EyeStage({ inputNames: ['patch'], outputNames: ['eye_points'] },
    { width: e.width, height: e.height, width_factor: e.width_factor });
  const plane = 3 * e.width * e.height;
  for (const f of e.faces) {
    const mats = eyeMatrices(f.points68, e.width, e.height, e.width_factor);
    mats.forEach((M, k) => assert.ok(maxAbsDiff(M, f.M[k].flat()) < 1e-12, `matrix ${k}`));
    const [batch] = stage.patches(img, [f.points68]);
    const want = Buffer.from(f.patches, 'base64');    // 2 x H x W x 3, HWC
    let wrong = 0;
    for (let k = 0; k < 2; k++) for (let i = 0; i < e.width * e.height; i++) for (let c = 0; c < 3; c++) {
      if (batch[k * plane + c * e.width * e.height + i] !== want[(k * e.width * e.height + i) * 3 + c]) wrong++;
    }
    assert.equal(wrong, 0, `${wrong} patch values differ`);
  }
});

test('patch points map back and the gates are Python\'s', { skip: NO_FIXTURES }, () => {
  const e = fx.eyes;
  assert.deepEqual([...GATE_RANGE], e.gate_range);
  for (const f of e.faces) {
    const pts = f.M.map((M, k) => fromPatch(f.patch_points[k].flat(), M.flat(), k === 1)).flat();
    assert.ok(maxAbsDiff(pts, f.image_points) < 1e-9);
    assert.ok(maxAbsDiff(foreshorteningGate(f.points68), f.gate) < 1e-12);
  }
});
