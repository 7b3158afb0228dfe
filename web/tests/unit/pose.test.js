// Similarity fits, rotations and head pose against Python (scipy's Rotation there).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { estimatePose, yFlip } from '../../src/pose.js';
import { euler3ddfa, matrixToRotvec, rotation3ddfa, rotvecToMatrix, similarityFit } from '../../src/rotations.js';
import packageData from '../../src/generated/data.js';
import { NO_FIXTURES, maxAbsDiff, synthetic } from './fixtures.js';

const fx = NO_FIXTURES ? null : synthetic();
const mean = packageData.landmark_sets.dense520.mean_shape;

test('similarity fit matches geometry.rotations.similarity_fit', { skip: NO_FIXTURES }, () => {
  for (const p of fx.poses) {
    const { s, R, t } = similarityFit(mean, yFlip(p.points));
    assert.ok(Math.abs(s - p.s) < 1e-9 * p.s, `s ${s} vs ${p.s}`);
    assert.ok(maxAbsDiff(R, p.R) < 1e-9);
    assert.ok(maxAbsDiff(t, p.t) < 1e-6);
  }
});

test('rotation vectors and 3DDFA angles match scipy', { skip: NO_FIXTURES }, () => {
  for (const p of fx.poses) {
    assert.ok(maxAbsDiff(matrixToRotvec(p.R), p.rotvec) < 1e-9);
    assert.ok(maxAbsDiff(rotvecToMatrix(p.rotvec), p.R) < 1e-9);
    const [pitch, yaw, roll] = p.angles_3ddfa;
    assert.ok(maxAbsDiff(rotation3ddfa(pitch, yaw, roll), p.R_3ddfa) < 1e-12);
    assert.ok(maxAbsDiff(euler3ddfa(p.R_3ddfa), p.angles_3ddfa) < 1e-9);
  }
  assert.ok(maxAbsDiff(matrixToRotvec(rotvecToMatrix([1e-5, -2e-5, 3e-6])), [1e-5, -2e-5, 3e-6]) < 1e-15);
});

test('head pose matches infer.pose.estimate_pose', { skip: NO_FIXTURES }, () => {
  for (const p of fx.poses) {
    const pose = estimatePose(p.points, mean);
    for (const k of ['yaw', 'pitch', 'roll']) assert.ok(Math.abs(pose[k] - p.pose[k]) < 1e-7, `${k} ${pose[k]} vs ${p.pose[k]}`);
  }
  const bad = fx.poses[0].points.map((q) => q.slice());
  bad[3][1] = NaN;
  assert.ok(Number.isNaN(estimatePose(bad, mean).yaw));
});
