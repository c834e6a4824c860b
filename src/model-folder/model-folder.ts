/**
 * The one authority on "is this folder a model, and which family": finding and checking model folders (diffusers
 * ONNX layout) without loading any session, so listing and validation are cheap and the messages name the exact
 * file that is wrong. Plain fs and JSON: the bot (to know installed models before the worker is up), the engine
 * (before loading) and `models:list` all ask here.
 */
import type { Dirent } from 'node:fs';
import { readdir, readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { Identifiers, ModelLoadError, UserError } from '../errors.js';
import type { ModelSummary } from '../protocol/generate-request.js';
import { guessFamily } from './family.js';
import { readModelManifest, type ModelFamily, type ModelManifest } from './model-manifest.js';

/** Without these the engine cannot load the model (STYLE.md model folder). */
export const REQUIRED_FILES = [
  'model_index.json',
  'scheduler/scheduler_config.json',
  'tokenizer/vocab.json',
  'tokenizer/merges.txt',
  'text_encoder/model.onnx',
  'unet/model.onnx',
  'vae_decoder/model.onnx',
] as const;

/**
 * Pipelines the engine can run. The class name only gates the folder: whether a model is SDXL (two text encoders,
 * pooled embeddings, time ids) is read from the UNet's inputs when it loads, never from this name.
 */
const SUPPORTED_PIPELINES = new Set([
  'OnnxStableDiffusionPipeline',
  'OnnxStableDiffusionImg2ImgPipeline',
  'ORTStableDiffusionPipeline',
  'StableDiffusionPipeline',
  'LatentConsistencyModelPipeline',
  'ORTLatentConsistencyModelPipeline',
  'StableDiffusionXLPipeline',
  'StableDiffusionXLImg2ImgPipeline',
  'ORTStableDiffusionXLPipeline',
  'ORTStableDiffusionXLImg2ImgPipeline',
  'OnnxStableDiffusionXLPipeline',
  'OnnxStableDiffusionXLImg2ImgPipeline',
]);

export interface ModelFolder {
  /** Folder name, used as the model's name. */
  name: string;
  dir: string;
  pipelineClass: string;
  manifest: ModelManifest;
  /**
   * From imagine-bot.json, else from the tokenizer's pad token (SD 2.x pads with "!"); undefined when neither
   * says, and the engine then decides from the sessions' metadata.
   */
  family?: ModelFamily;
  /**
   * Where `family` came from: a guess from the tokenizer yields to what the sessions show (SDXL, a 1024-wide
   * encoder); 'folder' is SDXL's second text encoder and tokenizer (text_encoder_2/, tokenizer_2/).
   */
  familySource?: 'manifest' | 'tokenizer' | 'folder';
  /**
   * model_index.json `force_zeros_for_empty_prompt` (SDXL: an empty negative prompt is all-zero embeddings,
   * diffusers' default true); undefined when the file does not say.
   */
  forceZerosForEmptyPrompt?: boolean;
  /** scheduler/scheduler_config.json, parsed JSON (the scheduler's zod schema checks it). */
  schedulerConfig: unknown;
  /** Latents are divided by this before the VAE decoder (vae_decoder/config.json, default 0.18215). */
  vaeScalingFactor: number;
  /** `in_channels` of unet/config.json when present: tells a 9-channel inpainting UNet whose channel dim is symbolic. */
  unetInChannels?: number;
  files: {
    textEncoder: string;
    unet: string;
    vaeDecoder: string;
    vaeEncoder?: string;
    /** TAESD decoder for cheap previews (taesd_decoder/model.onnx). */
    previewDecoder?: string;
    tokenizerDir: string;
    /** SDXL's second text encoder (CLIP-G with projection), text_encoder_2/model.onnx. */
    textEncoder2?: string;
    /** SDXL's second tokenizer (pads with "!"), tokenizer_2/. */
    tokenizer2Dir?: string;
    /** ControlNets (issue #15): `controlnet/<name>/model.onnx` by name, loaded on a job's first use of each. */
    controlNets?: Record<string, string>;
  };
  /** Bytes on disk of every model.onnx and its external weights. */
  sizeBytes: number;
}

async function exists(file: string): Promise<boolean> {
  try {
    await stat(file);
    return true;
  } catch {
    return false;
  }
}

async function readJson(file: string, what: string): Promise<unknown> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch {
    throw new ModelLoadError(`Missing ${what}: ${file}`, file);
  }
  try {
    return JSON.parse(text);
  } catch (error) {
    throw new ModelLoadError(`${file} is not valid JSON: ${(error as Error).message}`, file, { cause: error });
  }
}

