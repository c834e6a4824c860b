// Parity and speed check of the exported imagine-tiny ONNX graphs in onnxruntime-node.
// Usage: node tools/train/parity.mjs   (after tools/train/export.py, which writes .work/parity/vectors.json, and/or
//        tools/train/export_decoder.py, which writes .work/parity/decoder.json)
// 1. Runs text_encoder and unet (vectors.json) and vae_decoder (decoder.json) on the torch reference inputs and prints
//    the max abs difference; a part whose vectors are missing is skipped (say, the UNet when only the decoder was
//    retrained: its checkpoint is not in git).
// 2. Times a default generation the way the engine runs it: prompt + empty negative prompt (batch 2),
//    20 Euler steps (trailing spacing) with CFG, a per-step preview (latent -> RGB of the predicted x0), decoder.
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { createRequire } from 'node:module';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '..', '..');
const require = createRequire(path.join(root, 'package.json'));
const ort = require('onnxruntime-node');
const modelDir = path.join(root, 'models', 'imagine-tiny');
const readVectors = (name) => {
  const file = path.join(here, '.work', 'parity', name);
  return existsSync(file) ? JSON.parse(readFileSync(file, 'utf8')) : undefined;
};
const vec = readVectors('vectors.json');
const decVec = readVectors('decoder.json');
const opts = { intraOpNumThreads: 2, interOpNumThreads: 1, graphOptimizationLevel: 'all' };

const maxDiff = (a, b) => {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
};

const tLoad = performance.now();
const te = await ort.InferenceSession.create(path.join(modelDir, 'text_encoder', 'model.onnx'), opts);
const unet = await ort.InferenceSession.create(path.join(modelDir, 'unet', 'model.onnx'), opts);
const dec = await ort.InferenceSession.create(path.join(modelDir, 'vae_decoder', 'model.onnx'), opts);
const loadMs = performance.now() - tLoad;
for (const [n, s] of [
  ['text_encoder', te],
  ['unet', unet],
  ['vae_decoder', dec],
]) {
  console.log(n, JSON.stringify(s.inputMetadata ?? s.inputNames), '->', JSON.stringify(s.outputNames));
}

// Without the UNet's vectors, time the empty prompt (BOS then EOS padding) for both rows: the cost is the same.
// The vectors' prompts: v1 [English, empty], v2 [English, Chinese, empty]; timing uses the first and the last row.
const B = vec ? vec.input_ids.length : 2;
const idRows = vec ? vec.input_ids.flat() : Array.from({ length: 2 * 77 }, (_, i) => (i % 77 === 0 ? 49406 : 49407));
const ids = new ort.Tensor('int64', BigInt64Array.from(idRows.map(BigInt)), [B, 77]);
if (vec) {
  const teOut = (await te.run({ input_ids: ids })).last_hidden_state;
  console.log('text_encoder max|diff|', maxDiff(teOut.data, vec.last_hidden_state));
  const sample = new ort.Tensor('float32', Float32Array.from(vec.sample), [B, 3, 32, 32]);
  const ts = new ort.Tensor('float32', Float32Array.from(vec.timestep), [B]);
  const ehs = new ort.Tensor('float32', Float32Array.from(vec.last_hidden_state), [B, 77, 256]);
  const uOut = (await unet.run({ sample, timestep: ts, encoder_hidden_states: ehs })).out_sample;
  console.log('unet max|diff|', maxDiff(uOut.data, vec.out_sample));
} else {
  console.log('text_encoder, unet: no .work/parity/vectors.json (run tools/train/export.py), parity skipped');
}
if (decVec) {
  const dOut = (await dec.run({ latent_sample: new ort.Tensor('float32', Float32Array.from(decVec.latent_sample), decVec.dims) })).sample;
  console.log('vae_decoder max|diff|', maxDiff(dOut.data, decVec.sample), 'dims', dOut.dims.join('x'));
} else {
  console.log('vae_decoder: no .work/parity/decoder.json (run tools/train/export_decoder.py), parity skipped');
}

// ---- speed: one default generation ----
const N = 1000;
const betas = Array.from({ length: N }, (_, i) => (Math.sqrt(0.00085) + (i / (N - 1)) * (Math.sqrt(0.012) - Math.sqrt(0.00085))) ** 2);
const sigmasAll = [];
let ac = 1;
for (const b of betas) {
  ac *= 1 - b;
  sigmasAll.push(Math.sqrt((1 - ac) / ac));
}
function generateOnce(steps = 20, cfg = 3) {
  return (async () => {
    const t0 = performance.now();
    const enc = (await te.run({ input_ids: ids })).last_hidden_state; // [cond, uncond] rows of the parity prompt
    const d = 77 * 256;
    const ctx = new Float32Array(2 * d);
    ctx.set(enc.data.subarray((B - 1) * d, B * d), 0); // uncond (the empty prompt, last row) first
    ctx.set(enc.data.subarray(0, d), d);
    const ctxT = new ort.Tensor('float32', ctx, [2, 77, 256]);
    const tsteps = [];
    for (let k = 0; k < steps; k++) tsteps.push(Math.round(N - (k * N) / steps) - 1);
    const sig = tsteps.map((t) => sigmasAll[t]).concat([0]);
    const n = 3 * 32 * 32;
    const x = new Float32Array(n);
    let seed = 12345;
    const rnd = () => (seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648;
    for (let i = 0; i < n; i++) x[i] = Math.sqrt(-2 * Math.log(rnd() + 1e-12)) * Math.cos(2 * Math.PI * rnd()) * sig[0];
    let previewPx = 0;
    for (let k = 0; k < steps; k++) {
      const s = sig[k];
      const inp = new Float32Array(2 * n);
      const scale = 1 / Math.sqrt(s * s + 1);
      for (let i = 0; i < n; i++) inp[i] = inp[n + i] = x[i] * scale;
      const e = (
        await unet.run({
          sample: new ort.Tensor('float32', inp, [2, 3, 32, 32]),
          timestep: new ort.Tensor('float32', Float32Array.from([tsteps[k], tsteps[k]]), [2]),
          encoder_hidden_states: ctxT,
        })
      ).out_sample.data;
      const x0 = new Float32Array(n);
      for (let i = 0; i < n; i++) {
        const eps = e[i] + cfg * (e[n + i] - e[i]);
        x0[i] = x[i] - s * eps;
        x[i] = x[i] + eps * (sig[k + 1] - s);
      }
      const rgb = new Uint8Array(n); // preview: identity latent->RGB, clamp(z*0.5+0.5)
      for (let i = 0; i < n; i++) rgb[i] = Math.max(0, Math.min(255, (x0[i] * 0.5 + 0.5) * 255));
      previewPx += rgb.length;
    }
    const img = (await dec.run({ latent_sample: new ort.Tensor('float32', x, [1, 3, 32, 32]) })).sample;
    return { ms: performance.now() - t0, dims: img.dims, previewPx };
  })();
}
await generateOnce();
const times = [];
for (let r = 0; r < 5; r++) times.push((await generateOnce()).ms);
times.sort((a, b) => a - b);
console.log(
  `session load ${loadMs.toFixed(0)} ms; default generation (20 Euler steps, cfg 3, batch 2, previews, 256x256 decode): median ${times[2].toFixed(0)} ms, min ${times[0].toFixed(0)} ms, max ${times[4].toFixed(0)} ms`,
);
