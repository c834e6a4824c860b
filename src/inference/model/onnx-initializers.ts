/**
 * Grows a text encoder's token-embedding table inside the serialized ONNX model, so textual-inversion vectors get
 * token ids of their own (reference: next-capabilities.md §2). The ONNX text encoder takes only `input_ids`; there
 * is no way to feed vectors past the Gather, so the vectors become rows V, V+1, … of the Gather's initializer.
 *
 * This is a protobuf splice, not a decode/re-encode: a 500 MB encoder is mostly that one initializer, and the
 * JS protobuf decoders would copy every weight into numbers. We walk ModelProto.graph (field 7) →
 * GraphProto.initializer (field 5) → TensorProto and rebuild only that TensorProto (dims[0] and raw_data change);
 * the rest of the model is copied byte for byte, with the two enclosing length prefixes rewritten. A table kept in
 * an external file (data_location = EXTERNAL) is read by the caller (readExternalTable) and written inline in the
 * grown copy; the model's other external initializers keep pointing at their files.
 */
import { open, type FileHandle } from 'node:fs/promises';
import path from 'node:path';
import { ModelLoadError } from '../../errors.js';
import { fromFloat16Bits, toFloat16Bits } from './float16.js';

/** The initializer name the diffusers/optimum CLIP export gives the token table. */
export const TOKEN_EMBEDDING_NAME = 'text_model.embeddings.token_embedding.weight';

import {
  DATA_LOCATION_EXTERNAL,
  DATA_TYPE_FLOAT,
  DATA_TYPE_FLOAT16,
  fields,
  GRAPH_INITIALIZER,
  GRAPH_INPUT,
  GRAPH_NODE,
  MODEL_GRAPH,
  NODE_INPUT,
  NODE_NAME,
  NODE_OP_TYPE,
  NODE_OUTPUT,
  ProtoError,
  readInt64s,
  str,
  tagBytes,
  TENSOR_DATA_LOCATION,
  TENSOR_DATA_TYPE,
  TENSOR_DIMS,
  TENSOR_EXTERNAL_DATA,
  TENSOR_FLOAT_DATA,
  TENSOR_INT32_DATA,
  TENSOR_NAME,
  TENSOR_RAW_DATA,
  VALUE_INFO_NAME,
  varintBytes,
  WIRE_LEN,
  WIRE_VARINT,
  type Field,
} from './onnx-protobuf.js';

/** The table lives in an external file and the caller did not pass its bytes. */
class ExternalTableMissing extends Error {}

export interface TokenEmbeddingInfo {
  /** Initializer name. */
  name: string;
  /** Rows before growing (49,408 for CLIP). */
  vocabSize: number;
  /** Row width: the encoder's hidden size (768 SD1, 1024 SD2, 1280 SDXL's second encoder). */
  width: number;
  dtype: 'float32' | 'float16';
  /** Where the table's bytes are when the model keeps them outside model.onnx (path relative to the model). */
  external?: ExternalLocation;
}

export interface ExternalLocation {
  location: string;
  offset: number;
  /** Bytes; undefined when the model leaves it out (then: to the end of the file). */
  length?: number;
}

/** A TensorProto's external_data entries (key/value strings: location, offset, length). */
function externalLocation(bytes: Uint8Array, tensor: Field): ExternalLocation | undefined {
  const entries = new Map<string, string>();
  let external = false;
  for (const g of fields(bytes, tensor.valueStart, tensor.end)) {
    if (g.field === TENSOR_DATA_LOCATION && g.wire === WIRE_VARINT) external = g.varint === DATA_LOCATION_EXTERNAL;
    else if (g.field === TENSOR_EXTERNAL_DATA && g.wire === WIRE_LEN) {
      let key = '';
      let value = '';
      for (const kv of fields(bytes, g.valueStart, g.end)) {
        if (kv.wire !== WIRE_LEN) continue;
        if (kv.field === 1) key = str(bytes, kv);
        else if (kv.field === 2) value = str(bytes, kv);
      }
      entries.set(key, value);
    }
  }
  if (!external) return undefined;
  const location = entries.get('location');
  if (!location) throw new ProtoError('an external initializer has no location');
  return {
    location,
    offset: Number(entries.get('offset') ?? 0),
    length: entries.has('length') ? Number(entries.get('length')) : undefined,
  };
}

