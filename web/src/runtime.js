// ONNX Runtime Web, set up once for the landmark network, the eye stage and the face detector (one wasm
// instance runs every session), and the bytes of the files it runs, checked against their sha256.
//
// The runtime's wasm may be served gzip-compressed (`wasmGz`: the exported folder ships
// ort-wasm-simd-threaded.wasm.gz, a quarter of the size); it is inflated with the browser's
// DecompressionStream while it downloads, and its sha256 checked before ONNX Runtime compiles it.

import * as ort from 'onnxruntime-web';
import { fetchOk } from './fetch_bytes.js';

/** A file that cannot be fetched, inflated or checked, with a readable message. */
export class RuntimeError extends Error {}

function hex(buffer) {
  return Array.from(new Uint8Array(buffer), (b) => b.toString(16).padStart(2, '0')).join('');
}

/** Check bytes against a sha256 (hex) where the browser offers SubtleCrypto (https or
 * localhost); ErrorType with one line naming `name` when they differ. */
export async function checkDigest(bytes, digest, name, ErrorType = RuntimeError) {
  const subtle = globalThis.crypto && globalThis.crypto.subtle;
  if (!digest || !subtle) return bytes;
  const got = hex(await subtle.digest('SHA-256', bytes));
  if (got !== digest) {
    throw new ErrorType(`${name}: sha256 mismatch (got ${got.slice(0, 12)}..., expected ${digest.slice(0, 12)}...)`);
  }
  return bytes;
}

/** The bytes of the gzip file at `url`, inflated while it downloads (DecompressionStream). */
export async function gunzip(url) {
  if (typeof DecompressionStream === 'undefined') {
    throw new RuntimeError(`${url}: this browser cannot inflate gzip files (no DecompressionStream)`);
  }
  const packed = (await fetchOk(url, RuntimeError)).body;
  try {
    return new Uint8Array(await new Response(packed.pipeThrough(new DecompressionStream('gzip'))).arrayBuffer());
  } catch (e) {
    throw new RuntimeError(`${url}: not a gzip file (${e && e.message ? e.message : e})`);
  }
}

let configured = null;

/** Configure ONNX Runtime Web once (later calls reuse the first configuration): wasmPaths, the
 * folder of its .mjs (and .wasm) files; wasmGz: {url, sha256} of the gzip-compressed wasm
 * (optional); threads: wasm threads (default: ONNX Runtime's choice). */
export function setUpRuntime({ wasmPaths = null, wasmGz = null, threads = null } = {}) {
  if (!configured) {
    configured = (async () => {
      if (wasmPaths) ort.env.wasm.wasmPaths = wasmPaths;
      if (threads) ort.env.wasm.numThreads = threads;
      if (wasmGz) {
        ort.env.wasm.wasmBinary = await checkDigest(await gunzip(wasmGz.url), wasmGz.sha256, wasmGz.url);
      }
    })();
    configured.catch(() => { configured = null; });
  }
  return configured;
}

/** An ONNX Runtime Web session (wasm) of ONNX bytes, once the runtime is set up (when a
 * setUpRuntime call is under way, after it). */
export async function createSession(bytes) {
  if (configured) await configured;
  return ort.InferenceSession.create(bytes, { executionProviders: ['wasm'], graphOptimizationLevel: 'all' });
}

export { ort };
