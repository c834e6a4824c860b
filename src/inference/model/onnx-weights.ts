/**
 * Reads named float initializers (weights) straight out of a model.onnx, without onnxruntime, for the few cases
 * where the engine must apply a piece of the model itself: clip skip needs the text encoder's final layer norm
 * (`text_model.final_layer_norm.weight/bias`) on an intermediate hidden state, and ONNX exports do not expose that
 * layer on its own.
 *
 * A walk over ModelProto.graph → GraphProto.initializer / node → TensorProto with the wire-level reader shared
 * with the token-table splice (onnx-protobuf.ts); only what that needs is decoded.
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { ModelLoadError } from '../../errors.js';
import { float16ToFloat32 } from './float16.js';
import {
  DATA_LOCATION_EXTERNAL,
  DATA_TYPE_FLOAT,
  DATA_TYPE_FLOAT16,
  fields,
  GRAPH_INITIALIZER,
  GRAPH_NODE,
  MODEL_GRAPH,
  NODE_INPUT,
  NODE_OP_TYPE,
  readInt64s,
  str,
  TENSOR_DATA_LOCATION,
  TENSOR_DATA_TYPE,
  TENSOR_DIMS,
  TENSOR_EXTERNAL_DATA,
  TENSOR_FLOAT_DATA,
  TENSOR_NAME,
  TENSOR_RAW_DATA,
  WIRE_I32,
  WIRE_LEN,
  WIRE_VARINT,
  type Field,
} from './onnx-protobuf.js';

export interface FloatInitializer {
  dims: number[];
  data: Float32Array;
}

interface RawTensor {
  name: string;
  dims: number[];
  dataType: number;
  floats: number[];
  raw?: Uint8Array;
  external: Map<string, string>;
  location: number;
}

function readTensor(buf: Uint8Array, tensor: Field): RawTensor {
  const t: RawTensor = { name: '', dims: [], dataType: 0, floats: [], external: new Map(), location: 0 };
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  for (const f of fields(buf, tensor.valueStart, tensor.end)) {
    if (f.field === TENSOR_DIMS) readInt64s(buf, f, t.dims);
    else if (f.field === TENSOR_DATA_TYPE && f.wire === WIRE_VARINT) t.dataType = f.varint;
    else if (f.field === TENSOR_FLOAT_DATA && f.wire === WIRE_I32) t.floats.push(view.getFloat32(f.valueStart, true));
    else if (f.field === TENSOR_FLOAT_DATA && f.wire === WIRE_LEN)
      for (let at = f.valueStart; at < f.end; at += 4) t.floats.push(view.getFloat32(at, true));
    else if (f.field === TENSOR_NAME && f.wire === WIRE_LEN) t.name = str(buf, f);
    else if (f.field === TENSOR_RAW_DATA && f.wire === WIRE_LEN) t.raw = buf.subarray(f.valueStart, f.end);
    else if (f.field === TENSOR_EXTERNAL_DATA && f.wire === WIRE_LEN) {
      let key = '';
      let value = '';
      for (const entry of fields(buf, f.valueStart, f.end)) {
        if (entry.wire !== WIRE_LEN) continue;
        if (entry.field === 1) key = str(buf, entry);
        else if (entry.field === 2) value = str(buf, entry);
      }
      t.external.set(key, value);
    } else if (f.field === TENSOR_DATA_LOCATION && f.wire === WIRE_VARINT) t.location = f.varint;
  }
  return t;
}

// NodeProto.attribute (5) → AttributeProto name (1), f (2).
const NODE_ATTRIBUTE = 5;
const ATTRIBUTE_NAME = 1;
const ATTRIBUTE_FLOAT = 2;

/** The `epsilon` attribute of the LayerNormalization node that takes `weight`, when the graph has one. */
function layerNormEpsilon(buf: Uint8Array, nodes: Field[], weight: string): number | undefined {
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  for (const node of nodes) {
    const inputs: string[] = [];
    let opType = '';
    let epsilon: number | undefined;
    for (const f of fields(buf, node.valueStart, node.end)) {
      if (f.wire !== WIRE_LEN) continue;
      if (f.field === NODE_INPUT) inputs.push(str(buf, f));
      else if (f.field === NODE_OP_TYPE) opType = str(buf, f);
      else if (f.field === NODE_ATTRIBUTE) {
        let name = '';
        let value: number | undefined;
        for (const a of fields(buf, f.valueStart, f.end)) {
          if (a.field === ATTRIBUTE_NAME && a.wire === WIRE_LEN) name = str(buf, a);
          else if (a.field === ATTRIBUTE_FLOAT && a.wire === WIRE_I32) value = view.getFloat32(a.valueStart, true);
        }
        if (name === 'epsilon') epsilon = value;
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
  const tensors = new Map<string, FloatInitializer>();
  const nodes: Field[] = [];
  try {
    for (const graph of fields(buf, 0, buf.length)) {
      if (graph.field !== MODEL_GRAPH || graph.wire !== WIRE_LEN) continue;
      for (const f of fields(buf, graph.valueStart, graph.end)) {
        if (f.wire !== WIRE_LEN) continue;
        if (f.field === GRAPH_NODE) nodes.push(f);
        else if (f.field === GRAPH_INITIALIZER) {
          const t = readTensor(buf, f);
          if (names.includes(t.name)) tensors.set(t.name, { dims: t.dims, data: await tensorData(file, t) });
        }
      }
    }
  } catch (error) {
    if (error instanceof ModelLoadError) throw error;
    throw new ModelLoadError(`${file}: cannot read its weights (${(error as Error).message}); is it a complete ONNX file?`, file, { cause: error });
  }
  const missing = names.find((n) => !tensors.has(n));
  if (missing) throw new ModelLoadError(`${file} has no initializer "${missing}"`, file);
  return { tensors, epsilon: epsilonOf === undefined ? undefined : layerNormEpsilon(buf, nodes, epsilonOf) };
}

async function tensorData(file: string, t: RawTensor): Promise<Float32Array> {
  const count = t.dims.reduce((a, b) => a * b, 1);
  let bytes = t.raw;
  if (t.location === DATA_LOCATION_EXTERNAL) {
    const location = t.external.get('location');
    if (!location) throw new ModelLoadError(`${file}: initializer "${t.name}" is external but names no location`, file);
    const data = await readFile(path.join(path.dirname(file), location));
    const offset = Number(t.external.get('offset') ?? 0);
    const length = Number(t.external.get('length') ?? data.length - offset);
    bytes = new Uint8Array(data.buffer, data.byteOffset + offset, length);
  }
  if (t.dataType === DATA_TYPE_FLOAT) {
    if (!bytes) return Float32Array.from(t.floats);
    // Copy: raw_data is not 4-byte aligned inside the file buffer.
    return new Float32Array(bytes.slice(0, count * 4).buffer);
  }
  if (t.dataType === DATA_TYPE_FLOAT16 && bytes) return float16ToFloat32(new Uint16Array(bytes.slice(0, count * 2).buffer));
  throw new ModelLoadError(`${file}: initializer "${t.name}" has data type ${t.dataType}; float32 or float16 expected`, file);
}