/** The files (relative to the model) that the model's external initializers live in, each once. */
export function externalDataFiles(model: Uint8Array, file = 'model.onnx'): string[] {
  try {
    const graph = [...fields(model, 0, model.length)].find((f) => f.field === MODEL_GRAPH && f.wire === WIRE_LEN);
    if (!graph) return [];
    const out = new Set<string>();
    for (const f of fields(model, graph.valueStart, graph.end)) {
      if (f.field !== GRAPH_INITIALIZER || f.wire !== WIRE_LEN) continue;
      const ext = externalLocation(model, f);
      if (ext) out.add(ext.location);
    }
    return [...out];
  } catch (error) {
    throw asLoadError(error, file);
  }
}

interface Located {
  info: TokenEmbeddingInfo;
  graph: Field;
  tensor: Field;
}

/** The initializer's name: the well-known one, else the data input of the Gather that reads `input_ids`. */
function embeddingName(bytes: Uint8Array, graph: Field, initializers: Set<string>): string | undefined {
  if (initializers.has(TOKEN_EMBEDDING_NAME)) return TOKEN_EMBEDDING_NAME;
  // Exporters that rename weights still gather from the table with input_ids (possibly after a Cast to int64).
  const nodes: { op: string; inputs: string[]; outputs: string[] }[] = [];
  for (const f of fields(bytes, graph.valueStart, graph.end)) {
    if (f.field !== GRAPH_NODE || f.wire !== WIRE_LEN) continue;
    const node = { op: '', inputs: [] as string[], outputs: [] as string[] };
    for (const g of fields(bytes, f.valueStart, f.end)) {
      if (g.wire !== WIRE_LEN) continue;
      if (g.field === NODE_INPUT) node.inputs.push(str(bytes, g));
      else if (g.field === NODE_OUTPUT) node.outputs.push(str(bytes, g));
      else if (g.field === NODE_OP_TYPE) node.op = str(bytes, g);
    }
    nodes.push(node);
  }
  const ids = new Set(['input_ids']);
  for (const n of nodes) if (n.op === 'Cast' && ids.has(n.inputs[0])) n.outputs.forEach((o) => ids.add(o));
  const gather = nodes.find((n) => n.op === 'Gather' && ids.has(n.inputs[1]) && initializers.has(n.inputs[0]));
  return gather?.inputs[0];
}

function locate(bytes: Uint8Array, file: string): Located {
  const graphs = [...fields(bytes, 0, bytes.length)].filter((f) => f.field === MODEL_GRAPH && f.wire === WIRE_LEN);
  if (graphs.length !== 1)
    throw new ModelLoadError(`${file}: expected one graph in the ONNX model, found ${graphs.length}; is it an ONNX file?`, file);
  const graph = graphs[0];
  const initializers = new Map<string, Field>();
  let hasInputIds = false;
  for (const f of fields(bytes, graph.valueStart, graph.end)) {
    if (f.wire !== WIRE_LEN) continue;
    if (f.field === GRAPH_INITIALIZER) {
      for (const g of fields(bytes, f.valueStart, f.end)) {
        if (g.field === TENSOR_NAME && g.wire === WIRE_LEN) initializers.set(str(bytes, g), f);
      }
    } else if (f.field === GRAPH_INPUT) {
      for (const g of fields(bytes, f.valueStart, f.end))
        if (g.field === VALUE_INFO_NAME && g.wire === WIRE_LEN && str(bytes, g) === 'input_ids') hasInputIds = true;
    }
  }
  if (!hasInputIds) throw new ModelLoadError(`${file}: the model has no "input_ids" input, so it is not a CLIP text encoder`, file);
  const name = embeddingName(bytes, graph, new Set(initializers.keys()));
  if (!name) {
    throw new ModelLoadError(
      `${file}: found neither the initializer "${TOKEN_EMBEDDING_NAME}" nor a Gather that reads input_ids from an initializer, so textual-inversion embeddings cannot be added to this text encoder`,
      file,
    );
  }
  const tensor = initializers.get(name)!;
  const dims: number[] = [];
  let dataType = 0;
  for (const g of fields(bytes, tensor.valueStart, tensor.end)) {
    if (g.field === TENSOR_DIMS) readInt64s(bytes, g, dims);
    else if (g.field === TENSOR_DATA_TYPE && g.wire === WIRE_VARINT) dataType = g.varint;
  }
  const external = externalLocation(bytes, tensor);
  if (dims.length !== 2)
    throw new ModelLoadError(`${file}: the token embedding "${name}" has dims [${dims.join(', ')}], expected [vocab, width]`, file);
  if (dataType !== DATA_TYPE_FLOAT && dataType !== DATA_TYPE_FLOAT16) {
    throw new ModelLoadError(
      `${file}: the token embedding "${name}" has ONNX data type ${dataType}; only float32 (1) and float16 (10) can be extended`,
      file,
    );
  }
  const info: TokenEmbeddingInfo = { name, vocabSize: dims[0], width: dims[1], dtype: dataType === DATA_TYPE_FLOAT ? 'float32' : 'float16' };
  if (external) info.external = external;
  return { info, graph, tensor };
}

