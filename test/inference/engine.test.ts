import { existsSync } from 'node:fs';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import path from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CancelledError, ModelLoadError, UserError } from '../../src/errors.js';
import { createEngine, type OnnxEngineHandle } from '../../src/inference/engine.js';
import { pngToRgb } from '../../src/inference/image/pixels.js';
import { parseParameters } from '../../src/protocol/png-parameters.js';
import { readPngText } from '../../src/protocol/png-text.js';
import { inspectModelFolder } from '../../src/model-folder/model-folder.js';
import { SAMPLER_NAMES } from '../../src/protocol/samplers.js';
import type { GenerateRequest, StepProgress } from '../../src/protocol/generate-request.js';
import { makeTempDir, writeTinyModel, type TinyModelOptions } from '../fixtures/tiny-models.js';
import { expectCancelWithinOneStep } from '../fixtures/cancel.js';
import { smallRequest } from '../fixtures/requests.js';

let root: string;
let engine: OnnxEngineHandle;

/** Every exporter variant of reference/inference.md §1.3 as a tiny model folder. */
const VARIANTS: Record<string, TinyModelOptions> = {
  base: { taesd: false },
  'timestep-int64-batch': { timestep: 'int64-batch' },
  'timestep-float-scalar': { timestep: 'float32-scalar' },
  'timestep-int64-one': { timestep: 'int64-one' },
  'batch-one': { batchOne: true },
  fp16: { precision: 'fp16' },
  'latent-parameters': { vaeEncoder: 'latent_parameters' },
  'no-encoder': { vaeEncoder: false },
  lcm: { lcm: true },
  sd2: { family: 'sd2' },
  'external-weights': { externalWeights: true },
  'input-ids-int64': { inputIds: 'int64' },
  taesd: { taesd: true },
  'fixed-size': { fixedLatentSize: [8, 8] },
  'fixed-sequence': { fixedSequence: true },
  'known-words': { manifest: { knownWords: ['a', 'cat', 'dog', 'red'] } },
};

const base: GenerateRequest = smallRequest({ model: 'base', prompt: 'a cat in a space suit', steps: 6, seed: 42 });

function req(overrides: Partial<GenerateRequest>): GenerateRequest {
  return { ...base, ...overrides };
}

async function pngSize(png: Uint8Array): Promise<[number, number]> {
  const meta = await sharp(png).metadata();
  return [meta.width!, meta.height!];
}

beforeAll(async () => {
  root = await makeTempDir();
  await Promise.all(Object.entries(VARIANTS).map(([name, o]) => writeTinyModel(path.join(root, name), o)));
  engine = await createEngine({ modelsDir: root });
});

afterAll(async () => {
  await engine?.dispose();
  await rm(root, { recursive: true, force: true });
});

describe('exporter variants', () => {
  it.each(Object.keys(VARIANTS).filter((v) => v !== 'fixed-size'))('generates a 64x64 PNG with model variant %s', async (name) => {
    const result = await engine.generate(req({ model: name }));
    expect(result.images).toHaveLength(1);
    expect(await pngSize(result.images[0].png)).toEqual([64, 64]);
    expect(result.seed).toBe(42);
  });

  it('gives identical pixels whatever the timestep dtype/shape when timesteps are whole numbers', async () => {
    const pixels = await Promise.all(
      ['base', 'timestep-int64-batch', 'timestep-float-scalar', 'timestep-int64-one'].map(async (m) =>
        pngToRgb((await engine.generate(req({ model: m }))).images[0].png),
      ),
    );
    for (const p of pixels.slice(1)) expect(p.equals(pixels[0])).toBe(true);
  });

  it('makes two UNet calls when the batch is fixed to 1, with the same result as one batch-2 call', async () => {
    const one = await pngToRgb((await engine.generate(req({ model: 'batch-one' }))).images[0].png);
    const two = await pngToRgb((await engine.generate(req({ model: 'base' }))).images[0].png);
    expect(one.equals(two)).toBe(true);
  });

  it('pads SD2 prompts with "!" (id 0) instead of <|endoftext|>, which changes the text embedding', async () => {
    const sd1 = await pngToRgb((await engine.generate(req({ model: 'base' }))).images[0].png);
    const sd2 = await pngToRgb((await engine.generate(req({ model: 'sd2' }))).images[0].png);
    expect(sd2.equals(sd1)).toBe(false);
  });

  it('converts fp16 I/O at the boundary (results close to fp32, not identical)', async () => {
    const half = await pngToRgb((await engine.generate(req({ model: 'fp16' }))).images[0].png);
    const full = await pngToRgb((await engine.generate(req({ model: 'base' }))).images[0].png);
    let maxDiff = 0;
    for (let i = 0; i < half.length; i++) maxDiff = Math.max(maxDiff, Math.abs(half[i] - full[i]));
    expect(maxDiff).toBeLessThanOrEqual(8);
  });

  it('only draws the fixed size of a static-shape UNet and says which size', async () => {
    const result = await engine.generate(req({ model: 'fixed-size' }));
    expect(await pngSize(result.images[0].png)).toEqual([64, 64]);
    await expect(engine.generate(req({ model: 'fixed-size', width: 128, height: 128 }))).rejects.toThrow(/only draws 64x64/);
  });
});

