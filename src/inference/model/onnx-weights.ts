/**
 * Reads named float initializers (weights) straight out of a model.onnx, without onnxruntime, for the few cases
 * where the engine must apply a piece of the model itself: clip skip needs the text encoder's final layer norm
 * (`text_model.final_layer_norm.weight/bias`) on an intermediate hidden state, and ONNX exports do not expose that
 * layer on its own.
 *
 * A minimal protobuf walk over onnx.proto3: ModelProto.graph (7) → GraphProto.initializer (5) / node (1) →
 * TensorProto dims (1), data_type (2), float_data (4), name (8), raw_data (9), external_data (13),
 * data_location (14). Only what that needs is decoded; everything else is skipped by wire type.
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { ModelLoadError } from '../../errors.js';
import { float16ToFloat32 } from './float16.js';

export interface FloatInitializer {
  dims: number[];
  data: Float32Array;
}

const FLOAT = 1;
const FLOAT16 = 10;
const EXTERNAL = 1;

class Reader {
  pos: number;
  constructor(
    readonly buf: Uint8Array,
    start = 0,
    readonly end = buf.length,
  ) {
    this.pos = start;
  }

  varint(): number {
    // Numbers instead of BigInt: lengths and dims stay far below 2^53.
    let result = 0;
    let scale = 1;
    for (;;) {
      const byte = this.buf[this.pos++];
      result += (byte & 0x7f) * scale;
      if (byte < 0x80) return result;
      scale *= 128;
    }
  }

  /** The next field as [field number, wire type], or undefined at the end. */
  tag(): [number, number] | undefined {
    if (this.pos >= this.end) return undefined;
    const key = this.varint();
    return [Math.floor(key / 8), key % 8];
  }

  /** A length-delimited field's [start, end). */
  span(): [number, number] {
    const length = this.varint();
    const start = this.pos;
    this.pos += length;
    return [start, start + length];
  }

  skip(wire: number): void {
    if (wire === 0) this.varint();
    else if (wire === 1) this.pos += 8;
    else if (wire === 2) this.span();
    else if (wire === 5) this.pos += 4;
    else throw new Error(`unsupported protobuf wire type ${wire}`);
  }
}

const utf8 = new TextDecoder();

interface RawTensor {
  name: string;
  dims: number[];
  dataType: number;
  floats: number[];
  raw?: Uint8Array;
  external: Map<string, string>;
  location: number;
}

function readTensor(buf: Uint8Array, start: number, end: number): RawTensor {
  const r = new Reader(buf, start, end);
  const t: RawTensor = { name: '', dims: [], dataType: 0, floats: [], external: new Map(), location: 0 };
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  for (let tag = r.tag(); tag; tag = r.tag()) {
    const [field, wire] = tag;
    if (field === 1 && wire === 0) t.dims.push(r.varint());
    else if (field === 1 && wire === 2) {
      const [s, e] = r.span();
      const packed = new Reader(buf, s, e);
      while (packed.pos < e) t.dims.push(packed.varint());
    } else if (field === 2 && wire === 0) t.dataType = r.varint();
    else if (field === 4 && wire === 5) {
      t.floats.push(view.getFloat32(r.pos, true));
      r.pos += 4;
    } else if (field === 4 && wire === 2) {
      const [s, e] = r.span();
      for (let p = s; p < e; p += 4) t.floats.push(view.getFloat32(p, true));
    } else if (field === 8 && wire === 2) {
      const [s, e] = r.span();
      t.name = utf8.decode(buf.subarray(s, e));
    } else if (field === 9 && wire === 2) {
      const [s, e] = r.span();
      t.raw = buf.subarray(s, e);
    } else if (field === 13 && wire === 2) {
      const [s, e] = r.span();
      const entry = new Reader(buf, s, e);
      let key = '';
      let value = '';
      for (let et = entry.tag(); et; et = entry.tag()) {
        const [ef, ew] = et;
        if (ew !== 2) {
          entry.skip(ew);
          continue;
        }
        const [es, ee] = entry.span();
        if (ef === 1) key = utf8.decode(buf.subarray(es, ee));
        else if (ef === 2) value = utf8.decode(buf.subarray(es, ee));
      }
      t.external.set(key, value);
    } else if (field === 14 && wire === 0) t.location = r.varint();
    else r.skip(wire);
  }
  return t;
}