/** Where the token table is and its shape, without changing anything. */
export function findTokenEmbedding(model: Uint8Array, file = 'text_encoder/model.onnx'): TokenEmbeddingInfo {
  try {
    return locate(model, file).info;
  } catch (error) {
    throw asLoadError(error, file);
  }
}

function asLoadError(error: unknown, file: string): unknown {
  if (error instanceof ExternalTableMissing) {
    return new ModelLoadError(
      `${file}: the token embedding is stored as external data; read it with readExternalTable and pass it to growTokenEmbedding`,
      file,
    );
  }
  if (error instanceof ProtoError) return new ModelLoadError(`${file}: not a readable ONNX protobuf (${error.message})`, file, { cause: error });
  return error;
}

/** The table's current element bytes in little-endian storage order, from raw_data or the typed fields. */
function tableBytes(bytes: Uint8Array, tensor: Field, info: TokenEmbeddingInfo, externalTable?: Uint8Array): Uint8Array {
  const elemSize = info.dtype === 'float32' ? 4 : 2;
  const count = info.vocabSize * info.width;
  if (info.external) {
    if (!externalTable) throw new ExternalTableMissing();
    if (externalTable.length !== count * elemSize) {
      throw new ProtoError(
        `the external data of "${info.name}" (${info.external.location} at ${info.external.offset}) is ${externalTable.length} bytes, expected ${count * elemSize}`,
      );
    }
    return externalTable;
  }
  let raw: Uint8Array | undefined;
  const typed: number[] = [];
  for (const g of fields(bytes, tensor.valueStart, tensor.end)) {
    if (g.field === TENSOR_RAW_DATA && g.wire === WIRE_LEN) raw = bytes.subarray(g.valueStart, g.end);
    else if (g.field === TENSOR_FLOAT_DATA && info.dtype === 'float32') {
      // float_data: packed fixed32 floats (or, rarely, one I32 field each).
      const view = new DataView(bytes.buffer, bytes.byteOffset);
      for (let at = g.valueStart; at < g.end; at += 4) typed.push(view.getFloat32(at, true));
    } else if (g.field === TENSOR_INT32_DATA && info.dtype === 'float16') {
      // ONNX stores float16 in int32_data as one bit pattern per int32.
      readInt64s(bytes, g, typed);
    }
  }
  if (raw) {
    if (raw.length !== count * elemSize) throw new ProtoError(`raw_data of "${info.name}" is ${raw.length} bytes, expected ${count * elemSize}`);
    return raw;
  }
  if (typed.length !== count) throw new ProtoError(`"${info.name}" holds ${typed.length} values, expected ${count}`);
  const out = new Uint8Array(count * elemSize);
  const view = new DataView(out.buffer);
  for (let i = 0; i < count; i++) {
    if (elemSize === 4) view.setFloat32(i * 4, typed[i], true);
    else view.setUint16(i * 2, typed[i] & 0xffff, true);
  }
  return out;
}

function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

export interface GrownTextEncoder {
  /** The new model bytes, for `ModelSession.fromBytes`. */
  bytes: Uint8Array;
  info: TokenEmbeddingInfo;
  /** Id of the first added row (the old vocabulary size); row k of `rows` has id firstId + k. */
  firstId: number;
}

