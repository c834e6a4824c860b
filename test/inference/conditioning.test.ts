import path from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { loadModel, releaseModel, type LoadedModel } from '../../src/inference/model/loaded-model.js';
import { RunClock } from '../../src/inference/model/session.js';
import { Generation, type JobEmbeddings } from '../../src/inference/pipelines/generation.js';
import { runPipeline } from '../../src/inference/pipelines/run-pipeline.js';
import type { EmbeddingLookup } from '../../src/inference/prompt/embeddings.js';
import { inspectModelFolder } from '../../src/model-folder/model-folder.js';
import { smallRequest } from '../fixtures/requests.js';
import type { GenerateRequest } from '../../src/protocol/generate-request.js';
import { makeTempDir, TINY_FINAL_NORM, TINY_LAYER_BIAS, writeTinyModel } from '../fixtures/tiny-models.js';
import { rm } from 'node:fs/promises';

// The 'linear' tiny text encoder: z[t, c] = id_t·(c+1)·1e-4 + t·0.01 (test/fixtures/tiny-models.ts).
const C = 4;
const BOS = 49406;
const EOS = 49407;
const A = 320;
const CAT = 2368;
const DOG = 1929;

let root: string;
let model: LoadedModel;
let sd2: LoadedModel;
let layered: LoadedModel;
let batchOne: LoadedModel;
const LAYERS = 3;

beforeAll(async () => {
  root = await makeTempDir();
  const dir = await writeTinyModel(path.join(root, 'linear'), { textEncoder: 'linear', hiddenSize: C });
  const dir2 = await writeTinyModel(path.join(root, 'linear-sd2'), { textEncoder: 'linear', hiddenSize: C, family: 'sd2' });
  model = await loadModel(await inspectModelFolder(dir), {});
  sd2 = await loadModel(await inspectModelFolder(dir2), {});
  const dir3 = await writeTinyModel(path.join(root, 'layered'), { textEncoder: 'linear', hiddenSize: C, hiddenLayers: LAYERS });
  layered = await loadModel(await inspectModelFolder(dir3), {});
  const dir4 = await writeTinyModel(path.join(root, 'batch-one'), { textEncoder: 'linear', hiddenSize: C, batchOne: true });
  batchOne = await loadModel(await inspectModelFolder(dir4), {});
});

afterAll(async () => {
  await Promise.all([model, sd2, layered, batchOne].filter(Boolean).map(releaseModel));
  await rm(root, { recursive: true, force: true });
});

function request(prompt: string, negativePrompt = '', cfg = 7, clipSkip?: number): GenerateRequest {
  return smallRequest({ model: 'linear', prompt, negativePrompt, steps: 1, cfg, seed: 1, clipSkip });
}

/**
 * A1111's conditioning for one chunk, written out from sd_hijack_clip.py and sd_emphasis.py (EmphasisOriginal):
 * z = encoder(ids); original_mean = z.mean(); z *= multipliers[:, None]; z *= original_mean / z.mean().
 */
function a1111Chunk(tokens: number[], weights: number[], pad = EOS): number[] {
  const ids = [BOS, ...tokens, EOS, ...new Array<number>(75 - tokens.length).fill(pad)];
  const mults = [1, ...weights, ...new Array<number>(76 - weights.length).fill(1)];
  const z = ids.flatMap((id, t) => Array.from({ length: C }, (_, c) => id * (c + 1) * 1e-4 + t * 0.01));
  const mean = (v: number[]) => v.reduce((a, b) => a + b, 0) / v.length;
  const before = mean(z);
  const weighted = z.map((v, i) => v * mults[Math.floor(i / C)]);
  const after = mean(weighted);
  return weighted.map((v) => (v * before) / after);
}

function expectClose(actual: Float32Array | undefined, expected: number[]): void {
  expect(actual).toBeDefined();
  expect(actual!.length).toBe(expected.length);
  let worst = 0;
  for (let i = 0; i < expected.length; i++) worst = Math.max(worst, Math.abs(actual![i] - expected[i]) / Math.max(1, Math.abs(expected[i])));
  expect(worst).toBeLessThan(2e-6);
}