/** Size of a component folder: model.onnx plus external data files beside it. */
async function folderBytes(dir: string): Promise<number> {
  let total = 0;
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    if (entry.isFile() && entry.name !== 'config.json') total += (await stat(path.join(dir, entry.name))).size;
  }
  return total;
}

/**
 * ControlNets shipped with a model: every `controlnet/<name>/model.onnx` (axodox/OnnxStack layout, one folder per
 * net). Their bytes are not counted in sizeBytes: they load only when a job asks for them.
 */
async function listControlNets(dir: string): Promise<Record<string, string>> {
  const root = path.join(dir, 'controlnet');
  const found: Record<string, string> = {};
  let entries: import('node:fs').Dirent[];
  try {
    entries = await readdir(root, { withFileTypes: true });
  } catch {
    return found;
  }
  for (const entry of entries.sort((a, b) => a.name.localeCompare(b.name))) {
    const file = path.join(root, entry.name, 'model.onnx');
    if (entry.isDirectory() && (await exists(file))) found[entry.name] = file;
  }
  return found;
}

/**
 * Check that `dir` is a usable model folder and describe it. Every problem is a ModelLoadError naming the file
 * and what is wrong (missing, not JSON, unsupported pipeline).
 */
export async function inspectModelFolder(dir: string): Promise<ModelFolder> {
  const resolved = path.resolve(dir);
  if (!(await exists(resolved))) throw new ModelLoadError(`Model folder not found: ${resolved}`, resolved);
  const indexFile = path.join(resolved, 'model_index.json');
  const index = (await readJson(indexFile, 'model_index.json')) as Record<string, unknown>;
  const pipelineClass = typeof index?._class_name === 'string' ? index._class_name : '';
  if (!pipelineClass) throw new ModelLoadError(`${indexFile} has no "_class_name"`, indexFile);
  if (!SUPPORTED_PIPELINES.has(pipelineClass)) {
    throw new ModelLoadError(
      `${indexFile}: pipeline "${pipelineClass}" is not supported (supported: ${[...SUPPORTED_PIPELINES].join(', ')})`,
      indexFile,
    );
  }
  const schedulerConfig = await readJson(path.join(resolved, 'scheduler', 'scheduler_config.json'), 'scheduler config');

  const tokenizerDir = path.join(resolved, 'tokenizer');
  for (const f of ['vocab.json', 'merges.txt']) {
    const file = path.join(tokenizerDir, f);
    if (!(await exists(file))) throw new ModelLoadError(`Missing tokenizer file: ${file}`, file);
  }
  const component = async (name: string, required: boolean): Promise<string | undefined> => {
    const file = path.join(resolved, name, 'model.onnx');
    if (await exists(file)) return file;
    if (required) throw new ModelLoadError(`Missing ${name}: ${file}`, file);
    return undefined;
  };
  const textEncoder = (await component('text_encoder', true))!;
  const unet = (await component('unet', true))!;
  const vaeDecoder = (await component('vae_decoder', true))!;
  const vaeEncoder = await component('vae_encoder', false);
  const previewDecoder = await component('taesd_decoder', false);
  // SDXL: either half of the second encoder marks the folder as SDXL, and then both halves must be there (the
  // engine checks again against the UNet's inputs, which decide).
  const tokenizer2Dir = path.join(resolved, 'tokenizer_2');
  const hasTokenizer2 = await exists(tokenizer2Dir);
  let textEncoder2 = await component('text_encoder_2', false);
  const sdxlLayout = hasTokenizer2 || textEncoder2 !== undefined;
  if (sdxlLayout) {
    textEncoder2 = (await component('text_encoder_2', true))!;
    for (const f of ['vocab.json', 'merges.txt']) {
      const file = path.join(tokenizer2Dir, f);
      if (!(await exists(file)))
        throw new ModelLoadError(`Missing SDXL tokenizer_2 file: ${file} (SDXL folders need tokenizer_2/ next to text_encoder_2/)`, file);
    }
  }
  const forceZeros = index.force_zeros_for_empty_prompt;
  const controlNets = await listControlNets(resolved);

  let vaeScalingFactor = 0.18215;
  const vaeConfigFile = path.join(resolved, 'vae_decoder', 'config.json');
  if (await exists(vaeConfigFile)) {
    const cfg = (await readJson(vaeConfigFile, 'VAE config')) as Record<string, unknown>;
    if (cfg.scaling_factor !== undefined) {
      if (typeof cfg.scaling_factor !== 'number' || !(cfg.scaling_factor > 0)) {
        throw new ModelLoadError(`${vaeConfigFile}: "scaling_factor" must be a positive number`, vaeConfigFile);
      }
      vaeScalingFactor = cfg.scaling_factor;
    }
  }
  let unetInChannels: number | undefined;
  const unetConfigFile = path.join(resolved, 'unet', 'config.json');
  if (await exists(unetConfigFile)) {
    const cfg = (await readJson(unetConfigFile, 'UNet config')) as Record<string, unknown>;
    if (typeof cfg.in_channels === 'number' && Number.isInteger(cfg.in_channels) && cfg.in_channels > 0) unetInChannels = cfg.in_channels;
  }
  const manifest = await readModelManifest(resolved);
  const guessed = manifest.family === undefined ? (sdxlLayout ? 'sdxl' : await guessFamily(resolved)) : undefined;
  const family = manifest.family ?? guessed;
  const familySource = manifest.family ? 'manifest' : sdxlLayout ? 'folder' : 'tokenizer';
  let sizeBytes = 0;
  for (const file of [textEncoder, textEncoder2, unet, vaeDecoder, vaeEncoder, previewDecoder]) {
    if (file) sizeBytes += await folderBytes(path.dirname(file));
  }
  return {
    name: path.basename(resolved),
    dir: resolved,
    pipelineClass,
    manifest,
    ...(family === undefined ? {} : { family, familySource }),
    ...(typeof forceZeros === 'boolean' ? { forceZerosForEmptyPrompt: forceZeros } : {}),
    schedulerConfig,
    vaeScalingFactor,
    ...(unetInChannels === undefined ? {} : { unetInChannels }),
    files: {
      textEncoder,
      unet,
      vaeDecoder,
      vaeEncoder,
      previewDecoder,
      tokenizerDir,
      ...(sdxlLayout ? { textEncoder2, tokenizer2Dir } : {}),
      ...(Object.keys(controlNets).length ? { controlNets } : {}),
    },
    sizeBytes,
  };
}

