import { mkdtemp, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { ModelLoadError, UserError } from '../../../src/errors.js';
import { ModelSession } from '../../../src/inference/model/session.js';
import { ClipTokenizer } from '../../../src/inference/prompt/clip-tokenizer.js';
import { EmbeddingLibrary } from '../../../src/inference/prompt/embedding-files.js';
import { EmbeddingSet, embeddingSetFor } from '../../../src/inference/prompt/embedding-set.js';
import type { EmbeddingLookup } from '../../../src/inference/prompt/embeddings.js';
import { encodeSafetensors } from '../../../src/inference/weights/safetensors.js';
import { CLIP_TOKENIZER_DIR } from '../../fixtures/tiny-models.js';
import { a1111Embedding } from '../weights/torch-file.js';
import { tableValue, tinyEncoder, tinyEncoderWithExternalData } from '../model/tiny-encoder.js';

const WIDTH = 4;
const VOCAB = 49408;

let tokenizer: ClipTokenizer;
let library: EmbeddingLibrary;
let model: Uint8Array;
let base: ModelSession;

const NEG = [
  [1.5, -2, 3.25, 4],
  [-0.5, 0.75, 100, -1000],
];
const STYLE = [[9, 8, 7, 6]];

beforeAll(async () => {
  tokenizer = await ClipTokenizer.fromFolder(CLIP_TOKENIZER_DIR);
  const dir = await mkdtemp(path.join(os.tmpdir(), 'embedding-set-'));
  await writeFile(path.join(dir, 'EasyNegative.safetensors'), encodeSafetensors({ emb_params: { shape: [2, WIDTH], data: NEG.flat() } }));
  await writeFile(path.join(dir, 'my-style.pt'), a1111Embedding('my-style', STYLE));
  await writeFile(path.join(dir, 'wide.pt'), a1111Embedding('wide', [[1, 2, 3, 4, 5, 6]]));
  library = await EmbeddingLibrary.scan(dir);
  // The token table is the whole encoder: last_hidden_state[k] = table[input_ids[k]], predictable exactly.
  model = tinyEncoder({ vocab: VOCAB, width: WIDTH });
  base = await ModelSession.fromBytes(model, 'text_encoder/model.onnx');
});

/** A stand-in for the chunker: splits on spaces and commas, asks the lookup first, else tokenizes the word. */
function promptIds(prompt: string, lookup: EmbeddingLookup): number[] {
  const ids = [tokenizer.bosTokenId];
  for (const word of prompt.split(/[\s,]+/).filter(Boolean)) {
    const embedding = lookup.find(word);
    ids.push(...(embedding ? embedding.ids : tokenizer.encode(word).ids.slice(1, -1)));
  }
  ids.push(tokenizer.eosTokenId);
  return ids;
}

function makeSet(cacheSize = 2): EmbeddingSet {
  return new EmbeddingSet({
    library,
    encoders: [{ session: base, modelFile: 'text_encoder/model.onnx', target: { width: WIDTH }, readModel: async () => model }],
    vocabSize: tokenizer.vocabSize,
    cacheSize,
  });
}

async function hidden(
  set: EmbeddingSet,
  lookup: ReturnType<EmbeddingSet['lookup']>,
  ids: number[],
): Promise<{ rows: number[][]; encoder: ModelSession }> {
  return set.withTextEncoders(lookup, async ([{ session: encoder }]) => {
    const out = await encoder.run({ input_ids: { data: ids, dims: [1, ids.length] } }, ['last_hidden_state']);
    const rows = ids.map((_, k) => Array.from(out.last_hidden_state.data.subarray(k * WIDTH, (k + 1) * WIDTH)));
    return { rows, encoder };
  });
}

const tableRow = (id: number) => Array.from({ length: WIDTH }, (_, c) => tableValue(id, c));

describe('EmbeddingSet end to end', () => {
  it('prompt words → ids → grown encoder: hidden states are the embedding rows at their positions, the vocabulary elsewhere', async () => {
    const set = makeSet();
    const lookup = set.lookup();
    const ids = promptIds('a photo, embedding:my-style cat easynegative', lookup);
    // Ids are handed out in order of first use, after the vocabulary.
    expect(lookup.find('my-style')).toMatchObject({ name: 'my-style', ids: [VOCAB] });
    expect(lookup.find('EasyNegative')).toMatchObject({
      name: 'EasyNegative',
      ids: [VOCAB + 1, VOCAB + 2],
      hash: expect.stringMatching(/^[0-9a-f]{12}$/),
    });
    expect(ids.slice(3)).toEqual([VOCAB, ...tokenizer.encode('cat').ids.slice(1, -1), VOCAB + 1, VOCAB + 2, tokenizer.eosTokenId]);
    const { rows } = await hidden(set, lookup, ids);
    expect(rows[3]).toEqual(STYLE[0]);
    expect(rows[5]).toEqual(NEG[0]);
    expect(rows[6]).toEqual(NEG[1]);
    expect(rows[0]).toEqual(tableRow(tokenizer.bosTokenId));
    expect(rows[4]).toEqual(tableRow(ids[4]));
    expect(rows[7]).toEqual(tableRow(tokenizer.eosTokenId));
    await set.release();
  });

  it('uses the model encoder for prompts without embeddings, and caches grown encoders per set (LRU)', async () => {
    const set = makeSet(1);
    const plain = set.lookup();
    expect((await hidden(set, plain, promptIds('a cat', plain))).encoder).toBe(base);
    expect(set.cachedSessions).toBe(0);

    const first = set.lookup();
    const a = await hidden(set, first, promptIds('EasyNegative', first));
    const again = set.lookup();
    const b = await hidden(set, again, promptIds('a easynegative', again));
    expect(b.encoder).toBe(a.encoder);
    expect(set.cachedSessions).toBe(1);

    const other = set.lookup();
    const c = await hidden(set, other, promptIds('my-style EasyNegative', other));
    expect(c.encoder).not.toBe(a.encoder);
    expect(c.rows[1]).toEqual(STYLE[0]);
    expect(c.rows[2]).toEqual(NEG[0]);
    expect(set.cachedSessions).toBe(1); // the EasyNegative-only encoder was released
    await set.release();
    expect(set.cachedSessions).toBe(0);
  });

  it('refuses an embedding of another width when the prompt names it', () => {
    const lookup = makeSet().lookup();
    expect(() => lookup.find('wide')).toThrow(UserError);
    expect(() => lookup.find('wide')).toThrow('The embedding wide is for 6 wide models, but this model is 4-wide (text encoder 4 wide).');
  });

  it('says how many bytes its grown encoders hold, and reserves room before growing a new set', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'te-held-'));
    const file = path.join(dir, 'model.onnx');
    await writeFile(file, model);
    const reserved: number[] = [];
    const set = new EmbeddingSet({
      library,
      encoders: [{ session: base, modelFile: file, target: { width: WIDTH } }],
      vocabSize: tokenizer.vocabSize,
      cacheSize: 1,
      reserve: async (bytes) => void reserved.push(bytes),
    });
    expect(set.heldBytes).toBe(0);
    const first = set.lookup();
    await hidden(set, first, promptIds('EasyNegative', first));
    // The folder's size (model.onnx alone here) asked for before growing; the grown copy is the table plus 2 rows.
    expect(reserved).toEqual([model.byteLength]);
    const grown = set.heldBytes;
    expect(grown).toBeGreaterThanOrEqual(model.byteLength + 2 * WIDTH * 4);
    expect(grown).toBeLessThan(model.byteLength + 4096);
    const again = set.lookup();
    await hidden(set, again, promptIds('EasyNegative', again));
    expect(reserved).toHaveLength(1);
    // A second set evicts the first (cacheSize 1): the bytes are those of one grown copy, then none after release.
    const other = set.lookup();
    await hidden(set, other, promptIds('my-style', other));
    expect(reserved).toHaveLength(2);
    expect(set.heldBytes).toBeGreaterThan(0);
    expect(set.heldBytes).toBeLessThan(grown + 4096);
    await set.release();
    expect(set.heldBytes).toBe(0);
  });

  it('embeddingSetFor reads the model file from disk and takes vocabulary and width from the loaded model', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'te-'));
    const file = path.join(dir, 'model.onnx');
    await writeFile(file, model);
    const textEncoder = await ModelSession.load(file);
    const set = embeddingSetFor({ textEncoder, tokenizer, unetContract: { hiddenSize: 999 } as never }, library);
    const lookup = set.lookup();
    const ids = promptIds('EasyNegative', lookup);
    expect(ids).toEqual([tokenizer.bosTokenId, VOCAB, VOCAB + 1, tokenizer.eosTokenId]);
    const { rows, encoder } = await hidden(set, lookup, ids);
    expect(encoder.file).toBe(file);
    expect(rows.slice(1, 3)).toEqual(NEG);
    await set.release();
    await textEncoder.release();
  });

  it('grows an encoder whose weights are in an external file (table inlined, the rest handed over from memory)', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'te-external-'));
    const file = path.join(dir, 'model.onnx');
    const { model: external, data } = tinyEncoderWithExternalData(VOCAB, WIDTH, [1, 1, 1, 1]);
    await writeFile(file, external);
    await writeFile(path.join(dir, 'weights.pb'), data);
    const textEncoder = await ModelSession.load(file);
    const set = embeddingSetFor({ textEncoder, tokenizer, unetContract: { hiddenSize: WIDTH } as never }, library);
    const lookup = set.lookup();
    const ids = promptIds('a my-style', lookup);
    const { rows } = await hidden(set, lookup, ids);
    expect(rows[2]).toEqual(STYLE[0].map((v) => v + 1));
    expect(rows[1]).toEqual(tableRow(ids[1]).map((v) => v + 1));
    await set.release();
    await textEncoder.release();
  });

  it('hands a large external weights file over in pieces (readFile stops at 2 GiB; an fp32 SDXL text_encoder_2 has 2.8 GB)', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'te-pieces-'));
    const file = path.join(dir, 'model.onnx');
    const { model: external, data } = tinyEncoderWithExternalData(VOCAB, WIDTH, [2, 0, -2, 1]);
    await writeFile(file, external);
    await writeFile(path.join(dir, 'weights.pb'), data);
    const textEncoder = await ModelSession.load(file);
    // weights.pb is ~790 kB: above a 1000-byte piece, so the bias is handed over as a piece of its own.
    const set = new EmbeddingSet({
      library,
      encoders: [{ session: textEncoder, modelFile: file, target: { width: WIDTH } }],
      vocabSize: tokenizer.vocabSize,
      maxPiece: 1000,
    });
    const lookup = set.lookup();
    const ids = promptIds('a my-style', lookup);
    const { rows } = await hidden(set, lookup, ids);
    expect(rows[2]).toEqual(STYLE[0].map((v, c) => v + [2, 0, -2, 1][c]));
    expect(rows[1]).toEqual(tableRow(ids[1]).map((v, c) => v + [2, 0, -2, 1][c]));
    await set.release();
    await textEncoder.release();
  });

  it('refuses a tokenizer that does not match the text encoder', async () => {
    const set = new EmbeddingSet({
      library,
      encoders: [{ session: base, modelFile: 'te/model.onnx', target: { width: WIDTH }, readModel: async () => model }],
      vocabSize: 1000,
    });
    const lookup = set.lookup();
    lookup.find('my-style');
    await expect(set.withTextEncoders(lookup, async () => 0)).rejects.toThrow(ModelLoadError);
    await expect(set.withTextEncoders(lookup, async () => 0)).rejects.toThrow(
      'te/model.onnx: the token table has 49408 rows but the tokenizer has 1000 tokens',
    );
    expect(set.cachedSessions).toBe(0);
  });
});
