/**
 * Textual-inversion embeddings on SDXL (#18), as A1111 applies them: an SDXL file's clip_l vectors take the
 * embedding's token positions in text_encoder and its clip_g vectors the same positions in text_encoder_2; the
 * pooled `text_embeds` still comes from text_encoder_2 at the EOS position. The tiny encoders are token tables
 * (SDXL_TABLE), so the expected conditioning is computed here position by position, as A1111's embedding hook sees
 * it (x_t = the embedding's vector, else the table row, + position), and any swap, shift, missing half or pooled
 * position shows. Both pooling variants of real exports are covered: at the highest input id (transformers'
 * legacy CLIP, which SDXL's text_encoder_2 config selects) and at the first EOS.
 */
import { createHash } from 'node:crypto';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { UserError } from '../../src/errors.js';
import { createEngine, type OnnxEngineHandle } from '../../src/inference/engine.js';
import { pngToRgb } from '../../src/inference/image/pixels.js';
import { loadModel, makeScheduler, releaseModel, type LoadedModel } from '../../src/inference/model/loaded-model.js';
import { RunClock, type Feed } from '../../src/inference/model/session.js';
import { Generation, type JobEmbeddings } from '../../src/inference/pipelines/generation.js';
import { ClipTokenizer } from '../../src/inference/prompt/clip-tokenizer.js';
import { EmbeddingLibrary } from '../../src/inference/prompt/embedding-files.js';
import { embeddingSetFor, inputIdsFor } from '../../src/inference/prompt/embedding-set.js';
import { encodeSafetensors } from '../../src/inference/weights/safetensors.js';
import { inspectModelFolder } from '../../src/model-folder/model-folder.js';
import type { GenerateRequest } from '../../src/protocol/generate-request.js';
import { readPngText } from '../../src/protocol/png-text.js';
import { smallRequest } from '../fixtures/requests.js';
import { CLIP_TOKENIZER_DIR, makeTempDir, SDXL_TABLE, SDXL_TINY, writeTinyModel, writeTinySdxlModel } from '../fixtures/tiny-models.js';
import { tinyEncoder } from './model/tiny-encoder.js';
import { f32Bytes, Op, PickleWriter, zip } from './weights/torch-file.js';

const W1 = SDXL_TINY.width1;
const W2 = SDXL_TINY.width2;
const BOS = 49406;
const EOS = 49407;
const VOCAB = 49408;

/** Rows of an embedding, distinct per encoder and per vector, far from any table row. */
const rowsOf = (count: number, width: number, seed: number) =>
  Array.from({ length: count }, (_, k) => Array.from({ length: width }, (_, c) => Math.fround((((seed + 3 * k + c) % 7) - 3) * 0.45 + 0.2 * k)));
const NEG = { l: rowsOf(2, W1, 1), g: rowsOf(2, W2, 5) };
const STYLE = { l: rowsOf(1, W1, 11), g: rowsOf(1, W2, 17) };

/** An SDXL embedding as a .pt (torch.save of {'clip_g': tensor, 'clip_l': tensor}), as SDXL TI trainers write it. */
function sdxlPt(l: number[][], g: number[][]): Uint8Array {
  const p = new PickleWriter().proto(2).op(Op.EMPTY_DICT).put().op(Op.MARK);
  p.str('clip_g').tensor('FloatStorage', '0', g.length * W2, [g.length, W2], [W2, 1]);
  p.str('clip_l').tensor('FloatStorage', '1', l.length * W1, [l.length, W1], [W1, 1]);
  p.op(Op.SETITEMS).op(Op.STOP);
  return zip({
    'styleXL/data.pkl': p.bytes(),
    'styleXL/byteorder': new TextEncoder().encode('little'),
    'styleXL/data/0': f32Bytes(g.flat()),
    'styleXL/data/1': f32Bytes(l.flat()),
    'styleXL/version': new TextEncoder().encode('3\n'),
  });
}

