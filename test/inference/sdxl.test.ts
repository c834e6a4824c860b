/**
 * SDXL and SDXL-Turbo (issue #12) on tiny generated models with optimum's layout and I/O names. The expected
 * conditioning is computed here from the fixture's formulas (sin of token id × layer weights), not by the engine's
 * code, and each classic mistake (wrong layer, wrong pooled vector, non-zero empty negative, wrong time ids) is
 * shown to change the UNet's output visibly.
 */
import { rm } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { ModelLoadError, UserError } from '../../src/errors.js';
import { createEngine, type OnnxEngineHandle } from '../../src/inference/engine.js';
import { SDXL_LATENT_RGB } from '../../src/inference/image/previews.js';
import { pngToRgb } from '../../src/inference/image/pixels.js';
import { loadModel, makeScheduler, releaseModel, type LoadedModel } from '../../src/inference/model/loaded-model.js';
import { ModelSession, RunClock, type Feed } from '../../src/inference/model/session.js';
import { Generation } from '../../src/inference/pipelines/generation.js';
import { ClipTokenizer } from '../../src/inference/prompt/clip-tokenizer.js';
import { inspectModelFolder, modelSummary } from '../../src/model-folder/model-folder.js';
import type { GenerateRequest, GenerateResult, StepProgress } from '../../src/protocol/generate-request.js';
import { parseParameters } from '../../src/protocol/png-parameters.js';
import { SAMPLER_NAMES } from '../../src/protocol/samplers.js';
import {
  CLIP_TOKENIZER_DIR,
  SDXL_TINY,
  SDXL_UNET,
  SDXL_UNET_BIAS,
  makeTempDir,
  sdxlLayerWeights,
  sdxlPooledWeights,
  writeTinySdxlModel,
  type TinySdxlOptions,
} from '../fixtures/tiny-models.js';
import { expectCancelWithinOneStep } from '../fixtures/cancel.js';
import { smallRequest } from '../fixtures/requests.js';

let root: string;
let engine: OnnxEngineHandle;

const VARIANTS: Record<string, TinySdxlOptions> = {
  xl: {},
  'xl-float-timestep': { timestep: 'float32-batch' },
  'xl-scalar-timestep': { timestep: 'float32-scalar' },
  'xl-fp16': { precision: 'fp16' },
  'xl-ort-hidden': { hiddenStates: 'ort' },
  'xl-batch-one': { batchOne: true },
  'xl-no-force-zeros': { forceZeros: false },
  'xl-index-silent': { forceZeros: undefined },
  'xl-latent-parameters': { vaeEncoder: 'latent_parameters' },
};

const base: GenerateRequest = smallRequest({ model: 'xl', prompt: 'a cat in a space suit', cfg: 5, height: 96, seed: 42 });

function req(overrides: Partial<GenerateRequest>): GenerateRequest {
  return { ...base, ...overrides };
}

beforeAll(async () => {
  root = await makeTempDir();
  await Promise.all(Object.entries(VARIANTS).map(([name, o]) => writeTinySdxlModel(path.join(root, name), o)));
  engine = await createEngine({ modelsDir: root });
});

afterAll(async () => {
  await engine?.dispose();
  await rm(root, { recursive: true, force: true });
});

// --- the expected conditioning, from the fixture's formulas --------------------------------------------------

let tokL: ClipTokenizer;
let tokG: ClipTokenizer;
beforeAll(async () => {
  tokL = await ClipTokenizer.fromFolder(CLIP_TOKENIZER_DIR, { padTokenId: 49407 });
  tokG = await ClipTokenizer.fromFolder(CLIP_TOKENIZER_DIR, { padTokenId: 0 });
});

/** Token ids padded by hand: CLIP-L pads with <|endoftext|> 49407, CLIP-G (tokenizer_2) with "!" = 0. */
function padded(tok: ClipTokenizer, text: string, pad: number): number[] {
  const ids = tok.encode(text).ids;
  return [...ids, ...new Array<number>(77 - ids.length).fill(pad)];
}

