// Drives the exported demo page in headless Chromium (Debian's `chromium`, through puppeteer-core)
// for tests/test_web.py and benchmarks/bench_web.py. Everything is served from this machine by a
// small static server on 127.0.0.1; the page fetches nothing else.
//
//   node web/tests/browser/harness.mjs --site SITE --task TASK [--files DIR] [--fixtures DIR]
//        [--input JSON] --out RESULT.json
//
// SITE: a folder written by `denseface export --format web`; DIR (--files): photos served under
// /__files__/; --fixtures: a folder served under /__fixtures__/. Tasks (each prints nothing and
// writes its result as JSON to --out):
//   predict     photos (input.photos: [{path, boxes?}]) through the page's DenseFace (input.config,
//               input.detector: its options), faces and timings per photo
//   detect      the page's detections (DenseFace.detect: YuNet with its cascade) on input.photos
//   first_photo the page opened and input.photo (a file path) dropped on it at once: when the
//               page was ready and the photo's faces drawn (ms since navigation), what it fetched
//   live        the webcam button with a fake camera playing input.clip (.y4m); collects
//               input.frames processed frames (faces, and the frame number read from the clip's
//               barcode, see benchmarks/bench_web.py)
//   throughput  tracker frames per second (and without the eye stage, in turn) and ms per photo on
//               input.frames (PNG files)
//   profile     where a photo's (input.photos, input.repeats) and a tracked frame's (input.frames)
//               time goes: the ONNX Runtime sessions and the stages around them, ms
//   bad_input   the page's messages for a corrupt file, a photo without a face, a refused
//               camera, and that a good photo still works after each (input.good, input.noface)
//   no_simd     the page in a browser without WebAssembly SIMD (V8 without SSE4.1): its message,
//               and that a dropped photo is still shown
//   video       input.video dropped on the page: its tracked frames (at least input.frames)
//   load        the page's message once it has loaded (or failed to)
//   screenshot  input.photo dropped on the page, a screenshot of it to input.png
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import puppeteer from 'puppeteer-core';

const CHROMIUM = process.env.DENSEFACE_CHROMIUM || '/usr/bin/chromium';
const TIMEOUT_MS = 120000;
const MIME = { '.html': 'text/html', '.js': 'text/javascript', '.mjs': 'text/javascript', '.css': 'text/css',
  '.json': 'application/json', '.wasm': 'application/wasm', '.png': 'image/png', '.jpg': 'image/jpeg',
  '.jpeg': 'image/jpeg', '.md': 'text/markdown', '.y4m': 'application/octet-stream' };

function args() {
  const out = {};
  const argv = process.argv.slice(2);
  for (let i = 0; i < argv.length; i += 2) out[argv[i].replace(/^--/, '')] = argv[i + 1];
  return out;
}

/** A static server for the site and, under fixed prefixes, the test files; 127.0.0.1 only. */
function serve(roots) {
  const server = http.createServer((req, res) => {
    const url = new URL(req.url, 'http://x');
    let file = null;
    for (const [prefix, root] of Object.entries(roots)) {
      if (root && url.pathname.startsWith(prefix)) {
        const rel = decodeURIComponent(url.pathname.slice(prefix.length)) || 'index.html';
        const full = path.resolve(root, rel);
        if (full.startsWith(path.resolve(root) + path.sep) || full === path.resolve(root)) file = full;
        break;
      }
    }
    if (!file || !fs.existsSync(file) || !fs.statSync(file).isFile()) {
      res.writeHead(404);
      res.end();
      return;
    }
    res.writeHead(200, { 'Content-Type': MIME[path.extname(file).toLowerCase()] || 'application/octet-stream' });
    fs.createReadStream(file).pipe(res);
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server)));
}

async function launch(extra = [], limitMs = TIMEOUT_MS) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'denseface-chromium-'));
  const browser = await puppeteer.launch({
    executablePath: CHROMIUM, headless: true, userDataDir: dir, timeout: TIMEOUT_MS, protocolTimeout: limitMs,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync',
      '--disable-features=Translate,MediaRouter', '--window-size=1000,900', ...extra],
  });
  browser.cleanup = () => fs.rmSync(dir, { recursive: true, force: true });
  return browser;
}

