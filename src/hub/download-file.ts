import { createHash, type Hash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir, open, rename, stat, truncate, unlink, type FileHandle } from 'node:fs/promises';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Identifiers, UserError } from '../errors.js';
import { HubRequestError, type HubClient, type HubFile } from './hub-client.js';

/** Suffix of a file still being downloaded; only a verified file gets its real name. */
export const PART_SUFFIX = '.part';

function checkName(expected: string): string {
  if (expected.length === 64) return 'sha256';
  return expected.length === 40 ? 'git blob sha1' : 'size';
}

/** A finished download whose bytes do not match what the hub promised. The bad file is already deleted. */
export class ChecksumError extends Error {
  override readonly name = 'ChecksumError';
  constructor(
    readonly file: string,
    readonly expected: string,
    readonly actual: string,
  ) {
    super(
      `${file} failed its ${checkName(expected)} check (expected ${expected}, got ${actual}); ` +
        'the bad file was deleted. Run the command again; if it keeps failing, the server (HF_ENDPOINT) serves ' +
        'a corrupt copy.',
    );
  }
}

export interface DownloadFileOptions {
  client: HubClient;
  repo: string;
  /** The pinned commit sha. */
  commit: string;
  file: HubFile;
  /** Folder the file's repository path is placed under. */
  destDir: string;
  /** Tries per file without progress before giving up; a try that gained bytes resets the count. @default 5 */
  retries?: number;
  /** First backoff delay, doubled per failed try up to 30 s. @default 1000 */
  retryDelayMs?: number;
  signal?: AbortSignal;
  /** Bytes of this file on disk so far (resumed bytes included), after every chunk. */
  onBytes?: (fileBytes: number, fileTotal: number | undefined) => void;
  /** One line per retry, for the progress display. */
  onRetry?: (message: string) => void;
  /** Test seam: runs once the bytes are on disk, before they are verified and renamed. */
  beforeVerify?: (partFile: string) => Promise<void>;
}

export interface DownloadedFile {
  path: string;
  size: number;
  /** Verified sha256, when the hub published one. */
  sha256?: string;
  /** Verified git blob sha1 (non-LFS files), when the hub sent one as the ETag. */
  gitBlobSha1?: string;
  /** Bytes from an earlier, interrupted run that were kept; 0 when the download had to start over. */
  resumedFrom: number;
  /** The verified file was already there; nothing was fetched. */
  alreadyComplete: boolean;
}

// Write failures that another try cannot fix.
const FATAL_FS_CODES = new Set(['ENOSPC', 'EDQUOT', 'EACCES', 'EPERM', 'EROFS']);

