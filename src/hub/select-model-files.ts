import { REQUIRED_FILES } from '../model-folder/model-folder.js';
import { Identifiers, UserError } from '../errors.js';
import type { HubFile } from './hub-client.js';

/** Small config files the engine reads, from the main repository or a known model's config repository. */
export const CONFIG_FILES = [
  'model_index.json',
  'scheduler/scheduler_config.json',
  'tokenizer/vocab.json',
  'tokenizer/merges.txt',
  'tokenizer/special_tokens_map.json',
  'tokenizer/tokenizer_config.json',
] as const;

export { REQUIRED_FILES };

/**
 * SDXL's second tokenizer, taken when the repository has it. Kept out of CONFIG_FILES, whose absence makes a
 * known repository fetch its config repository: SD 1.x repositories never have these.
 */
export const SDXL_CONFIG_FILES = [
  'tokenizer_2/vocab.json',
  'tokenizer_2/merges.txt',
  'tokenizer_2/special_tokens_map.json',
  'tokenizer_2/tokenizer_config.json',
] as const;

/** Needed besides REQUIRED_FILES when the repository is SDXL (has text_encoder_2/ or tokenizer_2/). */
const SDXL_REQUIRED_FILES = ['text_encoder_2/model.onnx', 'tokenizer_2/vocab.json', 'tokenizer_2/merges.txt'] as const;

/** ONNX component folders the engine loads; vae_encoder is optional (img2img, upscale refinement). */
const COMPONENTS = ['text_encoder', 'text_encoder_2', 'unet', 'vae_decoder', 'vae_encoder'] as const;

// The graph, its external weights under the names each exporter uses (diffusers/Olive `weights.pb`, optimum
// `model.onnx_data`, torch.onnx `*.onnx.data`), and the component's config.json (vae scaling_factor).
function isComponentFile(name: string): boolean {
  return name === 'model.onnx' || name === 'config.json' || name === 'weights.pb' || name.endsWith('.onnx_data') || name.endsWith('.onnx.data');
}

// SDXL's second encoder: the engine runs it (#12). A third one is SD3, which it does not run.
const SDXL_MARKER = /^(text_encoder_2|tokenizer_2)\//;
const THIRD_ENCODER = /^(text_encoder_3|tokenizer_3)\//;

/** Class names in model_index.json that the engine cannot run; matched before any large download. */
const UNSUPPORTED_CLASS = /StableDiffusion3|Flux|Kandinsky|Wuerstchen|StableCascade|PixArt|Sana|Kolors|Hunyuan/i;

export interface FileSelection {
  /** What to download, in a stable order: config files first, then components. */
  files: HubFile[];
  /** Paths the repository has that were left out (safety checker, PyTorch weights, images). */
  skipped: string[];
  /** Unneeded paths left out because their names are unsafe to write (see unsafePathReason). */
  unsafe: string[];
}

const CONTROL_CHARACTER = /[\u0000-\u001f\u007f]/;
const DRIVE_LETTER = /^[A-Za-z]:/;

/**
 * Why a listed repository path must not become a file name, or undefined when it is safe. The listing comes from
 * a server (or a mirror) we do not control, and a name that is harmless here can escape the model folder on
 * another platform (`..\\x` on Windows), so every rule applies everywhere.
 */
export function unsafePathReason(repoPath: string): string | undefined {
  if (CONTROL_CHARACTER.test(repoPath)) return 'it contains a NUL or control character';
  if (repoPath.startsWith('/')) return 'it starts with "/"';
  for (const segment of repoPath.split('/')) {
    if (segment === '') return 'it has an empty path segment';
    if (segment === '.' || segment === '..') return `it has a "${segment}" segment`;
    if (segment.includes('\\')) return 'it contains "\\"';
    if (DRIVE_LETTER.test(segment)) return 'it has a drive letter';
  }
  return undefined;
}

