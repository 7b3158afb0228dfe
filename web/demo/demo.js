// The demo page: a webcam, or a dropped / opened photo or video -> the 520 points, the 68 subset,
// the mesh and the pose axes drawn over it, with the frame rate. Every file it loads comes from
// this folder (site.json says where; nothing from a CDN).
//
// For tests and embedding, window.denseface exposes {ready, state, events, openFile, startWebcam}:
// `events` fires "frame" ({faces, pixels, index, ms}) for every processed video frame, "photo"
// ({name, faces, ms, at}) for every photo, and "message" ({text, error}) for every message shown;
// `state.metrics` holds what the page measures of itself (performance.now() ms since navigation):
// createdAt (model and detector loaded), readyAt (and warmed up, unless a photo or the webcam
// was already waiting), lastPhoto {ms, at}, fps (processed video
// frames per second, drawing included, over the last 30 frames).

import { DenseFace, FaceTracker, axisDirections, decodeImageFile, packageData } from './denseface/index.js';

const $ = (id) => document.getElementById(id);
const canvas = $('view');
const ctx = canvas.getContext('2d');
const video = $('video');
const params = new URLSearchParams(location.search);

const state = { df: null, loadError: null, loop: 0, busy: false, stream: null, objectUrl: null,
  frames: 0, times: [], edges: null, waiting: false, metrics: { createdAt: null, readyAt: null, lastPhoto: null, fps: null }, shownAt: 0 };
/** The drawing layers, read from their checkboxes when they change (not at every frame). */
const layers = {};
const events = new EventTarget();

function emit(type, detail) {
  events.dispatchEvent(new CustomEvent(type, { detail }));
}

/** One readable message on the page (replacing the previous one). */
function say(text, error = false) {
  const el = $('message');
  el.textContent = text;
  el.classList.toggle('error', error);
  emit('message', { text, error });
}

function readable(e) {
  return e && e.message ? e.message : String(e);
}

// ------------------------------------------------------------------------------------- loading
async function load() {
  const response = await fetch('site.json');
  if (!response.ok) throw new Error(`site.json: cannot be fetched (HTTP ${response.status})`);
  const site = await response.json();
  const runtime = packageData.runtime_package;
  const options = {   // the model, the eye stage, the detector and the runtime's wasm are fetched side by side
    model: site.model,
    eyeModel: site.eye_model,
    detectorOptions: { model: site.detector_model },
    wasmPaths: new URL(site.runtime_base_url, location.href).href,
    wasmGz: { url: site.runtime_wasm_gz, sha256: runtime.sha256[runtime.wasm_gz.replace(/\.gz$/, '')] },
  };
  options.config = {};
  if (params.get('tta')) options.config.tta = params.get('tta');
  if (params.get('eyes') === 'off') options.config.eyes = false;
  state.df = await DenseFace.create(options);
  state.metrics.createdAt = performance.now();
  // run every stage once so the first photo or frame runs at full speed; unless one is already
  // waiting: then its own run is the warm-up, and it is not kept waiting for a blank one
  if (!state.waiting) await state.df.warmUp();
  state.edges = meshEdges(state.df.triangles);
  state.metrics.readyAt = performance.now();
  say('Ready: start the webcam, or drop a photo or video anywhere on the page.');
}

const ready = load().catch((e) => {
  state.loadError = readable(e);
  say(state.loadError, true);
});

// ------------------------------------------------------------------------------------- drawing
function meshEdges(triangles) {
  const seen = new Set(), edges = [];
  for (const t of triangles) {
    for (const [a, b] of [[t[0], t[1]], [t[1], t[2]], [t[2], t[0]]]) {
      const key = a < b ? `${a},${b}` : `${b},${a}`;
      if (!seen.has(key)) { seen.add(key); edges.push([a, b]); }
    }
  }
  return edges;
}

function readLayers() {
  for (const id of ['show-box', 'show-mesh', 'show-points', 'show-68', 'show-axes']) layers[id] = $(id).checked;
}
readLayers();

function layer(id) {
  return layers[id];
}

