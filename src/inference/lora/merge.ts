/**
 * Merges LoRA deltas into an ONNX graph's weights in memory (reference: next-capabilities.md §2, onnx-web's
 * blend_loras): ΔW = weight · alpha/rank · up @ down, summed over LoRAs, in float32, then added to the initializer
 * and cast back to its dtype. Weights are found by node name: a Linear exports as a MatMul whose weight is an
 * anonymous initializer stored TRANSPOSED ([in, out]), named through `/…/attn1/to_q/MatMul`; Conv and Gemm weights
 * keep their PyTorch names and layout. The model's bytes are a fresh copy read from disk, patched in place (same
 * length, no protobuf re-encode); external weights are read into buffers handed to onnxruntime as `externalData`.
 * Nothing is written to disk.
 */
import { readFile } from 'node:fs/promises';
import { Identifiers, ModelLoadError, UserError } from '../../errors.js';
import { toFloat16Bits } from '../model/float16.js';
import { MAX_PIECE, readExternalData } from '../model/external-data.js';
import { scanGraph, type GraphScan, type InitializerLocation } from '../model/onnx-initializers.js';
import { normalise } from './lora-keys.js';
import { matmul } from './matmul.js';
import type { LoraModule } from './lora-file.js';

/** Ops that ORT/Olive fusion leaves in place of the per-projection MatMuls a LoRA patches. */
const FUSED_OPS = new Set(['MultiHeadAttention', 'Attention', 'PackedAttention', 'PackedMultiHeadAttention', 'GroupQueryAttention']);

export interface WeightTarget {
  init: InitializerLocation;
  /** A MatMul's weight is [in, out]: add ΔWᵀ. */
  transposed: boolean;
}

export interface LoadedGraph {
  file: string;
  bytes: Uint8Array;
  scan: GraphScan;
  /** Normalised module path → its weight. */
  index: Map<string, WeightTarget>;
  fusedOps: string[];
}

export async function loadGraph(file: string): Promise<LoadedGraph> {
  // readFile returns a new buffer: patching it never touches the file or another session's bytes.
  const bytes = new Uint8Array(await readFile(file));
  const scan = scanGraph(bytes, file);
  return { file, bytes, scan, index: moduleIndex(scan), fusedOps: [...new Set(scan.nodes.filter((n) => FUSED_OPS.has(n.op)).map((n) => n.op))] };
}

/** Module path → weight, from node names (`/a/b.0/c/MatMul` → `a_b_0_c`) first, then initializer names (`a.b.weight`). */
export function moduleIndex(scan: GraphScan): Map<string, WeightTarget> {
  const index = new Map<string, WeightTarget>();
  for (const node of scan.nodes) {
    if (node.op !== 'MatMul' && node.op !== 'Conv' && node.op !== 'Gemm') continue;
    const segments = node.name.split('/').filter(Boolean);
    if (segments.length < 2) continue;
    const weight = node.op === 'MatMul' ? node.inputs.find((i) => scan.initializers.has(i)) : node.inputs[1];
    const init = weight === undefined ? undefined : scan.initializers.get(weight);
    if (!init) continue;
    const module = normalise(segments.slice(0, -1).join('/'));
    if (!index.has(module)) index.set(module, { init, transposed: node.op === 'MatMul' });
  }
  for (const init of scan.initializers.values()) {
    if (!init.name.endsWith('.weight') || init.dims.length < 2) continue;
    const module = normalise(init.name.slice(0, -'.weight'.length));
    if (!index.has(module)) index.set(module, { init, transposed: false });
  }
  return index;
}

export interface ScaledModule {
  module: LoraModule;
  /** weight · alpha / rank. */
  scale: number;
  /** The LoRA file, for errors. */
  file: string;
}

/** scale · up @ down, laid out as the initializer is (transposed for a MatMul). */
export async function moduleDelta(target: WeightTarget, item: ScaledModule, graphFile: string): Promise<Float32Array> {
  const { down, up } = item.module;
  const rank = down.shape[0];
  const out = up.shape[0];
  const k = down.data.length / rank;
  const dims = target.init.dims;
  const fits = target.transposed
    ? dims.length === 2 && dims[0] === k && dims[1] === out
    : dims[0] === out && dims.slice(1).reduce((a, b) => a * b, 1) === k;
  if (!fits) {
    throw new UserError(
      Identifiers.InvalidArgument,
      `LoRA ${item.file}: module "${item.module.module}" gives a [${out}, ${k}] delta but ${graphFile} has "${target.init.name}" [${dims.join(', ')}]; the LoRA is for a different model architecture`,
    );
  }
  // ΔW = (s·up) @ down, [out, k]; a MatMul weight wants ΔWᵀ = downᵀ @ (s·up)ᵀ, [k, out]. Computed by onnxruntime
  // (matmul.ts): a 3×3 conv's down [r, in, 3, 3] is simply [r, in·9] here.
  let product: Float32Array;
  if (target.transposed) {
    const downT = new Float32Array(k * rank);
    for (let r = 0; r < rank; r++) for (let j = 0; j < k; j++) downT[j * rank + r] = down.data[r * k + j];
    const upT = new Float32Array(rank * out);
    for (let o = 0; o < out; o++) for (let r = 0; r < rank; r++) upT[r * out + o] = item.scale * up.data[o * rank + r];
    product = await matmul(downT, upT, k, rank, out);
  } else {
    const upS = new Float32Array(out * rank);
    for (let i = 0; i < upS.length; i++) upS[i] = item.scale * up.data[i];
    product = await matmul(upS, down.data, out, rank, k);
  }
  return product;
}