describe('every scheduler', () => {
  it.each(SAMPLER_NAMES)('%s runs txt2img, img2img, variation and upscale', async (sampler) => {
    const txt = await engine.generate(req({ sampler }));
    const source = txt.images[0].png;
    const img2img = await engine.generate(req({ sampler, mode: { kind: 'img2img', image: source, strength: 0.5 } }));
    const variation = await engine.generate(req({ sampler, mode: { kind: 'variation', subseed: 7, strength: 0.5 } }));
    const upscale = await engine.generate(req({ sampler, mode: { kind: 'upscale', image: source, strength: 0.3 } }));
    expect(await pngSize(img2img.images[0].png)).toEqual([64, 64]);
    expect(await pngSize(variation.images[0].png)).toEqual([64, 64]);
    expect(await pngSize(upscale.images[0].png)).toEqual([128, 128]);
    const rgb = await Promise.all([txt, img2img, variation].map((r) => pngToRgb(r.images[0].png)));
    expect(rgb[1].equals(rgb[0])).toBe(false);
    expect(rgb[2].equals(rgb[0])).toBe(false);
  });
});

describe('determinism and seeds', () => {
  it('same seed, parameters and model give byte-identical PNGs, also from a fresh engine', async () => {
    const a = await engine.generate(req({ sampler: 'euler_a' }));
    const other = await createEngine({ modelsDir: root });
    const b = await other.generate(req({ sampler: 'euler_a' }));
    await other.dispose();
    expect(Buffer.from(a.images[0].png).equals(Buffer.from(b.images[0].png))).toBe(true);
    const c = await engine.generate(req({ sampler: 'euler_a', seed: 43 }));
    expect(Buffer.from(c.images[0].png).equals(Buffer.from(a.images[0].png))).toBe(false);
  });

  it('picks and reports a random seed when none is given', async () => {
    const r = await engine.generate(req({ seed: undefined }));
    expect(Number.isInteger(r.seed)).toBe(true);
    expect(r.seed).toBeGreaterThanOrEqual(0);
    expect(r.seed).toBeLessThanOrEqual(2 ** 32 - 1);
    expect(parseParameters(r.images[0].parameters).seed).toBe(r.seed);
  });

  it('gives image i of a batch seed + i, identical to generating that seed alone', async () => {
    const batch = await engine.generate(req({ count: 2, seed: 100 }));
    expect(batch.images.map((i) => i.seed)).toEqual([100, 101]);
    const alone = await engine.generate(req({ seed: 101 }));
    expect(Buffer.from(batch.images[1].png).equals(Buffer.from(alone.images[0].png))).toBe(true);
  });

  it('wraps seeds past 2^32 - 1 back to 0 in a batch', async () => {
    const batch = await engine.generate(req({ count: 2, seed: 2 ** 32 - 1 }));
    expect(batch.images.map((i) => i.seed)).toEqual([2 ** 32 - 1, 0]);
  });
});