function drawFaces(faces) {
  const thick = Math.max(1, Math.round(Math.max(canvas.width, canvas.height) / 800));
  for (const f of faces) {
    const lm = f.landmarks;
    if (!lm.every((p) => Number.isFinite(p[0]) && Number.isFinite(p[1]))) continue;
    const side = (f.cropBox[2] - f.cropBox[0]) / Math.SQRT2;
    const r = Math.min(Math.max(side / 220, 0.6), 2 * thick);
    if (layer('show-box')) {
      ctx.strokeStyle = 'rgb(60,255,60)';
      ctx.lineWidth = thick;
      ctx.strokeRect(f.box[0], f.box[1], f.box[2] - f.box[0], f.box[3] - f.box[1]);
    }
    if (layer('show-mesh') && state.edges) {
      ctx.strokeStyle = 'rgba(90,200,255,0.45)';
      ctx.lineWidth = thick;
      ctx.beginPath();
      for (const [a, b] of state.edges) {
        ctx.moveTo(lm[a][0], lm[a][1]);
        ctx.lineTo(lm[b][0], lm[b][1]);
      }
      ctx.stroke();
    }
    if (layer('show-points')) dots(lm, 'rgb(255,255,255)', r);
    if (layer('show-68')) dots(f.landmarks68, 'rgb(255,60,60)', 2 * r);
    if (layer('show-axes') && Number.isFinite(f.pose.yaw)) {
      let ox = 0, oy = 0;
      for (const p of lm) { ox += p[0]; oy += p[1]; }
      ox /= lm.length; oy /= lm.length;
      const colours = ['rgb(255,0,0)', 'rgb(0,255,0)', 'rgb(0,0,255)'];
      axisDirections(f.pose).forEach(([dx, dy], k) => arrow(ox, oy, ox + 0.5 * side * dx, oy + 0.5 * side * dy, colours[k], 2 * thick));
    }
  }
}

function dots(points, colour, radius) {
  ctx.fillStyle = colour;
  ctx.beginPath();
  if (radius <= 1.5) {   // small dots as squares: a fraction of the cost of arcs, the same look
    const d = 2 * radius;
    for (const p of points) ctx.rect(p[0] - radius, p[1] - radius, d, d);
  } else {
    for (const p of points) {
      ctx.moveTo(p[0] + radius, p[1]);
      ctx.arc(p[0], p[1], radius, 0, 2 * Math.PI);
    }
  }
  ctx.fill();
}

function arrow(x0, y0, x1, y1, colour, width) {
  const a = Math.atan2(y1 - y0, x1 - x0), head = 0.15 * Math.hypot(x1 - x0, y1 - y0);
  ctx.strokeStyle = colour;
  ctx.lineWidth = width;
  ctx.beginPath();
  ctx.moveTo(x0, y0);
  ctx.lineTo(x1, y1);
  ctx.moveTo(x1 - head * Math.cos(a - 0.5), y1 - head * Math.sin(a - 0.5));
  ctx.lineTo(x1, y1);
  ctx.lineTo(x1 - head * Math.cos(a + 0.5), y1 - head * Math.sin(a + 0.5));
  ctx.stroke();
}

function showPose(faces) {
  const p = faces.length ? faces[0].pose : null;
  $('pose').textContent = p && Number.isFinite(p.yaw)
    ? `yaw ${p.yaw.toFixed(1)}°, pitch ${p.pitch.toFixed(1)}°, roll ${p.roll.toFixed(1)}°` : '';
}

function resize(w, h) {
  if (canvas.width !== w || canvas.height !== h) {
    canvas.width = w;
    canvas.height = h;
  }
}

// ------------------------------------------------------------------------------------- sources
function stop() {
  state.loop += 1;
  state.busy = false;
  state.frames = 0;
  state.times = [];
  state.metrics.fps = null;
  if (state.stream) { state.stream.getTracks().forEach((t) => t.stop()); state.stream = null; }
  video.pause();
  video.removeAttribute('src');
  video.srcObject = null;
  if (state.objectUrl) { URL.revokeObjectURL(state.objectUrl); state.objectUrl = null; }
  $('fps').textContent = 'fps –';
}

/** A dropped or opened file: a photo, else a video. */
async function openFile(file) {
  stop();
  const looksVideo = file.type.startsWith('video/');
  if (!looksVideo) {
    let bitmap = null;
    try {
      bitmap = await decodeImageFile(file);
    } catch (e) {
      if (file.type.startsWith('image/') || !video.canPlayType(file.type || 'video/mp4')) {
        say(readable(e), true);
        return;
      }
    }
    if (bitmap) return showPhoto(file.name, bitmap);
  }
  return playVideo(file);
}

async function showPhoto(name, bitmap) {
  resize(bitmap.width, bitmap.height);
  ctx.drawImage(bitmap, 0, 0);
  state.waiting = true;
  await ready;
  if (!state.df) {
    say(`${name}: shown without landmarks (${state.loadError})`, true);
    return;
  }
  const t0 = performance.now();
  let faces;
  try {
    faces = await state.df.predict(bitmap);
  } catch (e) {
    say(`${name}: ${readable(e)}`, true);
    return;
  }
  const ms = performance.now() - t0;
  drawFaces(faces);
  showPose(faces);
  state.metrics.lastPhoto = { ms, at: performance.now() };
  if (faces.length) say(`${name}: ${faces.length} face${faces.length > 1 ? 's' : ''} in ${ms.toFixed(0)} ms.`);
  else say(`${name}: no face found (faces must be at least ${state.df.config.min_face_px} px and roughly facing the camera).`, true);
  emit('photo', { name, faces, ms, at: state.metrics.lastPhoto.at });
}