/**
 * Pick the files the engine needs from a repository listing. `configFiles` (a known model's config repository)
 * fills in config files the main listing lacks. Throws a UserError listing what is missing, or refusing SD3.
 */
export function selectModelFiles(repo: string, listing: readonly HubFile[], configFiles: readonly HubFile[] = []): FileSelection {
  if (listing.some((f) => THIRD_ENCODER.test(f.path))) throw unsupportedPipeline(repo, 'it has text_encoder_3');
  const selection = selectFiles(repo, listing, configFiles);
  const bad = selection.files.find((f) => unsafePathReason(f.path) !== undefined);
  if (bad) {
    throw new UserError(
      Identifiers.InvalidModel,
      `${repo} lists a needed file under an unsafe name, ${JSON.stringify(bad.path)}: ${unsafePathReason(bad.path)}, ` +
        'so it could be written outside the model folder. Nothing was downloaded; pick another repository or ' +
        'revision, or check HF_ENDPOINT if it points at a mirror.',
      { repo, file: bad.path },
    );
  }
  const unsafe = selection.skipped.filter((p) => unsafePathReason(p) !== undefined);
  return { ...selection, skipped: selection.skipped.filter((p) => !unsafe.includes(p)), unsafe };
}

function selectFiles(repo: string, listing: readonly HubFile[], configFiles: readonly HubFile[]): Omit<FileSelection, 'unsafe'> {
  const byPath = new Map(listing.map((f) => [f.path, f]));
  const configByPath = new Map(configFiles.map((f) => [f.path, f]));
  const files: HubFile[] = [];
  for (const path of CONFIG_FILES) {
    const file = byPath.get(path) ?? configByPath.get(path);
    if (file) files.push(file);
  }
  const sdxl = listing.some((f) => SDXL_MARKER.test(f.path));
  if (sdxl) {
    for (const path of SDXL_CONFIG_FILES) {
      const file = byPath.get(path) ?? configByPath.get(path);
      if (file) files.push(file);
    }
  }
  const hasComponent = (c: string): boolean => byPath.has(`${c}/model.onnx`);
  for (const component of COMPONENTS) {
    if (!hasComponent(component)) continue;
    for (const file of listing) {
      const [dir, name, ...rest] = file.path.split('/');
      if (dir === component && rest.length === 0 && name !== undefined && isComponentFile(name)) files.push(file);
    }
  }

  const chosen = new Set(files.map((f) => f.path));
  const missing = [...REQUIRED_FILES, ...(sdxl ? SDXL_REQUIRED_FILES : [])].filter((p) => !chosen.has(p));
  if (missing.length > 0) {
    const pytorchOnly = !listing.some((f) => f.path.endsWith('.onnx')) && listing.some((f) => /\.(safetensors|bin|ckpt)$/.test(f.path));
    throw new UserError(
      Identifiers.InvalidModel,
      `${repo} is not a diffusers ONNX export the engine can use: missing ${missing.join(', ')}.` +
        (pytorchOnly ? ' It holds PyTorch weights only.' : '') +
        ' Pick an ONNX repository (docs/models.md lists known ones) or a --revision that has one.',
      { repo, missing },
    );
  }
  return { files, skipped: listing.map((f) => f.path).filter((p) => !chosen.has(p)) };
}

/** Refuse a pipeline class the engine does not run, read from the downloaded model_index.json. */
export function checkPipelineClass(repo: string, modelIndexText: string): void {
  let className: unknown;
  try {
    className = (JSON.parse(modelIndexText) as { _class_name?: unknown })._class_name;
  } catch {
    throw new UserError(Identifiers.InvalidModel, `${repo}: model_index.json is not valid JSON.`, { repo });
  }
  if (typeof className === 'string' && UNSUPPORTED_CLASS.test(className)) {
    throw unsupportedPipeline(repo, `model_index.json says ${className}`);
  }
  // The SDXL refiner shares its class name with SDXL img2img; its config asks for the aesthetic-score time ids.
  if ((JSON.parse(modelIndexText) as { requires_aesthetics_score?: unknown }).requires_aesthetics_score === true) {
    throw new UserError(
      Identifiers.InvalidModel,
      `${repo} is an SDXL refiner (model_index.json sets requires_aesthetics_score); SDXL refiner models are not supported yet. ` +
        'Pick an SDXL base or Turbo repository (docs/models.md lists known ones).',
      { repo },
    );
  }
}