let root: string;
let modelsDir: string;
let embeddingsDir: string;
let library: EmbeddingLibrary;
let tok: ClipTokenizer;
const files: Record<string, Uint8Array> = {};

beforeAll(async () => {
  root = await makeTempDir('imagine-sdxl-ti-');
  modelsDir = path.join(root, 'models');
  embeddingsDir = path.join(root, 'embeddings');
  await writeTinySdxlModel(path.join(modelsDir, 'xl-argmax'), { tokenTable: 'argmax' });
  await writeTinySdxlModel(path.join(modelsDir, 'xl-eos'), { tokenTable: 'eos' });
  // An SD 1.x model whose text encoder is as wide as SDXL's clip_l: an SDXL file must still be refused there.
  const sd1 = await writeTinyModel(path.join(modelsDir, 'sd1'), { hiddenSize: W1 });
  await writeFile(path.join(sd1, 'text_encoder', 'model.onnx'), tinyEncoder({ vocab: VOCAB, width: W1 }));
  await mkdir(embeddingsDir, { recursive: true });
  files.negXL = encodeSafetensors({ clip_l: { shape: [2, W1], data: NEG.l.flat() }, clip_g: { shape: [2, W2], data: NEG.g.flat() } });
  files.styleXL = sdxlPt(STYLE.l, STYLE.g);
  // A single-encoder (SD 1.x-style) file as wide as clip_l.
  files.sd1style = encodeSafetensors({ emb_params: { shape: [1, W1], data: rowsOf(1, W1, 3).flat() } });
  await writeFile(path.join(embeddingsDir, 'negXL.safetensors'), files.negXL);
  await writeFile(path.join(embeddingsDir, 'styleXL.pt'), files.styleXL);
  await writeFile(path.join(embeddingsDir, 'sd1style.safetensors'), files.sd1style);
  library = await EmbeddingLibrary.scan(embeddingsDir);
  tok = await ClipTokenizer.fromFolder(CLIP_TOKENIZER_DIR);
});

afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

// --- the reference: A1111's embedding hook on the fixture's formulas -------------------------------------------

/** One prompt position: a token, or an embedding's vector for each encoder. */
type Slot = { id: number } | { l: number[]; g: number[] };
const words = (text: string): Slot[] => tok.tokenizeWords(text).map((id) => ({ id }));
const embedding = (e: { l: number[][]; g: number[][] }): Slot[] => e.l.map((l, k) => ({ l, g: e.g[k] }));

/** The encoder's layer output for 77 positions: sin((x_t + position(t)) · layer) with x_t the slot's vector. */
function encoderLayer(encoder: 1 | 2, slots: Slot[], layer: number): Float32Array {
  const width = encoder === 1 ? W1 : W2;
  const w = SDXL_TABLE.layer(encoder, layer);
  const out = new Float32Array(77 * width);
  slots.forEach((slot, t) => {
    const x = 'id' in slot ? SDXL_TABLE.row(encoder, slot.id) : encoder === 1 ? slot.l : slot.g;
    for (let c = 0; c < width; c++) out[t * width + c] = Math.sin(Math.fround(Math.fround(x[c] + SDXL_TABLE.position(t, c)) * w[c]));
  });
  return out;
}

/** A1111's emphasis "Original" on one encoder's chunk: z·m per token, then the chunk's mean restored. */
function emphasis(z: Float32Array, multipliers: number[]): Float32Array {
  const width = z.length / 77;
  const before = z.reduce((a, b) => a + b, 0) / z.length;
  const out = z.map((v, i) => v * multipliers[Math.floor(i / width)]);
  const after = out.reduce((a, b) => a + b, 0) / out.length;
  return out.map((v) => (v * before) / after);
}

/**
 * One chunk as A1111 conditions SDXL: [BOS, slots, EOS, padding] (EOS padding for CLIP-L, 0 after the EOS for
 * CLIP-G), penultimate layer of each encoder with the chunk's weights, joined on the channel axis; pooled from
 * text_encoder_2's last layer at the EOS.
 */