/** The `epsilon` attribute of the LayerNormalization node that takes `weight`, when the graph has one. */
function layerNormEpsilon(buf: Uint8Array, nodeSpans: [number, number][], weight: string): number | undefined {
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  for (const [start, end] of nodeSpans) {
    const r = new Reader(buf, start, end);
    const inputs: string[] = [];
    let opType = '';
    let epsilon: number | undefined;
    for (let tag = r.tag(); tag; tag = r.tag()) {
      const [field, wire] = tag;
      if (wire !== 2) {
        r.skip(wire);
        continue;
      }
      const [s, e] = r.span();
      if (field === 1) inputs.push(utf8.decode(buf.subarray(s, e)));
      else if (field === 4) opType = utf8.decode(buf.subarray(s, e));
      else if (field === 5) {
        const a = new Reader(buf, s, e);
        let name = '';
        let f: number | undefined;
        for (let at = a.tag(); at; at = a.tag()) {
          const [af, aw] = at;
          if (af === 1 && aw === 2) {
            const [ns, ne] = a.span();
            name = utf8.decode(buf.subarray(ns, ne));
          } else if (af === 2 && aw === 5) {
            f = view.getFloat32(a.pos, true);
            a.pos += 4;
          } else a.skip(aw);
        }
        if (name === 'epsilon') epsilon = f;
      }
    }
    // ONNX's default epsilon for LayerNormalization is 1e-5 when the attribute is absent.
    if (opType === 'LayerNormalization' && inputs[1] === weight) return epsilon ?? 1e-5;
  }
  return undefined;
}

/**
 * Reads the named float32/float16 initializers of `file` (inline or in external data next to it), and the epsilon
 * of the LayerNormalization node that uses `epsilonOf` as its scale when asked.
 * @throws ModelLoadError naming the file and the first initializer it lacks.
 */
export async function readFloatInitializers(
  file: string,
  names: readonly string[],
  epsilonOf?: string,
): Promise<{ tensors: Map<string, FloatInitializer>; epsilon?: number }> {
  const buf = new Uint8Array(await readFile(file));
  const model = new Reader(buf);
  const tensors = new Map<string, FloatInitializer>();
  const nodeSpans: [number, number][] = [];
  try {
    for (let tag = model.tag(); tag; tag = model.tag()) {
      const [field, wire] = tag;
      if (field !== 7 || wire !== 2) {
        model.skip(wire);
        continue;
      }
      const [gs, ge] = model.span();
      const graph = new Reader(buf, gs, ge);
      for (let gt = graph.tag(); gt; gt = graph.tag()) {
        const [gf, gw] = gt;
        if (gw !== 2 || (gf !== 5 && gf !== 1)) {
          graph.skip(gw);
          continue;
        }
        const [s, e] = graph.span();
        if (gf === 1) {
          nodeSpans.push([s, e]);
          continue;
        }
        const t = readTensor(buf, s, e);
        if (!names.includes(t.name)) continue;
        tensors.set(t.name, { dims: t.dims, data: await tensorData(file, t) });
      }
    }
  } catch (error) {
    if (error instanceof ModelLoadError) throw error;
    throw new ModelLoadError(`${file}: cannot read its weights (${(error as Error).message}); is it a complete ONNX file?`, file, { cause: error });
  }
  const missing = names.find((n) => !tensors.has(n));
  if (missing) throw new ModelLoadError(`${file} has no initializer "${missing}"`, file);
  return { tensors, epsilon: epsilonOf === undefined ? undefined : layerNormEpsilon(buf, nodeSpans, epsilonOf) };
}

async function tensorData(file: string, t: RawTensor): Promise<Float32Array> {
  const count = t.dims.reduce((a, b) => a * b, 1);
  let bytes = t.raw;
  if (t.location === EXTERNAL) {
    const location = t.external.get('location');
    if (!location) throw new ModelLoadError(`${file}: initializer "${t.name}" is external but names no location`, file);
    const data = await readFile(path.join(path.dirname(file), location));
    const offset = Number(t.external.get('offset') ?? 0);
    const length = Number(t.external.get('length') ?? data.length - offset);
    bytes = new Uint8Array(data.buffer, data.byteOffset + offset, length);
  }
  if (t.dataType === FLOAT) {
    if (!bytes) return Float32Array.from(t.floats);
    // Copy: raw_data is not 4-byte aligned inside the file buffer.
    return new Float32Array(bytes.slice(0, count * 4).buffer);
  }
  if (t.dataType === FLOAT16 && bytes) return float16ToFloat32(new Uint16Array(bytes.slice(0, count * 2).buffer));
  throw new ModelLoadError(`${file}: initializer "${t.name}" has data type ${t.dataType}; float32 or float16 expected`, file);
}
