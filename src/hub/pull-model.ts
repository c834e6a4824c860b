import { mkdir, readFile, rename, rm, stat, statfs, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { z } from 'zod';
import { Identifiers, UserError } from '../errors.js';
import { MANIFEST_FILE, modelManifestSchema, type ModelManifest } from '../model-folder/model-manifest.js';
import { downloadFile, PART_SUFFIX } from './download-file.js';
import { formatBytes } from './format-bytes.js';
import { checkRepoId, type HubClient, type HubFile, type RepoSnapshot } from './hub-client.js';
import { findKnownModel, isTranslatorRepo, knownModelManifest, TRANSLATOR } from './known-models.js';
import { guessFamily } from '../model-folder/family.js';
import type { DownloadProgress } from './progress-bar.js';
import { checkPipelineClass, CONFIG_FILES, selectModelFiles, selectTranslatorFiles, unsafePathReason } from './select-model-files.js';

/** Folder under MODELS_DIR holding downloads in progress; its leading dot keeps it out of model listings. */
export const PARTIAL_DIR = '.partial';
/**
 * Written first into every download folder and removed last, just before the folder is renamed into place: a
 * folder holding it is never a usable model. It also records what is being downloaded, for resuming.
 */
export const INCOMPLETE_MARKER = '.imagine-bot-incomplete.json';

const markerSchema = z.object({ repo: z.string(), commit: z.string() });

const LOCK_SUFFIX = '.lock';
const lockSchema = z.object({ pid: z.number().int().positive(), repo: z.string() });

const MODEL_NAME = /^[a-z0-9][a-z0-9._-]{0,99}$/;

export interface PullModelOptions {
  repo: string;
  /** Branch, tag or commit. @default the known repository's ONNX branch, else 'main' */
  revision?: string;
  /** Folder name under modelsDir. @default the repository name, lower-cased */
  name?: string;
  modelsDir: string;
  client: HubClient;
  /** Replace an installed model of the same name (its imagine-bot.json edits are kept). @default false */
  force?: boolean;
  signal?: AbortSignal;
  /** @default 5 */
  retries?: number;
  /** @default 1000 */
  retryDelayMs?: number;
  onProgress?: (progress: DownloadProgress) => void;
  onFileDone?: (file: string, size: number, note: string) => void;
  /** Human-readable notices: resolved commit, retries, skipped files. */
  onMessage?: (text: string) => void;
  /** Free bytes on the disk holding `dir`; tests replace it. @default fs.statfs */
  freeBytes?: (dir: string) => Promise<number>;
}

export interface PullResult {
  name: string;
  path: string;
  repo: string;
  revision: string;
  commit: string;
  files: number;
  bytes: number;
  /** True when imagine-bot.json came from the known-models table or was newly written. */
  manifest: 'known' | 'generic' | 'kept';
}

/** The model folder name models:pull uses for a repository: its name part, lower-cased. */
export function defaultModelName(repo: string): string {
  return (repo.split('/').pop() ?? repo).toLowerCase();
}

/** Throws a UserError unless `name` is a safe folder name (no path separators, no leading dot). */
export function checkModelName(name: string): void {
  if (!MODEL_NAME.test(name)) {
    throw new UserError(
      Identifiers.InvalidArgument,
      `"${name}" cannot be a model folder name: use lower-case letters, digits, ".", "_" or "-", starting with a letter or digit (pass --name).`,
      { name },
    );
  }
}

async function exists(file: string): Promise<boolean> {
  return stat(file).then(
    () => true,
    (error: NodeJS.ErrnoException) => {
      if (error.code === 'ENOENT') return false;
      throw error;
    },
  );
}

async function bytesOnDisk(dir: string, file: HubFile): Promise<number> {
  const target = path.join(dir, ...file.path.split('/'));
  for (const candidate of [target, target + PART_SUFFIX]) {
    try {
      return (await stat(candidate)).size;
    } catch {
      // not there: try the next name
    }
  }
  return 0;
}

async function defaultFreeBytes(dir: string): Promise<number> {
  const s = await statfs(dir);
  return s.bavail * s.bsize;
}

/**
 * Download a diffusers-ONNX repository into `modelsDir/<name>`. Files land in `modelsDir/.partial/<name>` first,
 * with a marker; only when every file is verified is imagine-bot.json written, the marker removed and the folder
 * renamed into place, so a model folder is either complete or absent. An interrupted pull resumes from the bytes
 * on disk when run again with the same repository (as long as its revision still resolves to the same commit).
 */
export async function pullModel(pullOptions: PullModelOptions): Promise<PullResult> {
  // `opus-mt-zh-en` names the prompt translator's repository (docs/translation.md).
  const options = pullOptions.repo.toLowerCase() === TRANSLATOR.alias ? { ...pullOptions, repo: TRANSLATOR.repo } : pullOptions;
  const { repo, modelsDir } = options;
  checkRepoId(repo);
  const name = options.name ?? (isTranslatorRepo(repo) ? TRANSLATOR.folder : defaultModelName(repo));
  checkModelName(name);
  const say = options.onMessage ?? (() => undefined);
  const partialDir = path.join(modelsDir, PARTIAL_DIR, name);
  const release = await lockPartialDir(partialDir, repo, say);
  try {
    return await pullLocked(options, name, partialDir, say);
  } finally {
    await release();
  }
}

async function pullLocked(options: PullModelOptions, name: string, partialDir: string, say: (text: string) => void): Promise<PullResult> {
  const { repo, client, modelsDir, signal } = options;
  const known = findKnownModel(repo);
  const revision = options.revision ?? known?.revision ?? 'main';

  const target = path.join(modelsDir, name);
  const installed = await exists(target);
  if (installed && !options.force) {
    throw new UserError(
      Identifiers.InvalidArgument,
      `${target} already exists: pass --force to download it again (keeping its ${MANIFEST_FILE}), or --name to install under another name.`,
      { target },
    );
  }

  const snapshot = await client.getRepoSnapshot(repo, revision, signal);
  say(`${repo}@${revision} is commit ${snapshot.commit}`);
  // A known repository that ships only the ONNX graphs gets its config files from the base model's repository,
  // pinned to that repository's current commit.
  let configSnapshot: RepoSnapshot | undefined;
  const missingConfig = CONFIG_FILES.filter((p) => !snapshot.files.some((f) => f.path === p));
  if (known?.configRepo && missingConfig.length > 0) {
    configSnapshot = await client.getRepoSnapshot(known.configRepo, 'main', signal);
    say(`config files (${missingConfig.join(', ')}) from ${known.configRepo}@${configSnapshot.commit}`);
  }
  const translator = isTranslatorRepo(repo);
  const selection = translator ? selectTranslatorFiles(repo, snapshot.files) : selectModelFiles(repo, snapshot.files, configSnapshot?.files);
  for (const unsafe of selection.unsafe) {
    say(`skipping ${JSON.stringify(unsafe)}: ${unsafePathReason(unsafe)}, and the engine does not need it`);
  }
  const origin = (file: HubFile): RepoSnapshot => (configSnapshot && !snapshot.files.includes(file) ? configSnapshot : snapshot);

  await preparePartialDir(partialDir, repo, snapshot.commit, say);

  const files = selection.files;
  const totalBytes = files.reduce((sum, f) => sum + (f.size ?? 0), 0);
  const onDisk = await Promise.all(files.map((f) => bytesOnDisk(partialDir, f)));
  const alreadyThere = onDisk.reduce((a, b) => a + b, 0);
  const needed = totalBytes - alreadyThere;
  const free = await (options.freeBytes ?? defaultFreeBytes)(partialDir);
  if (needed > free) {
    throw new UserError(
      Identifiers.InvalidArgument,
      `Not enough disk space in ${modelsDir}: ${repo} needs ${formatBytes(needed)} more, ${formatBytes(free)} is ` +
        'free. Free some space or set MODELS_DIR to a larger disk.',
      { needed, free },
    );
  }
  say(
    `${files.length} files, ${formatBytes(totalBytes)}` +
      (alreadyThere > 0 ? ` (${formatBytes(alreadyThere)} already downloaded)` : '') +
      `; skipping ${selection.skipped.length} files the engine does not use`,
  );

  let done = alreadyThere;
  for (const [index, file] of files.entries()) {
    const base = done - onDisk[index];
    const source = origin(file);
    const result = await downloadFile({
      client,
      repo: source.repo,
      commit: source.commit,
      file,
      destDir: partialDir,
      retries: options.retries,
      retryDelayMs: options.retryDelayMs,
      signal,
      onBytes: (fileBytes, fileTotal) =>
        options.onProgress?.({
          file: file.path,
          fileBytes,
          fileTotal,
          doneBytes: base + fileBytes,
          totalBytes,
          fileIndex: index + 1,
          fileCount: files.length,
        }),
      onRetry: say,
    });
    done = base + result.size;
    const note = result.alreadyComplete ? '(already downloaded)' : `${verifiedBy(result)} ok${result.resumedFrom > 0 ? ', resumed' : ''}`;
    options.onFileDone?.(file.path, result.size, note);
    // model_index.json comes first: refuse an unsupported pipeline before the gigabytes.
    if (file.path === 'model_index.json') {
      checkPipelineClass(repo, await readFile(path.join(partialDir, 'model_index.json'), 'utf8'));
    }
  }

  if (known?.schedulerConfig) await patchSchedulerConfig(partialDir, known.schedulerConfig);
  // The translator is no image model: no imagine-bot.json (it has no model_index.json, so model listings skip it).
  const manifest = translator ? 'known' : await writeManifest(partialDir, installed ? target : undefined, repo, snapshot.commit);
  await rm(path.join(partialDir, INCOMPLETE_MARKER));

  if (installed) {
    // Swap in two renames; the old copy sits under .partial (hidden from listings) until it is deleted.
    const old = path.join(modelsDir, PARTIAL_DIR, `${name}.old-${process.pid}`);
    await rm(old, { recursive: true, force: true });
    await rename(target, old);
    await rename(partialDir, target);
    await rm(old, { recursive: true, force: true });
  } else {
    await rename(partialDir, target);
  }
  return { name, path: target, repo, revision, commit: snapshot.commit, files: files.length, bytes: done, manifest };
}

function verifiedBy(result: { sha256?: string; gitBlobSha1?: string }): string {
  if (result.sha256) return 'sha256';
  return result.gitBlobSha1 ? 'git sha1' : 'size';
}

/**
 * Take `<dir>.lock` (beside the folder, which is deleted and renamed) so that one models:pull at a time writes
 * into `dir`: two would interleave their bytes in the same .part files. A lock left by a process that no longer
 * runs is taken over. Returns the function that releases it.
 */
async function lockPartialDir(dir: string, repo: string, say: (text: string) => void): Promise<() => Promise<void>> {
  const lockFile = `${dir}${LOCK_SUFFIX}`;
  await mkdir(path.dirname(dir), { recursive: true });
  // A few tries at most: the lock may change hands between our attempt and our look at it.
  for (let attempt = 0; ; attempt++) {
    if (await createLock(lockFile, repo)) return () => rm(lockFile, { force: true });
    const holder = await readLock(lockFile);
    if (attempt < 3) {
      if (holder === 'gone') continue;
      if (holder === 'unreadable') {
        // Most likely a pull that has just created it and is still writing its pid.
        await sleep(50);
        continue;
      }
      if (!isRunning(holder.pid)) {
        say(`taking over ${lockFile}: the models:pull that held it (pid ${holder.pid}) is no longer running`);
        await rm(lockFile, { force: true });
        continue;
      }
    }
    throw new UserError(
      Identifiers.InvalidArgument,
      typeof holder === 'object'
        ? `Another models:pull is downloading ${holder.repo} into ${dir} (pid ${holder.pid}); wait for it or stop it.`
        : `Another models:pull is downloading into ${dir}; wait for it, or delete ${lockFile} if none is running.`,
      { dir, ...(typeof holder === 'object' ? { pid: holder.pid } : {}) },
    );
  }
}

/** Create the lock file only if none exists (O_EXCL); false when another one is there. */
async function createLock(lockFile: string, repo: string): Promise<boolean> {
  try {
    await writeFile(lockFile, `${JSON.stringify({ pid: process.pid, repo })}\n`, { flag: 'wx' });
    return true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw error;
  }
}

async function readLock(lockFile: string): Promise<z.infer<typeof lockSchema> | 'gone' | 'unreadable'> {
  let text: string;
  try {
    text = await readFile(lockFile, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return 'gone';
    throw error;
  }
  try {
    return lockSchema.parse(JSON.parse(text));
  } catch {
    return 'unreadable';
  }
}

function isRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    // EPERM: it runs, as another user.
    return (error as NodeJS.ErrnoException).code !== 'ESRCH';
  }
}

