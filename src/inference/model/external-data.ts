/**
 * A model opened from bytes (`InferenceSession.create(bytes, { externalData })`: a LoRA-patched graph, a text
 * encoder grown with embeddings) has no folder to find its external weights in, so every external file is read into
 * memory and handed over. A file over `maxPiece` (2 GiB; a Node buffer holds at most 4 GiB, and an SDXL UNet's
 * `model.onnx_data` is ~5 GB in fp16, an fp32 SDXL text_encoder_2's 2.8 GB) is handed over in pieces cut at tensor
 * boundaries, the model's external_data entries rewritten to point into them (relocateExternalData).
 */
import { constants as bufferConstants } from 'node:buffer';
import { open, stat } from 'node:fs/promises';
import path from 'node:path';
import { ModelLoadError } from '../../errors.js';
import { relocateExternalData, scanGraph, type ExternalLocation } from './onnx-initializers.js';

const MAX_BUFFER = bufferConstants.MAX_LENGTH;
const CHUNK = 256 * 2 ** 20;
/** External files above this are handed to onnxruntime in pieces (tests lower it). */
export const MAX_PIECE = 2 ** 31;

/** Bytes [start, start + length) of a file, read in chunks (readFile stops at 2 GiB). */
export async function readRange(file: string, start: number, length: number): Promise<Uint8Array> {
  const handle = await open(file, 'r');
  try {
    const out = new Uint8Array(length);
    for (let at = 0; at < length; ) {
      const { bytesRead } = await handle.read(out, at, Math.min(CHUNK, length - at), start + at);
      if (bytesRead === 0)
        throw new ModelLoadError(`${file}: ended after ${start + at} bytes, expected ${start + length}; the weights file is truncated`, file);
      at += bytesRead;
    }
    return out;
  } finally {
    await handle.close();
  }
}

export interface ExternalDataInMemory {
  /** The model bytes: `bytes` itself, or a copy whose external_data entries point into the pieces. */
  bytes: Uint8Array;
  /** Path (as the model names it) → contents, for `externalData`. */
  external: Map<string, Uint8Array>;
}

/**
 * Reads every external file of the model `bytes` (whose path is `file`) into memory, in pieces of at most
 * `maxPiece` bytes. `tooLarge(name)` is the error for one tensor over the 4 GiB a buffer can hold.
 */
export async function readExternalData(
  bytes: Uint8Array,
  file: string,
  tooLarge: (tensor: string) => Error,
  maxPiece = MAX_PIECE,
): Promise<ExternalDataInMemory> {
  const external = new Map<string, Uint8Array>();
  const moves = new Map<string, { location: string; offset: number }>();
  const dir = path.dirname(file);
  const byLocation = new Map<string, { name: string; location: ExternalLocation }[]>();
  for (const e of scanGraph(bytes, file).external) byLocation.set(e.location.location, [...(byLocation.get(e.location.location) ?? []), e]);
  for (const [location, tensors] of byLocation) {
    const data = path.resolve(dir, location);
    const size = (await stat(data)).size;
    if (size <= maxPiece) {
      external.set(location, await readRange(data, 0, size));
      continue;
    }
    tensors.sort((x, y) => x.location.offset - y.location.offset);
    const ends = tensors.map((t, i) => t.location.offset + (t.location.length ?? (tensors[i + 1]?.location.offset ?? size) - t.location.offset));
    let start = 0;
    while (start < tensors.length) {
      const pieceStart = tensors[start].location.offset;
      let end = start + 1;
      while (end < tensors.length && ends[end] - pieceStart <= maxPiece) end++;
      const pieceEnd = Math.max(...ends.slice(start, end));
      if (pieceEnd - pieceStart > MAX_BUFFER) throw tooLarge(tensors[start].name);
      const piece = `${location}.piece${external.size}`;
      external.set(piece, await readRange(data, pieceStart, pieceEnd - pieceStart));
      for (const t of tensors.slice(start, end)) moves.set(t.name, { location: piece, offset: t.location.offset - pieceStart });
      start = end;
    }
  }
  return { bytes: moves.size ? relocateExternalData(bytes, moves, file) : bytes, external };
}
