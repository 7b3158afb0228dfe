// One Euro filtering and motion-compensated smoothing against denseface.infer.tracking.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FaceSmoother, OneEuroFilter, SMOOTHING_DEFAULTS } from '../../src/tracking.js';
import { lazyFields } from '../../src/denseface.js';
import packageData from '../../src/generated/data.js';
import { NO_FIXTURES, maxAbsDiff, synthetic } from './fixtures.js';

const fx = NO_FIXTURES ? null : synthetic();

test('One Euro filter matches Python sample by sample', { skip: NO_FIXTURES }, () => {
  const e = fx.one_euro, f = new OneEuroFilter(e.config);
  e.inputs.forEach((x, i) => assert.ok(maxAbsDiff(Array.from(f.filter(x, e.times[i])), e.outputs[i]) < 1e-9));
});

test('face smoothing matches FaceSmoother with the default settings', { skip: NO_FIXTURES }, () => {
  const s = new FaceSmoother(packageData.landmark_sets.dense520.mean_shape, SMOOTHING_DEFAULTS);
  fx.smoothing.inputs.forEach((p, i) => {
    const err = maxAbsDiff(s.smooth(p, fx.smoothing.times[i]), fx.smoothing.outputs[i]);
    assert.ok(err < 1e-6, `frame ${i}: ${err} px`);
  });
  const err = maxAbsDiff(s.ahead(fx.smoothing.ahead_input), fx.smoothing.ahead_output);
  assert.ok(err < 1e-6, `ahead: ${err} px`);
});

test('a smoothed face keeps the raw face\'s lazy fields unread and poses its own points', () => {
  const set = packageData.landmark_sets.dense520, sc = 200 / 160000;
  const lm = set.mean_shape.map((p) => [320 + p[0] * sc, 240 - p[1] * sc, p[2] * sc]);
  let reads = 0;
  const raw = lazyFields({ box: [0, 0, 1, 1], score: 0.9, landmarks: lm, landmarks68: set.idx68.map((k) => lm[k]),
    landmarks68_300w: null }, { pose: () => { reads += 1; return null; }, visibility: () => { reads += 1; return [true]; } });
  const face = new FaceSmoother(set.mean_shape).face(raw, 0, set.idx68);
  assert.equal(reads, 0);                                  // nothing of the raw face computed yet
  assert.ok(Math.abs(face.pose.yaw) < 1e-6 && Math.abs(face.pose.roll) < 1e-6);   // the smoothed points' pose
  assert.deepEqual([face.visibility, face.visibility, reads], [[true], [true], 1]);   // the raw visibility, once
});