describe('guidance', () => {
  it('uses the negative prompt when cfg > 1 and skips the unconditional pass when cfg <= 1', async () => {
    const px = async (o: Partial<GenerateRequest>) => pngToRgb((await engine.generate(req(o))).images[0].png);
    expect((await px({ negativePrompt: 'blurry' })).equals(await px({ negativePrompt: 'watermark' }))).toBe(false);
    expect((await px({ cfg: 1, negativePrompt: 'blurry' })).equals(await px({ cfg: 1, negativePrompt: 'watermark' }))).toBe(true);
  });

  it('feeds LCM models the guidance embedding instead of a negative pass', async () => {
    const px = async (o: Partial<GenerateRequest>) => pngToRgb((await engine.generate(req({ model: 'lcm', sampler: 'lcm', ...o }))).images[0].png);
    expect((await px({ cfg: 2 })).equals(await px({ cfg: 8 }))).toBe(false);
    expect((await px({ negativePrompt: 'blurry' })).equals(await px({ negativePrompt: 'watermark' }))).toBe(true);
  });
});

describe('img2img, variations and upscale', () => {
  it('runs floor(steps × strength) steps from the init image', async () => {
    const source = (await engine.generate(req({}))).images[0].png;
    const totals: number[] = [];
    await engine.generate(req({ steps: 10, mode: { kind: 'img2img', image: source, strength: 0.35 } }), {
      onStep: (p) => totals.push(p.total),
    });
    expect(new Set(totals)).toEqual(new Set([3]));
    expect(totals).toHaveLength(3);
  });

  it('encodes through latent_parameters (mean) as well as latent_sample', async () => {
    const source = (await engine.generate(req({}))).images[0].png;
    const r = await engine.generate(req({ model: 'latent-parameters', mode: { kind: 'img2img', image: source, strength: 0.6 } }));
    expect(await pngSize(r.images[0].png)).toEqual([64, 64]);
    expect(parseParameters(r.images[0].parameters).denoisingStrength).toBe(0.6);
  });

  it('variation strength 0 reproduces the seed image and records the variation seed', async () => {
    const plain = await engine.generate(req({}));
    const v0 = await engine.generate(req({ mode: { kind: 'variation', subseed: 9, strength: 0 } }));
    expect((await pngToRgb(v0.images[0].png)).equals(await pngToRgb(plain.images[0].png))).toBe(true);
    const p = parseParameters(v0.images[0].parameters);
    expect([p.variationSeed, p.variationStrength]).toEqual([9, 0]);
  });

  it('upscales with plain Lanczos when the model has no vae_encoder', async () => {
    const source = (await engine.generate(req({ model: 'no-encoder' }))).images[0].png;
    const steps: StepProgress[] = [];
    const up = await engine.generate(req({ model: 'no-encoder', mode: { kind: 'upscale', image: source, strength: 0.3 } }), {
      onStep: (p) => steps.push(p),
    });
    expect(await pngSize(up.images[0].png)).toEqual([128, 128]);
    const lanczos = await sharp(source).resize(128, 128, { kernel: 'lanczos3' }).removeAlpha().raw().toBuffer();
    expect((await pngToRgb(up.images[0].png)).equals(lanczos)).toBe(true);
    expect(steps).toHaveLength(1);
  });

  it('refuses img2img on a model without vae_encoder, saying why', async () => {
    const source = (await engine.generate(req({ model: 'no-encoder' }))).images[0].png;
    await expect(engine.generate(req({ model: 'no-encoder', mode: { kind: 'img2img', image: source, strength: 0.5 } }))).rejects.toThrow(
      /has no vae_encoder/,
    );
  });
});

describe('progress and previews', () => {
  it('reports every step in order and previews at step 1 and every k steps after, never on the last', async () => {
    const events: StepProgress[] = [];
    await engine.generate(req({ steps: 7, previewEvery: 3 }), { onStep: (p) => events.push(p) });
    expect(events.map((e) => e.step)).toEqual([1, 2, 3, 4, 5, 6, 7]);
    expect(events.filter((e) => e.preview).map((e) => e.step)).toEqual([1, 4]);
    const preview = events[0].preview!;
    expect(await pngSize(preview.png)).toEqual([preview.width, preview.height]);
    expect(Math.max(preview.width, preview.height)).toBeLessThanOrEqual(256);
  });

  it('uses the TAESD decoder when the folder has one', async () => {
    const events: StepProgress[] = [];
    await engine.generate(req({ model: 'taesd', previewEvery: 1, steps: 3 }), { onStep: (p) => events.push(p) });
    const previews = events.filter((e) => e.preview);
    expect(previews).toHaveLength(2);
    // TAESD decodes to full size (64x64); the matrix preview is latent-sized (8x8) scaled up to 64.
    expect(await pngSize(previews[0].preview!.png)).toEqual([64, 64]);
  });

  it('sends no previews when previewEvery is 0', async () => {
    const events: StepProgress[] = [];
    await engine.generate(req({}), { onStep: (p) => events.push(p) });
    expect(events.some((e) => e.preview)).toBe(false);
  });
});

