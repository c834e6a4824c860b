/**
 * One repository file to a fixed place (a LoRA in LORAS_DIR, a ControlNet in a model's `controlnet/`, the depth
 * model): through downloadFile (resume from a `.part`, sha256 of LFS files) into a staging folder of its own, then
 * renamed into place only once complete and accepted, so a half download never shows up where the bot looks.
 */
import { mkdir, rename, rm, rmdir, stat } from 'node:fs/promises';
import path from 'node:path';
import { Identifiers, UserError } from '../errors.js';
import { downloadFile } from './download-file.js';
import type { HubClient, HubFile } from './hub-client.js';

/** What every single-file pull takes besides its source and target. */
export interface SingleFilePullOptions {
  client: HubClient;
  signal?: AbortSignal;
  retryDelayMs?: number;
  onBytes?: (bytes: number, total: number | undefined) => void;
  onRetry?: (message: string) => void;
}

export interface SingleFileSource {
  repo: string;
  /** The snapshot's commit the file is read at. */
  commit: string;
  file: HubFile;
}

/**
 * Downloads `source` to `target`. A file already at `target` with the hub's size is kept (`alreadyComplete`); one
 * that differs is refused, never overwritten. `staging` is this file's own folder (two pulls at once never remove
 * each other's part); `verify` may reject the download (then it is deleted) before it is moved into place.
 */
export async function pullSingleFile(
  source: SingleFileSource,
  target: string,
  staging: string,
  options: SingleFilePullOptions,
  verify?: (downloaded: string) => Promise<void>,
): Promise<{ size: number; sha256?: string; alreadyComplete: boolean }> {
  const { repo, commit, file } = source;
  const existing = await stat(target).catch(() => undefined);
  if (existing && (file.size === undefined || existing.size === file.size)) return { size: existing.size, alreadyComplete: true };
  if (existing) throw new UserError(Identifiers.InvalidArgument, `${target} exists and differs from ${repo}:${file.path}; move it away first.`);
  await mkdir(staging, { recursive: true });
  const done = await downloadFile({
    client: options.client,
    repo,
    commit,
    file,
    destDir: staging,
    ...(options.retryDelayMs !== undefined ? { retryDelayMs: options.retryDelayMs } : {}),
    signal: options.signal,
    onBytes: options.onBytes,
    onRetry: options.onRetry,
  });
  const downloaded = path.join(staging, ...file.path.split('/'));
  if (verify) {
    try {
      await verify(downloaded);
    } catch (error) {
      await rm(downloaded, { force: true });
      throw error;
    }
  }
  await mkdir(path.dirname(target), { recursive: true });
  await rename(downloaded, target);
  await rm(staging, { recursive: true, force: true }).catch(() => undefined);
  // The staging root goes too once no other pull uses it (rmdir refuses a folder that is not empty).
  await rmdir(path.dirname(staging)).catch(() => undefined);
  return { size: done.size, ...(done.sha256 !== undefined ? { sha256: done.sha256 } : {}), alreadyComplete: false };
}