/** Sub-folders of `modelsDir` that hold a model_index.json (hidden and partial downloads are skipped). */
export async function listModelDirs(modelsDir: string): Promise<string[]> {
  let entries: Dirent[];
  try {
    entries = await readdir(modelsDir, { withFileTypes: true });
  } catch {
    return [];
  }
  const dirs: string[] = [];
  for (const e of entries) {
    if (!e.isDirectory() || e.name.startsWith('.')) continue;
    const dir = path.join(modelsDir, e.name);
    if (await exists(path.join(dir, 'model_index.json'))) dirs.push(dir);
  }
  return dirs.sort();
}

/**
 * Resolve a model name to its folder under `modelsDir`. A folder path (anything with a path separator, or starting
 * with '.') is accepted only with `allowPaths` (the command line, where the user owns the machine); requests from
 * Discord name installed models only. An unknown name is a UserError listing the installed models, and never
 * shows a server path.
 */
export async function resolveModelDir(modelsDir: string, model: string, options: { allowPaths?: boolean } = {}): Promise<string> {
  const looksLikePath = model.includes('/') || model.includes('\\') || model.includes(path.sep) || model.startsWith('.');
  if (looksLikePath) {
    if (options.allowPaths) return path.resolve(model);
    throw new UserError(Identifiers.UnknownModel, 'Name an installed model, not a folder path.', { model });
  }
  if (!/^[\w.-]+$/.test(model)) {
    throw new UserError(Identifiers.UnknownModel, `Model names use letters, digits, '.', '_' and '-' only; got "${model}".`);
  }
  const candidate = path.join(modelsDir, model);
  if (await exists(path.join(candidate, 'model_index.json'))) return path.resolve(candidate);
  const installed = (await listModelDirs(modelsDir)).map((d) => path.basename(d));
  throw new UserError(
    Identifiers.UnknownModel,
    `Unknown model "${model}". Installed: ${installed.length ? installed.join(', ') : 'none (see MODELS_DIR)'}.`,
    { model, installed },
  );
}

/** What the bot and `/help` know of a model: no server paths, only its name and what it accepts. */
export function modelSummary(folder: ModelFolder): ModelSummary {
  return {
    name: folder.name,
    family: folder.family ?? 'auto',
    hasVaeEncoder: Boolean(folder.files.vaeEncoder),
    hasPreviewDecoder: Boolean(folder.files.previewDecoder),
    controlNets: Object.keys(folder.files.controlNets ?? {}),
    defaults: { ...folder.manifest.defaults },
    ...(folder.manifest.fixedSize ? { fixedSize: folder.manifest.fixedSize } : {}),
    ...(folder.manifest.variation ? { variation: { ...folder.manifest.variation } } : {}),
  };
}
