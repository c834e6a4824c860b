/**
 * Reader for `.safetensors` files (huggingface/safetensors): an 8-byte little-endian header length, a JSON header
 * mapping each tensor name to { dtype, shape, data_offsets: [begin, end] } relative to the end of the header,
 * an optional `__metadata__` string map, then the raw little-endian bytes. Textual-inversion embeddings use it now
 * and LoRA files will, so the header is read once and tensors are decoded one at a time, on demand: a LoRA file
 * holds hundreds of tensors and a caller usually wants a few.
 */
import { open, readFile } from 'node:fs/promises';
import { fromFloat16Bits, toFloat16Bits as toHalf } from '../model/float16.js';

/** Element types we decode to float32. Integer and fp8 tensors do not occur in embeddings or LoRAs we accept. */
export const SAFETENSORS_FLOAT_DTYPES = ['F32', 'F16', 'BF16'] as const;
export type SafetensorsDtype = (typeof SAFETENSORS_FLOAT_DTYPES)[number];

const DTYPE_BYTES: Record<string, number> = {
  F64: 8,
  F32: 4,
  F16: 2,
  BF16: 2,
  I64: 8,
  I32: 4,
  I16: 2,
  I8: 1,
  U8: 1,
  U16: 2,
  U32: 4,
  U64: 8,
  BOOL: 1,
  F8_E4M3: 1,
  F8_E5M2: 1,
};

export interface SafetensorsEntry {
  name: string;
  dtype: string;
  shape: number[];
  /** Byte range in the data section (after the header). */
  begin: number;
  end: number;
}

export interface Tensor {
  shape: number[];
  data: Float32Array;
}

/** A malformed or unsupported weights file; the message names the file and what is wrong. */
export class WeightsFileError extends Error {
  override readonly name = 'WeightsFileError';
  constructor(
    message: string,
    readonly file: string,
  ) {
    super(message);
  }
}

/** Refuse headers that would have us allocate gigabytes of JSON: real headers are at most a few MB (LoRAs). */
const MAX_HEADER_BYTES = 100 * 1024 * 1024;

/** A parsed safetensors file: header in memory, tensor bytes read on demand from `bytes`. */
export class SafetensorsFile {
  private constructor(
    readonly file: string,
    readonly entries: ReadonlyMap<string, SafetensorsEntry>,
    readonly metadata: Readonly<Record<string, string>>,
    private readonly bytes: Uint8Array,
    private readonly dataStart: number,
  ) {}

  /** Reads a whole file (embeddings are a few KB; LoRAs tens of MB). */
  static async read(file: string): Promise<SafetensorsFile> {
    return SafetensorsFile.parse(new Uint8Array(await readFile(file)), file);
  }

  /** Reads only the header of a file on disk (listing a LoRA's tensors without loading it). */
  static async readHeader(file: string): Promise<{ entries: Map<string, SafetensorsEntry>; metadata: Record<string, string> }> {
    const handle = await open(file, 'r');
    try {
      const { size } = await handle.stat();
      const prefix = new Uint8Array(8);
      await handle.read(prefix, 0, 8, 0);
      const length = headerLength(prefix, size, file);
      const header = new Uint8Array(length);
      await handle.read(header, 0, length, 8);
      return parseHeader(header, size - 8 - length, file);
    } finally {
      await handle.close();
    }
  }

  /** Parses bytes already in memory; `file` names them in errors. */
  static parse(bytes: Uint8Array, file = '<buffer>'): SafetensorsFile {
    const length = headerLength(bytes, bytes.length, file);
    const { entries, metadata } = parseHeader(bytes.subarray(8, 8 + length), bytes.length - 8 - length, file);
    return new SafetensorsFile(file, entries, metadata, bytes, 8 + length);
  }

  get names(): string[] {
    return [...this.entries.keys()];
  }

  has(name: string): boolean {
    return this.entries.has(name);
  }

