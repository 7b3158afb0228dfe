// One Euro filtering and motion-compensated smoothing against denseface.infer.tracking.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FaceSmoother, OneEuroFilter, SMOOTHING_DEFAULTS } from '../../src/tracking.js';
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
