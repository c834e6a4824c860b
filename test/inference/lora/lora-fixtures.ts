/**
 * Tiny graphs laid out like real diffusers ONNX exports for LoRA tests: a Linear as a MatMul named
 * `/…/to_q/MatMul` with an anonymous, TRANSPOSED ([in, out]) initializer, a Conv whose weight keeps its PyTorch
 * name, and a text-encoder projection; weights inline (raw_data, fp32 or fp16) or in an external file.
 */
import onnxProto from 'onnx-proto';
import { float32ToFloat16 } from '../../../src/inference/model/float16.js';

const { onnx } = onnxProto;
const DataType = onnx.TensorProto.DataType;

export const Q_NODE = '/down_blocks.0/attentions.0/transformer_blocks.0/attn1/to_q/MatMul';
export const Q_INIT = 'onnx::MatMul_9001';
export const CONV_NODE = '/down_blocks.0/resnets.0/conv1/Conv';
export const CONV_INIT = 'down_blocks.0.resnets.0.conv1.weight';
/** Linear in=4, out=3; Conv out=2, in=1, 3×3. */
export const Q_IN = 4;
export const Q_OUT = 3;

/** W_q as PyTorch holds it, [out, in]; the graph stores its transpose. */
export const baseQ = (o: number, i: number) => 0.25 * (o + 1) - 0.125 * i;
export const baseConv = (o: number, i: number, y: number, x: number) => 0.0625 * (o * 9 + i * 9 + y * 3 + x) - 0.5;

function bytesOf(values: Float32Array, dtype: 'float32' | 'float16'): Buffer {
  if (dtype === 'float32') return Buffer.from(values.buffer.slice(0));
  return Buffer.from(float32ToFloat16(values).buffer);
}

export interface TinyLoraGraph {
  bytes: Uint8Array;
  /** External data file (name → bytes) when `external`. */
  external?: { location: string; data: Uint8Array };
}

export function qTransposed(): Float32Array {
  const out = new Float32Array(Q_IN * Q_OUT);
  for (let i = 0; i < Q_IN; i++) for (let o = 0; o < Q_OUT; o++) out[i * Q_OUT + o] = baseQ(o, i);
  return out;
}

export function convWeight(): Float32Array {
  const out = new Float32Array(2 * 9);
  for (let o = 0; o < 2; o++) for (let y = 0; y < 3; y++) for (let x = 0; x < 3; x++) out[o * 9 + y * 3 + x] = baseConv(o, 0, y, x);
  return out;
}

/** UNet-like: q = x @ Wqᵀ-stored [1, 3]; c = Conv(img) [1, 2, 1, 1]. */
export function tinyUnetGraph(options: { dtype?: 'float32' | 'float16'; external?: boolean; fused?: boolean } = {}): TinyLoraGraph {
  const dtype = options.dtype ?? 'float32';
  const dataType = dtype === 'float32' ? DataType.FLOAT : DataType.FLOAT16;
  const q = bytesOf(qTransposed(), dtype);
  const c = bytesOf(convWeight(), dtype);
  const initializer: onnxProto.onnx.ITensorProto[] = [];
  let external: TinyLoraGraph['external'];
  if (options.external) {
    const location = 'weights.pb';
    const data = new Uint8Array(q.length + 8 + c.length); // a gap, so offsets matter
    data.set(q, 0);
    data.set(c, q.length + 8);
    external = { location, data };
    const ext = (offset: number, length: number) => ({
      dataLocation: onnx.TensorProto.DataLocation.EXTERNAL,
      externalData: [
        { key: 'location', value: location },
        { key: 'offset', value: String(offset) },
        { key: 'length', value: String(length) },
      ],
    });
    initializer.push({ name: Q_INIT, dataType, dims: [Q_IN, Q_OUT], ...ext(0, q.length) });
    initializer.push({ name: CONV_INIT, dataType, dims: [2, 1, 3, 3], ...ext(q.length + 8, c.length) });
  } else {
    initializer.push({ name: Q_INIT, dataType, dims: [Q_IN, Q_OUT], rawData: q });
    initializer.push({ name: CONV_INIT, dataType, dims: [2, 1, 3, 3], rawData: c });
  }
  const node: onnxProto.onnx.INodeProto[] = [
    { name: Q_NODE, opType: 'MatMul', input: ['x', Q_INIT], output: ['q'] },
    { name: CONV_NODE, opType: 'Conv', input: ['img', CONV_INIT], output: ['c'] },
    // Attention's own MatMul (activations only), named under attn1: must not be mistaken for a weight.
    { name: '/down_blocks.0/attentions.0/transformer_blocks.0/attn1/MatMul', opType: 'MatMul', input: ['q', 'qt'], output: ['s'] },
    { name: 'qt_node', opType: 'Transpose', input: ['q'], output: ['qt'] },
  ];
  if (options.fused)
    node.push({ name: '/fused/Attention', opType: 'MultiHeadAttention', domain: 'com.microsoft', input: ['q', 'q', 'q'], output: ['m'] });
  const vi = (name: string, shape: number[]) => ({
    name,
    type: { tensorType: { elemType: dataType, shape: { dim: shape.map((d) => ({ dimValue: d })) } } },
  });
  const model = onnx.ModelProto.create({
    irVersion: 8,
    producerName: 'imagine-bot-tests',
    opsetImport: [{ domain: '', version: 17 }, ...(options.fused ? [{ domain: 'com.microsoft', version: 1 }] : [])],
    graph: {
      name: 'unet',
      node,
      initializer,
      input: [vi('x', [1, Q_IN]), vi('img', [1, 1, 3, 3])],
      output: [vi('q', [1, Q_OUT]), vi('c', [1, 2, 1, 1]), vi('s', [1, 1])],
    },
  });
  return { bytes: onnx.ModelProto.encode(model).finish(), external };
}

export const TE_NODE = '/text_model/encoder/layers.0/self_attn/q_proj/MatMul';
export const TE_INIT = 'onnx::MatMul_77';

/** Text-encoder-like: h = x @ W (stored [in 4, out 4]). */
export function tinyTextGraph(): Uint8Array {
  const w = new Float32Array(16).map((_, k) => (k % 5) * 0.5 - 1);
  const vi = (name: string) => ({ name, type: { tensorType: { elemType: DataType.FLOAT, shape: { dim: [{ dimValue: 1 }, { dimValue: 4 }] } } } });
  const model = onnx.ModelProto.create({
    irVersion: 8,
    opsetImport: [{ domain: '', version: 17 }],
    graph: {
      name: 'te',
      node: [{ name: TE_NODE, opType: 'MatMul', input: ['x', TE_INIT], output: ['h'] }],
      initializer: [{ name: TE_INIT, dataType: DataType.FLOAT, dims: [4, 4], rawData: Buffer.from(w.buffer) }],
      input: [vi('x')],
      output: [vi('h')],
    },
  });
  return onnx.ModelProto.encode(model).finish();
}