/**
 * Returns new model bytes whose token table has `rows.length / width` more rows, in order, after the old ones.
 * `rows` are float32 and cast to float16 when the table is float16. The input bytes are not modified.
 */
export function growTokenEmbedding(
  model: Uint8Array,
  rows: Float32Array,
  file = 'text_encoder/model.onnx',
  externalTable?: Uint8Array,
): GrownTextEncoder {
  try {
    return grow(model, rows, file, externalTable);
  } catch (error) {
    throw asLoadError(error, file);
  }
}

function grow(model: Uint8Array, rows: Float32Array, file: string, externalTable?: Uint8Array): GrownTextEncoder {
  const { info, graph, tensor } = locate(model, file);
  if (rows.length % info.width !== 0) {
    throw new ModelLoadError(`${file}: embedding rows of ${rows.length} values do not split into rows of the encoder's width ${info.width}`, file);
  }
  const added = rows.length / info.width;
  const elemSize = info.dtype === 'float32' ? 4 : 2;
  const extra = new Uint8Array(rows.length * elemSize);
  const view = new DataView(extra.buffer);
  for (let i = 0; i < rows.length; i++) {
    if (elemSize === 4) view.setFloat32(i * 4, rows[i], true);
    else view.setUint16(i * 2, toFloat16Bits(rows[i]), true);
  }
  const table = tableBytes(model, tensor, info, externalTable);
  const dataLength = table.length + extra.length;

  // The new TensorProto: every field copied in place except dims (rewritten packed, first dim grown) and the data
  // (raw_data, wherever the old data field was; typed float_data/int32_data become raw_data, which ONNX allows).
  // An external table comes inline: its location fields go, and the other initializers keep theirs.
  const parts: Uint8Array[] = [];
  let dimsWritten = false;
  let dataWritten = false;
  const dataFields = new Set([TENSOR_RAW_DATA, info.dtype === 'float32' ? TENSOR_FLOAT_DATA : TENSOR_INT32_DATA]);
  for (const g of fields(model, tensor.valueStart, tensor.end)) {
    if (g.field === TENSOR_DIMS) {
      if (dimsWritten) continue;
      dimsWritten = true;
      const packed = concat([varintBytes(info.vocabSize + added), varintBytes(info.width)]);
      parts.push(tagBytes(TENSOR_DIMS, WIRE_LEN), varintBytes(packed.length), packed);
    } else if (g.field === TENSOR_EXTERNAL_DATA || g.field === TENSOR_DATA_LOCATION) {
    } else if (dataFields.has(g.field)) {
      if (dataWritten) continue;
      dataWritten = true;
      parts.push(tagBytes(TENSOR_RAW_DATA, WIRE_LEN), varintBytes(dataLength), table, extra);
    } else {
      parts.push(model.subarray(g.start, g.end));
    }
  }
  if (!dataWritten) parts.push(tagBytes(TENSOR_RAW_DATA, WIRE_LEN), varintBytes(dataLength), table, extra);
  const tensorLength = parts.reduce((n, p) => n + p.length, 0);
  const tensorHeader = concat([tagBytes(GRAPH_INITIALIZER, WIRE_LEN), varintBytes(tensorLength)]);
  const graphLength = graph.end - graph.valueStart - (tensor.end - tensor.start) + tensorHeader.length + tensorLength;
  const bytes = concat([
    model.subarray(0, graph.start),
    tagBytes(MODEL_GRAPH, WIRE_LEN),
    varintBytes(graphLength),
    model.subarray(graph.valueStart, tensor.start),
    tensorHeader,
    ...parts,
    model.subarray(tensor.end, graph.end),
    model.subarray(graph.end),
  ]);
  return { bytes, info, firstId: info.vocabSize };
}

/**
 * The bytes of an external token table (`info.external`), read from its file next to `modelFile`: pass them to
 * growTokenEmbedding. The other external initializers stay in their files (see externalDataFiles).
 */
