import type { Dirent } from 'node:fs';
import { access, lstat, readdir } from 'node:fs/promises';
import path from 'node:path';
import { ModelLoadError } from '../errors.js';
import { readModelManifest, type ModelManifest } from '../model-folder/model-manifest.js';
import type { ModelDefaults } from '../protocol/generate-request.js';
import { formatBytes } from './format-bytes.js';
import { guessFamily } from '../model-folder/family.js';
import { INCOMPLETE_MARKER } from './pull-model.js';
import { REQUIRED_FILES } from '../model-folder/model-folder.js';

type Family = NonNullable<ModelManifest['family']>;

interface InstalledBase {
  name: string;
  path: string;
  /** Bytes of every file in the folder. */
  sizeBytes: number;
}

export interface ValidModel extends InstalledBase {
  valid: true;
  /** From imagine-bot.json, else guessed from the tokenizer. */
  family?: Family;
  familyGuessed: boolean;
  defaults: ModelDefaults;
  source?: { repo: string; revision?: string };
}

export interface InvalidModel extends InstalledBase {
  valid: false;
  /** Why the engine cannot load it, saying what to do. */
  reason: string;
}

export type InstalledModel = ValidModel | InvalidModel;

async function folderSize(dir: string): Promise<number> {
  let total = 0;
  let entries: Dirent[];
  try {
    entries = await readdir(dir, { withFileTypes: true });
  } catch {
    return 0;
  }
  for (const entry of entries) {
    const full = path.join(dir, entry.name);
    // lstat and no descent into symlinked folders: sizes stay finite even with a link loop.
    if (entry.isDirectory()) total += await folderSize(full);
    else total += (await lstat(full).catch(() => undefined))?.size ?? 0;
  }
  return total;
}

async function isFile(file: string): Promise<boolean> {
  return access(file).then(
    () => true,
    () => false,
  );
}

/**
 * One installed folder as models:list shows it: valid (with size, family and defaults) or the reason it is not.
 * What counts as a model folder (REQUIRED_FILES, the manifest, the family guess) comes from src/model-folder/.
 */
export async function describeInstalledModel(dir: string): Promise<InstalledModel> {
  const base: InstalledBase = { name: path.basename(dir), path: dir, sizeBytes: await folderSize(dir) };
  const invalid = (reason: string): InvalidModel => ({ ...base, valid: false, reason });
  if (await isFile(path.join(dir, INCOMPLETE_MARKER))) {
    return invalid('incomplete download: run models:pull again to finish it');
  }
  const missing: string[] = [];
  for (const file of REQUIRED_FILES) if (!(await isFile(path.join(dir, file)))) missing.push(file);
  if (missing.length > 0) return invalid(`missing ${missing.join(', ')}`);
  let manifest: ModelManifest;
  try {
    manifest = await readModelManifest(dir);
  } catch (error) {
    if (error instanceof ModelLoadError) return invalid(error.message);
    throw error;
  }
  let family = manifest.family;
  let familyGuessed = false;
  if (family === undefined) {
    family = await guessFamily(dir);
    familyGuessed = family !== undefined;
  }
  return {
    ...base,
    valid: true,
    family,
    familyGuessed,
    defaults: { ...manifest.defaults },
    ...(manifest.source ? { source: manifest.source } : {}),
  };
}

/**
 * Every model folder under `modelsDir`, valid or not, sorted by name. Names starting with "." (the download
 * area) are not models. A missing `modelsDir` is an empty list.
 */
export async function listInstalledModels(modelsDir: string): Promise<InstalledModel[]> {
  let entries: Dirent[];
  try {
    entries = await readdir(modelsDir, { withFileTypes: true });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw error;
  }
  const dirs = entries.filter((e) => e.isDirectory() && !e.name.startsWith('.')).map((e) => e.name);
  dirs.sort();
  return Promise.all(dirs.map((name) => describeInstalledModel(path.join(modelsDir, name))));
}

/** "euler, 1 step, cfg 0, 512x512"; "-" when the model has no defaults of its own. */
export function formatDefaults(defaults: ModelDefaults): string {
  const parts: string[] = [];
  if (defaults.sampler) parts.push(defaults.sampler);
  if (defaults.steps !== undefined) parts.push(`${defaults.steps} step${defaults.steps === 1 ? '' : 's'}`);
  if (defaults.cfg !== undefined) parts.push(`cfg ${defaults.cfg}`);
  if (defaults.width !== undefined || defaults.height !== undefined) {
    parts.push(`${defaults.width ?? '?'}x${defaults.height ?? '?'}`);
  }
  if (defaults.negativePrompt) parts.push('negative prompt');
  return parts.join(', ') || '-';
}

/** The models:list table: one row per folder, invalid ones with their reason instead of defaults. */
export function formatModelTable(models: readonly InstalledModel[]): string {
  const rows: string[][] = [['NAME', 'SIZE', 'FAMILY', 'DEFAULTS', 'SOURCE']];
  for (const m of models) {
    if (m.valid) {
      const revision = m.source?.revision ? `@${m.source.revision.slice(0, 12)}` : '';
      const source = m.source ? `${m.source.repo}${revision}` : '-';
      const family = m.family ? `${m.family}${m.familyGuessed ? ' (guessed)' : ''}` : '?';
      rows.push([m.name, formatBytes(m.sizeBytes), family, formatDefaults(m.defaults), source]);
    } else {
      rows.push([m.name, formatBytes(m.sizeBytes), 'INVALID', m.reason, '']);
    }
  }
  const widths = rows[0].map((_, col) => Math.max(...rows.map((r) => r[col].length)));
  // The last column is not padded, so lines carry no trailing spaces.
  return rows
    .map((r) =>
      r
        .map((cell, col) => (col === r.length - 1 ? cell : cell.padEnd(widths[col])))
        .join('  ')
        .trimEnd(),
    )
    .join('\n');
}