/**
 * Keep a download folder for the same repository and commit (to resume), start afresh otherwise, and write the
 * marker before any byte lands.
 */
async function preparePartialDir(dir: string, repo: string, commit: string, say: (text: string) => void) {
  const markerPath = path.join(dir, INCOMPLETE_MARKER);
  if (await exists(dir)) {
    let previous: z.infer<typeof markerSchema> | undefined;
    try {
      previous = markerSchema.parse(JSON.parse(await readFile(markerPath, 'utf8')));
    } catch {
      previous = undefined;
    }
    if (previous?.repo === repo && previous.commit === commit) {
      say(`resuming the interrupted download in ${dir}`);
      return;
    }
    say(`discarding an earlier download in ${dir} (${previous ? `${previous.repo}@${previous.commit}` : 'unknown'})`);
    await rm(dir, { recursive: true, force: true });
  }
  await mkdir(dir, { recursive: true });
  await writeFile(markerPath, `${JSON.stringify({ repo, commit })}\n`);
}

async function patchSchedulerConfig(dir: string, patch: Record<string, unknown>): Promise<void> {
  const file = path.join(dir, 'scheduler', 'scheduler_config.json');
  const config = JSON.parse(await readFile(file, 'utf8')) as Record<string, unknown>;
  await writeFile(file, `${JSON.stringify({ ...config, ...patch }, null, 2)}\n`);
}