let halfTable: Float32Array | undefined;
/** float16 bits → float32 by table: patching visits tens of millions of weights. */
function halfToFloat(): Float32Array {
  if (halfTable) return halfTable;
  halfTable = new Float32Array(65536);
  for (let h = 0; h < 65536; h++) {
    const sign = h & 0x8000 ? -1 : 1;
    const exp = (h >>> 10) & 0x1f;
    const mant = h & 0x3ff;
    halfTable[h] =
      exp === 0
        ? sign * mant * 2 ** -24
        : exp === 0x1f
          ? mant
            ? Number.NaN
            : sign * Number.POSITIVE_INFINITY
          : sign * (1 + mant / 1024) * 2 ** (exp - 15);
  }
  return halfTable;
}

const one = new Float32Array(1);
const oneBits = new Uint32Array(one.buffer);

/** Adds `delta` to the element bytes `bytes[start, start + n·size)` in place. */
function addInto(bytes: Uint8Array, start: number, dtype: 'float32' | 'float16', delta: Float32Array): void {
  const size = dtype === 'float32' ? 4 : 2;
  // The bytes may sit at any offset in the protobuf: in place when aligned, else on an aligned copy copied back.
  const at = bytes.byteOffset + start;
  const inPlace = at % size === 0;
  const aligned = inPlace ? new Uint8Array(bytes.buffer, at, delta.length * size) : bytes.slice(start, start + delta.length * size);
  if (dtype === 'float32') {
    const w = new Float32Array(aligned.buffer, aligned.byteOffset, delta.length);
    for (let i = 0; i < delta.length; i++) w[i] += delta[i];
  } else {
    const table = halfToFloat();
    const w = new Uint16Array(aligned.buffer, aligned.byteOffset, delta.length);
    // Each sum is rounded to half by integer arithmetic on its float32 bits (round to nearest even) for normal
    // halves, by toFloat16Bits for the rare rest (subnormal, overflow, NaN): no per-weight call or allocation.
    for (let i = 0; i < delta.length; i++) {
      if (delta[i] === 0) continue;
      one[0] = table[w[i]] + delta[i];
      const x = oneBits[0];
      const abs = x & 0x7fffffff;
      // 0x38800000 = 2^-14 (smallest normal half); 0x477fefff rounds to at most 65504 (largest half).
      if (abs >= 0x38800000 && abs <= 0x477fefff) w[i] = ((x >>> 16) & 0x8000) | ((abs - 0x38000000 + 0xfff + ((abs >>> 13) & 1)) >>> 13);
      else w[i] = toFloat16Bits(one[0]);
    }
  }
  if (!inPlace) bytes.set(aligned, start);
}

export interface PatchedGraph {
  bytes: Uint8Array;
  externalData?: { path: string; data: Uint8Array }[];
  /** Initializers changed. */
  patched: number;
  /** Bytes held for this graph (model bytes and external buffers). */
  heldBytes: number;
}

/**
 * Applies every item to the graph: one float32 delta per initializer (so several LoRAs on one layer round once),
 * then the addition in the initializer's dtype. `graph.bytes` is patched in place: load a fresh graph per set.
 */
export async function patchGraph(
  graph: LoadedGraph,
  items: { target: WeightTarget; item: ScaledModule }[],
  maxPiece = MAX_PIECE,
): Promise<PatchedGraph> {
  const deltas = new Map<string, { target: WeightTarget; delta: Float32Array }>();
  for (const { target, item } of items) {
    const product = await moduleDelta(target, item, graph.file);
    const d = deltas.get(target.init.name);
    // The first LoRA's product is the delta; the next ones add to it.
    if (!d) deltas.set(target.init.name, { target, delta: product });
    else for (let i = 0; i < product.length; i++) d.delta[i] += product[i];
  }
  // Loaded from bytes, onnxruntime cannot find the model's external files itself: every one is handed over.
  const { bytes, external } = await readExternalData(
    graph.bytes,
    graph.file,
    (tensor) =>
      new UserError(
        Identifiers.InvalidArgument,
        `LoRAs cannot be merged into ${graph.file}: "${tensor}" alone is over the 4 GiB one in-memory buffer can hold.`,
      ),
    maxPiece,
  );
  const scan = bytes === graph.bytes ? graph.scan : scanGraph(bytes, graph.file);
  for (const { target, delta } of deltas.values()) {
    const init = scan.initializers.get(target.init.name)!;
    if (init.inline) addInto(bytes, init.inline.start, init.dtype, delta);
    else if (init.external) {
      const data = external.get(init.external.location)!;
      const end = init.external.offset + delta.length * (init.dtype === 'float32' ? 4 : 2);
      if (end > data.length)
        throw new ModelLoadError(
          `${graph.file}: "${init.name}" lies at bytes ${init.external.offset}–${end} of ${init.external.location}, which has ${data.length}; the weights file is truncated`,
          graph.file,
        );
      addInto(data, init.external.offset, init.dtype, delta);
    }
  }
  const externalData = [...external].map(([p, data]) => ({ path: p, data }));
  return {
    bytes,
    ...(externalData.length ? { externalData } : {}),
    patched: deltas.size,
    heldBytes: bytes.byteLength + externalData.reduce((n, e) => n + e.data.byteLength, 0),
  };
}