  /** The tensor `name` decoded to float32, or a WeightsFileError listing what the file has. */
  tensor(name: string): Tensor {
    const entry = this.entries.get(name);
    if (!entry) {
      const names = this.names;
      throw new WeightsFileError(
        `${this.file} has no tensor "${name}"; it has: ${names.slice(0, 10).join(', ')}${names.length > 10 ? `, … (${names.length})` : ''}`,
        this.file,
      );
    }
    const raw = this.bytes.subarray(this.dataStart + entry.begin, this.dataStart + entry.end);
    return { shape: [...entry.shape], data: decodeFloats(raw, entry.dtype, `${this.file}: tensor "${name}"`, this.file) };
  }
}

function headerLength(prefix: Uint8Array, fileSize: number, file: string): number {
  if (fileSize < 8) throw new WeightsFileError(`${file} is ${fileSize} bytes, too short for a safetensors file (8-byte header length first)`, file);
  const n = new DataView(prefix.buffer, prefix.byteOffset, 8).getBigUint64(0, true);
  if (n > BigInt(fileSize - 8)) {
    throw new WeightsFileError(
      `${file}: header length ${n} runs past the end of the file (${fileSize} bytes); the file is truncated or not safetensors`,
      file,
    );
  }
  if (n > BigInt(MAX_HEADER_BYTES)) throw new WeightsFileError(`${file}: header of ${n} bytes is implausibly large; not a safetensors file?`, file);
  return Number(n);
}

function parseHeader(
  header: Uint8Array,
  dataBytes: number,
  file: string,
): { entries: Map<string, SafetensorsEntry>; metadata: Record<string, string> } {
  let json: unknown;
  try {
    json = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(header));
  } catch (error) {
    throw new WeightsFileError(`${file}: header is not valid UTF-8 JSON (${(error as Error).message}); not a safetensors file?`, file);
  }
  if (typeof json !== 'object' || json === null || Array.isArray(json)) throw new WeightsFileError(`${file}: header must be a JSON object`, file);
  const entries = new Map<string, SafetensorsEntry>();
  let metadata: Record<string, string> = {};
  for (const [name, value] of Object.entries(json as Record<string, unknown>)) {
    if (name === '__metadata__') {
      if (typeof value !== 'object' || value === null || Array.isArray(value))
        throw new WeightsFileError(`${file}: __metadata__ must be an object of strings`, file);
      metadata = Object.fromEntries(Object.entries(value).map(([k, v]) => [k, String(v)]));
      continue;
    }
    const v = value as { dtype?: unknown; shape?: unknown; data_offsets?: unknown };
    const where = `${file}: tensor "${name}"`;
    if (typeof v !== 'object' || v === null) throw new WeightsFileError(`${where} must be an object with dtype, shape and data_offsets`, file);
    if (typeof v.dtype !== 'string' || !(v.dtype in DTYPE_BYTES))
      throw new WeightsFileError(`${where} has unknown dtype ${JSON.stringify(v.dtype)}`, file);
    if (!Array.isArray(v.shape) || !v.shape.every((d) => Number.isInteger(d) && d >= 0)) {
      throw new WeightsFileError(`${where} has an invalid shape ${JSON.stringify(v.shape)}`, file);
    }
    const off = v.data_offsets;
    if (!Array.isArray(off) || off.length !== 2 || !off.every((d) => Number.isInteger(d) && d >= 0) || off[0] > off[1]) {
      throw new WeightsFileError(`${where} has invalid data_offsets ${JSON.stringify(off)}`, file);
    }
    const [begin, end] = off as [number, number];
    if (end > dataBytes)
      throw new WeightsFileError(
        `${where}: data_offsets [${begin}, ${end}] run past the end of the data (${dataBytes} bytes); the file is truncated`,
        file,
      );
    const shape = v.shape as number[];
    const expected = shape.reduce((a, b) => a * b, 1) * DTYPE_BYTES[v.dtype];
    if (expected !== end - begin) {
      throw new WeightsFileError(
        `${where}: shape [${shape.join(', ')}] × ${v.dtype} is ${expected} bytes but data_offsets span ${end - begin}`,
        file,
      );
    }
    entries.set(name, { name, dtype: v.dtype, shape, begin, end });
  }
  // Tensors must not share bytes: overlapping ranges mean a corrupt (or crafted) header.
  const sorted = [...entries.values()].filter((e) => e.end > e.begin).sort((a, b) => a.begin - b.begin);
  for (let i = 1; i < sorted.length; i++) {
    if (sorted[i].begin < sorted[i - 1].end) {
      throw new WeightsFileError(
        `${file}: tensors "${sorted[i - 1].name}" and "${sorted[i].name}" overlap in the data section; the file is corrupt`,
        file,
      );
    }
  }
  return { entries, metadata };
}