/** sin(id · w) of one layer: [77, width]. */
function layer(ids: number[], encoder: 1 | 2, index: number): Float32Array {
  const w = sdxlLayerWeights(encoder, index);
  const out = new Float32Array(ids.length * w.length);
  ids.forEach((id, t) => w.forEach((wi, c) => (out[t * w.length + c] = Math.sin(Math.fround(id * wi)))));
  return out;
}

/** What diffusers feeds for one text: [77, 8 + 12] from layers (L-1, G-1) by default, and mean sin(id · wp). */
function expectedText(text: string, layers: [number, number] = [SDXL_TINY.layers1 - 1, SDXL_TINY.layers2 - 1]) {
  const idsL = padded(tokL, text, 49407);
  const idsG = padded(tokG, text, 0);
  const a = layer(idsL, 1, layers[0]);
  const b = layer(idsG, 2, layers[1]);
  const width = SDXL_TINY.width1 + SDXL_TINY.width2;
  const embeds = new Float32Array(77 * width);
  for (let t = 0; t < 77; t++) {
    embeds.set(a.subarray(t * SDXL_TINY.width1, (t + 1) * SDXL_TINY.width1), t * width);
    embeds.set(b.subarray(t * SDXL_TINY.width2, (t + 1) * SDXL_TINY.width2), t * width + SDXL_TINY.width1);
  }
  const wp = sdxlPooledWeights();
  const pooled = new Float32Array(wp.length);
  for (const id of idsG) wp.forEach((w, c) => (pooled[c] += Math.sin(Math.fround(id * w)) / 77));
  return { embeds, pooled, idsL, idsG };
}

function expectClose(actual: ArrayLike<number>, expected: ArrayLike<number>, tolerance = 1e-5): void {
  expect(actual.length).toBe(expected.length);
  let worst = 0;
  for (let i = 0; i < expected.length; i++) worst = Math.max(worst, Math.abs(actual[i] - expected[i]));
  expect(worst).toBeLessThan(tolerance);
}