describe('cancellation', () => {
  it('stops within one step of the abort and rejects with CancelledError', async () => {
    await expectCancelWithinOneStep(engine, req({ steps: 30 }));
  });

  it('does not start when the signal is already aborted', async () => {
    const controller = new AbortController();
    controller.abort();
    await expect(engine.generate(req({}), { signal: controller.signal })).rejects.toBeInstanceOf(CancelledError);
  });
});

describe('bad input gets one clear message', () => {
  it.each([
    [{ width: 65 }, /Width must be a multiple of 8; got 65/],
    [{ height: 4096 }, /Height must be from 64 to 2048/],
    [{ steps: 0 }, /Steps must be a whole number from 1 to 150; got 0/],
    [{ steps: 151 }, /from 1 to 150; got 151/],
    [{ count: 5 }, /Count must be a whole number from 1 to 4/],
    [{ seed: -1 }, /Seed must be a whole number from 0 to 4294967295/],
    [{ cfg: 31 }, /CFG scale must be from 0 to 30/],
    [{ mode: { kind: 'img2img', image: new Uint8Array([1, 2, 3]), strength: 0.5 } }, /Cannot read the init image/],
    [{ mode: { kind: 'img2img', image: new Uint8Array([1, 2, 3]), strength: 0 } }, /Strength must be greater than 0/],
  ] as [Partial<GenerateRequest>, RegExp][])('rejects %o', async (overrides, message) => {
    const error = await engine.generate(req(overrides)).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(UserError);
    expect((error as Error).message).toMatch(message);
  });

  it('refuses a folder path as the model unless built for the command line, and never shows where models live', async () => {
    const folder = path.join(root, 'base');
    const error = await engine.generate(req({ model: folder })).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(UserError);
    expect((error as Error).message).toBe('Name an installed model, not a folder path.');
    const unknown = await engine.generate(req({ model: 'nope' })).catch((e: unknown) => e);
    expect((unknown as Error).message).not.toContain(root);
    const cli = await createEngine({ modelsDir: root, allowModelPaths: true });
    try {
      await expect(cli.generate(req({ model: folder }))).resolves.toMatchObject({ images: [expect.anything()] });
    } finally {
      await cli.dispose();
    }
  });

  it('names the installed models for an unknown model', async () => {
    await expect(engine.generate(req({ model: 'nope' }))).rejects.toThrow(/Unknown model "nope".*base/);
  });

  it('names the missing file of a broken model folder', async () => {
    const dir = path.join(root, 'broken');
    await writeTinyModel(dir, { omit: ['unet'] });
    const error = await engine.generate(req({ model: 'broken' })).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ModelLoadError);
    expect((error as Error).message).toContain(path.join('broken', 'unet', 'model.onnx'));
    await rm(dir, { recursive: true });
  });

  it('reports a corrupt model.onnx with its path', async () => {
    const dir = path.join(root, 'corrupt');
    await writeTinyModel(dir);
    await writeFile(path.join(dir, 'vae_decoder', 'model.onnx'), 'not a model');
    await expect(engine.generate(req({ model: 'corrupt' }))).rejects.toThrow(/Cannot load .*corrupt\/vae_decoder\/model\.onnx/);
    await rm(dir, { recursive: true });
  });

  it('blames scheduler_config.json for a bad scheduler value', async () => {
    const dir = path.join(root, 'bad-scheduler');
    await writeTinyModel(dir, { schedulerConfig: { beta_schedule: 'cubic' } });
    const error = await engine.generate(req({ model: 'bad-scheduler' })).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ModelLoadError);
    expect((error as Error).message).toMatch(/bad-scheduler\/scheduler\/scheduler_config\.json: .*beta_schedule/);
    await rm(dir, { recursive: true });
  });

  it('refuses unknown pipelines by name, listing the supported ones', async () => {
    const dir = path.join(root, 'sd3');
    await writeTinyModel(dir);
    await writeFile(path.join(dir, 'model_index.json'), JSON.stringify({ _class_name: 'StableDiffusion3Pipeline' }));
    await expect(engine.generate(req({ model: 'sd3' }))).rejects.toThrow(
      /pipeline "StableDiffusion3Pipeline" is not supported \(supported: .*ORTStableDiffusionXLPipeline/,
    );
    await rm(dir, { recursive: true });
  });

  it('takes SDXL from the UNet, not the pipeline name: an SD 1.x UNet under an SDXL class name runs as SD 1.x', async () => {
    const dir = path.join(root, 'xl-named');
    await writeTinyModel(dir);
    await writeFile(path.join(dir, 'model_index.json'), JSON.stringify({ _class_name: 'ORTStableDiffusionXLPipeline' }));
    const named = await engine.generate(req({ model: 'xl-named' }));
    const plain = await engine.generate(req({ model: 'base' }));
    expect((await pngToRgb(named.images[0].png)).equals(await pngToRgb(plain.images[0].png))).toBe(true);
    await rm(dir, { recursive: true });
  });
});

