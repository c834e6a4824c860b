import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';

import onnxProto from 'onnx-proto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { ModelLoadError } from '../../../src/errors.js';
import { float32ToFloat16 } from '../../../src/inference/model/float16.js';
import { readFloatInitializers } from '../../../src/inference/model/onnx-weights.js';

const { onnx } = onnxProto;
const T = onnx.TensorProto;

let dir: string;
const weight = Float32Array.from([1, 1.25, -0.5, 3]);
const bias = Float32Array.from([0.1, 0.2, 0.3, 0.4]);

beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'onnx-init-'));
  // Real exports store weights as raw_data (little-endian bytes), fp16 models as FLOAT16 raw_data, big ones outside.
  const ext = Buffer.concat([Buffer.alloc(8), Buffer.from(bias.buffer)]);
  await writeFile(path.join(dir, 'model.onnx_data'), ext);
  const model = onnx.ModelProto.encode(
    onnx.ModelProto.create({
      irVersion: 8,
      opsetImport: [{ domain: '', version: 17 }],
      graph: {
        name: 'g',
        node: [
          { opType: 'Relu', input: ['x'], output: ['y'] },
          {
            opType: 'LayerNormalization',
            input: ['y', 'text_model.final_layer_norm.weight', 'text_model.final_layer_norm.bias'],
            output: ['z'],
            attribute: [{ name: 'epsilon', type: onnx.AttributeProto.AttributeType.FLOAT, f: 0.25 }],
          },
        ],
        initializer: [
          { name: 'other', dataType: T.DataType.FLOAT, dims: [2], rawData: new Uint8Array(8) },
          { name: 'text_model.final_layer_norm.weight', dataType: T.DataType.FLOAT, dims: [4], rawData: new Uint8Array(weight.buffer) },
          {
            name: 'text_model.final_layer_norm.bias',
            dataType: T.DataType.FLOAT,
            dims: [4],
            dataLocation: T.DataLocation.EXTERNAL,
            externalData: [
              { key: 'location', value: 'model.onnx_data' },
              { key: 'offset', value: '8' },
              { key: 'length', value: '16' },
            ],
          },
          { name: 'half', dataType: T.DataType.FLOAT16, dims: [2, 2], rawData: new Uint8Array(float32ToFloat16([0.5, -2, 4, 0.125]).buffer) },
        ],
      },
    }),
  ).finish();
  await writeFile(path.join(dir, 'model.onnx'), model);
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('readFloatInitializers', () => {
  it('reads raw, external and float16 initializers by name, and the LayerNormalization epsilon', async () => {
    const { tensors, epsilon } = await readFloatInitializers(
      path.join(dir, 'model.onnx'),
      ['text_model.final_layer_norm.weight', 'text_model.final_layer_norm.bias', 'half'],
      'text_model.final_layer_norm.weight',
    );
    expect([...tensors.get('text_model.final_layer_norm.weight')!.data]).toEqual([...weight]);
    expect([...tensors.get('text_model.final_layer_norm.bias')!.data]).toEqual([...bias]);
    expect(tensors.get('half')).toEqual({ dims: [2, 2], data: Float32Array.from([0.5, -2, 4, 0.125]) });
    expect(epsilon).toBe(0.25);
  });

  it('names the file and the missing initializer', async () => {
    const file = path.join(dir, 'model.onnx');
    await expect(readFloatInitializers(file, ['missing.weight'])).rejects.toThrow(ModelLoadError);
    await expect(readFloatInitializers(file, ['missing.weight'])).rejects.toThrow(`${file} has no initializer "missing.weight"`);
  });
});