function cat(...parts: ArrayLike<number>[]): Float32Array {
  const out = new Float32Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

/** Runs encodePrompts and one UNet step of a Generation, returning the UNet feeds. */
async function unetFeeds(model: LoadedModel, request: GenerateRequest): Promise<Record<string, Feed>[]> {
  const calls: Record<string, Feed>[] = [];
  const spy = vi.spyOn(model.unet, 'run').mockImplementation(async (feeds) => {
    calls.push(feeds);
    const n = (feeds.sample.dims as number[]).reduce((a, b) => a * b, 1);
    return { out_sample: { data: new Float32Array(n), dims: [...feeds.sample.dims] } };
  });
  try {
    const gen = new Generation(model, { ...request, steps: 1 }, new RunClock(), {});
    await gen.encodePrompts();
    const { scheduler } = makeScheduler(model.folder, 'euler');
    scheduler.setTimesteps(1);
    await gen.denoise(0, 1, request.width, request.height, scheduler);
  } finally {
    spy.mockRestore();
  }
  return calls;
}

describe('SDXL detection and loading', () => {
  it('knows an SDXL folder from text_encoder_2/ and tokenizer_2/ before loading anything', async () => {
    const folder = await inspectModelFolder(path.join(root, 'xl'));
    expect(folder.family).toBe('sdxl');
    expect(folder.familySource).toBe('folder');
    expect(folder.vaeScalingFactor).toBe(0.13025);
    expect(folder.forceZerosForEmptyPrompt).toBe(true);
    expect(modelSummary(folder).family).toBe('sdxl');
    expect((await engine.listModels()).find((m) => m.name === 'xl')?.family).toBe('sdxl');
  });

  it('takes SDXL from the UNet inputs, reads the penultimate hidden states and the SDXL preview matrix', async () => {
    const model = await loadModel(await inspectModelFolder(path.join(root, 'xl')), {});
    try {
      expect(model.family).toBe('sdxl');
      expect(model.sdxl?.hiddenState1).toBe(`hidden_states.${SDXL_TINY.layers1 - 1}`);
      expect(model.sdxl?.hiddenState2).toBe(`hidden_states.${SDXL_TINY.layers2 - 1}`);
      expect(model.sdxl?.tokenizer2.padTokenId).toBe(0);
      expect(model.tokenizer.padTokenId).toBe(49407);
      expect(model.previewMatrix).toBe(SDXL_LATENT_RGB);
      expect(model.unetContract.hiddenSize).toBe(SDXL_TINY.width1 + SDXL_TINY.width2);
    } finally {
      await releaseModel(model);
    }
  });

  it.each(Object.keys(VARIANTS))('generates a 64x96 PNG with SDXL variant %s (external model.onnx_data loads)', async (name) => {
    const r = await engine.generate(req({ model: name }));
    expect(r.images).toHaveLength(1);
    expect([r.images[0].width, r.images[0].height]).toEqual([64, 96]);
  });

  it('gives the same picture whatever the timestep dtype, and fp16 I/O close to fp32', async () => {
    const [a, b, c, h] = await Promise.all(
      ['xl', 'xl-float-timestep', 'xl-scalar-timestep', 'xl-fp16'].map(async (m) =>
        pngToRgb((await engine.generate(req({ model: m }))).images[0].png),
      ),
    );
    expect(b.equals(a)).toBe(true);
    expect(c.equals(a)).toBe(true);
    let worst = 0;
    for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs(a[i] - h[i]));
    expect(worst).toBeLessThanOrEqual(3);
  });

  it('uses the ORT-surgery "hidden_states" output exactly like optimum\'s hidden_states.{N-2}', async () => {
    const a = await engine.generate(req({ model: 'xl' }));
    const b = await engine.generate(req({ model: 'xl-ort-hidden' }));
    expect((await pngToRgb(b.images[0].png)).equals(await pngToRgb(a.images[0].png))).toBe(true);
  });

  it('gives two batch-1 UNet calls the same result as one batch-2 call', async () => {
    const a = await engine.generate(req({ model: 'xl' }));
    const b = await engine.generate(req({ model: 'xl-batch-one' }));
    expect((await pngToRgb(b.images[0].png)).equals(await pngToRgb(a.images[0].png))).toBe(true);
  });

  it('refuses the SDXL refiner (5 time ids) with a clear message', async () => {
    const dir = await writeTinySdxlModel(path.join(root, 'xl-refiner'), { timeIdsWidth: 5 });
    const error = await engine.generate(req({ model: 'xl-refiner' })).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ModelLoadError);
    expect((error as Error).message).toContain('SDXL refiner models are not supported yet');
    await rm(dir, { recursive: true });
  });

  it.each([
    ['text_encoder_2', path.join('text_encoder_2', 'model.onnx')],
    ['tokenizer_2', path.join('tokenizer_2', 'vocab.json')],
  ] as const)('names the missing %s of an SDXL folder', async (missing, file) => {
    const name = `xl-no-${missing}`;
    const dir = await writeTinySdxlModel(path.join(root, name), { omit: [missing] });
    const error = await engine.generate(req({ model: name })).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ModelLoadError);
    expect((error as Error).message).toContain(path.join(name, file));
    await rm(dir, { recursive: true });
  });

  it('says which hidden-state output is missing and how to re-export', async () => {
    const dir = await writeTinySdxlModel(path.join(root, 'xl-no-hidden'), { hiddenStates: 'none' });
    const error = await engine.generate(req({ model: 'xl-no-hidden' })).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ModelLoadError);
    expect((error as Error).message).toMatch(
      /xl-no-hidden\/text_encoder\/model\.onnx: SDXL needs the text encoder's penultimate hidden state.*optimum-cli export onnx.*"hidden_states"/,
    );
    await rm(dir, { recursive: true });
  });

  it('fails with the fp16-VAE advice instead of posting a black image when the VAE gives NaN', async () => {
    const dir = await writeTinySdxlModel(path.join(root, 'xl-nan-vae'), { vaeNaN: true });
    const error = await engine.generate(req({ model: 'xl-nan-vae' })).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(UserError);
    expect((error as Error).message).toBe(
      'Model "xl-nan-vae": the VAE produced NaN/black output — fp16 SDXL VAEs overflow; use an fp32 VAE or madebyollin/sdxl-vae-fp16-fix (replace the model\'s vae_decoder/model.onnx).',
    );
    await rm(dir, { recursive: true });
  });
});