describe('warnings and parameters', () => {
  it('embeds A1111 parameters that read back to the request', async () => {
    const r = await engine.generate(req({ negativePrompt: 'blurry, low quality', sampler: 'dpmpp_2m_karras', cfg: 6.5 }));
    const text = readPngText(r.images[0].png).get('parameters');
    expect(text).toBe(r.images[0].parameters);
    expect(text).toBe(
      'a cat in a space suit\nNegative prompt: blurry, low quality\nSteps: 6, Sampler: DPM++ 2M Karras, CFG scale: 6.5, Seed: 42, Size: 64x64, Model: base',
    );
  });

  it('reads a prompt over 77 tokens whole, in chunks, without a warning', async () => {
    const long = `${'red '.repeat(80)}zebra`;
    const r = await engine.generate(req({ prompt: long }));
    expect(r.warnings).toEqual([]);
    // The words past the first 75 tokens change the image: they are in the second chunk, not cut.
    const cut = await engine.generate(req({ prompt: `${'red '.repeat(80)}cat` }));
    expect(Buffer.from(cut.images[0].png).equals(Buffer.from(r.images[0].png))).toBe(false);
    expect(r.images[0].parameters.split('\n')[0]).toBe(long);
  });

  it('refuses a prompt over 8 chunks, and a second chunk on a UNet fixed to 77 tokens, saying what to change', async () => {
    await expect(engine.generate(req({ prompt: `${'a BREAK '.repeat(8)}cat` }))).rejects.toThrow(
      'Your prompt needs 9 chunks of 75 tokens; the most is 8 — shorten it.',
    );
    await expect(engine.generate(req({ model: 'fixed-sequence', prompt: 'a cat BREAK a dog' }))).rejects.toThrow(
      'Model "fixed-sequence" was exported for 1 chunk(s) of 75 tokens and your prompt needs 2; shorten it (or remove BREAK).',
    );
    const ok = await engine.generate(req({ model: 'fixed-sequence', prompt: '(a cat:1.2) [dog]' }));
    expect(ok.images).toHaveLength(1);
  });

  it('changes the image when a word is weighted', async () => {
    const plain = await engine.generate(req({ prompt: 'a cat in a space suit' }));
    const weighted = await engine.generate(req({ prompt: 'a (cat:1.4) in a space suit' }));
    expect(Buffer.from(plain.images[0].png).equals(Buffer.from(weighted.images[0].png))).toBe(false);
  });

  it('names the prompt words a model with a known vocabulary does not know', async () => {
    const r = await engine.generate(req({ model: 'known-words', prompt: 'a red cat riding a unicorn' }));
    expect(r.warnings).toEqual([expect.stringMatching(/does not know these words.*riding, unicorn\.$/)]);
    // A model without a known-word list is not checked at all.
    const unchecked = await engine.generate(req({ model: 'base', prompt: 'a red cat riding a unicorn' }));
    expect(unchecked.warnings).toEqual([]);
  });
});