function a1111Chunk(slots: Slot[], weights: number[] = slots.map(() => 1)) {
  const eosAt = slots.length + 1;
  const sequence1: Slot[] = [{ id: BOS }, ...slots, ...Array.from({ length: 77 - eosAt }, () => ({ id: EOS }))];
  const sequence2: Slot[] = [{ id: BOS }, ...slots, { id: EOS }, ...Array.from({ length: 76 - eosAt }, () => ({ id: 0 }))];
  const multipliers = [1, ...weights, ...new Array<number>(77 - eosAt).fill(1)];
  const a = emphasis(encoderLayer(1, sequence1, SDXL_TINY.layers1 - 1), multipliers);
  const b = emphasis(encoderLayer(2, sequence2, SDXL_TINY.layers2 - 1), multipliers);
  const embeds = new Float32Array(77 * (W1 + W2));
  for (let t = 0; t < 77; t++) {
    embeds.set(a.subarray(t * W1, (t + 1) * W1), t * (W1 + W2));
    embeds.set(b.subarray(t * W2, (t + 1) * W2), t * (W1 + W2) + W1);
  }
  const last = encoderLayer(2, sequence2, SDXL_TINY.layers2);
  const pooledAt = (t: number) => Float32Array.from({ length: W2 }, (_, c) => last[t * W2 + c] * SDXL_TABLE.pooled[c]);
  return { embeds, pooled: pooledAt(eosAt), pooledAt };
}

function cat(...parts: ArrayLike<number>[]): Float32Array {
  const out = new Float32Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

function maxDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  expect(a.length).toBe(b.length);
  let worst = 0;
  for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs(a[i] - b[i]));
  return worst;
}

// --- the engine's side -----------------------------------------------------------------------------------------

function jobEmbeddings(model: LoadedModel): { job: JobEmbeddings; release: () => Promise<void> } {
  const set = embeddingSetFor(model, library);
  const lookup = set.lookup();
  return { job: { lookup, withTextEncoders: (fn) => set.withTextEncoders(lookup, fn) }, release: () => set.release() };
}

const request = (overrides: Partial<GenerateRequest>): GenerateRequest =>
  smallRequest({
    model: 'xl-argmax',
    prompt: 'a photo of (styleXL:1.3) cat',
    negativePrompt: 'embedding:negXL, blurry',
    cfg: 5,
    seed: 3,
    ...overrides,
  });

/** The UNet's feeds for one step of a Generation with the library's embeddings. */
async function unetFeeds(model: LoadedModel, req: GenerateRequest): Promise<Record<string, Feed>> {
  const calls: Record<string, Feed>[] = [];
  const spy = vi.spyOn(model.unet, 'run').mockImplementation(async (feeds) => {
    calls.push(feeds);
    const n = (feeds.sample.dims as number[]).reduce((a, b) => a * b, 1);
    return { out_sample: { data: new Float32Array(n), dims: [...feeds.sample.dims] } };
  });
  const { job, release } = jobEmbeddings(model);
  try {
    const gen = new Generation(model, { ...req, steps: 1 }, new RunClock(), {}, job);
    await gen.encodePrompts();
    const { scheduler } = makeScheduler(model.folder, 'euler');
    scheduler.setTimesteps(1);
    await gen.denoise(0, 1, req.width, req.height, scheduler);
    expect(gen.embeddingsUsed.map((e) => e.name)).toEqual(embeddingNames(req));
  } finally {
    spy.mockRestore();
    await release();
  }
  expect(calls).toHaveLength(1);
  return calls[0];
}

const embeddingNames = (req: GenerateRequest) =>
  [req.prompt, req.cfg > 1 ? req.negativePrompt : ''].flatMap((p) => p.match(/negXL|styleXL/g) ?? []).filter((n, i, all) => all.indexOf(n) === i);