/** Log every request the page makes to anything but its own server ("offsite: URL"). */
function watchOrigin(page, base, log) {
  const origin = new URL(base).origin;
  page.on('request', (r) => {
    const u = r.url();
    if (!u.startsWith('data:') && !u.startsWith('blob:') && new URL(u).origin !== origin) log.push(`offsite: ${u}`);
  });
}

async function openPage(browser, url, log) {
  const page = await browser.newPage();
  page.setDefaultTimeout(TIMEOUT_MS);
  await page.setViewport({ width: 1000, height: 900 });
  page.on('console', (m) => { if (m.type() === 'error') log.push(`console: ${m.text()}`); });
  page.on('pageerror', (e) => log.push(`pageerror: ${e.message}`));
  page.on('requestfailed', (r) => log.push(`requestfailed: ${r.url()}`));
  watchOrigin(page, url, log);
  await page.goto(url, { waitUntil: 'load' });
  await page.evaluate(() => window.denseface.ready);
  return page;
}

/** Drop a file on the page the way a user's drag and drop arrives (a drop event with files). */
async function dropFile(page, url, name, type) {
  return page.evaluate(async (url, name, type) => {
    const bytes = await (await fetch(url)).arrayBuffer();
    const dt = new DataTransfer();
    dt.items.add(new File([bytes], name, { type }));
    const waitFor = new Promise((resolve) => {
      const done = (e) => { window.denseface.events.removeEventListener('message', done); resolve(e.detail); };
      window.denseface.events.addEventListener('message', done);
    });
    document.dispatchEvent(new DragEvent('drop', { dataTransfer: dt, bubbles: true, cancelable: true }));
    const detail = await waitFor;
    return { ...detail, shown: document.getElementById('message').textContent,
      error_class: document.getElementById('message').classList.contains('error') };
  }, url, name, type);
}

