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