describe('SDXL textual inversion: clip_l to text_encoder, clip_g to text_encoder_2, at the same positions', () => {
  const models: Record<string, LoadedModel> = {};
  beforeAll(async () => {
    for (const name of ['xl-argmax', 'xl-eos']) models[name] = await loadModel(await inspectModelFolder(path.join(modelsDir, name)), {});
  });
  afterAll(async () => {
    for (const model of Object.values(models)) await releaseModel(model);
  });

  it.each(['xl-argmax', 'xl-eos'])(
    '%s: conditioning and pooled vector equal A1111 for a weighted .pt embedding in the prompt and a .safetensors one in the negative',
    async (name) => {
      const call = await unetFeeds(models[name], request({ model: name }));
      const prompt = a1111Chunk([...words('a photo of'), ...embedding(STYLE), ...words('cat')], [1, 1, 1, 1.3, 1]);
      const negative = a1111Chunk([...embedding(NEG), ...words(', blurry')]);
      expect(call.encoder_hidden_states.dims).toEqual([2, 77, W1 + W2]);
      expect(maxDiff(call.encoder_hidden_states.data, cat(negative.embeds, prompt.embeds))).toBeLessThan(1e-5);
      expect(call.text_embeds.dims).toEqual([2, W2]);
      expect(maxDiff(call.text_embeds.data, cat(negative.pooled, prompt.pooled))).toBeLessThan(1e-5);

      // The reference can tell the mistakes apart: the plain word's rows differ from the embedding's in both
      // encoders' channels, and pooling at the embedding (the highest id) instead of at EOS changes text_embeds.
      const plain = a1111Chunk([...words('a photo of'), ...words('styleXL'), ...words('cat')]);
      const at = (z: Float32Array, t: number, from: number, to: number) => z.subarray(t * (W1 + W2) + from, t * (W1 + W2) + to);
      expect(maxDiff(at(prompt.embeds, 4, 0, W1), at(plain.embeds, 4, 0, W1))).toBeGreaterThan(0.1);
      expect(maxDiff(at(prompt.embeds, 4, W1, W1 + W2), at(plain.embeds, 4, W1, W1 + W2))).toBeGreaterThan(0.1);
      expect(maxDiff(prompt.pooledAt(4), prompt.pooled)).toBeGreaterThan(0.005);
      expect(maxDiff(negative.pooledAt(2), negative.pooled)).toBeGreaterThan(0.005);
    },
  );

  it('keeps an embedding whole in the next chunk on both encoders, and pools from the first chunk only', async () => {
    const model = models['xl-argmax'];
    const cats = 'cat '.repeat(74);
    // 74 tokens + 2 vectors do not fit in 75: negXL starts chunk 2 at position 1 in both encoders.
    const call = await unetFeeds(model, request({ prompt: `${cats}negXL`, cfg: 1 }));
    const first = a1111Chunk(words(cats));
    const second = a1111Chunk(embedding(NEG));
    expect(call.encoder_hidden_states.dims).toEqual([1, 154, W1 + W2]);
    expect(maxDiff(call.encoder_hidden_states.data, cat(first.embeds, second.embeds))).toBeLessThan(1e-5);
    expect(maxDiff(call.text_embeds.data, first.pooled)).toBeLessThan(1e-5);
  });

  it('ignores clip skip on SDXL with embeddings too, as A1111 does by default (both encoders keep their penultimate layer)', async () => {
    const model = models['xl-eos'];
    const one = await unetFeeds(model, request({ model: 'xl-eos' }));
    const two = await unetFeeds(model, request({ model: 'xl-eos', clipSkip: 2 }));
    expect(maxDiff(two.encoder_hidden_states.data, one.encoder_hidden_states.data)).toBe(0);
    expect(maxDiff(two.text_embeds.data, one.text_embeds.data)).toBe(0);
  });

  it('grows both tables once per set; an encoder that pools at the highest id is fed a copy of EOS above the embeddings', async () => {
    for (const [name, pools] of [
      ['xl-argmax', 'highest id'],
      ['xl-eos', 'first EOS'],
    ] as const) {
      const model = models[name];
      const set = embeddingSetFor(model, library);
      const lookup = set.lookup();
      const slots = embedding(NEG);
      const ids = [BOS, ...lookup.find('negXL')!.ids, EOS, ...new Array<number>(73).fill(0)];
      expect(ids.slice(1, 3)).toEqual([VOCAB, VOCAB + 1]);
      const expected = a1111Chunk(slots);
      await set.withTextEncoders(lookup, async ([one, two]) => {
        expect(one.session).not.toBe(model.textEncoder);
        expect(two.session).not.toBe(model.sdxl!.textEncoder2);
        expect(one.eosStandIn).toBeUndefined();
        expect(two.eosStandIn).toEqual(pools === 'highest id' ? { eos: EOS, id: VOCAB + 2 } : undefined);
        const run = async (feed: Int32Array) =>
          (await two.session.run({ input_ids: { data: feed, dims: [1, 77] } }, ['text_embeds'])).text_embeds.data;
        expect(maxDiff(await run(inputIdsFor(two, ids)), expected.pooled)).toBeLessThan(1e-5);
        // Fed the tokenizer's ids as they are, an encoder that pools at the highest id would read the embedding.
        const raw = await run(Int32Array.from(ids));
        expect(maxDiff(raw, pools === 'highest id' ? expected.pooledAt(2) : expected.pooled)).toBeLessThan(1e-5);
      });
      expect(set.cachedSessions).toBe(1);
      await set.withTextEncoders(set.lookup(), async ([one]) => expect(one.session).toBe(model.textEncoder));
      await set.release();
      expect(set.cachedSessions).toBe(0);
    }
  });
});

