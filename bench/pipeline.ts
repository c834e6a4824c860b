/**
 * `npm run bench:pipeline`: the engine's overhead around onnxruntime on a generated model whose UNet costs at
 * least 50 ms a call on this CPU (heavy 3×3 convolutions at 512×512 / 64×64 latents, batch 2 for guidance).
 * Prints (a) wall time ÷ Σ session.run time for a 20-step generation, (b) time to the first preview,
 * (c) preview share of the generation, (d) peak RSS. Targets from DESIGN.md; this prints, it does not assert.
 *
 *   npm run bench:pipeline [-- --steps 20 --runs 3 --preview-every 2 --layers N] [-- --sdxl]
 *
 * `--sdxl` runs the same measures on an SDXL-layout model (two text encoders with hidden states, a UNet with
 * text_embeds and time_ids), so the SDXL conditioning's overhead shows in (a).
 */
import { rm } from 'node:fs/promises';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { createEngine } from '../src/inference/engine.js';
import { ModelSession } from '../src/inference/model/session.js';
import type { GenerateRequest } from '../src/protocol/generate-request.js';
import { makeTempDir, SDXL_TINY, writeTinyModel, writeTinySdxlModel } from '../test/fixtures/tiny-models.js';

const { values } = parseArgs({
  options: {
    steps: { type: 'string', default: '20' },
    runs: { type: 'string', default: '3' },
    // 2 is the bot's default preview interval (GuildSettings preview.everySteps).
    'preview-every': { type: 'string', default: '2' },
    layers: { type: 'string' },
    size: { type: 'string', default: '512' },
    sdxl: { type: 'boolean', default: false },
  },
});
const sdxl = values.sdxl;
const writeModel = (modelDir: string, layers: number) =>
  sdxl ? writeTinySdxlModel(modelDir, { heavyLayers: layers }) : writeTinyModel(modelDir, { heavyLayers: layers, heavyWidth: 64 });
const steps = Number(values.steps);
const runs = Number(values.runs);
const previewEvery = Number(values['preview-every']);
const size = Number(values.size);
const dir = await makeTempDir('imagine-bench-');

/** Time one batch-2 UNet call of a model with `layers` heavy layers. */
async function unetCallMs(layers: number): Promise<number> {
  const modelDir = path.join(dir, `probe-${layers}`);
  await writeModel(modelDir, layers);
  const unet = await ModelSession.load(path.join(modelDir, 'unet', 'model.onnx'), { graphOptimizationLevel: 'all' });
  const n = 2 * 4 * (size / 8) ** 2;
  const ctx = sdxl ? SDXL_TINY.width1 + SDXL_TINY.width2 : 16;
  const feeds = {
    sample: { data: new Float32Array(n), dims: [2, 4, size / 8, size / 8] },
    timestep: { data: [500, 500], dims: [2] },
    encoder_hidden_states: { data: new Float32Array(2 * 77 * ctx), dims: [2, 77, ctx] },
    ...(sdxl
      ? {
          text_embeds: { data: new Float32Array(2 * SDXL_TINY.width2), dims: [2, SDXL_TINY.width2] },
          time_ids: { data: [size, size, 0, 0, size, size, size, size, 0, 0, size, size], dims: [2, 6] },
        }
      : {}),
  };
  await unet.run(feeds, ['out_sample']);
  const times: number[] = [];
  for (let i = 0; i < 3; i++) {
    const t = performance.now();
    await unet.run(feeds, ['out_sample']);
    times.push(performance.now() - t);
  }
  await unet.release();
  return Math.min(...times);
}

let layers = values.layers ? Number(values.layers) : 1;
let callMs = await unetCallMs(layers);
while (!values.layers && callMs < 50 && layers < 64) {
  layers = Math.max(layers + 1, Math.ceil(layers * (55 / callMs)));
  callMs = await unetCallMs(layers);
}
await writeModel(path.join(dir, 'heavy'), layers);
const engine = await createEngine({ modelsDir: dir });

const request: GenerateRequest = {
  model: 'heavy',
  prompt: 'a cat in a space suit walking on Mars',
  negativePrompt: 'blurry',
  steps,
  cfg: 7,
  sampler: 'dpmpp_2m_karras',
  width: size,
  height: size,
  count: 1,
  seed: 1,
  mode: { kind: 'txt2img' },
  previewEvery: 0,
};
await engine.generate({ ...request, steps: 2 }); // load and warm up

interface Sample {
  wall: number;
  inference: number;
  preview: number;
  firstPreview?: number;
  firstStep?: number;
}
async function measure(withPreviews: boolean): Promise<Sample> {
  const started = performance.now();
  let firstPreview: number | undefined;
  let firstStep: number | undefined;
  const r = await engine.generate(
    { ...request, previewEvery: withPreviews ? previewEvery : 0 },
    {
      onStep: (p) => {
        firstStep ??= performance.now() - started;
        if (p.preview && firstPreview === undefined) firstPreview = performance.now() - started;
      },
    },
  );
  return { wall: performance.now() - started, inference: r.timings.inferenceMs, preview: r.timings.previewMs, firstPreview, firstStep };
}

const plain: Sample[] = [];
const previewed: Sample[] = [];
for (let i = 0; i < runs; i++) {
  plain.push(await measure(false));
  previewed.push(await measure(true));
}
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const ratio = median(plain.map((s) => s.wall / s.inference));
const ratioPreview = median(previewed.map((s) => s.wall / s.inference));
const firstPreview = median(previewed.map((s) => s.firstPreview ?? Number.NaN));
const previewShare = median(previewed.map((s) => s.preview / s.wall));
const wallDelta = (median(previewed.map((s) => s.wall)) - median(plain.map((s) => s.wall))) / median(plain.map((s) => s.wall));
const rssMiB = process.resourceUsage().maxRSS / 1024;

const rows: [string, string, string][] = [
  ['UNet call (batch 2, guidance)', `${callMs.toFixed(1)} ms (${layers} heavy layers, ${size}x${size})`, '>= 50 ms'],
  [`(a) wall / Σ session.run, ${steps} steps, no previews`, ratio.toFixed(4), '<= 1.03'],
  [`(a') same with previews every ${previewEvery} steps`, ratioPreview.toFixed(4), ''],
  ['(b) start → first preview', `${firstPreview.toFixed(1)} ms`, `<= 1 UNet step + 50 ms (${(callMs + 50).toFixed(0)} ms)`],
  ['(c) preview work / generation wall time', `${(previewShare * 100).toFixed(2)} %`, '<= 2 %'],
  ["(c') wall time added by previews", `${(wallDelta * 100).toFixed(2)} %`, ''],
  ['(d) peak RSS', `${rssMiB.toFixed(0)} MiB`, ''],
];
console.log(
  `bench:pipeline${sdxl ? ' (SDXL layout)' : ''} — ${runs} runs each, median; onnxruntime on ${engine.executionProvider}, node ${process.version}`,
);
console.log('| measure | value | target |\n| --- | --- | --- |');
for (const [k, v, t] of rows) console.log(`| ${k} | ${v} | ${t} |`);
await engine.dispose();
await rm(dir, { recursive: true, force: true });
