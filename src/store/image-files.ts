import { existsSync, mkdirSync, rmSync } from 'node:fs';
import { mkdir, open, readFile, rename } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import path from 'node:path';

const OUTPUTS = 'outputs';
const INPUTS = 'inputs';

/** The stored-image reference (DATA_DIR-relative, '/'-separated) of image `index` of `jobId`: what requests carry. */
export function outputRef(jobId: string, index: number): string {
  return `${OUTPUTS}/${jobId}/${index}.png`;
}

/** File name of the map ControlNet unit `index` saw (issue #15), beside a job's images: shown with the result. */
export function controlMapFile(index: number): string {
  return `control-${index}.png`;
}

/**
 * Generated PNGs under DATA_DIR/outputs/<jobId>/<n>.png. Each file is written to a temp name, fsynced, then
 * renamed, so a reader (or a restart after kill -9) sees either the whole image or none. Writes are async so
 * a slow disk stalls the thread pool, not the bot's event loop.
 */
export class ImageFiles {
  readonly root: string;

  constructor(readonly dataDir: string) {
    this.root = path.join(dataDir, OUTPUTS);
    // Private like DATA_DIR: the images are the users' (mode 0700 folders, 0600 files).
    mkdirSync(this.root, { recursive: true, mode: 0o700 });
  }

  /** Absolute path of image `index` of `jobId`. */
  pathFor(jobId: string, index: number): string {
    if (!/^[\w-]+$/.test(jobId)) {
      throw new TypeError(`Expected \`jobId\` to be url-safe characters only, got \`${jobId}\``);
    }
    if (!(Number.isInteger(index) && index >= 0)) {
      throw new TypeError(`Expected \`index\` to be an integer from 0, got \`${index}\` (${typeof index})`);
    }
    return path.join(this.root, jobId, `${index}.png`);
  }

  /** Writes atomically and returns the absolute path. A rerun of the same job replaces the file whole. */
  async write(jobId: string, index: number, png: Uint8Array): Promise<string> {
    const target = this.pathFor(jobId, index);
    await this.#writeAtomic(target, png);
    return target;
  }

  /** Writes the map ControlNet unit `index` of `jobId` saw, beside its images; returns the absolute path. */
  async writeControlMap(jobId: string, index: number, png: Uint8Array): Promise<string> {
    const target = path.join(path.dirname(this.pathFor(jobId, index)), controlMapFile(index));
    await this.#writeAtomic(target, png);
    return target;
  }

  /**
   * Stores a picture a job starts from (an upload, a mask the bot drew) as DATA_DIR/inputs/<random>.png and returns
   * its reference (`inputs/<random>.png`) for the request. Uploads are stored because their Discord URL expires, and
   * a queued job (or one restored after a restart) must still find its picture. Same atomic write and modes as outputs.
   */
  async writeInput(png: Uint8Array): Promise<string> {
    // The folder is named per file so the reference has the `inputs/<dir>/<file>` shape ImageRefSchema accepts.
    const name = randomBytes(12).toString('base64url');
    const ref = `${INPUTS}/${name}/image.png`;
    await this.#writeAtomic(path.join(this.dataDir, ref), png);
    return ref;
  }

  /** Whether a stored reference still has its file (a button checks before acknowledging; the read comes later). */
  has(ref: string): boolean {
    const file = path.resolve(this.dataDir, ref);
    return file.startsWith(path.resolve(this.dataDir) + path.sep) && existsSync(file);
  }

  async #writeAtomic(target: string, png: Uint8Array): Promise<void> {
    await mkdir(path.dirname(target), { recursive: true, mode: 0o700 });
    const temp = `${target}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
    // The rename keeps this mode.
    const file = await open(temp, 'w', 0o600);
    try {
      await file.writeFile(png);
      await file.sync();
    } finally {
      await file.close();
    }
    await rename(temp, target);
  }

  /**
   * The bytes of a stored image reference (`outputs/<job>/<n>.png`). The reference was validated by the request
   * schema (no `..`, no absolute path); resolving it again here keeps a forged one inside DATA_DIR regardless.
   */
  async read(ref: string): Promise<Buffer> {
    const file = path.resolve(this.dataDir, ref);
    if (!file.startsWith(path.resolve(this.dataDir) + path.sep)) throw new TypeError(`Expected \`ref\` inside DATA_DIR, got \`${ref}\``);
    return readFile(file);
  }

  /** Deletes a job's folder (for retention clean-up). */
  remove(jobId: string): void {
    rmSync(path.join(this.root, jobId), { recursive: true, force: true });
  }
}
