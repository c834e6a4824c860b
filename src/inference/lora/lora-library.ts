/**
 * LORAS_DIR: `<name>.safetensors` files, used by name in `<lora:name:weight>`. Files are read when a job names
 * them (cached by size and mtime) and hashed as A1111 does for `Lora hashes`: sha256 of the bytes after the
 * safetensors header (kohya/additional-networks' addnet hash, A1111's `network.shorthash`), first 12 hex digits.
 */
import { createHash } from 'node:crypto';
import { readdir, readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { Identifiers, UserError } from '../../errors.js';
import { SafetensorsFile } from '../weights/safetensors.js';
import { readLoraNetwork, type LoraNetwork } from './lora-file.js';

export interface LoadedLora {
  network: LoraNetwork;
  /** A1111's shorthash: 12 hex digits of the addnet sha256. */
  hash: string;
}

/** sha256 of a safetensors file's data section (after the 8-byte length and the JSON header), as A1111 hashes LoRAs. */
export function addnetHash(bytes: Uint8Array): string {
  const n = Number(new DataView(bytes.buffer, bytes.byteOffset, 8).getBigUint64(0, true));
  return createHash('sha256')
    .update(bytes.subarray(8 + n))
    .digest('hex');
}

export class LoraLibrary {
  /** Hashes by file; the tensors are not kept (a merged set is cached by the engine, the file is read again only for a new set). */
  private readonly hashes = new Map<string, { stamp: string; hash: string }>();

  constructor(readonly dir: string) {}

  /** Names of the installed LoRAs, sorted. A missing folder has none. */
  async names(): Promise<string[]> {
    const entries = await readdir(this.dir).catch(() => [] as string[]);
    return entries
      .filter((f) => f.toLowerCase().endsWith('.safetensors'))
      .map((f) => f.slice(0, -'.safetensors'.length))
      .sort();
  }

  async load(name: string): Promise<LoadedLora> {
    const names = await this.names();
    // Tags are typed by people: an exact name first, else the one name equal ignoring case.
    const found = names.includes(name) ? name : names.filter((n) => n.toLowerCase() === name.toLowerCase()).at(0);
    if (found === undefined || name.includes('/') || name.includes('\\')) {
      const list = names.length
        ? `Available: ${names.join(', ')}`
        : `None is installed: put <name>.safetensors files in ${this.dir} (npm run models:pull -- --lora OWNER/REPO)`;
      throw new UserError(Identifiers.NotFound, `Unknown LoRA "${name}". ${list}.`);
    }
    const file = path.join(this.dir, `${found}.safetensors`);
    const info = await stat(file);
    const stamp = `${info.size}:${info.mtimeMs}`;
    const bytes = new Uint8Array(await readFile(file));
    const network = readLoraNetwork(SafetensorsFile.parse(bytes, file), found);
    let hash = this.hashes.get(file);
    if (hash?.stamp !== stamp) {
      hash = { stamp, hash: addnetHash(bytes).slice(0, 12) };
      this.hashes.set(file, hash);
    }
    return { network, hash: hash.hash };
  }
}