export async function readExternalTable(modelFile: string, info: TokenEmbeddingInfo): Promise<Uint8Array> {
  if (!info.external) throw new Error(`${modelFile}: "${info.name}" is not external`);
  const { location, offset } = info.external;
  const expected = info.vocabSize * info.width * (info.dtype === 'float32' ? 4 : 2);
  const dataFile = path.resolve(path.dirname(modelFile), location);
  let handle: FileHandle;
  try {
    handle = await open(dataFile, 'r');
  } catch (error) {
    throw new ModelLoadError(
      `${modelFile}: the token embedding's external data file ${dataFile} cannot be opened (${(error as Error).message})`,
      dataFile,
      { cause: error },
    );
  }
  try {
    const out = new Uint8Array(info.external.length ?? expected);
    const { bytesRead } = await handle.read(out, 0, out.length, offset);
    if (bytesRead !== out.length)
      throw new ModelLoadError(
        `${dataFile}: ${bytesRead} bytes at offset ${offset}, expected ${out.length} for "${info.name}"; the file is truncated`,
        dataFile,
      );
    return out;
  } finally {
    await handle.close();
  }
}

/**
 * Row `id` of the token table as float32 (tests; and SDXL's EOS row, copied above the embeddings' rows by
 * embedding-set.ts). A table kept in an external file needs its bytes (readExternalTable) as `externalTable`.
 */
export function readTokenEmbeddingRow(model: Uint8Array, id: number, file = 'text_encoder/model.onnx', externalTable?: Uint8Array): Float32Array {
  try {
    const { info, tensor } = locate(model, file);
    if (!Number.isInteger(id) || id < 0 || id >= info.vocabSize)
      throw new ModelLoadError(`${file}: token id ${id} is outside the table (0..${info.vocabSize - 1})`, file);
    const table = tableBytes(model, tensor, info, externalTable);
    const view = new DataView(table.buffer, table.byteOffset, table.byteLength);
    const out = new Float32Array(info.width);
    for (let i = 0; i < info.width; i++) {
      const k = id * info.width + i;
      out[i] = info.dtype === 'float32' ? view.getFloat32(k * 4, true) : fromFloat16Bits(view.getUint16(k * 2, true));
    }
    return out;
  } catch (error) {
    throw asLoadError(error, file);
  }
}

/** Where one float initializer's bytes are, for patching them in place (LoRA merging, src/inference/lora). */
export interface InitializerLocation {
  name: string;
  dims: number[];
  dtype: 'float32' | 'float16';
  /** Byte range of the little-endian element bytes inside the model (raw_data, or packed float_data: the same bytes). */
  inline?: { start: number; end: number };
  external?: ExternalLocation;
}

export interface GraphNode {
  name: string;
  op: string;
  inputs: string[];
}

export interface GraphScan {
  nodes: GraphNode[];
  /** Float initializers whose bytes can be patched without re-encoding the model. */
  initializers: Map<string, InitializerLocation>;
  /** Every initializer kept in an external file, whatever its type (relocating them must move them all). */
  external: { name: string; location: ExternalLocation }[];
}

/**
 * The graph's nodes (name, op type, inputs) and where each float32/float16 initializer's bytes sit, without
 * decoding any weight: a LoRA merge looks weights up by node name and adds to them in a copy of these bytes.
 * float16 kept in int32_data (one varint each) cannot be patched in place and is left out.
 */
