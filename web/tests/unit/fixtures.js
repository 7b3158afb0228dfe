// The numbers Python writes for these tests (tests/web_fixtures.py), from the folder named by
// $DENSEFACE_WEB_FIXTURES; tests skip with a reason when it is not set (tests/test_web.py sets it).
import fs from 'node:fs';
import path from 'node:path';

export const FIXTURES = process.env.DENSEFACE_WEB_FIXTURES || null;
export const NO_FIXTURES = FIXTURES ? false
  : 'no fixtures: run `python tests/web_fixtures.py DIR` and set DENSEFACE_WEB_FIXTURES=DIR (tests/test_web.py does)';

export function synthetic() {
  return JSON.parse(fs.readFileSync(path.join(FIXTURES, 'synthetic.json'), 'utf8'));
}

export const PHOTOS = FIXTURES && fs.existsSync(path.join(FIXTURES, 'photos', 'fixture.json'))
  ? path.join(FIXTURES, 'photos') : null;
export const NO_PHOTOS = PHOTOS ? false
  : 'no photo fixtures (they need the shared data folder, ../shared or $DENSEFACE_SHARED): skipped';

export function photos() {
  return JSON.parse(fs.readFileSync(path.join(PHOTOS, 'fixture.json'), 'utf8'));
}

/** RGB bytes (H x W x 3) -> RGBA pixels {data, width, height}. */
export function rgbaPixels(rgb, width, height) {
  const data = new Uint8ClampedArray(width * height * 4);
  for (let i = 0, j = 0; i < width * height; i++, j += 3) {
    data[i * 4] = rgb[j]; data[i * 4 + 1] = rgb[j + 1]; data[i * 4 + 2] = rgb[j + 2]; data[i * 4 + 3] = 255;
  }
  return { data, width, height };
}

export function maxAbsDiff(a, b) {
  const fa = a.flat(Infinity), fb = b.flat(Infinity);
  if (fa.length !== fb.length) throw new Error(`length ${fa.length} != ${fb.length}`);
  let m = 0;
  for (let i = 0; i < fa.length; i++) m = Math.max(m, Math.abs(fa[i] - fb[i]));
  return m;
}
