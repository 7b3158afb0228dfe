// Which points of a face are seen and which are hidden by the face itself: the JavaScript twin
// of denseface.geometry.visibility (face_visibility) and geometry.meshes (outward_triangles),
// with the same arithmetic, so that it gives Python's booleans for the same points.
//
// Frame: image pixels, x right, y down; z towards the viewer on the same scale (orthographic
// view along z: the surface with the largest z is the one seen).

/** The default z-buffer tolerance (a fraction of the face's size, sqrt(w * h) of its points' 2D
 * box) and least z of a visible point's unit normal (geometry.visibility); a landmark set may
 * carry its own per point (packageData.visibility, denseface.landmarks.visibility). */
export const FACE_TOLERANCE = 0.01;
export const FACING_MIN_NZ = 0.0;

function cross(a, b, c) {
  const ux = b[0] - a[0], uy = b[1] - a[1], uz = b[2] - a[2];
  const vx = c[0] - a[0], vy = c[1] - a[1], vz = c[2] - a[2];
  return [uy * vz - uz * vy, uz * vx - ux * vz, ux * vy - uy * vx];
}

/** Triangles re-wound so each normal points away from the head's centre, judged on a frontal
 * face in a y-up frame (the landmark set's mean shape): geometry.meshes.outward_triangles. */
export function outwardTriangles(modelVertices, triangles, headDepth = 0.5) {
  const n = modelVertices.length, centre = [0, 0, 0];
  let yMin = Infinity, yMax = -Infinity;
  for (const v of modelVertices) {
    for (let k = 0; k < 3; k++) centre[k] += v[k] / n;
    yMin = Math.min(yMin, v[1]);
    yMax = Math.max(yMax, v[1]);
  }
  centre[2] -= headDepth * (yMax - yMin);
  return triangles.map((t) => {
    const [a, b, c] = t.map((i) => modelVertices[i]);
    const nrm = cross(a, b, c);
    let dot = 0;
    for (let k = 0; k < 3; k++) dot += ((a[k] + b[k] + c[k]) / 3 - centre[k]) * nrm[k];
    return dot >= 0 ? [t[0], t[1], t[2]] : [t[2], t[1], t[0]];
  });
}

/** Unit normals of a mesh's vertices in the y-up frame (points given in image pixels, y down):
 * the sum of the normals of the triangles around each, as geometry.visibility.vertex_normals
 * of the points in the export frame. */
export function vertexNormalsYUp(points, triangles) {
  const up = points.map((p) => [p[0], -p[1], p[2]]);
  const sum = points.map(() => [0, 0, 0]);
  for (const t of triangles) {
    const f = cross(up[t[0]], up[t[1]], up[t[2]]);
    for (const i of t) for (let k = 0; k < 3; k++) sum[i][k] += f[k];
  }
  return sum.map((s) => {
    const norm = Math.sqrt(s[0] * s[0] + s[1] * s[1] + s[2] * s[2]);
    return norm > 0 ? [s[0] / norm, s[1] / norm, s[2] / norm] : [0, 0, 0];
  });
}

/** For each query point index in `ids`: false when a triangle's surface at its (x, y) lies more
 * than `tolerance` (pixels of z; one number, or one per query) in front of it
 * (geometry.visibility.self_visible). Triangles are bucketed in a square grid of cells about a
 * triangle's size. */