describe('SDXL conditioning is diffusers encode_prompt', () => {
  let model: LoadedModel;
  let noZeros: LoadedModel;
  beforeAll(async () => {
    model = await loadModel(await inspectModelFolder(path.join(root, 'xl')), {});
    noZeros = await loadModel(await inspectModelFolder(path.join(root, 'xl-no-force-zeros')), {});
  });
  afterAll(async () => {
    await releaseModel(model);
    await releaseModel(noZeros);
  });

  it('feeds [zeros; prompt] hidden states (layer N-2 of each encoder, concatenated), pooled from encoder 2, and [H, W, 0, 0, H, W]', async () => {
    const [call] = await unetFeeds(model, req({}));
    const cond = expectedText(base.prompt);
    expect(call.encoder_hidden_states.dims).toEqual([2, 77, 20]);
    expectClose(call.encoder_hidden_states.data, cat(new Float32Array(77 * 20), cond.embeds));
    expect(call.text_embeds.dims).toEqual([2, 12]);
    expectClose(call.text_embeds.data, cat(new Float32Array(12), cond.pooled));
    expect(call.time_ids.dims).toEqual([2, 6]);
    expect(Array.from(call.time_ids.data)).toEqual([96, 64, 0, 0, 96, 64, 96, 64, 0, 0, 96, 64]);
  });

  it('encodes a non-empty negative prompt through both encoders like the prompt', async () => {
    const [call] = await unetFeeds(model, req({ negativePrompt: 'blurry, low quality' }));
    const cond = expectedText(base.prompt);
    const neg = expectedText('blurry, low quality');
    expectClose(call.encoder_hidden_states.data, cat(neg.embeds, cond.embeds));
    expectClose(call.text_embeds.data, cat(neg.pooled, cond.pooled));
  });

  it('encodes the empty negative as "" when model_index.json sets force_zeros_for_empty_prompt false', async () => {
    const [call] = await unetFeeds(noZeros, req({}));
    const empty = expectedText('');
    expectClose(call.encoder_hidden_states.data, cat(empty.embeds, expectedText(base.prompt).embeds));
    expectClose(call.text_embeds.data, cat(empty.pooled, expectedText(base.prompt).pooled));
    // "" encodes to non-zero values, so this differs from the zero negative above.
    expect(empty.pooled.some((v) => Math.abs(v) > 0.001)).toBe(true);
  });

  it('defaults force_zeros_for_empty_prompt to true when model_index.json does not say', async () => {
    expect((await inspectModelFolder(path.join(root, 'xl-index-silent'))).forceZerosForEmptyPrompt).toBeUndefined();
    const silent = await loadModel(await inspectModelFolder(path.join(root, 'xl-index-silent')), {});
    try {
      expect(silent.sdxl?.forceZerosForEmptyPrompt).toBe(true);
    } finally {
      await releaseModel(silent);
    }
  });

  it('runs Turbo-style cfg 0 as one batch-1 UNet call with the prompt only', async () => {
    const calls = await unetFeeds(model, req({ cfg: 0, width: 64, height: 64 }));
    expect(calls).toHaveLength(1);
    expect(calls[0].encoder_hidden_states.dims).toEqual([1, 77, 20]);
    expectClose(calls[0].text_embeds.data, expectedText(base.prompt).pooled);
    expect(Array.from(calls[0].time_ids.data)).toEqual([64, 64, 0, 0, 64, 64]);
  });

  it('pads tokenizer_2 with "!" (id 0) and tokenizer with <|endoftext|>, which the pooled vector shows', () => {
    const { idsL, idsG } = expectedText('a cat');
    expect(idsL.slice(-1)).toEqual([49407]);
    expect(idsG.slice(-1)).toEqual([0]);
  });
});

