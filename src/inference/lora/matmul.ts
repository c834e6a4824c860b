/**
 * A × B through onnxruntime: a one-node MatMul graph with symbolic dims, built once per process. The ΔW products of
 * a LoRA merge are ~1.7 G multiply-adds for an SD 1.5 LoRA: single-threaded JavaScript takes seconds, onnxruntime's
 * vectorised, multi-threaded MatMul a fraction of that (bench:lora).
 */
import { ModelSession } from '../model/session.js';

function varint(v: number): number[] {
  const out: number[] = [];
  while (v >= 0x80) {
    out.push((v % 128) | 0x80);
    v = Math.floor(v / 128);
  }
  out.push(v);
  return out;
}
const enc = new TextEncoder();
const len = (field: number, payload: number[]) => [...varint(field * 8 + 2), ...varint(payload.length), ...payload];
const text = (field: number, s: string) => len(field, [...enc.encode(s)]);
const num = (field: number, v: number) => [...varint(field * 8), ...varint(v)];

/** ValueInfoProto of a float32 matrix with symbolic dims. */
function matrix(name: string, rows: string, cols: string): number[] {
  const dim = (p: string) => len(1, text(2, p)); // TensorShapeProto.dim { dim_param }
  const tensorType = [...num(1, 1), ...len(2, [...dim(rows), ...dim(cols)])]; // elem_type FLOAT, shape
  return [...text(1, name), ...len(2, len(1, tensorType))]; // name, type { tensor_type }
}

/** ModelProto bytes for y = a @ b (ONNX field numbers from onnx.proto3). */
export function matmulModel(): Uint8Array {
  const node = [...text(1, 'a'), ...text(1, 'b'), ...text(2, 'y'), ...text(3, 'matmul'), ...text(4, 'MatMul')];
  const graph = [
    ...len(1, node),
    ...text(2, 'lora_delta'),
    ...len(11, matrix('a', 'm', 'k')),
    ...len(11, matrix('b', 'k', 'n')),
    ...len(12, matrix('y', 'm', 'n')),
  ];
  const model = [...num(1, 8), ...len(8, [...text(1, ''), ...num(2, 17)]), ...len(7, graph)];
  return Uint8Array.from(model);
}

let session: Promise<ModelSession> | undefined;

/** a [m, k] @ b [k, n] → [m, n], float32. */
export async function matmul(a: Float32Array, b: Float32Array, m: number, k: number, n: number): Promise<Float32Array> {
  session ??= ModelSession.fromBytes(matmulModel(), 'lora-matmul.onnx', { graphOptimizationLevel: 'disabled' });
  const s = await session;
  const out = await s.run({ a: { data: a, dims: [m, k] }, b: { data: b, dims: [k, n] } }, ['y']);
  return out.y.data;
}
