/**
 * Measures how much Vary (Subtle) and Vary (Strong) change a picture at a range of img2img strengths: the mean
 * absolute pixel difference (0–255, over RGB) between a source image and its img2img at each strength, averaged
 * over prompts and seeds. Used to pick the `variation` strengths of imagine-bot.json (docs/discord.md has the table).
 *
 *   npx tsx tools/measure/vary-strengths.ts [MODEL_DIR]
 *
 * A model without a vae_encoder cannot run img2img. A pixel-space model like the bundled one (latents are RGB at
 * 1/8 size) without one is measured through a copy with an 8×8 average pool as its encoder (the bundled model ships
 * that encoder: exact for a bilinear ×8 decoder, approximate for its learned one).
 */
import { execFileSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { GraphBuilder } from '../../test/fixtures/onnx-graph.js';

const modelDir = path.resolve(process.argv[2] ?? 'models/imagine-tiny');
const work = mkdtempSync(path.join(tmpdir(), 'vary-measure-'));
let model = modelDir;
if (!existsSync(path.join(modelDir, 'vae_encoder', 'model.onnx'))) {
  model = path.join(work, path.basename(modelDir));
  cpSync(modelDir, model, { recursive: true });
  const g = new GraphBuilder();
  g.op('AveragePool', ['sample'], { kernel_shape: [8, 8], strides: [8, 8] }, 'latent_sample');
  mkdirSync(path.join(model, 'vae_encoder'));
  writeFileSync(
    path.join(model, 'vae_encoder', 'model.onnx'),
    g.build([{ name: 'sample', type: 'float32', shape: ['batch', 3, 'H', 'W'] }], [{ name: 'latent_sample', type: 'float32', shape: ['batch', 3, 'h', 'w'] }]),
  );
  const index = JSON.parse(readFileSync(path.join(model, 'model_index.json'), 'utf8'));
  index.vae_encoder = ['diffusers', 'OnnxRuntimeModel'];
  writeFileSync(path.join(model, 'model_index.json'), JSON.stringify(index, null, 2));
}

const imagine = (args: string[]) => execFileSync('npx', ['tsx', 'src/cli/imagine.ts', ...args, '--model', model], { stdio: ['ignore', 'ignore', 'inherit'] });
async function mad(a: string, b: string): Promise<number> {
  const [x, y] = await Promise.all([a, b].map((f) => sharp(f).removeAlpha().raw().toBuffer()));
  let sum = 0;
  for (let i = 0; i < x.length; i++) sum += Math.abs(x[i] - y[i]);
  return sum / x.length;
}

const prompts = ['a red heart', 'a cat on a blue background', 'a green house and a yellow moon'];
const seeds = [1, 2];
const strengths = [0.05, 0.2, 0.3, 0.35, 0.4, 0.5, 0.6, 0.75, 0.9, 1];
const rows: Record<number, number[]> = {};
for (const [p, prompt] of prompts.entries()) {
  for (const seed of seeds) {
    const source = path.join(work, `src-${p}-${seed}.png`);
    imagine([prompt, '--seed', String(seed), '--out', source]);
    for (const strength of strengths) {
      const out = path.join(work, `v-${p}-${seed}-${strength}.png`);
      // Another seed, as the buttons draw: the difference is the variation, not the same noise replayed.
      imagine([prompt, '--init', source, '--strength', String(strength), '--seed', String(seed + 1000), '--out', out]);
      (rows[strength] ??= []).push(await mad(source, out));
    }
    // What a fresh image from another seed differs by: the ceiling a variation approaches.
    const other = path.join(work, `o-${p}-${seed}.png`);
    imagine([prompt, '--seed', String(seed + 1000), '--out', other]);
    (rows[-1] ??= []).push(await mad(source, other));
  }
}
const mean = (v: number[]) => v.reduce((a, b) => a + b, 0) / v.length;
console.log(`model: ${path.basename(modelDir)}; ${prompts.length} prompts × ${seeds.length} seeds; mean absolute difference to the source (0-255)`);
for (const strength of strengths) console.log(`strength ${strength.toFixed(2)}: ${mean(rows[strength]).toFixed(1)}`);
console.log(`new seed (txt2img): ${mean(rows[-1]).toFixed(1)}`);
// A contact sheet of the first prompt and seed (source, then each strength) when a path is given as the 2nd argument.
if (process.argv[3]) {
  const tiles = [path.join(work, 'src-0-1.png'), ...strengths.map((s) => path.join(work, `v-0-1-${s}.png`))];
  const size = 128;
  const resized = await Promise.all(tiles.map((f) => sharp(f).resize(size, size).png().toBuffer()));
  await sharp({ create: { width: size * tiles.length, height: size, channels: 3, background: '#fff' } })
    .composite(resized.map((input, i) => ({ input, left: i * size, top: 0 })))
    .png()
    .toFile(process.argv[3]);
}
rmSync(work, { recursive: true, force: true });
