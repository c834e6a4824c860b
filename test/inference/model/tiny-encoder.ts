/**
 * Tiny text encoders for the textual-inversion tests: the model is just the token table, so
 * last_hidden_state = table[input_ids] and every output value can be predicted exactly.
 */
import onnxProto from 'onnx-proto';
import { float32ToFloat16 } from '../../../src/inference/model/float16.js';
import { TOKEN_EMBEDDING_NAME } from '../../../src/inference/model/onnx-initializers.js';

const { onnx } = onnxProto;
const DataType = onnx.TensorProto.DataType;

export interface TinyEncoderOptions {
  vocab?: number;
  width?: number;
  /** How the table is stored: raw_data, float_data, or float16 as raw_data / int32_data. */
  storage?: 'raw32' | 'float_data' | 'raw16' | 'int32_data16';
  name?: string;
  /** Cast input_ids to int64 before the Gather, as some exporters do. */
  cast?: boolean;
  /** Write dims unpacked (one varint field per dim), as proto2 writers such as torch.onnx do. */
  unpackedDims?: boolean;
}

/** The table's values: exact in float16 for the small tables the fp16 tests use. */
export function tableValue(r: number, c: number): number {
  return r * 0.5 + c * 0.25;
}

/** A text encoder that is just the token table: last_hidden_state = table[input_ids] (cast to float32). */
export function tinyEncoder(o: TinyEncoderOptions = {}): Uint8Array {
  const vocab = o.vocab ?? 10;
  const width = o.width ?? 4;
  const name = o.name ?? TOKEN_EMBEDDING_NAME;
  const values = Float32Array.from({ length: vocab * width }, (_, i) => tableValue(Math.floor(i / width), i % width));
  const storage = o.storage ?? 'raw32';
  const fp16 = storage === 'raw16' || storage === 'int32_data16';
  const tensor: onnxProto.onnx.ITensorProto = { name, dims: [vocab, width], dataType: fp16 ? DataType.FLOAT16 : DataType.FLOAT };
  if (storage === 'raw32') tensor.rawData = new Uint8Array(values.buffer);
  else if (storage === 'float_data') tensor.floatData = Array.from(values);
  else if (storage === 'raw16') tensor.rawData = new Uint8Array(float32ToFloat16(values).buffer);
  else tensor.int32Data = Array.from(float32ToFloat16(values));
  const nodes: onnxProto.onnx.INodeProto[] = [];
  let ids = 'input_ids';
  if (o.cast) {
    nodes.push({
      opType: 'Cast',
      input: ['input_ids'],
      output: ['ids64'],
      attribute: [{ name: 'to', type: onnx.AttributeProto.AttributeType.INT, i: DataType.INT64 }],
    });
    ids = 'ids64';
  }
  nodes.push({ opType: 'Gather', input: [name, ids], output: [fp16 ? 'h16' : 'last_hidden_state'] });
  if (fp16)
    nodes.push({
      opType: 'Cast',
      input: ['h16'],
      output: ['last_hidden_state'],
      attribute: [{ name: 'to', type: onnx.AttributeProto.AttributeType.INT, i: DataType.FLOAT }],
    });
  if (o.unpackedDims) {
    // protobufjs always packs; append the tensor as hand-written fields (protobuf allows fields in any order).
    const body = onnx.TensorProto.encode({ ...tensor, dims: [] }).finish();
    const dims = Uint8Array.from([...[vocab, width].flatMap((d) => [0x08, ...varint(d)])]);
    const tensorBytes = new Uint8Array([...dims, ...body]);
    const graph = onnx.GraphProto.encode(graphOf(nodes, [], width)).finish();
    const graphBytes = new Uint8Array([...graph, 0x2a, ...varint(tensorBytes.length), ...tensorBytes]);
    const head = onnx.ModelProto.encode({ irVersion: 8, opsetImport: [{ domain: '', version: 17 }] }).finish();
    return new Uint8Array([...head, 0x3a, ...varint(graphBytes.length), ...graphBytes]);
  }
  const model = onnx.ModelProto.create({
    irVersion: 8,
    producerName: 'imagine-bot-tests',
    opsetImport: [{ domain: '', version: 17 }],
    graph: graphOf(nodes, [tensor], width),
  });
  return onnx.ModelProto.encode(model).finish();
}

function varint(n: number): number[] {
  const out: number[] = [];
  for (; n >= 0x80; n = Math.floor(n / 128)) out.push((n % 128) | 0x80);
  out.push(n);
  return out;
}

function graphOf(nodes: onnxProto.onnx.INodeProto[], initializer: onnxProto.onnx.ITensorProto[], width: number): onnxProto.onnx.IGraphProto {
  return {
    name: 'g',
    node: nodes,
    initializer,
    input: [{ name: 'input_ids', type: { tensorType: { elemType: DataType.INT32, shape: { dim: [{ dimParam: 'batch' }, { dimParam: 'seq' }] } } } }],
    output: [
      {
        name: 'last_hidden_state',
        type: { tensorType: { elemType: DataType.FLOAT, shape: { dim: [{ dimParam: 'batch' }, { dimParam: 'seq' }, { dimValue: width }] } } },
      },
    ],
  };
}

/**
 * The tiny encoder with its weights in `weights.pb`, as large exports keep them: the table at byte 16 (after
 * 16 bytes of other data) and a bias [width] after it; last_hidden_state = table[input_ids] + bias.
 */
export function tinyEncoderWithExternalData(vocab: number, width: number, bias: number[]): { model: Uint8Array; data: Uint8Array } {
  const table = Float32Array.from({ length: vocab * width }, (_, i) => tableValue(Math.floor(i / width), i % width));
  const data = new Uint8Array(16 + table.byteLength + width * 4);
  data.set(new Uint8Array(table.buffer), 16);
  data.set(new Uint8Array(Float32Array.from(bias).buffer), 16 + table.byteLength);
  const external = (offset: number, length: number) => ({
    dataLocation: onnx.TensorProto.DataLocation.EXTERNAL,
    externalData: [
      { key: 'location', value: 'weights.pb' },
      { key: 'offset', value: String(offset) },
      { key: 'length', value: String(length) },
    ],
  });
  const model = onnx.ModelProto.encode(
    onnx.ModelProto.create({
      irVersion: 8,
      opsetImport: [{ domain: '', version: 17 }],
      graph: {
        name: 'g',
        node: [
          { opType: 'Gather', input: [TOKEN_EMBEDDING_NAME, 'input_ids'], output: ['rows'] },
          { opType: 'Add', input: ['rows', 'bias'], output: ['last_hidden_state'] },
        ],
        initializer: [
          { name: TOKEN_EMBEDDING_NAME, dims: [vocab, width], dataType: DataType.FLOAT, ...external(16, table.byteLength) },
          { name: 'bias', dims: [width], dataType: DataType.FLOAT, ...external(16 + table.byteLength, width * 4) },
        ],
        input: [
          { name: 'input_ids', type: { tensorType: { elemType: DataType.INT32, shape: { dim: [{ dimParam: 'batch' }, { dimParam: 'seq' }] } } } },
        ],
        output: [
          {
            name: 'last_hidden_state',
            type: { tensorType: { elemType: DataType.FLOAT, shape: { dim: [{ dimParam: 'batch' }, { dimParam: 'seq' }, { dimValue: width }] } } },
          },
        ],
      },
    }),
  ).finish();
  return { model, data };
}