const TASKS = {
  async predict(browser, base, input, log) {
    const page = await openPage(browser, base, log);
    return page.evaluate(async (input) => {
      const m = await import('./denseface/index.js');
      const site = await (await fetch('site.json')).json();
      const df = input.config || input.detector === null
        ? await m.DenseFace.create({ model: site.model, eyeModel: site.eye_model, detector: input.detector === null ? null : undefined,
          detectorOptions: { model: site.detector_model }, config: input.config || {} })
        : window.denseface.state.df;
      const out = [];
      for (const p of input.photos) {
        const bitmap = await m.decodeImageFile(await (await fetch(p.path)).blob());
        const t0 = performance.now();
        const faces = await df.predict(bitmap, { boxes: p.boxes || null });
        out.push({ path: p.path, ms: performance.now() - t0, width: bitmap.width, height: bitmap.height,
          faces: faces.map((f) => ({ box: f.box, score: f.score, landmarks: f.landmarks, landmarks68: f.landmarks68, landmarks68_300w: f.landmarks68_300w, pose: f.pose, crop_box: f.cropBox, uncertainty: f.uncertainty, quality: f.quality, eye_open_left: f.eye_open_left, eye_open_right: f.eye_open_right, mouth_open: f.mouth_open })) });
      }
      return out;
    }, input);
  },

  async detect(browser, base, input, log) {
    const page = await openPage(browser, base, log);
    return page.evaluate(async (input) => {
      // the page's DenseFace.detect (YuNet with the cascade, as FaceCropper.detect), boxes with their crops
      const m = await import('./denseface/index.js');
      const df = window.denseface.state.df;
      const reader = new m.PixelReader();
      const out = [];
      for (const p of input.photos) {
        const pixels = reader.read(await m.decodeImageFile(await (await fetch(p.path)).blob()));
        const t0 = performance.now();
        const found = await df.detect(pixels);
        out.push({ path: p.path, ms: performance.now() - t0, width: pixels.width, height: pixels.height,
          detections: found.map((d) => ({ box: d.box, score: d.score, keypoints: d.keypoints, crop_box: df.cropBoxOf(d) })) });
      }
      return out;
    }, input);
  },

  async first_photo(browser, base, input, log) {
    // the demo as a user meets it: the page opened, a photo dropped as soon as the page has loaded;
    // times in ms since navigation (performance.now()), as the page measures them
    const page = await browser.newPage();
    page.setDefaultTimeout(TIMEOUT_MS);
    page.on('pageerror', (e) => log.push(`pageerror: ${e.message}`));
    watchOrigin(page, base, log);
    const bytes = fs.readFileSync(input.photo);
    await page.goto(base, { waitUntil: 'load' });
    return page.evaluate(async (b64, name) => {
      const loadedAt = performance.getEntriesByType('navigation')[0].loadEventEnd || performance.now();
      const raw = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
      const dt = new DataTransfer();
      dt.items.add(new File([raw], name, { type: 'image/jpeg' }));
      const photo = new Promise((resolve) => window.denseface.events.addEventListener('photo', (e) => resolve(e.detail), { once: true }));
      const droppedAt = performance.now();
      document.dispatchEvent(new DragEvent('drop', { dataTransfer: dt, bubbles: true, cancelable: true }));
      const d = await photo;
      return { loaded_at: loadedAt, dropped_at: droppedAt, created_at: window.denseface.state.metrics.createdAt, ready_at: window.denseface.state.metrics.readyAt,
        photo_at: d.at, photo_ms: d.ms, faces: d.faces.length,
        resources: performance.getEntriesByType('resource').map((r) => ({ name: new URL(r.name).pathname, bytes: r.transferSize || r.encodedBodySize, ms: r.duration })) };
    }, bytes.toString('base64'), input.name || 'photo.jpg');
  },

  async live(browser, base, input, log) {
    const page = await openPage(browser, base, log);
    return page.evaluate(async (input) => {
      const frames = [];
      const readBarcode = (pixels) => {   // benchmarks/bench_web.py: bits of the frame number
        let n = 0;
        for (let b = 0; b < input.barcode.bits; b++) {
          const x = input.barcode.x0 + b * input.barcode.cell + input.barcode.cell / 2;
          const y = input.barcode.y0 + input.barcode.cell / 2;
          const v = pixels.data[(Math.floor(y) * pixels.width + Math.floor(x)) * 4 + 1];
          if (v > 128) n |= 1 << b;
        }
        return n;
      };
      const done = new Promise((resolve) => {
        window.denseface.events.addEventListener('frame', (e) => {
          const { faces, pixels, ms, t } = e.detail;
          frames.push({ frame: readBarcode(pixels), ms, t, width: pixels.width, height: pixels.height,
            faces: faces.map((f) => ({ landmarks68: f.landmarks68, box: f.box })) });
          if (frames.length >= input.frames) resolve();
        });
      });
      document.getElementById('webcam').click();
      await done;
      return { frames, message: document.getElementById('message').textContent, fps: document.getElementById('fps').textContent,
        page_fps: window.denseface.state.metrics.fps };
    }, input);
  },

  async video(browser, base, input, log) {
    const page = await openPage(browser, base, log);
    return page.evaluate(async (input) => {
      const bytes = await (await fetch(input.video)).arrayBuffer();
      const frames = [];
      const done = new Promise((resolve) => {
        window.denseface.events.addEventListener('frame', (e) => {
          frames.push({ faces: e.detail.faces.length, t: e.detail.t });
          if (frames.length >= input.frames) resolve();
        });
        window.denseface.events.addEventListener('message', (e) => { if (e.detail.error) resolve(); });
      });
      const dt = new DataTransfer();
      dt.items.add(new File([bytes], input.name, { type: input.type }));
      document.dispatchEvent(new DragEvent('drop', { dataTransfer: dt, bubbles: true, cancelable: true }));
      await done;
      return { frames, message: document.getElementById('message').textContent };
    }, input);
  },

  async throughput(browser, base, input, log) {
    const page = await openPage(browser, base, log);
    return page.evaluate(async (input) => {
      const m = await import('./denseface/index.js');
      const df = window.denseface.state.df;
      const reader = new m.PixelReader();
      const frames = [];
      for (const url of input.frames) {
        const pixels = reader.read(await m.decodeImageFile(await (await fetch(url)).blob()));
        frames.push(new ImageData(new Uint8ClampedArray(pixels.data), pixels.width, pixels.height));
      }
      const rounds = [], roundsNoEyes = [], eyeStage = df.eyeStage;
      const track = async () => {
        const tracker = new m.FaceTracker(df);
        const t0 = performance.now();
        let found = 0;
        for (let i = 0; i < frames.length; i++) found += (await tracker.update(frames[i], i / input.fps)).length > 0;
        return { seconds: (performance.now() - t0) / 1000, frames: frames.length, with_face: found, detections: tracker.detections };
      };
      for (let r = 0; r < input.rounds; r++) {   // with and without the eye stage in turn (the same load)
        rounds.push(await track());
        if (!eyeStage) continue;
        df.eyeStage = null;
        roundsNoEyes.push(await track());
        df.eyeStage = eyeStage;
      }
      const photos = [];
      for (const url of input.photos) {
        const bitmap = await m.decodeImageFile(await (await fetch(url)).blob());
        await df.predict(bitmap);
        const times = [];
        for (let r = 0; r < input.photo_repeats; r++) {
          const t0 = performance.now();
          await df.predict(bitmap);
          times.push(performance.now() - t0);
        }
        photos.push({ url, width: bitmap.width, height: bitmap.height, ms: times });
      }
      return { rounds, rounds_no_eyes: roundsNoEyes, photos, cores: navigator.hardwareConcurrency };
    }, input);
  },

  async profile(browser, base, input, log) {
    // where the time goes: the page's DenseFace with its ONNX Runtime sessions and stages timed
    // (ms per photo, after one untimed run, and per tracked frame), each face's pose read as the
    // demo's drawing reads it
    const page = await openPage(browser, base, log);
    return page.evaluate(async (input) => {
      const m = await import('./denseface/index.js');
      const df = window.denseface.state.df;
      let spent = {};
      const timed = (obj, name, key) => {
        const f = obj[name].bind(obj);
        obj[name] = (...a) => {
          const t0 = performance.now(), add = () => { spent[key] = (spent[key] || 0) + performance.now() - t0; };
          const out = f(...a);
          if (out && typeof out.then === 'function') return out.finally(add);
          add();
          return out;
        };
      };
      timed(df.detector.session, 'run', 'detector_onnx');
      timed(df, 'detect', 'detect');
      timed(df.network.session, 'run', 'network_onnx');
      timed(df.network, 'runCropOutputs', 'network');
      if (df.eyeStage) {
        timed(df.eyeStage.session, 'run', 'eyes_onnx');
        timed(df.eyeStage, 'refine', 'eyes');
      }
      const measure = async (f) => {
        spent = {};
        const t0 = performance.now();
        const faces = await f();
        for (const face of faces) if (face.pose.yaw === undefined) throw new Error('no pose');
        return { total: performance.now() - t0, ...spent };
      };
      const reader = new m.PixelReader();
      const photos = [];
      for (const url of input.photos) {
        const pixels = reader.read(await m.decodeImageFile(await (await fetch(url)).blob()));
        await df.predict(pixels);
        const runs = [];
        for (let r = 0; r < input.repeats; r++) runs.push(await measure(() => df.predict(pixels)));
        photos.push({ url, width: pixels.width, height: pixels.height, runs });
      }
      const tracker = new m.FaceTracker(df), frames = [];
      for (let i = 0; i < input.frames.length; i++) {
        const pixels = reader.read(await m.decodeImageFile(await (await fetch(input.frames[i])).blob()));
        frames.push(await measure(() => tracker.update(pixels, i / input.fps)));
      }
      return { photos, frames };
    }, input);
  },

  async bad_input(browser, base, input, log) {
    const origin = new URL(base).origin;
    const context = browser.defaultBrowserContext();
    await context.overridePermissions(origin, []);   // the camera is refused
    const page = await openPage(browser, base, log);
    const out = {};
    out.corrupt = await dropFile(page, input.corrupt, 'broken.jpg', 'image/jpeg');
    out.after_corrupt = await dropFile(page, input.good, 'good.jpg', 'image/jpeg');
    out.no_face = await dropFile(page, input.noface, 'noface.png', 'image/png');
    out.after_no_face = await dropFile(page, input.good, 'good.jpg', 'image/jpeg');
    out.camera = await page.evaluate(async () => {
      const waitFor = new Promise((resolve) => window.denseface.events.addEventListener('message', (e) => resolve(e.detail), { once: true }));
      document.getElementById('webcam').click();
      const d = await waitFor;
      return { ...d, shown: document.getElementById('message').textContent };
    });
    out.after_camera = await dropFile(page, input.good, 'good.jpg', 'image/jpeg');
    out.not_video = await dropFile(page, input.corrupt, 'broken.mp4', 'video/mp4');
    out.after_not_video = await dropFile(page, input.good, 'good.jpg', 'image/jpeg');
    return out;
  },

  async no_simd(browser, base, input, log) {
    const page = await browser.newPage();
    page.setDefaultTimeout(TIMEOUT_MS);
    page.on('pageerror', (e) => log.push(`pageerror: ${e.message}`));
    watchOrigin(page, base, log);
    await page.goto(base, { waitUntil: 'load' });
    await page.evaluate(() => window.denseface.ready);
    const out = { simd: await page.evaluate(() => WebAssembly.validate(new Uint8Array([0, 97, 115, 109, 1, 0, 0, 0, 1, 5, 1, 96, 0, 1, 123, 3, 2, 1, 0, 10, 10, 1, 8, 0, 65, 0, 253, 15, 253, 98, 11]))) };
    out.on_load = await page.evaluate(() => ({ shown: document.getElementById('message').textContent,
      error_class: document.getElementById('message').classList.contains('error') }));
    out.photo = await dropFile(page, input.good, 'good.jpg', 'image/jpeg');
    out.canvas = await page.evaluate(() => {
      const c = document.getElementById('view');
      return { width: c.width, height: c.height };
    });
    return out;
  },

  async load(browser, base, input, log) {
    const page = await openPage(browser, base, log);
    return page.evaluate(() => ({ shown: document.getElementById('message').textContent,
      error_class: document.getElementById('message').classList.contains('error') }));
  },

  async screenshot(browser, base, input, log) {
    const page = await openPage(browser, base, log);
    const message = await dropFile(page, input.photo, input.name || 'photo.jpg', 'image/jpeg');
    await page.screenshot({ path: input.png, fullPage: true, type: input.png.endsWith('.jpg') ? 'jpeg' : 'png', ...(input.png.endsWith('.jpg') ? { quality: 85 } : {}) });
    return { message };
  },
};