export function scanGraph(model: Uint8Array, file = 'model.onnx'): GraphScan {
  try {
    const graphs = [...fields(model, 0, model.length)].filter((f) => f.field === MODEL_GRAPH && f.wire === WIRE_LEN);
    if (graphs.length !== 1)
      throw new ModelLoadError(`${file}: expected one graph in the ONNX model, found ${graphs.length}; is it an ONNX file?`, file);
    const graph = graphs[0];
    const nodes: GraphNode[] = [];
    const initializers = new Map<string, InitializerLocation>();
    const externals: GraphScan['external'] = [];
    for (const f of fields(model, graph.valueStart, graph.end)) {
      if (f.wire !== WIRE_LEN) continue;
      if (f.field === GRAPH_NODE) {
        const node: GraphNode = { name: '', op: '', inputs: [] };
        for (const g of fields(model, f.valueStart, f.end)) {
          if (g.wire !== WIRE_LEN) continue;
          if (g.field === NODE_INPUT) node.inputs.push(str(model, g));
          else if (g.field === NODE_OP_TYPE) node.op = str(model, g);
          else if (g.field === NODE_NAME) node.name = str(model, g);
        }
        nodes.push(node);
      } else if (f.field === GRAPH_INITIALIZER) {
        let name = '';
        const dims: number[] = [];
        let dataType = 0;
        let inline: InitializerLocation['inline'];
        for (const g of fields(model, f.valueStart, f.end)) {
          if (g.field === TENSOR_NAME && g.wire === WIRE_LEN) name = str(model, g);
          else if (g.field === TENSOR_DIMS) readInt64s(model, g, dims);
          else if (g.field === TENSOR_DATA_TYPE && g.wire === WIRE_VARINT) dataType = g.varint;
          else if ((g.field === TENSOR_RAW_DATA || g.field === TENSOR_FLOAT_DATA) && g.wire === WIRE_LEN)
            inline = { start: g.valueStart, end: g.end };
        }
        const external = externalLocation(model, f);
        if (external) externals.push({ name, location: external });
        if (dataType !== DATA_TYPE_FLOAT && dataType !== DATA_TYPE_FLOAT16) continue;
        const dtype = dataType === DATA_TYPE_FLOAT ? 'float32' : 'float16';
        const count = dims.reduce((a, b) => a * b, 1);
        const loc: InitializerLocation = { name, dims, dtype };
        if (external) loc.external = { ...external, length: external.length ?? count * (dtype === 'float32' ? 4 : 2) };
        else if (inline && inline.end - inline.start === count * (dtype === 'float32' ? 4 : 2)) loc.inline = inline;
        else continue;
        initializers.set(name, loc);
      }
    }
    return { nodes, initializers, external: externals };
  } catch (error) {
    throw asLoadError(error, file);
  }
}

/**
 * A copy of the model whose external initializers point at new (location, offset) pairs, for handing onnxruntime
 * one external file as several in-memory pieces (`externalData` takes one buffer per location, and a Node buffer
 * holds at most 4 GiB). Only the external_data entries of the named initializers change; the graph's and the
 * model's length prefixes are rewritten around them. Byte ranges (`length`) are kept.
 */
export function relocateExternalData(
  model: Uint8Array,
  moves: ReadonlyMap<string, { location: string; offset: number }>,
  file = 'model.onnx',
): Uint8Array {
  try {
    const graph = [...fields(model, 0, model.length)].find((f) => f.field === MODEL_GRAPH && f.wire === WIRE_LEN);
    if (!graph) throw new ProtoError('no graph');
    const enc = new TextEncoder();
    const lenField = (field: number, payload: Uint8Array) => concat([tagBytes(field, WIRE_LEN), varintBytes(payload.length), payload]);
    const parts: Uint8Array[] = [];
    for (const f of fields(model, graph.valueStart, graph.end)) {
      let name: string | undefined;
      if (f.field === GRAPH_INITIALIZER && f.wire === WIRE_LEN) {
        for (const g of fields(model, f.valueStart, f.end)) if (g.field === TENSOR_NAME && g.wire === WIRE_LEN) name = str(model, g);
      }
      const move = name === undefined ? undefined : moves.get(name);
      if (!move) {
        parts.push(model.subarray(f.start, f.end));
        continue;
      }
      const tensor: Uint8Array[] = [];
      for (const g of fields(model, f.valueStart, f.end)) {
        if (g.field !== TENSOR_EXTERNAL_DATA || g.wire !== WIRE_LEN) {
          tensor.push(model.subarray(g.start, g.end));
          continue;
        }
        let key = '';
        for (const kv of fields(model, g.valueStart, g.end)) if (kv.field === 1 && kv.wire === WIRE_LEN) key = str(model, kv);
        const value = key === 'location' ? move.location : key === 'offset' ? String(move.offset) : undefined;
        if (value === undefined) tensor.push(model.subarray(g.start, g.end));
        else tensor.push(lenField(TENSOR_EXTERNAL_DATA, concat([lenField(1, enc.encode(key)), lenField(2, enc.encode(value))])));
      }
      parts.push(lenField(GRAPH_INITIALIZER, concat(tensor)));
    }
    return concat([model.subarray(0, graph.start), lenField(MODEL_GRAPH, concat(parts)), model.subarray(graph.end)]);
  } catch (error) {
    throw asLoadError(error, file);
  }
}