/**
 * The layered tiny encoder under A1111's clip skip N: hidden_states[-N] (of 0..L: h_k = 1.1·h_{k−1} + bias_k), then
 * torch LayerNorm with the final norm's weights, then emphasis as in a1111Chunk.
 */
function a1111ClipSkipChunk(tokens: number[], weights: number[], clipSkip: number): number[] {
  const ids = [BOS, ...tokens, EOS, ...new Array<number>(75 - tokens.length).fill(EOS)];
  const mults = [1, ...weights, ...new Array<number>(76 - weights.length).fill(1)];
  const layer = LAYERS + 1 - clipSkip;
  const z = ids.flatMap((id, t) => {
    let h = Array.from({ length: C }, (_, c) => id * (c + 1) * 1e-4 + t * 0.01);
    for (let k = 1; k <= layer; k++) h = h.map((v, c) => 1.1 * v + TINY_LAYER_BIAS(k, c));
    const mean = h.reduce((a, b) => a + b, 0) / C;
    const variance = h.reduce((a, b) => a + (b - mean) ** 2, 0) / C;
    return h.map((v, c) => ((v - mean) / Math.sqrt(variance + TINY_FINAL_NORM.epsilon)) * TINY_FINAL_NORM.weight(c) + TINY_FINAL_NORM.bias(c));
  });
  const mean = (v: number[]) => v.reduce((a, b) => a + b, 0) / v.length;
  const before = mean(z);
  const weighted = z.map((v, i) => v * mults[Math.floor(i / C)]);
  const after = mean(weighted);
  return weighted.map((v) => (v * before) / after);
}

async function encode(m: LoadedModel, prompt: string, negativePrompt = '', cfg = 7, clipSkip?: number) {
  const gen = new Generation(m, request(prompt, negativePrompt, cfg, clipSkip), new RunClock(), {});
  await gen.encodePrompts();
  return gen.conditioning!;
}

describe('conditioning of weighted, chunked prompts', () => {
  it('scales tokens by their weights and restores the chunk mean, chunk by chunk, in order', async () => {
    const { cond } = await encode(model, 'a (cat:1.5) [dog] BREAK (a:0.5)', '', 1);
    expectClose(cond, [...a1111Chunk([A, CAT, DOG], [1, 1.5, 1 / 1.1]), ...a1111Chunk([A], [0.5])]);
    // The weights are visible: the unweighted chunk differs.
    const plain = a1111Chunk([A, CAT, DOG], [1, 1, 1]);
    expect(Math.abs(cond![2 * C] - plain[2 * C])).toBeGreaterThan(1e-3);
  });

  it('leaves an unweighted prompt exactly as the encoder gave it', async () => {
    const { cond } = await encode(model, 'a cat', '', 1);
    expectClose(cond, a1111Chunk([A, CAT], [1, 1]));
  });

  it('joins the chunks of a prompt over 75 tokens along the sequence axis', async () => {
    const { cond } = await encode(model, Array(80).fill('cat').join(' '), '', 1);
    expectClose(cond, [...a1111Chunk(Array(75).fill(CAT), Array(75).fill(1)), ...a1111Chunk(Array(5).fill(CAT), Array(5).fill(1))]);
  });

  it("encodes chunk by chunk when the text encoder's batch is fixed to 1, with the same result", async () => {
    const prompt = `${Array(80).fill('cat').join(' ')} BREAK (dog:1.3)`;
    const { cond } = await encode(batchOne, prompt, '', 1);
    expectClose(cond, [
      ...a1111Chunk(Array(75).fill(CAT), Array(75).fill(1)),
      ...a1111Chunk(Array(5).fill(CAT), Array(5).fill(1)),
      ...a1111Chunk([DOG], [1.3]),
    ]);
  });

  it("pads the negative prompt with empty-prompt chunks to the prompt's length (A1111 pad_cond)", async () => {
    const { cond, uncond } = await encode(model, 'a cat BREAK dog', 'dog');
    expectClose(cond, [...a1111Chunk([A, CAT], [1, 1]), ...a1111Chunk([DOG], [1])]);
    expectClose(uncond, [...a1111Chunk([DOG], [1]), ...a1111Chunk([], [])]);
  });

  it('pads the prompt when the negative prompt is longer', async () => {
    const { cond, uncond } = await encode(model, 'cat', 'a BREAK a BREAK (dog:2)');
    expectClose(cond, [...a1111Chunk([CAT], [1]), ...a1111Chunk([], []), ...a1111Chunk([], [])]);
    expectClose(uncond, [...a1111Chunk([A], [1]), ...a1111Chunk([A], [1]), ...a1111Chunk([DOG], [2])]);
  });

  it('feeds SD 2.x chunks with pad id 0 after the first EOS', async () => {
    const { cond } = await encode(sd2, '(cat:1.2)', '', 1);
    expectClose(cond, a1111Chunk([CAT], [1.2], 0));
  });

  it("feeds an embedding's ids in place of its name and lists it in the PNG's TI hashes", async () => {
    const easy = { name: 'EasyNegative', ids: [49408, 49409], hash: 'c74b4e810b' };
    const lookup: EmbeddingLookup = { find: (word) => (word === easy.name || word === `embedding:${easy.name}` ? easy : undefined) };
    // The linear tiny encoder reads ids as numbers, so the model's own encoder shows which ids were fed.
    const embeddings: JobEmbeddings = { lookup, withTextEncoders: (fn) => fn([{ session: model.textEncoder }]) };
    const gen = new Generation(model, request('a (cat:1.5)', 'embedding:EasyNegative'), new RunClock(), {}, embeddings);
    await gen.encodePrompts();
    expectClose(gen.conditioning!.uncond, a1111Chunk(easy.ids, [1, 1]));
    const out = await runPipeline(model, request('a (cat:1.5)', 'embedding:EasyNegative'), {}, new RunClock(), embeddings);
    expect(out.images[0].parameters).toBe(
      'a (cat:1.5)\nNegative prompt: embedding:EasyNegative\nSteps: 1, Sampler: Euler, CFG scale: 7, Seed: 1, Size: 64x64, Model: linear, TI hashes: "EasyNegative: c74b4e810b"',
    );
  });
});