const FLAGS = {
  live: (input) => ['--use-fake-device-for-media-stream', '--use-fake-ui-for-media-stream', `--use-file-for-fake-video-capture=${input.clip}`],
  bad_input: () => ['--use-fake-device-for-media-stream'],
  no_simd: () => ['--js-flags=--no-enable-sse4-1'],
};

async function main() {
  const a = args();
  const task = TASKS[a.task];
  if (!task || !a.site || !a.out) {
    console.error('usage: harness.mjs --site SITE --task TASK [--files DIR] [--fixtures DIR] [--input JSON] --out RESULT.json');
    process.exit(2);
  }
  const input = a.input ? JSON.parse(fs.readFileSync(a.input, 'utf8')) : {};
  const server = await serve({ '/__files__/': a.files, '/__fixtures__/': a.fixtures, '/': a.site });
  const base = `http://127.0.0.1:${server.address().port}/`;
  const limit = 1000 * (input.timeout_s || 600);   // the whole task, then it stops by itself
  const browser = await launch(FLAGS[a.task] ? FLAGS[a.task](input) : [], limit);
  const log = [];
  const timer = setTimeout(() => { console.error(`harness: task ${a.task} timed out`); process.exit(124); }, limit);
  let code = 0;
  try {
    const result = await task(browser, base, input, log);
    fs.writeFileSync(a.out, JSON.stringify({ task: a.task, result, log, chromium: await browser.version() }));
  } catch (e) {
    console.error(`harness: task ${a.task} failed: ${e.message}`);
    for (const line of log) console.error(line);
    code = 1;
  } finally {
    clearTimeout(timer);
    await browser.close();
    browser.cleanup();
    server.close();
  }
  process.exit(code);
}

main();
