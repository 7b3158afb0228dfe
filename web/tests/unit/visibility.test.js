// Face.visibility in JavaScript (src/visibility.js) against Python's
// denseface.geometry.visibility: the same booleans for the same points, the same constants,
// outward triangles and per-point thresholds; on real photos, the whole pipeline's visibility
// beside Python's.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import packageData from '../../src/generated/data.js';
import { DenseFace } from '../../src/denseface.js';
import { FACE_TOLERANCE, FACING_MIN_NZ, faceVisibility, outwardTriangles } from '../../src/visibility.js';
import { NO_FIXTURES, NO_PHOTOS, PHOTOS, photos, rgbaPixels, synthetic } from './fixtures.js';

const fx = NO_FIXTURES ? null : synthetic().visibility;
const set = packageData.landmark_sets.dense520;

test('constants and outward triangles are Python\'s', { skip: NO_FIXTURES }, () => {
  assert.equal(FACE_TOLERANCE, fx.tolerance);
  assert.equal(FACING_MIN_NZ, fx.facing_min_nz);
  assert.deepEqual(outwardTriangles(set.mean_shape, set.triangles), fx.triangles);
  assert.deepEqual(packageData.visibility.dense520, { min_nz: fx.min_nz, tolerance: fx.tolerances });
});

test('visibility of turned faces equals Python\'s, point for point', { skip: NO_FIXTURES }, () => {
  let hidden = 0;
  for (const f of fx.faces) {
    const got = faceVisibility(f.points, fx.triangles, fx.min_nz, fx.tolerances);
    assert.deepEqual(got, f.visible);
    hidden += got.filter((v) => !v).length;
  }
  assert.ok(hidden > 0.1 * fx.faces.length * set.n_points, `${hidden} hidden points: the fixture turns faces`);
  const bad = fx.faces[0].points.map((p) => p.slice());
  bad[7][2] = NaN;
  assert.ok(faceVisibility(bad, fx.triangles, fx.min_nz, fx.tolerances).every((v) => v === false));
});

test('on real photos the pipeline\'s visibility is Python\'s', { skip: NO_PHOTOS }, async () => {
  const ph = photos();
  const df = await DenseFace.create({ model: new Uint8Array(fs.readFileSync(ph.model)), detector: null,
    config: { tta: 'flip' }, eyeModel: new Uint8Array(fs.readFileSync(ph.eye_model)) });
  let same = 0, all = 0;
  for (const p of ph.photos) {
    const pixels = rgbaPixels(fs.readFileSync(path.join(PHOTOS, p.rgb)), p.width, p.height);
    const faces = await df.predict(pixels, { boxes: p.boxes });
    faces.forEach((f, i) => {
      const want = p.faces.flip[i];
      // Python's points give Python's booleans exactly ...
      assert.deepEqual(faceVisibility(want.landmarks, df.meshTriangles, ...df.visibilityThresholds), want.visibility);
      assert.deepEqual(f.visibility68, df.idx68.map((k) => f.visibility[k]));
      // ... and the pipeline's own points (within 0.15 px of Python's) nearly all of them
      f.visibility.forEach((v, k) => { same += v === want.visibility[k] ? 1 : 0; all += 1; });
    });
  }
  assert.ok(same >= 0.995 * all, `${same} of ${all} points agree`);
});
