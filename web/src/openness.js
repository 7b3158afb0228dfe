// Openness readouts, as Python's Face (denseface.metrics.six_point_ear, mouth_opening): from the
// human-convention 68 points when the model has them, else from the dense points' 68.

/** The six points of each eye among the 68: the face's right eye, then its left. */
const EYES_68 = [[36, 37, 38, 39, 40, 41], [42, 43, 44, 45, 46, 47]];

const dist = (a, b) => Math.hypot(a[0] - b[0], a[1] - b[1]);

/** One eye's aspect ratio (Soukupova and Cech 2016) from its points p1..p6:
 * (|p2 - p6| + |p3 - p5|) / (2 |p1 - p4|). About 0.25-0.35 open, below 0.2 closed. */
export function sixPointEar(p) {
  return (dist(p[1], p[5]) + dist(p[2], p[4])) / (2 * Math.max(dist(p[0], p[3]), 1e-9));
}

/** Inner-lip opening |p62 - p66| / |p60 - p64| of 68 points (0: lips together). */
export function mouthOpening(p) {
  return dist(p[62], p[66]) / Math.max(dist(p[60], p[64]), 1e-9);
}

/** Lazy fields (denseface.js lazyFields) eye_open_right, eye_open_left and mouth_open of a face,
 * read from its points when first asked for. */
export function opennessFields(face) {
  const points = () => face.landmarks68_300w || face.landmarks68;
  return {
    eye_open_right: () => sixPointEar(EYES_68[0].map((k) => points()[k])),
    eye_open_left: () => sixPointEar(EYES_68[1].map((k) => points()[k])),
    mouth_open: () => mouthOpening(points()),
  };
}
