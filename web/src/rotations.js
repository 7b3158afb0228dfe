// Rotations and the least-squares similarity fit: the JavaScript twin of
// denseface.geometry.rotations (scipy's Rotation there).
//
// Matrices are row-major arrays of 3 rows [[r00, r01, r02], [r10, ...], ...]. Point sets are
// arrays of [x, y, z]. Euler angles follow 3DDFA: R = Rx(pitch) Ry(yaw) Rz(roll) with each factor
// the transpose of the usual active rotation (scipy's intrinsic "XYZ" angles, all signs flipped).

/** Eigenvector of the largest eigenvalue of a symmetric 4x4 matrix (cyclic Jacobi). */
function topEigenvector4(A) {
  const a = A.map((r) => r.slice());
  const v = [[1, 0, 0, 0], [0, 1, 0, 0], [0, 0, 1, 0], [0, 0, 0, 1]];
  for (let sweep = 0; sweep < 60; sweep++) {
    let off = 0;
    for (let p = 0; p < 4; p++) for (let q = p + 1; q < 4; q++) off += a[p][q] * a[p][q];
    if (off < 1e-300) break;
    for (let p = 0; p < 4; p++) {
      for (let q = p + 1; q < 4; q++) {
        if (a[p][q] === 0) continue;
        const theta = (a[q][q] - a[p][p]) / (2 * a[p][q]);
        const t = Math.sign(theta || 1) / (Math.abs(theta) + Math.sqrt(theta * theta + 1));
        const c = 1 / Math.sqrt(t * t + 1), s = t * c;
        for (let k = 0; k < 4; k++) {
          const akp = a[k][p], akq = a[k][q];
          a[k][p] = c * akp - s * akq;
          a[k][q] = s * akp + c * akq;
        }
        for (let k = 0; k < 4; k++) {
          const apk = a[p][k], aqk = a[q][k];
          a[p][k] = c * apk - s * aqk;
          a[q][k] = s * apk + c * aqk;
        }
        for (let k = 0; k < 4; k++) {
          const vkp = v[k][p], vkq = v[k][q];
          v[k][p] = c * vkp - s * vkq;
          v[k][q] = s * vkp + c * vkq;
        }
      }
    }
  }
  let best = 0;
  for (let i = 1; i < 4; i++) if (a[i][i] > a[best][best]) best = i;
  return [v[0][best], v[1][best], v[2][best], v[3][best]];
}

/** Rotation matrix of a unit quaternion [w, x, y, z]. */
export function quaternionToMatrix([w, x, y, z]) {
  const n = Math.hypot(w, x, y, z);
  w /= n; x /= n; y /= n; z /= n;
  return [
    [1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)],
    [2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)],
    [2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)],
  ];
}

/** Unit quaternion [w, x, y, z] (w >= 0) of a rotation matrix. */
export function matrixToQuaternion(R) {
  const tr = R[0][0] + R[1][1] + R[2][2];
  let q;
  if (tr >= R[0][0] && tr >= R[1][1] && tr >= R[2][2]) {
    const w = Math.sqrt(1 + tr) / 2;
    q = [w, (R[2][1] - R[1][2]) / (4 * w), (R[0][2] - R[2][0]) / (4 * w), (R[1][0] - R[0][1]) / (4 * w)];
  } else if (R[0][0] >= R[1][1] && R[0][0] >= R[2][2]) {
    const x = Math.sqrt(1 + R[0][0] - R[1][1] - R[2][2]) / 2;
    q = [(R[2][1] - R[1][2]) / (4 * x), x, (R[0][1] + R[1][0]) / (4 * x), (R[0][2] + R[2][0]) / (4 * x)];
  } else if (R[1][1] >= R[2][2]) {
    const y = Math.sqrt(1 - R[0][0] + R[1][1] - R[2][2]) / 2;
    q = [(R[0][2] - R[2][0]) / (4 * y), (R[0][1] + R[1][0]) / (4 * y), y, (R[1][2] + R[2][1]) / (4 * y)];
  } else {
    const z = Math.sqrt(1 - R[0][0] - R[1][1] + R[2][2]) / 2;
    q = [(R[1][0] - R[0][1]) / (4 * z), (R[0][2] + R[2][0]) / (4 * z), (R[1][2] + R[2][1]) / (4 * z), z];
  }
  const n = Math.hypot(...q) * (q[0] < 0 ? -1 : 1);
  return q.map((v) => v / n);
}