function unsupportedPipeline(repo: string, evidence: string): UserError {
  return new UserError(
    Identifiers.InvalidModel,
    `${repo} is a pipeline the engine does not run (${evidence}); it runs SD 1.x/2.x (including LCM and Turbo) ` +
      'and SDXL/SDXL-Turbo models. Pick one of those (docs/models.md lists known repositories).',
    { repo },
  );
}

/** The translator's small files (tokenizer and generation settings): the first four are required. */
const TRANSLATOR_CONFIG_FILES = [
  'config.json',
  'source.spm',
  'target.spm',
  'vocab.json',
  'generation_config.json',
  'tokenizer_config.json',
  'special_tokens_map.json',
] as const;
const TRANSLATOR_REQUIRED = new Set(['config.json', 'source.spm', 'target.spm', 'vocab.json']);
// Best first, as MarianTranslator.load picks them (translation/marian.ts): fp32 for quality, then the int8 export
// transformers.js uses in browsers; the merged decoder before the decoder + decoder_with_past pair.
const TRANSLATOR_ENCODERS = ['onnx/encoder_model.onnx', 'onnx/encoder_model_quantized.onnx'];
const TRANSLATOR_DECODERS = [
  ['onnx/decoder_model_merged.onnx'],
  ['onnx/decoder_model_merged_quantized.onnx'],
  ['onnx/decoder_model.onnx', 'onnx/decoder_with_past_model.onnx'],
];

/**
 * The files of a MarianMT optimum export (the zh→en prompt translator): tokenizer and config files, one encoder,
 * one decoder (merged, or the pair). Throws a UserError naming what is missing.
 */
export function selectTranslatorFiles(repo: string, listing: readonly HubFile[]): FileSelection {
  const byPath = new Map(listing.map((f) => [f.path, f]));
  const files: HubFile[] = [];
  const missing: string[] = [];
  for (const name of TRANSLATOR_CONFIG_FILES) {
    const file = byPath.get(name);
    if (file) files.push(file);
    else if (TRANSLATOR_REQUIRED.has(name)) missing.push(name);
  }
  const encoder = TRANSLATOR_ENCODERS.find((p) => byPath.has(p));
  if (encoder) files.push(byPath.get(encoder)!);
  else missing.push(TRANSLATOR_ENCODERS[0]);
  const decoder = TRANSLATOR_DECODERS.find((set) => set.every((p) => byPath.has(p)));
  if (decoder) files.push(...decoder.map((p) => byPath.get(p)!));
  else missing.push(TRANSLATOR_DECODERS[0][0]);
  if (missing.length > 0) {
    throw new UserError(
      Identifiers.InvalidModel,
      `${repo} is not a MarianMT ONNX export the translator can use: missing ${missing.join(', ')}. Use Xenova/opus-mt-zh-en (npm run models:pull -- opus-mt-zh-en).`,
      { repo, missing },
    );
  }
  const chosen = new Set(files.map((f) => f.path));
  const bad = files.find((f) => unsafePathReason(f.path) !== undefined);
  if (bad)
    throw new UserError(
      Identifiers.InvalidModel,
      `${repo} lists ${JSON.stringify(bad.path)}: ${unsafePathReason(bad.path)}. Nothing was downloaded.`,
      { repo, file: bad.path },
    );
  return { files, skipped: listing.map((f) => f.path).filter((p) => !chosen.has(p)), unsafe: [] };
}
