/**
 * Just enough of the zip format to read PyTorch's `.pt` archives (torch.save since 1.6): the central directory,
 * stored entries (what torch writes) and deflated ones (what re-zipping tools write; node:zlib inflates them).
 * No dependency: the format needed here is three fixed-layout records.
 */
import { inflateRawSync } from 'node:zlib';
import { WeightsFileError } from './safetensors.js';

const EOCD = 0x06054b50;
const CENTRAL = 0x02014b50;
const LOCAL = 0x04034b50;

export interface ZipEntry {
  name: string;
  method: number;
  compressedSize: number;
  size: number;
  localHeaderOffset: number;
}

export class ZipArchive {
  private constructor(
    readonly file: string,
    private readonly bytes: Uint8Array,
    readonly entries: ReadonlyMap<string, ZipEntry>,
  ) {}

  /** True when the bytes start like a zip file (local header), as torch.save's archives do. */
  static looksLikeZip(bytes: Uint8Array): boolean {
    return bytes.length >= 4 && bytes[0] === 0x50 && bytes[1] === 0x4b && bytes[2] === 0x03 && bytes[3] === 0x04;
  }

  static parse(bytes: Uint8Array, file: string): ZipArchive {
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    // The end-of-central-directory record is 22 bytes plus a comment of up to 65,535 bytes, at the very end.
    let eocd = -1;
    for (let at = bytes.length - 22; at >= Math.max(0, bytes.length - 22 - 0xffff); at--) {
      if (view.getUint32(at, true) === EOCD) {
        eocd = at;
        break;
      }
    }
    if (eocd < 0) throw new WeightsFileError(`${file}: no zip end-of-central-directory record; the file is truncated or not a zip archive`, file);
    const count = view.getUint16(eocd + 10, true);
    const dirSize = view.getUint32(eocd + 12, true);
    const dirOffset = view.getUint32(eocd + 16, true);
    if (count === 0xffff || dirOffset === 0xffffffff) {
      throw new WeightsFileError(
        `${file} is a zip64 archive (over 4 GB or 65,535 entries); that is not an embedding — convert it to .safetensors`,
        file,
      );
    }
    if (dirOffset + dirSize > eocd) throw new WeightsFileError(`${file}: zip central directory lies outside the file`, file);
    const entries = new Map<string, ZipEntry>();
    let at = dirOffset;
    for (let i = 0; i < count; i++) {
      if (at + 46 > eocd || view.getUint32(at, true) !== CENTRAL)
        throw new WeightsFileError(`${file}: zip central directory entry ${i} is corrupt`, file);
      const nameLength = view.getUint16(at + 28, true);
      const extraLength = view.getUint16(at + 30, true);
      const commentLength = view.getUint16(at + 32, true);
      const name = new TextDecoder().decode(bytes.subarray(at + 46, at + 46 + nameLength));
      entries.set(name, {
        name,
        method: view.getUint16(at + 10, true),
        compressedSize: view.getUint32(at + 20, true),
        size: view.getUint32(at + 24, true),
        localHeaderOffset: view.getUint32(at + 42, true),
      });
      at += 46 + nameLength + extraLength + commentLength;
    }
    return new ZipArchive(file, bytes, entries);
  }

  /** The entry's bytes (a view into the file when stored, a new buffer when deflated). */
  read(name: string): Uint8Array {
    const entry = this.entries.get(name);
    if (!entry) throw new WeightsFileError(`${this.file}: the archive has no entry "${name}"`, this.file);
    const view = new DataView(this.bytes.buffer, this.bytes.byteOffset, this.bytes.byteLength);
    const at = entry.localHeaderOffset;
    if (at + 30 > this.bytes.length || view.getUint32(at, true) !== LOCAL)
      throw new WeightsFileError(`${this.file}: zip entry "${name}" has no local header`, this.file);
    // The local header's name and extra lengths may differ from the central directory's (torch pads with extra).
    const start = at + 30 + view.getUint16(at + 26, true) + view.getUint16(at + 28, true);
    const end = start + entry.compressedSize;
    if (end > this.bytes.length) throw new WeightsFileError(`${this.file}: zip entry "${name}" runs past the end of the file`, this.file);
    const raw = this.bytes.subarray(start, end);
    if (entry.method === 0) return raw;
    if (entry.method === 8) {
      // Bounded by the declared size, so a crafted entry cannot inflate into gigabytes.
      const out = inflateRawSync(raw, { maxOutputLength: Math.max(1, entry.size) });
      if (out.length !== entry.size)
        throw new WeightsFileError(`${this.file}: zip entry "${name}" inflates to ${out.length} bytes, expected ${entry.size}`, this.file);
      return new Uint8Array(out.buffer, out.byteOffset, out.length);
    }
    throw new WeightsFileError(
      `${this.file}: zip entry "${name}" uses compression method ${entry.method}; only stored and deflated entries are read`,
      this.file,
    );
  }
}
