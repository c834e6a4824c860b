import { mkdtemp, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import onnxProto from 'onnx-proto';
import { describe, expect, it } from 'vitest';
import { ModelLoadError } from '../../../src/errors.js';
import {
  externalDataFiles,
  findTokenEmbedding,
  growTokenEmbedding,
  readExternalTable,
  readTokenEmbeddingRow,
  TOKEN_EMBEDDING_NAME,
} from '../../../src/inference/model/onnx-initializers.js';
import { ModelSession } from '../../../src/inference/model/session.js';
import { tableValue, tinyEncoder, tinyEncoderWithExternalData } from './tiny-encoder.js';

const { onnx } = onnxProto;
const DataType = onnx.TensorProto.DataType;

async function embed(bytes: Uint8Array, ids: number[]): Promise<number[][]> {
  const session = await ModelSession.fromBytes(bytes, 'text_encoder/model.onnx');
  try {
    const out = await session.run({ input_ids: { data: ids, dims: [1, ids.length] } }, ['last_hidden_state']);
    const width = out.last_hidden_state.dims[2];
    return ids.map((_, k) => Array.from(out.last_hidden_state.data.subarray(k * width, (k + 1) * width)));
  } finally {
    await session.release();
  }
}

const NEW_ROWS = Float32Array.from([1.5, -2, 3.25, 4, -0.5, 0.75, 100, -1000]); // two rows of width 4, exact in fp16

describe('growTokenEmbedding', () => {
  it.each(['raw32', 'float_data', 'raw16', 'int32_data16'] as const)('appends rows to a %s table; old ids keep their rows', async (storage) => {
    const model = tinyEncoder({ storage });
    expect(findTokenEmbedding(model)).toEqual({
      name: TOKEN_EMBEDDING_NAME,
      vocabSize: 10,
      width: 4,
      dtype: storage.endsWith('16') ? 'float16' : 'float32',
    });
    const grown = growTokenEmbedding(model, NEW_ROWS);
    expect(grown.firstId).toBe(10);
    expect(findTokenEmbedding(grown.bytes).vocabSize).toBe(12);
    const rows = await embed(grown.bytes, [0, 9, 10, 11, 3]);
    expect(rows).toEqual([
      [0, 0.25, 0.5, 0.75],
      [4.5, 4.75, 5, 5.25],
      [1.5, -2, 3.25, 4],
      [-0.5, 0.75, 100, -1000],
      [1.5, 1.75, 2, 2.25],
    ]);
    // The original bytes are untouched and still load.
    expect(findTokenEmbedding(model).vocabSize).toBe(10);
  });

  it('reads and rewrites unpacked dims (proto2 writers)', async () => {
    const model = tinyEncoder({ vocab: 200, unpackedDims: true });
    expect(findTokenEmbedding(model)).toMatchObject({ vocabSize: 200, width: 4 });
    const grown = growTokenEmbedding(model, NEW_ROWS);
    expect(findTokenEmbedding(grown.bytes).vocabSize).toBe(202);
    expect(await embed(grown.bytes, [199, 201])).toEqual([
      [99.5, 99.75, 100, 100.25],
      [-0.5, 0.75, 100, -1000],
    ]);
  });

  it('rounds rows to the nearest float16 for a float16 table', () => {
    const grown = growTokenEmbedding(tinyEncoder({ storage: 'raw16' }), Float32Array.from([0.1, 1 / 3, 70000, 1e-8]));
    expect(Array.from(readTokenEmbeddingRow(grown.bytes, 10))).toEqual([0.0999755859375, 0.333251953125, Infinity, 0]);
  });

  it('grows twice (ids keep counting) and keeps a large table intact across multi-byte length prefixes', async () => {
    // 300 × 64 fp32 = 76,800 bytes: the tensor, graph and raw_data lengths all need 3-byte varints, and grow.
    const model = tinyEncoder({ vocab: 300, width: 64 });
    const once = growTokenEmbedding(model, new Float32Array(64).fill(7));
    const twice = growTokenEmbedding(once.bytes, new Float32Array(128).fill(-3));
    expect(twice.firstId).toBe(301);
    const [r299, r300, r301, r302] = await embed(twice.bytes, [299, 300, 301, 302]);
    expect(r299[63]).toBe(tableValue(299, 63));
    expect(new Set(r300)).toEqual(new Set([7]));
    expect(new Set(r301)).toEqual(new Set([-3]));
    expect(new Set(r302)).toEqual(new Set([-3]));
  });

  it('finds a renamed table through the Gather that reads input_ids (after a Cast)', async () => {
    const model = tinyEncoder({ name: 'onnx::Gather_123', cast: true });
    expect(findTokenEmbedding(model).name).toBe('onnx::Gather_123');
    const grown = growTokenEmbedding(model, NEW_ROWS.subarray(0, 4));
    expect(await embed(grown.bytes, [10, 1])).toEqual([
      [1.5, -2, 3.25, 4],
      [0.5, 0.75, 1, 1.25],
    ]);
  });

  it('inlines an external-data table when given its bytes; other initializers stay external', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'external-'));
    const file = path.join(dir, 'model.onnx');
    const { model, data } = tinyEncoderWithExternalData(10, 4, [0.5, 0, 0, -1]);
    await writeFile(file, model);
    await writeFile(path.join(dir, 'weights.pb'), data);
    const info = findTokenEmbedding(model, file);
    expect(info).toMatchObject({ vocabSize: 10, width: 4, external: { location: 'weights.pb', offset: 16, length: 160 } });
    expect(() => growTokenEmbedding(model, NEW_ROWS, file)).toThrow(
      `${file}: the token embedding is stored as external data; read it with readExternalTable`,
    );
    const grown = growTokenEmbedding(model, NEW_ROWS, file, await readExternalTable(file, info));
    expect(findTokenEmbedding(grown.bytes)).toEqual({ name: TOKEN_EMBEDDING_NAME, vocabSize: 12, width: 4, dtype: 'float32' });
    expect(externalDataFiles(grown.bytes)).toEqual(['weights.pb']);
    const session = await ModelSession.fromBytes(grown.bytes, file, { externalData: [{ path: 'weights.pb', data }] });
    const out = await session.run({ input_ids: { data: [3, 11], dims: [1, 2] } }, ['last_hidden_state']);
    await session.release();
    expect(Array.from(out.last_hidden_state.data)).toEqual([2, 1.75, 2, 1.25, 0, 0.75, 100, -1001]);
  });

  it('names the external data file when it is missing', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'external-'));
    const file = path.join(dir, 'model.onnx');
    const { model } = tinyEncoderWithExternalData(10, 4, [0, 0, 0, 0]);
    await expect(readExternalTable(file, findTokenEmbedding(model, file))).rejects.toThrow(
      `${file}: the token embedding's external data file ${path.join(dir, 'weights.pb')} cannot be opened`,
    );
  });

  it('refuses rows that do not match the encoder width', () => {
    expect(() => growTokenEmbedding(tinyEncoder(), new Float32Array(6))).toThrow("6 values do not split into rows of the encoder's width 4");
  });

  it('refuses bytes that are not an ONNX model', () => {
    expect(() => findTokenEmbedding(Uint8Array.from([0x3a, 0xff, 0xff]), 'junk.onnx')).toThrow(ModelLoadError);
    expect(() => findTokenEmbedding(Uint8Array.from([0x3a, 0xff, 0xff]), 'junk.onnx')).toThrow(/junk\.onnx: not a readable ONNX protobuf/);
  });

  it('refuses a model without the table', () => {
    const g = onnx.ModelProto.encode(
      onnx.ModelProto.create({
        irVersion: 8,
        opsetImport: [{ version: 17 }],
        graph: {
          name: 'g',
          node: [{ opType: 'Identity', input: ['input_ids'], output: ['y'] }],
          input: [{ name: 'input_ids', type: { tensorType: { elemType: DataType.INT32, shape: { dim: [{ dimValue: 1 }] } } } }],
          output: [{ name: 'y', type: { tensorType: { elemType: DataType.INT32, shape: { dim: [{ dimValue: 1 }] } } } }],
        },
      }),
    ).finish();
    expect(() => findTokenEmbedding(g, 'te.onnx')).toThrow(
      /te\.onnx: found neither the initializer "text_model\.embeddings\.token_embedding\.weight" nor a Gather/,
    );
  });
});