let halfValues: Float32Array | undefined;
/** Every float16 bit pattern's value, built on first use (256 KB). */
function halfTable(): Float32Array {
  if (!halfValues) {
    halfValues = new Float32Array(65536);
    for (let h = 0; h < 65536; h++) halfValues[h] = fromFloat16Bits(h);
  }
  return halfValues;
}

/** Little-endian F32/F16/BF16 bytes → float32 (copied: the result never aliases the file's buffer). */
export function decodeFloats(raw: Uint8Array, dtype: string, what: string, file: string): Float32Array {
  const view = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
  switch (dtype) {
    case 'F32': {
      const out = new Float32Array(raw.byteLength / 4);
      for (let i = 0; i < out.length; i++) out[i] = view.getFloat32(i * 4, true);
      return out;
    }
    case 'F16': {
      // By table: a LoRA holds millions of fp16 values, and fromFloat16Bits computes a power of two for each.
      const table = halfTable();
      const out = new Float32Array(raw.byteLength / 2);
      for (let i = 0; i < out.length; i++) out[i] = table[view.getUint16(i * 2, true)];
      return out;
    }
    case 'BF16': {
      // bfloat16 is the top half of a float32.
      const out = new Float32Array(raw.byteLength / 2);
      const bits = new Uint32Array(out.buffer);
      for (let i = 0; i < out.length; i++) bits[i] = view.getUint16(i * 2, true) << 16;
      return out;
    }
    default:
      throw new WeightsFileError(`${what} is ${dtype}; only ${SAFETENSORS_FLOAT_DTYPES.join(', ')} tensors can be read`, file);
  }
}

/** Builds a safetensors file in memory (tests, and tools that convert .pt files). Tensors are float32 unless `dtype` says F16/BF16. */
export function encodeSafetensors(
  tensors: Record<string, { shape: number[]; data: ArrayLike<number>; dtype?: SafetensorsDtype }>,
  metadata?: Record<string, string>,
): Uint8Array {
  const header: Record<string, unknown> = {};
  if (metadata) header.__metadata__ = metadata;
  const parts: Uint8Array[] = [];
  let offset = 0;
  for (const [name, t] of Object.entries(tensors)) {
    const dtype = t.dtype ?? 'F32';
    const size = DTYPE_BYTES[dtype];
    const bytes = new Uint8Array(t.data.length * size);
    const view = new DataView(bytes.buffer);
    const f32 = new Float32Array(1);
    const u32 = new Uint32Array(f32.buffer);
    for (let i = 0; i < t.data.length; i++) {
      if (dtype === 'F32') view.setFloat32(i * 4, t.data[i], true);
      else if (dtype === 'F16') view.setUint16(i * 2, toHalf(t.data[i]), true);
      else {
        f32[0] = t.data[i];
        view.setUint16(i * 2, u32[0] >>> 16, true); // truncation: tests use values exact in bf16
      }
    }
    header[name] = { dtype, shape: t.shape, data_offsets: [offset, offset + bytes.length] };
    parts.push(bytes);
    offset += bytes.length;
  }
  let json = new TextEncoder().encode(JSON.stringify(header));
  // The format pads the header with spaces to a multiple of 8 so the data is aligned.
  const padded = Math.ceil(json.length / 8) * 8;
  if (padded !== json.length) json = new TextEncoder().encode(JSON.stringify(header).padEnd(padded, ' '));
  const out = new Uint8Array(8 + json.length + offset);
  new DataView(out.buffer).setBigUint64(0, BigInt(json.length), true);
  out.set(json, 8);
  let at = 8 + json.length;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}