describe('model management', () => {
  it('lists valid models with their defaults and skips broken folders', async () => {
    const models = await engine.listModels();
    expect(models.map((m) => m.name)).toContain('taesd');
    expect(models.find((m) => m.name === 'taesd')).toMatchObject({ hasPreviewDecoder: true, hasVaeEncoder: true });
    expect(models.find((m) => m.name === 'no-encoder')).toMatchObject({ hasVaeEncoder: false });
  });

  it('unloads the least recently used model when the memory budget is exceeded', async () => {
    // Room for one tiny model but not two (the SD 1.x and SD 2.x tiny models are the same size).
    const one = (await inspectModelFolder(path.join(root, 'base'))).sizeBytes;
    const small = await createEngine({ modelsDir: root, memoryBudgetMiB: (one * 1.5) / 2 ** 20 });
    await small.generate(req({ model: 'base' }));
    await small.generate(req({ model: 'sd2' }));
    expect(small.loadedModels()).toEqual(['sd2']);
    const roomy = await createEngine({ modelsDir: root });
    await roomy.generate(req({ model: 'base' }));
    await roomy.generate(req({ model: 'sd2' }));
    expect(roomy.loadedModels().sort()).toEqual(['base', 'sd2']);
    await Promise.all([small.dispose(), roomy.dispose()]);
  });

  it('refuses to load a model bigger than the whole memory budget, naming MODEL_MEMORY_BUDGET_MIB', async () => {
    const tiny = await createEngine({ modelsDir: root, memoryBudgetMiB: 0.001 });
    const error = await tiny.generate(req({ model: 'base' })).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ModelLoadError);
    expect((error as Error).message).toMatch(
      /model "base" needs about 1 MiB \(its ONNX files\), more than the whole model memory budget of 0\.001 MiB; raise MODEL_MEMORY_BUDGET_MIB/,
    );
    expect(tiny.loadedModels()).toEqual([]);
    await tiny.dispose();
  });

  it('tokenizes with a folder that holds only tokenizer/', async () => {
    const dir = path.join(root, 'tok-only');
    await mkdir(dir, { recursive: true });
    await writeTinyModel(path.join(root, 'tmp-full'));
    const { cp } = await import('node:fs/promises');
    await cp(path.join(root, 'tmp-full', 'tokenizer'), path.join(dir, 'tokenizer'), { recursive: true });
    const [r] = await engine.tokenize('tok-only', ['a photo of a cat']);
    expect(r).toEqual({ ids: [49406, 320, 1125, 539, 320, 2368, 49407], count: 7, truncated: false });
    await rm(path.join(root, 'tmp-full'), { recursive: true });
  });
});

describe('execution providers', () => {
  // The CUDA provider library is only present after the opt-in install step (README, GPU).
  const cudaInstalled = existsSync(
    path.join(
      path.dirname(createRequire(import.meta.url).resolve('onnxruntime-node')),
      '..',
      'bin',
      'napi-v6',
      process.platform,
      process.arch,
      'libonnxruntime_providers_cuda.so',
    ),
  );

  it('explains how to install CUDA when it is missing, and falls back to the CPU only when asked', async () => {
    const strict = await createEngine({ modelsDir: root, executionProvider: 'cuda' });
    const fallback = await createEngine({ modelsDir: root, executionProvider: 'cuda', allowCpuFallback: true });
    if (cudaInstalled) {
      await strict.generate(req({}));
      expect(strict.executionProvider).toBe('cuda');
    } else {
      const error = await strict.generate(req({})).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(UserError);
      expect((error as Error).message).toMatch(/CUDA 12 \+ cuDNN 9.*--onnxruntime-node-install=cuda12/);
      const r = await fallback.generate(req({}));
      expect(r.images).toHaveLength(1);
      expect(fallback.executionProvider).toBe('cpu');
      expect(fallback.notes.join('\n')).toMatch(/running on CPU: The CUDA execution provider/);
    }
    await Promise.all([strict.dispose(), fallback.dispose()]);
  });

  it('rejects an unknown provider name at creation with the valid names', async () => {
    await expect(createEngine({ modelsDir: root, executionProvider: 'tpu' })).rejects.toThrow(/cpu, cuda, dml, coreml, webgpu/);
  });
});