describe('the tiny SDXL UNet shows each conditioning mistake', () => {
  let unet: ModelSession;
  beforeAll(async () => {
    unet = await ModelSession.load(path.join(root, 'xl', 'unet', 'model.onnx'));
  });
  afterAll(async () => unet.release());

  const x = Float32Array.from({ length: 4 * 8 * 12 }, (_, i) => Math.sin(i));
  const t = 500;

  /** ε by hand: tanh(0.2x + 2·mean(ehs·wc) + 8·pooled·wp + ids·wt + bias + 0.0005t). */
  function epsByHand(ehs: Float32Array, pooled: Float32Array, ids: number[]): Float32Array {
    let ctx = 0;
    for (let i = 0; i < ehs.length; i++) ctx += ehs[i] * SDXL_UNET.context[i % 20];
    ctx /= 77;
    let p = 0;
    pooled.forEach((v, i) => (p += v * SDXL_UNET.pooled[i]));
    let tid = 0;
    ids.forEach((v, i) => (tid += v * SDXL_UNET.timeIds[i]));
    return x.map((v, i) => Math.tanh(0.2 * v + 2 * ctx + SDXL_UNET.pooledGain * p + tid + SDXL_UNET_BIAS[Math.floor(i / 96)] + 0.0005 * t));
  }

  async function eps(ehs: Float32Array, pooled: Float32Array, ids: number[]): Promise<Float32Array> {
    const out = await unet.run(
      {
        sample: { data: x, dims: [1, 4, 8, 12] },
        timestep: { data: [t], dims: [1] },
        encoder_hidden_states: { data: ehs, dims: [1, 77, 20] },
        text_embeds: { data: pooled, dims: [1, 12] },
        time_ids: { data: ids, dims: [1, 6] },
      },
      ['out_sample'],
    );
    return out.out_sample.data;
  }

  function meanAbsDiff(a: Float32Array, b: Float32Array): number {
    let s = 0;
    for (let i = 0; i < a.length; i++) s += Math.abs(a[i] - b[i]);
    return s / a.length;
  }

  const right = () => {
    const c = expectedText('a red fox in the snow');
    return { ehs: c.embeds, pooled: c.pooled, ids: [96, 64, 0, 0, 96, 64] };
  };

  it('computes ε as the formula says for the right feeds', async () => {
    const r = right();
    expectClose(await eps(r.ehs, r.pooled, r.ids), epsByHand(r.ehs, r.pooled, r.ids), 1e-4);
  });

  it.each([
    [
      'the last hidden state instead of the penultimate',
      () => ({ ...right(), ehs: expectedText('a red fox in the snow', [SDXL_TINY.layers1, SDXL_TINY.layers2]).embeds }),
    ],
    [
      'hidden_states.11 of both encoders (diffusers.js)',
      () => ({ ...right(), ehs: expectedText('a red fox in the snow', [SDXL_TINY.layers1 - 1, SDXL_TINY.layers1 - 1]).embeds }),
    ],
    ["the negative prompt's pooled vector", () => ({ ...right(), pooled: expectedText('blurry').pooled })],
    [
      'an encoded "" instead of the zero negative',
      () => ({ ...right(), ehs: expectedText('').embeds, pooled: expectedText('').pooled }),
      () => ({ ehs: new Float32Array(77 * 20), pooled: new Float32Array(12), ids: [96, 64, 0, 0, 96, 64] }),
    ],
    ['width and height swapped in time_ids', () => ({ ...right(), ids: [64, 96, 0, 0, 64, 96] })],
    ['a non-zero crop in time_ids', () => ({ ...right(), ids: [96, 64, 8, 8, 96, 64] })],
  ] as [string, () => ReturnType<typeof right>, (() => ReturnType<typeof right>)?][])(
    'changes ε visibly when fed %s',
    async (_what, wrong, correct = right) => {
      const w = wrong();
      const c = correct();
      const good = await eps(c.ehs, c.pooled, c.ids);
      const bad = await eps(w.ehs, w.pooled, w.ids);
      expectClose(bad, epsByHand(w.ehs, w.pooled, w.ids), 1e-4);
      expect(meanAbsDiff(good, bad)).toBeGreaterThan(0.01);
    },
  );
});