export function selfVisible(points, triangles, tolerance, ids) {
  const tris = [];
  let extent = 0, ox = Infinity, oy = Infinity;
  for (const t of triangles) {
    const [a, b, c] = t.map((i) => points[i]);
    const area = (b[0] - a[0]) * (c[1] - a[1]) - (c[0] - a[0]) * (b[1] - a[1]);
    if (!(Math.abs(area) > 1e-12) || !Number.isFinite(a[2] + b[2] + c[2])) continue;
    const x0 = Math.min(a[0], b[0], c[0]), x1 = Math.max(a[0], b[0], c[0]);
    const y0 = Math.min(a[1], b[1], c[1]), y1 = Math.max(a[1], b[1], c[1]);
    tris.push({ a, b, c, area, x0, x1, y0, y1, zMax: Math.max(a[2], b[2], c[2]) });
    extent += Math.max(x1 - x0, y1 - y0);
    ox = Math.min(ox, x0);
    oy = Math.min(oy, y0);
  }
  for (const i of ids) {
    ox = Math.min(ox, points[i][0]);
    oy = Math.min(oy, points[i][1]);
  }
  const cell = Math.max(extent / Math.max(tris.length, 1), 1e-9);
  const grid = new Map();
  for (const t of tris) {
    const cx1 = Math.floor((t.x1 - ox) / cell), cy1 = Math.floor((t.y1 - oy) / cell);
    for (let cy = Math.floor((t.y0 - oy) / cell); cy <= cy1; cy++) {
      for (let cx = Math.floor((t.x0 - ox) / cell); cx <= cx1; cx++) {
        const key = cy * 1e6 + cx;
        if (!grid.has(key)) grid.set(key, []);
        grid.get(key).push(t);
      }
    }
  }
  const eps = 1e-9;
  return ids.map((i, k) => {
    const [px, py, pz] = points[i];
    if (!(Number.isFinite(px) && Number.isFinite(py) && Number.isFinite(pz))) return false;
    const above = pz + (typeof tolerance === 'number' ? tolerance : tolerance[k]);
    for (const t of grid.get(Math.floor((py - oy) / cell) * 1e6 + Math.floor((px - ox) / cell)) || []) {
      if (!(t.zMax > above)) continue;
      const ax = t.a[0] - px, bx = t.b[0] - px, cx = t.c[0] - px;
      const ay = t.a[1] - py, by = t.b[1] - py, cy = t.c[1] - py;
      const inv = 1.0 / t.area;
      const w0 = (bx * cy - cx * by) * inv, w1 = (cx * ay - ax * cy) * inv, w2 = 1.0 - w0 - w1;
      if (w0 >= -eps && w1 >= -eps && w2 >= -eps && w0 * t.a[2] + w1 * t.b[2] + w2 * t.c[2] > above) return false;
    }
    return true;
  });
}

/** Whether each of a face's points (N x [x, y, z] image pixels) is seen (true) or hidden by the
 * face itself: its normal on the points' mesh (`triangles` wound outward, outwardTriangles)
 * faces the viewer (z of the unit normal > minNz) and the mesh is not in front of it by more
 * than tolerance x the face's size (geometry.visibility.face_visibility). minNz and tolerance:
 * one number, or one per point (the landmark set's, packageData.visibility). All false when a
 * point is not finite. */
export function faceVisibility(points, triangles, minNz = FACING_MIN_NZ, tolerance = FACE_TOLERANCE) {
  for (const p of points) if (!(Number.isFinite(p[0]) && Number.isFinite(p[1]) && Number.isFinite(p[2]))) return points.map(() => false);
  let x0 = Infinity, x1 = -Infinity, y0 = Infinity, y1 = -Infinity;
  for (const p of points) {
    x0 = Math.min(x0, p[0]); x1 = Math.max(x1, p[0]);
    y0 = Math.min(y0, p[1]); y1 = Math.max(y1, p[1]);
  }
  const size = Math.sqrt((x1 - x0) * (y1 - y0));
  const at = (v, i) => (typeof v === 'number' ? v : v[i]);
  const normals = vertexNormalsYUp(points, triangles);
  const facing = [];
  normals.forEach((n, i) => { if (n[2] > at(minNz, i)) facing.push(i); });
  const seen = selfVisible(points, triangles, facing.map((i) => at(tolerance, i) * size), facing);
  const out = points.map(() => false);
  facing.forEach((i, k) => { out[i] = seen[k]; });
  return out;
}
