// Openness readouts against their definitions (denseface.metrics.six_point_ear, mouth_opening),
// on points whose answer is known, and lazily read from the current points.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mouthOpening, opennessFields, sixPointEar } from '../../src/openness.js';
import { lazyFields } from '../../src/denseface.js';

const eye = (h) => [[0, 0], [3, -h], [7, -h], [10, 0], [7, h], [3, h]];   // p1..p6, lids h above and below

function face68(h, gap) {
  const p = Array.from({ length: 68 }, () => [0, 0, 0]);
  eye(h).forEach((q, i) => { p[36 + i] = [...q, 0]; p[42 + i] = [q[0] + 30, q[1], 0]; });
  Object.assign(p, { 60: [-5, 50, 0], 64: [5, 50, 0], 62: [0, 50 - gap / 2, 0], 66: [0, 50 + gap / 2, 0] });
  return p;
}

test('the eye aspect ratio and the mouth opening of known points', () => {
  assert.equal(sixPointEar(eye(2)), (4 + 4) / 20);
  assert.equal(sixPointEar(eye(0)), 0);                  // a closed eye
  assert.equal(mouthOpening(face68(2, 3)), 0.3);
});

test('a face reads its openness from the 300-W points when it has them, else from the 68', () => {
  const f = lazyFields({ landmarks68: face68(2, 3), landmarks68_300w: null }, {});
  const g = lazyFields(f, opennessFields(f));
  assert.equal(g.eye_open_right, 0.4);
  assert.equal(g.eye_open_left, 0.4);
  const h = { landmarks68: face68(2, 3), landmarks68_300w: face68(1, 0).map((p) => p.slice(0, 2)) };
  const r = lazyFields(h, opennessFields(h));
  assert.equal(r.eye_open_left, 0.2);
  assert.equal(r.mouth_open, 0);
});