describe('existing features on SDXL', () => {
  it.each(SAMPLER_NAMES)('%s runs txt2img, img2img, variation and upscale', async (sampler) => {
    const txt = await engine.generate(req({ sampler }));
    const source = txt.images[0].png;
    const img2img = await engine.generate(req({ sampler, mode: { kind: 'img2img', image: source, strength: 0.5 } }));
    const variation = await engine.generate(req({ sampler, mode: { kind: 'variation', subseed: 7, strength: 0.5 } }));
    const upscale = await engine.generate(req({ sampler, mode: { kind: 'upscale', image: source, strength: 0.3 } }));
    expect([img2img.images[0].width, img2img.images[0].height]).toEqual([64, 96]);
    expect([upscale.images[0].width, upscale.images[0].height]).toEqual([128, 192]);
    const rgb = await Promise.all([txt, img2img, variation].map((r) => pngToRgb(r.images[0].png)));
    expect(rgb[1].equals(rgb[0])).toBe(false);
    expect(rgb[2].equals(rgb[0])).toBe(false);
  });

  it('sends SDXL-matrix previews at step 1 and every k steps', async () => {
    const events: StepProgress[] = [];
    await engine.generate(req({ steps: 5, previewEvery: 2 }), { onStep: (p) => events.push(p) });
    expect(events.map((e) => e.step)).toEqual([1, 2, 3, 4, 5]);
    expect(events.map((e) => Boolean(e.preview))).toEqual([true, false, true, false, false]);
  });

  it('stops within one step of a cancel', async () => {
    await expectCancelWithinOneStep(engine, req({ steps: 20 }));
  });

  it('embeds A1111 parameters that read back to the request, and is deterministic', async () => {
    const a = await engine.generate(req({ negativePrompt: 'blurry', cfg: 6.5, sampler: 'dpmpp_2m_karras' }));
    const b = await engine.generate(req({ negativePrompt: 'blurry', cfg: 6.5, sampler: 'dpmpp_2m_karras' }));
    expect(Buffer.from(a.images[0].png).equals(Buffer.from(b.images[0].png))).toBe(true);
    expect(parseParameters(a.images[0].parameters)).toMatchObject({
      prompt: base.prompt,
      negativePrompt: 'blurry',
      steps: 4,
      cfg: 6.5,
      seed: 42,
      width: 64,
      height: 96,
      model: 'xl',
    });
  });

  it('reads a prompt past 77 tokens in chunks, as for SD 1.x: a 154-token context for both sides, no warning', async () => {
    const long = 'red '.repeat(100).trim(); // 100 tokens: two chunks of 75
    const feeds: Record<string, Feed>[] = [];
    const real = ModelSession.prototype.run;
    const spy = vi.spyOn(ModelSession.prototype, 'run').mockImplementation(function (this: ModelSession, f, names, clock) {
      if (this.file.endsWith(path.join('unet', 'model.onnx'))) feeds.push(f);
      return real.call(this, f, names, clock);
    });
    let r: GenerateResult;
    try {
      r = await engine.generate(req({ prompt: long }));
    } finally {
      spy.mockRestore();
    }
    expect(r.warnings).toEqual([]);
    const ehs = feeds[0].encoder_hidden_states;
    expect(ehs.dims[1]).toBe(154);
    // The negative is the zero conditioning, stretched to the prompt's two chunks.
    const rowLength = ehs.data.length / ehs.dims[0];
    expect([...(ehs.data as Float32Array).subarray(0, rowLength)].every((v) => v === 0)).toBe(true);
  });
});
