/**
 * The protobuf wire format as the ONNX readers here need it (onnx.proto3 field numbers, varints, a field
 * iterator over a message's bytes): enough to find and read or splice initializers in a model.onnx without
 * decoding the whole model (a 500 MB text encoder is mostly one tensor) and without onnxruntime.
 */
// Field numbers from onnx.proto3.
export const MODEL_GRAPH = 7;
export const GRAPH_NODE = 1;
export const GRAPH_INITIALIZER = 5;
export const GRAPH_INPUT = 11;
export const NODE_INPUT = 1;
export const NODE_OUTPUT = 2;
export const NODE_OP_TYPE = 4;
export const NODE_NAME = 3;
export const VALUE_INFO_NAME = 1;
export const TENSOR_DIMS = 1;
export const TENSOR_DATA_TYPE = 2;
export const TENSOR_FLOAT_DATA = 4;
export const TENSOR_INT32_DATA = 5;
export const TENSOR_NAME = 8;
export const TENSOR_RAW_DATA = 9;
export const TENSOR_EXTERNAL_DATA = 13;
export const TENSOR_DATA_LOCATION = 14;
export const DATA_TYPE_FLOAT = 1;
export const DATA_TYPE_FLOAT16 = 10;
export const DATA_LOCATION_EXTERNAL = 1;

export const WIRE_VARINT = 0;
export const WIRE_I64 = 1;
export const WIRE_LEN = 2;
export const WIRE_I32 = 5;

export interface Field {
  field: number;
  wire: number;
  /** Offset of the tag (the field's first byte). */
  start: number;
  /** Offset of the payload (after the tag and, for LEN fields, the length). */
  valueStart: number;
  /** Offset just past the field. */
  end: number;
  /** The value of a VARINT field. */
  varint: number;
}

export class ProtoError extends Error {}

/** Varints up to 2^53 (Number arithmetic, not 32-bit bitwise: graphs approach 2 GB). */
export function readVarint(bytes: Uint8Array, at: number, limit: number): [value: number, next: number] {
  let value = 0;
  let scale = 1;
  for (let i = at; i < limit && i < at + 10; i++) {
    const b = bytes[i];
    value += (b & 0x7f) * scale;
    if (b < 0x80) return [value, i + 1];
    scale *= 128;
  }
  throw new ProtoError(`truncated varint at byte ${at}`);
}

export function* fields(bytes: Uint8Array, start: number, end: number): Generator<Field> {
  let at = start;
  while (at < end) {
    const fieldStart = at;
    const [tag, afterTag] = readVarint(bytes, at, end);
    const field = Math.floor(tag / 8);
    const wire = tag % 8;
    let valueStart = afterTag;
    let next: number;
    let varint = 0;
    switch (wire) {
      case WIRE_VARINT:
        [varint, next] = readVarint(bytes, afterTag, end);
        break;
      case WIRE_I64:
        next = afterTag + 8;
        break;
      case WIRE_LEN: {
        const [length, payload] = readVarint(bytes, afterTag, end);
        valueStart = payload;
        next = payload + length;
        break;
      }
      case WIRE_I32:
        next = afterTag + 4;
        break;
      default:
        throw new ProtoError(`unsupported wire type ${wire} at byte ${fieldStart}`);
    }
    if (next > end) throw new ProtoError(`field ${field} at byte ${fieldStart} runs past its message (${next} > ${end})`);
    yield { field, wire, start: fieldStart, valueStart, end: next, varint };
    at = next;
  }
}

export function varintBytes(value: number): Uint8Array {
  const out: number[] = [];
  let v = value;
  while (v >= 0x80) {
    out.push((v % 128) | 0x80);
    v = Math.floor(v / 128);
  }
  out.push(v);
  return Uint8Array.from(out);
}

export function tagBytes(field: number, wire: number): Uint8Array {
  return varintBytes(field * 8 + wire);
}

const utf8 = new TextDecoder();
export const str = (bytes: Uint8Array, f: Field) => utf8.decode(bytes.subarray(f.valueStart, f.end));

/** Repeated int64 (dims): packed (LEN) or one VARINT per value; both are legal and exporters use both. */
export function readInt64s(bytes: Uint8Array, f: Field, into: number[]): void {
  if (f.wire === WIRE_VARINT) {
    into.push(f.varint);
    return;
  }
  let at = f.valueStart;
  while (at < f.end) {
    const [v, next] = readVarint(bytes, at, f.end);
    into.push(v);
    at = next;
  }
}