/** Rotation vector (axis * angle, radians, angle in [0, pi]) of a rotation matrix. */
export function matrixToRotvec(R) {
  const [w, x, y, z] = matrixToQuaternion(R);
  const norm = Math.hypot(x, y, z);
  const angle = 2 * Math.atan2(norm, w);
  // angle / sin(angle / 2), with its series near zero (as scipy)
  const k = angle <= 1e-3 ? 2 + angle * angle / 12 + 7 * angle ** 4 / 2880 : angle / Math.sin(angle / 2);
  return [k * x, k * y, k * z];
}

/** Rotation matrix of a rotation vector (Rodrigues). */
export function rotvecToMatrix(v) {
  const angle = Math.hypot(v[0], v[1], v[2]);
  // sin(angle / 2) / angle, with its series near zero
  const k = angle <= 1e-3 ? 0.5 - angle * angle / 48 + angle ** 4 / 3840 : Math.sin(angle / 2) / angle;
  return quaternionToMatrix([Math.cos(angle / 2), k * v[0], k * v[1], k * v[2]]);
}

/** R (3x3) of 3DDFA's angle2matrix_3ddfa for (pitch, yaw, roll) in radians. */
export function rotation3ddfa(pitch, yaw, roll) {
  const a = -pitch, b = -yaw, c = -roll;   // scipy intrinsic XYZ: Rx(a) Ry(b) Rz(c)
  const ca = Math.cos(a), sa = Math.sin(a), cb = Math.cos(b), sb = Math.sin(b), cc = Math.cos(c), sc = Math.sin(c);
  const Rx = [[1, 0, 0], [0, ca, -sa], [0, sa, ca]];
  const Ry = [[cb, 0, sb], [0, 1, 0], [-sb, 0, cb]];
  const Rz = [[cc, -sc, 0], [sc, cc, 0], [0, 0, 1]];
  return matmul(matmul(Rx, Ry), Rz);
}

/** (pitch, yaw, roll) in radians of a rotation matrix, yaw in [-pi/2, pi/2]. */
export function euler3ddfa(R) {
  const b = Math.asin(Math.max(-1, Math.min(1, R[0][2])));
  const a = Math.atan2(-R[1][2], R[2][2]);
  const c = Math.atan2(-R[0][1], R[0][0]);
  return [-a, -b, -c];
}

export function matmul(A, B) {
  return A.map((row) => [0, 1, 2].map((j) => row[0] * B[0][j] + row[1] * B[1][j] + row[2] * B[2][j]));
}

export function transpose(A) {
  return [0, 1, 2].map((i) => [A[0][i], A[1][i], A[2][i]]);
}

/**
 * Least-squares similarity dst ~ s * src @ R.T + t (R a proper rotation) between point sets of
 * the same length (arrays of [x, y, z]): {s, R, t}, as denseface.geometry.rotations.similarity_fit
 * (Horn's quaternion solution of the same least-squares problem as scipy's align_vectors).
 */
export function similarityFit(src, dst) {
  const n = src.length;
  const ms = [0, 0, 0], md = [0, 0, 0];
  for (let i = 0; i < n; i++) for (let k = 0; k < 3; k++) { ms[k] += src[i][k]; md[k] += dst[i][k]; }
  for (let k = 0; k < 3; k++) { ms[k] /= n; md[k] /= n; }
  const S = [[0, 0, 0], [0, 0, 0], [0, 0, 0]];   // sum a_i b_i^T
  let denom = 0;
  for (let i = 0; i < n; i++) {
    const a = [src[i][0] - ms[0], src[i][1] - ms[1], src[i][2] - ms[2]];
    const b = [dst[i][0] - md[0], dst[i][1] - md[1], dst[i][2] - md[2]];
    for (let r = 0; r < 3; r++) for (let c = 0; c < 3; c++) S[r][c] += a[r] * b[c];
    denom += a[0] * a[0] + a[1] * a[1] + a[2] * a[2];
  }
  const [[xx, xy, xz], [yx, yy, yz], [zx, zy, zz]] = S;
  const N = [
    [xx + yy + zz, yz - zy, zx - xz, xy - yx],
    [yz - zy, xx - yy - zz, xy + yx, zx + xz],
    [zx - xz, xy + yx, -xx + yy - zz, yz + zy],
    [xy - yx, zx + xz, yz + zy, -xx - yy + zz],
  ];
  const R = quaternionToMatrix(topEigenvector4(N));
  let num = 0;   // sum b . (R a)
  for (let r = 0; r < 3; r++) for (let c = 0; c < 3; c++) num += R[r][c] * S[c][r];
  const s = denom > 0 ? num / denom : 1;
  const t = [0, 1, 2].map((k) => md[k] - s * (R[k][0] * ms[0] + R[k][1] * ms[1] + R[k][2] * ms[2]));
  return { s, R, t };
}