/**
 * imagine-bot.json for the new folder: the installed model's file when re-pulling (the user's edits win; only
 * `source` is brought up to date), else the known repository's settings, else the family guessed from the
 * tokenizer and no defaults.
 */
async function writeManifest(dir: string, installedDir: string | undefined, repo: string, commit: string): Promise<PullResult['manifest']> {
  // The commit, not the branch name: it says exactly which files these are, and re-pulling it is reproducible.
  const source = { repo, revision: commit };
  const file = path.join(dir, MANIFEST_FILE);
  if (installedDir) {
    let text: string | undefined;
    try {
      text = await readFile(path.join(installedDir, MANIFEST_FILE), 'utf8');
    } catch {
      text = undefined;
    }
    if (text !== undefined) {
      let json: unknown;
      try {
        json = JSON.parse(text);
      } catch {
        json = undefined;
      }
      // Unparsable by hand: keep it byte for byte rather than lose the user's work; models:list will flag it.
      const editable = json !== null && typeof json === 'object' && !Array.isArray(json);
      const kept = editable ? `${JSON.stringify({ ...(json as object), source }, null, 2)}\n` : text;
      await writeFile(file, kept);
      return 'kept';
    }
  }
  const known = findKnownModel(repo);
  let manifest: ModelManifest;
  if (known) {
    manifest = knownModelManifest(known, source);
  } else {
    const family = await guessFamily(dir);
    manifest = { ...(family ? { family } : {}), defaults: {}, source };
  }
  await writeFile(file, `${JSON.stringify(modelManifestSchema.parse(manifest), null, 2)}\n`);
  return known ? 'known' : 'generic';
}
