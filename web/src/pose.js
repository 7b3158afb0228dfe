// Head pose from predicted 3D landmarks: the JavaScript twin of denseface.infer.pose.
//
// Pose is the rotation of the least-squares similarity from the landmark set's BFM mean shape
// (y-up model frame) to the predicted points (image pixels, x right, y down, z towards the
// viewer), in 3DDFA's convention R = Rx(pitch) Ry(yaw) Rz(roll), degrees:
//   yaw > 0: the face turns towards the image's left (the subject's right);
//   pitch > 0: the face looks up;  roll > 0: in-plane rotation clockwise in the image.

import { euler3ddfa, rotation3ddfa, similarityFit } from './rotations.js';

const DEG = 180 / Math.PI;

/** Image points (y down) <-> the model's y-up frame. */
export function yFlip(points) {
  return points.map((p) => [p[0], -p[1], p[2]]);
}

/** The rotation R (model frame, y up) of the similarity taking the mean shape onto the points. */
export function headRotation(points, meanShape) {
  return similarityFit(meanShape, yFlip(points)).R;
}

/** Head pose {yaw, pitch, roll} in degrees of points [[x, y, z], ...] (image pixels); NaNs
 * when a point is not finite or the count differs from the mean shape's. */
export function estimatePose(points, meanShape) {
  const nan = { yaw: NaN, pitch: NaN, roll: NaN };
  if (points.length !== meanShape.length) return nan;
  for (const p of points) if (!(Number.isFinite(p[0]) && Number.isFinite(p[1]) && Number.isFinite(p[2]))) return nan;
  const [pitch, yaw, roll] = euler3ddfa(headRotation(points, meanShape));
  return { yaw: yaw * DEG, pitch: pitch * DEG, roll: roll * DEG };
}

/** Image-plane directions (3 of [dx, dy]) of the head's x, y and z axes (unit length in 3D),
 * for drawing pose axes (denseface.infer.draw.axis_directions). */
export function axisDirections(pose) {
  const R = rotation3ddfa(pose.pitch / DEG, pose.yaw / DEG, pose.roll / DEG);
  // Y_FLIP @ R, columns -> image directions
  return [0, 1, 2].map((j) => [R[0][j], -R[1][j]]);
}