describe('SDXL textual inversion through the engine', () => {
  let engine: OnnxEngineHandle;
  beforeAll(async () => {
    engine = await createEngine({ modelsDir, embeddingsDir });
  });
  afterAll(async () => {
    await engine?.dispose();
  });

  const shortHash = (name: string) => createHash('sha256').update(files[name]).digest('hex').slice(0, 12);

  it('draws with SDXL embeddings in prompt and negative, writes TI hashes, and repeats exactly from the cached encoders', async () => {
    const req = request({ prompt: 'a photo of styleXL cat', negativePrompt: 'embedding:negXL' });
    const withTi = await engine.generate(req);
    const parameters = readPngText(withTi.images[0].png).get('parameters')!;
    expect(parameters.split('\n')[0]).toBe('a photo of styleXL cat');
    expect(parameters).toMatch(new RegExp(`, TI hashes: "styleXL: ${shortHash('styleXL')}, negXL: ${shortHash('negXL')}"$`));
    expect(shortHash('negXL')).toBe(
      createHash('sha256')
        .update(await readFile(path.join(embeddingsDir, 'negXL.safetensors')))
        .digest('hex')
        .slice(0, 12),
    );
    const plain = await engine.generate({ ...req, prompt: 'a photo of style cat', negativePrompt: 'blurry' });
    expect(readPngText(plain.images[0].png).get('parameters')).not.toMatch(/TI hashes/);
    const [a, b, again] = await Promise.all([withTi, plain, engine.generate(req)].map(async (r) => pngToRgb((await r).images[0].png)));
    expect(a.equals(b)).toBe(false);
    expect(again.equals(a)).toBe(true);
  });

  it('refuses a single-encoder embedding on SDXL and an SDXL embedding on SD 1.x, naming both', async () => {
    const onXl = engine.generate(request({ prompt: 'a sd1style cat' }));
    await expect(onXl).rejects.toThrow(UserError);
    await expect(onXl).rejects.toThrow(
      'The embedding sd1style is for 8 wide models, but this model is SDXL (text encoders 8 + 12 wide). Remove it from the prompt or use one made for this model.',
    );
    const onSd1 = engine.generate(smallRequest({ model: 'sd1', prompt: 'a cat', negativePrompt: 'negXL' }));
    await expect(onSd1).rejects.toThrow(UserError);
    await expect(onSd1).rejects.toThrow(
      'The embedding negXL is for SDXL (clip_l 8 + clip_g 12) models, but this model is 8-wide (text encoder 8 wide).',
    );
  });
});