async function sizeOf(file: string): Promise<number | undefined> {
  try {
    return (await stat(file)).size;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
}

async function hashFile(file: string, hash: Hash): Promise<void> {
  for await (const chunk of createReadStream(file)) hash.update(chunk as Buffer);
}

/**
 * Where `repoPath` goes under `destDir`. The listing is checked when files are selected; this is the last line of
 * defence, so that no listed name can make the downloader write outside `destDir`.
 */
function targetPath(destDir: string, repoPath: string): string {
  const root = path.resolve(destDir);
  const target = path.resolve(root, ...repoPath.split('/'));
  const relative = path.relative(root, target);
  if (relative === '' || relative === '..' || relative.startsWith(`..${path.sep}`) || path.isAbsolute(relative)) {
    throw new UserError(Identifiers.InvalidModel, `Refusing to download ${JSON.stringify(repoPath)}: it would be written outside ${root}.`, {
      file: repoPath,
    });
  }
  return target;
}

/**
 * Download one file into `destDir` through a `.part` file: resume from the bytes on disk with a Range request,
 * retry dropped connections with backoff, verify the file on disk (size, and the sha256 LFS object id or the git
 * blob sha1 ETag of a non-LFS file), and only then rename it into place. A checksum mismatch on a resumed file
 * earns one fresh download, since stale bytes from an older attempt are the likely cause; a mismatch on a fresh
 * download is final.
 */
export async function downloadFile(options: DownloadFileOptions): Promise<DownloadedFile> {
  const { file, signal } = options;
  const retries = options.retries ?? 5;
  const retryDelayMs = options.retryDelayMs ?? 1000;
  const target = targetPath(options.destDir, file.path);
  const part = target + PART_SUFFIX;

  const existing = await sizeOf(target);
  if (existing !== undefined && (file.size === undefined || existing === file.size)) {
    return { path: file.path, size: existing, sha256: file.sha256, resumedFrom: existing, alreadyComplete: true };
  }
  await mkdir(path.dirname(target), { recursive: true });

  let onDisk = (await sizeOf(part)) ?? 0;
  if (file.size !== undefined && onDisk > file.size) {
    await truncate(part, 0);
    onDisk = 0;
  }
  const resumedFrom = onDisk;
  for (let pass = 0; ; pass++) {
    const fetched = await fetchWithRetries(options, part, onDisk, retries, retryDelayMs);
    const { size, expectedSha, expectedGitSha1, keptBytes } = fetched;
    await options.beforeVerify?.(part);
    const mismatch = await verifyOnDisk(file.path, part, file.size ?? size, expectedSha, expectedGitSha1);
    if (mismatch) {
      await unlink(part).catch(() => undefined);
      if (pass === 0 && resumedFrom > 0 && !signal?.aborted) {
        options.onRetry?.(`${file.path}: checksum mismatch after resuming; downloading it again from the start`);
        onDisk = 0;
        continue;
      }
      throw mismatch;
    }
    await rename(part, target);
    const gitBlobSha1 = expectedSha === undefined ? expectedGitSha1 : undefined;
    return {
      path: file.path,
      size,
      sha256: expectedSha,
      gitBlobSha1,
      resumedFrom: keptBytes,
      alreadyComplete: false,
    };
  }
}

/**
 * Check the bytes as they are on disk, not as they streamed past: whatever changed them after they were received
 * (a second writer, a failing disk) is caught before the file gets its real name.
 */
async function verifyOnDisk(
  repoPath: string,
  part: string,
  expectedSize: number,
  expectedSha: string | undefined,
  expectedGitSha1: string | undefined,
): Promise<ChecksumError | undefined> {
  const size = (await sizeOf(part)) ?? 0;
  if (size !== expectedSize) return new ChecksumError(repoPath, `${expectedSize} bytes`, `${size} bytes`);
  const expected = expectedSha ?? expectedGitSha1;
  if (expected === undefined) return undefined;
  let hash: Hash;
  if (expectedSha !== undefined) {
    hash = createHash('sha256');
  } else {
    // What git hashes for a blob: a header with the size, then the content.
    hash = createHash('sha1').update(`blob ${size}\0`);
  }
  await hashFile(part, hash);
  const actual = hash.digest('hex');
  return actual === expected ? undefined : new ChecksumError(repoPath, expected, actual);
}

interface FetchResult {
  size: number;
  expectedSha: string | undefined;
  expectedGitSha1: string | undefined;
  /** Bytes from before `offset` that are still in the file: 0 once the download started over. */
  keptBytes: number;
}

/** Fetch from `offset` to the end into `part`, retrying; verifyOnDisk checks the result as a whole. */
async function fetchWithRetries(
  options: DownloadFileOptions,
  part: string,
  offset: number,
  retries: number,
  retryDelayMs: number,
): Promise<FetchResult> {
  const { client, repo, commit, file, signal } = options;
  let written = offset;
  let failures = 0;
  let expectedSha = file.sha256;
  let expectedGitSha1: string | undefined;
  let keptBytes = offset;
  const done = (): FetchResult => ({ size: written, expectedSha, expectedGitSha1, keptBytes });
  for (;;) {
    const before = written;
    let handle: FileHandle | undefined;
    try {
      if (file.size !== undefined && written === file.size) return done();
      const download = await client.download(repo, commit, file.path, written, signal);
      if (download === null) {
        // 416: nothing after `written`. With a known size it means the range was bogus (written < size was
        // checked above), so start over; with an unknown size the file is complete.
        if (file.size === undefined) return done();
        written = 0;
        keptBytes = 0;
        throw new HubRequestError(`${file.path}: the server refused to resume; starting over`, true, 416);
      }
      expectedSha ??= download.linkedSha256;
      expectedGitSha1 ??= download.gitBlobSha1;
      const total = file.size ?? download.totalSize;
      if (download.start !== written) {
        // A 200 to a range request means the server ignores ranges: take the whole file again.
        if (download.start !== 0) {
          await download.body.cancel();
          throw new HubRequestError(`${file.path}: the server resumed at the wrong byte`, false);
        }
        written = 0;
        keptBytes = 0;
      }
      handle = await open(part, written > 0 ? 'a' : 'w');
      for await (const chunk of download.body) {
        await handle.write(chunk);
        written += chunk.length;
        options.onBytes?.(written, total);
      }
      await handle.close();
      handle = undefined;
      if (total !== undefined && written < total) {
        throw new HubRequestError(`${file.path}: the connection closed at byte ${written} of ${total}`, true);
      }
      return done();
    } catch (error) {
      await handle?.close().catch(() => undefined);
      if (signal?.aborted) throw error;
      const code = (error as NodeJS.ErrnoException).code;
      if (code !== undefined && FATAL_FS_CODES.has(code)) {
        if (code === 'ENOSPC' || code === 'EDQUOT') {
          throw new UserError(
            Identifiers.InvalidArgument,
            `The disk filled up while writing ${file.path}: free some space (or set MODELS_DIR to a larger disk), ` +
              'then run the command again to resume.',
            { file: file.path },
          );
        }
        throw error;
      }
      if (error instanceof UserError || error instanceof ChecksumError) throw error;
      if (error instanceof HubRequestError && !error.retryable) throw error;
      failures = written > before ? 1 : failures + 1;
      const reason = (error as Error).message;
      if (failures > retries) {
        throw new HubRequestError(
          `Downloading ${file.path} failed ${failures} times in a row (${reason}). ` +
            'Run the command again: it resumes from the bytes already on disk.',
          false,
          undefined,
          { cause: error },
        );
      }
      const delay = Math.min(30_000, retryDelayMs * 2 ** (failures - 1));
      options.onRetry?.(`${file.path}: ${reason}; retrying from byte ${written} in ${(delay / 1000).toFixed(1)} s`);
      if (delay > 0) await sleep(delay, undefined, { signal });
    }
  }
}
