/**
 * CI's check of the bundled default model: it loads from models/imagine-tiny, generates at its native size with
 * its own defaults, and tells the user which prompt words it does not know. (Training is not re-run in CI; what
 * the model draws is scored by tools/train/evaluate.py, reported in its model card.)
 */
import { readdir, stat } from 'node:fs/promises';
import path from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createEngine, type OnnxEngineHandle } from '../../src/inference/engine.js';
import { readModelManifest } from '../../src/model-folder/model-manifest.js';
import type { GenerateRequest } from '../../src/protocol/generate-request.js';
import type { SamplerName } from '../../src/protocol/samplers.js';

const MODELS_DIR = path.resolve('models');
const MODEL_DIR = path.join(MODELS_DIR, 'imagine-tiny');
let engine: OnnxEngineHandle;
let base: GenerateRequest;

async function folderBytes(dir: string): Promise<number> {
  let total = 0;
  for (const e of await readdir(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    total += e.isDirectory() ? await folderBytes(p) : (await stat(p)).size;
  }
  return total;
}

beforeAll(async () => {
  engine = await createEngine({ modelsDir: MODELS_DIR });
  const { defaults } = await readModelManifest(MODEL_DIR);
  base = {
    model: 'imagine-tiny',
    prompt: 'a red apple on a blue background',
    negativePrompt: '',
    steps: defaults.steps ?? 20,
    cfg: defaults.cfg ?? 3,
    sampler: (defaults.sampler ?? 'euler') as SamplerName,
    width: defaults.width ?? 256,
    height: defaults.height ?? 256,
    count: 1,
    seed: 1,
    mode: { kind: 'txt2img' },
    previewEvery: 5,
  };
});
afterAll(async () => engine?.dispose());

describe('the bundled imagine-tiny model', () => {
  it('is listed with its defaults and weighs under 50 MB', async () => {
    const models = await engine.listModels();
    const tiny = models.find((m) => m.name === 'imagine-tiny');
    expect(tiny).toBeDefined();
    expect(tiny!.defaults.width).toBeGreaterThan(0);
    expect(await folderBytes(MODEL_DIR)).toBeLessThan(50 * 1024 * 1024);
  });

  it('generates a picture at its native size with previews, deterministically', async () => {
    const previews: number[] = [];
    const a = await engine.generate(base, { onStep: (p) => p.preview && previews.push(p.step) });
    const b = await engine.generate(base);
    expect(Buffer.from(a.images[0].png).equals(Buffer.from(b.images[0].png))).toBe(true);
    const { data, info } = await sharp(a.images[0].png).raw().toBuffer({ resolveWithObject: true });
    expect([info.width, info.height]).toEqual([base.width, base.height]);
    expect(previews.length).toBeGreaterThan(0);
    // Not a flat or empty image: the channels vary across the picture.
    const mean = data.reduce((s, v) => s + v, 0) / data.length;
    const variance = data.reduce((s, v) => s + (v - mean) ** 2, 0) / data.length;
    expect(Math.sqrt(variance)).toBeGreaterThan(5);
    expect(a.warnings).toEqual([]);
  });

  it('still draws for words outside its vocabulary and names them', async () => {
    const r = await engine.generate({ ...base, prompt: 'a red apple next to a xylophone', previewEvery: 0 });
    expect(r.images).toHaveLength(1);
    expect(r.warnings.join(' ')).toMatch(/does not know these words.*\bxylophone\b/);
    expect(r.warnings.join(' ')).not.toMatch(/\bapple\b.*does not know|know these words:.*\bapple\b/);
  });
});

describe('the bundled model starts from a picture', () => {
  it('ships a vae_encoder that inverts its decoder: a flat picture comes back unchanged through img2img at a low strength', async () => {
    // A flat colour survives the 8×8 average pool and the ×8 bilinear upscale exactly; only the one low-noise
    // denoising step changes it (about 7/255 on average). A wrong encoder (another scale, another size) drifts by
    // tens to a hundred.
    const flat = await sharp({ create: { width: 256, height: 256, channels: 3, background: { r: 40, g: 120, b: 200 } } })
      .png()
      .toBuffer();
    const result = await engine.generate({
      ...base,
      prompt: 'a blue background',
      seed: 1,
      mode: { kind: 'img2img', image: new Uint8Array(flat), strength: 0.05 },
    });
    const { data } = await sharp(result.images[0].png).raw().toBuffer({ resolveWithObject: true });
    let drift = 0;
    for (let i = 0; i < data.length; i += 3) drift += Math.abs(data[i] - 40) + Math.abs(data[i + 1] - 120) + Math.abs(data[i + 2] - 200);
    expect(drift / (data.length / 3) / 3).toBeLessThan(12);
  });
});
