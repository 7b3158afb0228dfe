// The package shares Python's defaults and the model config that Python reads from the file.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { PREDICT_DEFAULTS, TTA_MODES, predictConfig } from '../../src/denseface.js';
import { SMOOTHING_DEFAULTS, TRACKER_DEFAULTS } from '../../src/tracking.js';
import { modelConfig } from '../../src/network.js';
import { readOnnxMetadata } from '../../src/onnx_metadata.js';
import { NO_FIXTURES, synthetic } from './fixtures.js';

const fx = NO_FIXTURES ? null : synthetic();

test('prediction, tracking and smoothing defaults equal the Python ones', { skip: NO_FIXTURES }, () => {
  assert.deepEqual({ ...PREDICT_DEFAULTS }, fx.defaults.predict);
  assert.deepEqual({ ...TRACKER_DEFAULTS }, fx.defaults.tracker);
  assert.deepEqual(JSON.parse(JSON.stringify(SMOOTHING_DEFAULTS)), fx.defaults.smoothing);
  assert.deepEqual([...TTA_MODES].sort(), [...fx.tta_modes].sort());
  assert.equal(predictConfig().tta, fx.defaults.predict.tta);
});

test('bad predict options are refused with a readable message', () => {
  assert.throws(() => predictConfig({ tta: 'mirror' }), /tta must be one of flip, none/);
  assert.throws(() => predictConfig({ passes: 3 }), /passes must be 1 or 2/);
});

test('the model config is read from the ONNX metadata as Python reads it', { skip: NO_FIXTURES }, () => {
  const config = modelConfig(fs.readFileSync(fx.model));
  assert.deepEqual(config, fx.model_metadata);
  for (const key of ['input_size', 'num_points', 'landmark_set', 'roi_factor', 'channel_order', 'value_range']) {
    assert.deepEqual(config[key], fx.model_config[key], key);
  }
  assert.throws(() => modelConfig(new Uint8Array([8, 7, 18, 2, 65, 66])), /no denseface config metadata/);
  assert.throws(() => readOnnxMetadata(new Uint8Array([0xff, 0xff])), /truncated/);
});

test('bad boxes are refused with the messages Python gives', async () => {
  const { validateBoxes } = await import('../../src/denseface.js');
  assert.deepEqual(validateBoxes([1, 2, 30, 40], 100, 100), [[1, 2, 30, 40]]);
  assert.throws(() => validateBoxes([[1, 2, 3]], 100, 100), /a box must be 4 numbers x0,y0,x1,y1/);
  assert.throws(() => validateBoxes([[10, 10, 5, 20]], 100, 100), /is empty \(needs x1 > x0 and y1 > y0\)/);
  assert.throws(() => validateBoxes([[200, 10, 250, 20]], 100, 100), /lies outside the 100x100 image/);
});