describe('clip skip', () => {
  it("is the last layer's normalised output at 1, the same LayerNorm the test applies", async () => {
    expectClose((await encode(layered, 'a cat', '', 1, 1)).cond, a1111ClipSkipChunk([A, CAT], [1, 1], 1));
  });

  it.each([2, 3, 4])('reads hidden_states[-%i] through the final layer norm, then applies the weights', async (clipSkip) => {
    const { cond } = await encode(layered, 'a (cat:1.3)', '', 1, clipSkip);
    expectClose(cond, a1111ClipSkipChunk([A, CAT], [1, 1.3], clipSkip));
    // Clip skip changes the conditioning.
    expect(Math.abs(cond![C] - a1111ClipSkipChunk([A, CAT], [1, 1.3], 1)[C])).toBeGreaterThan(1e-3);
  });

  it('refuses more layers than the encoder has, and an encoder without hidden states, naming what is missing', async () => {
    await expect(encode(layered, 'a cat', '', 1, 5)).rejects.toThrow(
      'Model "layered" cannot use clip skip 5: its text encoder has 3 layers (outputs hidden_states.0 to hidden_states.3), so the most is clip skip 4.',
    );
    await expect(runPipeline(model, { ...request('a cat'), clipSkip: 2 }, {}, new RunClock())).rejects.toThrow(
      'Model "linear" cannot use clip skip 2: its text encoder (text_encoder/model.onnx) has no "hidden_states.N" outputs (it was exported without output_hidden_states). Use clip skip 1, or re-export the text encoder with its hidden states.',
    );
  });

  it('writes Clip skip into the PNG parameters above 1 only', async () => {
    const two = await runPipeline(layered, { ...request('a cat', '', 1), model: 'layered', clipSkip: 2 }, {}, new RunClock());
    expect(two.images[0].parameters).toMatch(/, Clip skip: 2$/);
    const one = await runPipeline(layered, { ...request('a cat', '', 1), model: 'layered', clipSkip: 1 }, {}, new RunClock());
    expect(one.images[0].parameters).not.toContain('Clip skip');
  });
});
