import type { Dirent } from 'node:fs';
import { readdir, stat } from 'node:fs/promises';
import path from 'node:path';
import type { Logger } from '../logger.js';
import type { ModelSummary } from '../protocol/generate-request.js';
import { inspectModelFolder, listModelDirs, modelSummary } from './model-folder.js';

interface Broken {
  reason: string;
  /** The folder's files as they were when loading failed; a change means someone worked on it. */
  signature: string;
}

/**
 * The installed models as the bot sees them, read from MODELS_DIR itself (plain fs, no onnxruntime), so that
 * /imagine knows every model's name, defaults and fixed size from the first second, whether or not the worker is up.
 * A model that failed to load is set aside until its folder changes (the owner replaced a file) or the bot restarts.
 */
export class ModelCatalog {
  readonly #modelsDir: string;
  readonly #logger: Logger | undefined;
  #models: ModelSummary[] = [];
  readonly #broken = new Map<string, Broken>();
  #refreshing: Promise<void> | undefined;

  constructor(modelsDir: string, logger?: Logger) {
    this.#modelsDir = path.resolve(modelsDir);
    this.#logger = logger;
  }

  /** Models users may pick: installed, valid, and not set aside as broken. */
  list(): readonly ModelSummary[] {
    return this.#models.filter((m) => !this.#broken.has(m.name));
  }

  /** Why a model was set aside, if it was. */
  brokenReason(name: string): string | undefined {
    return this.#broken.get(name)?.reason;
  }

  /** Reads MODELS_DIR again; folders that are not usable models are logged and left out. */
  refresh(): Promise<void> {
    this.#refreshing ??= this.#scan().finally(() => (this.#refreshing = undefined));
    return this.#refreshing;
  }

  /** Sets a model aside after a load failure, until its files change. */
  async markBroken(name: string, reason: string): Promise<void> {
    const signature = await folderSignature(path.join(this.#modelsDir, name));
    this.#broken.set(name, { reason, signature });
    this.#logger?.error({ model: name, reason }, 'model set aside: it could not be loaded; fix or replace its files');
  }

  async #scan(): Promise<void> {
    const models: ModelSummary[] = [];
    for (const dir of await listModelDirs(this.#modelsDir)) {
      try {
        models.push(modelSummary(await inspectModelFolder(dir)));
      } catch (error) {
        this.#logger?.warn({ dir, reason: (error as Error).message }, 'not a usable model folder; skipped');
      }
    }
    for (const [name, broken] of this.#broken) {
      const now = await folderSignature(path.join(this.#modelsDir, name));
      if (now !== broken.signature) {
        this.#broken.delete(name);
        this.#logger?.info({ model: name }, 'model folder changed; offering it again');
      }
    }
    this.#models = models;
  }
}

/** Names, sizes and modification times of every file in a model folder: cheap, and changes when any file does. */
async function folderSignature(dir: string): Promise<string> {
  const parts: string[] = [];
  const walk = async (current: string): Promise<void> => {
    let entries: Dirent[];
    try {
      entries = await readdir(current, { withFileTypes: true });
    } catch {
      return;
    }
    for (const entry of entries.sort((a, b) => a.name.localeCompare(b.name))) {
      const full = path.join(current, entry.name);
      if (entry.isDirectory()) await walk(full);
      else if (entry.isFile()) {
        const info = await stat(full).catch(() => undefined);
        if (info) parts.push(`${path.relative(dir, full)}:${info.size}:${info.mtimeMs}`);
      }
    }
  };
  await walk(dir);
  return parts.join('|');
}
