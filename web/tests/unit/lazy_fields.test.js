// A face's pose and visibility are computed when first read (DenseFace.makeFace, lazyFields).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { lazyFields } from '../../src/denseface.js';

test('lazy fields are computed once, when first read, and are then plain values', () => {
  let calls = 0;
  const face = lazyFields({ score: 1 }, { pose: () => { calls += 1; return { yaw: 2 }; } });
  assert.equal(calls, 0);
  assert.deepEqual(face.pose, { yaw: 2 });
  assert.equal(face.pose, face.pose);
  assert.equal(calls, 1);
  assert.deepEqual(Object.getOwnPropertyDescriptor(face, 'pose').value, { yaw: 2 });
  face.pose = null;
  assert.equal(face.pose, null);
  assert.deepEqual(JSON.parse(JSON.stringify(lazyFields({ a: 1 }, { b: () => [3] }))), { a: 1, b: [3] });
  assert.deepEqual({ ...lazyFields({}, { c: () => 4 }) }, { c: 4 });
  assert.deepEqual(structuredClone(lazyFields({}, { d: () => 5 })), { d: 5 });
});