function playVideo(file) {
  state.objectUrl = URL.createObjectURL(file);
  const loop = state.loop;
  video.onerror = () => {
    if (loop === state.loop) say(`${file.name}: cannot be played as a video (this browser does not decode the file)`, true);
  };
  video.onended = () => {
    if (loop === state.loop) say(`${file.name}: done, ${state.frames} frames.`);
  };
  video.src = state.objectUrl;
  video.play().then(() => {
    say(`${file.name}: tracking…`);
    track(file.name, true);
  }).catch(() => {});   // a file that does not play reports through onerror
}

async function startWebcam() {
  stop();
  state.waiting = true;
  await ready;
  if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) {
    say('This page cannot use a camera here (cameras need https or localhost); drop a photo or video instead.', true);
    return;
  }
  try {
    state.stream = await navigator.mediaDevices.getUserMedia({ video: { width: { ideal: 640 }, height: { ideal: 480 } }, audio: false });
  } catch (e) {
    say(cameraMessage(e), true);
    return;
  }
  video.srcObject = state.stream;
  await video.play();
  say('Webcam: tracking…');
  track('webcam');
}

function cameraMessage(e) {
  if (e.name === 'NotAllowedError' || e.name === 'SecurityError') {
    return 'Camera access was refused: allow the camera for this page in the browser\'s site settings, or drop a photo or video.';
  }
  if (e.name === 'NotFoundError' || e.name === 'OverconstrainedError') return 'No camera was found: drop a photo or video instead.';
  if (e.name === 'NotReadableError') return 'The camera is busy (another program uses it): close it, or drop a photo or video.';
  return `The camera could not be started (${e.name}): drop a photo or video instead.`;
}

/** Track faces in the playing video (a file or the webcam), one frame at a time. stepwise (a
 * file): the video waits while a frame is processed, so every frame is tracked; the webcam's
 * frames that arrive meanwhile are skipped. */
function track(label, stepwise = false) {
  const loop = state.loop;
  if (!state.df) {
    say(`${label}: shown without landmarks (${state.loadError})`, true);
  }
  const tracker = state.df ? new FaceTracker(state.df) : null;
  const step = async (now, meta) => {
    if (loop !== state.loop) return;
    if (!state.busy) {
      state.busy = true;
      if (stepwise) video.pause();
      try {
        await processFrame(tracker, meta);
      } catch (e) {
        say(`${label}: ${readable(e)}`, true);
      } finally {
        state.busy = false;
      }
      if (stepwise && loop === state.loop && !video.ended) video.play().catch(() => {});
    }
    if (loop === state.loop) video.requestVideoFrameCallback(step);
  };
  video.requestVideoFrameCallback(step);
}

async function processFrame(tracker, meta) {
  if (!video.videoWidth) return;
  resize(video.videoWidth, video.videoHeight);
  if (!tracker) {
    ctx.drawImage(video, 0, 0);
    return;
  }
  const t0 = performance.now();
  const pixels = state.df.imageData(video);   // one read of the frame, shown and tracked
  const t = meta && Number.isFinite(meta.mediaTime) ? meta.mediaTime : t0 / 1000;
  const faces = await tracker.update(pixels, t);
  ctx.putImageData(pixels, 0, 0);
  drawFaces(faces);
  const now = performance.now(), ms = now - t0;
  state.frames += 1;
  state.times.push(now);
  while (state.times.length > 30) state.times.shift();
  if (state.times.length > 1) {
    state.metrics.fps = (state.times.length - 1) / ((now - state.times[0]) / 1000);
  }
  if (now - state.shownAt > 250 && state.metrics.fps !== null) {   // text at 4 Hz: no layout per frame
    state.shownAt = now;
    $('fps').textContent = `fps ${state.metrics.fps.toFixed(1)} · ${ms.toFixed(1)} ms per frame`;
    showPose(faces);
  }
  emit('frame', { faces, pixels, index: state.frames - 1, ms, t });
}

// ------------------------------------------------------------------------------------- wiring
$('webcam').addEventListener('click', () => startWebcam());
$('layers').addEventListener('change', readLayers);
$('file').addEventListener('change', (e) => { if (e.target.files.length) openFile(e.target.files[0]); });
document.addEventListener('dragover', (e) => { e.preventDefault(); document.body.classList.add('dragging'); });
document.addEventListener('dragleave', () => document.body.classList.remove('dragging'));
document.addEventListener('drop', (e) => {
  e.preventDefault();
  document.body.classList.remove('dragging');
  const file = e.dataTransfer && e.dataTransfer.files[0];
  if (file) openFile(file);
});

window.denseface = { ready, state, events, openFile, startWebcam };
