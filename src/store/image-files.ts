import { closeSync, fsyncSync, mkdirSync, openSync, renameSync, rmSync, writeSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import path from 'node:path';

/**
 * Generated PNGs under DATA_DIR/outputs/<jobId>/<n>.png. Each file is written to a temp name, fsynced, then
 * renamed, so a reader (or a restart after kill -9) sees either the whole image or none.
 */
export class ImageFiles {
  constructor(readonly root: string) {
    mkdirSync(root, { recursive: true });
  }

  /** Absolute path of image `index` of `jobId`. */
  pathFor(jobId: string, index: number): string {
    if (!/^[\w-]+$/.test(jobId)) {
      throw new TypeError(`Expected \`jobId\` to be url-safe characters only, got \`${jobId}\``);
    }
    return path.join(this.root, jobId, `${index}.png`);
  }

  /** Writes atomically and returns the absolute path. A rerun of the same job replaces the file whole. */
  write(jobId: string, index: number, png: Uint8Array): string {
    const target = this.pathFor(jobId, index);
    mkdirSync(path.dirname(target), { recursive: true });
    const temp = `${target}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
    const fd = openSync(temp, 'w');
    try {
      let offset = 0;
      while (offset < png.byteLength) offset += writeSync(fd, png, offset);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(temp, target);
    return target;
  }

  /** Deletes a job's folder (for retention clean-up). */
  remove(jobId: string): void {
    rmSync(path.join(this.root, jobId), { recursive: true, force: true });
  }
}
