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

/** ONNX component folders the engine loads; vae_encoder is optional (img2img, upscale refinement). */
const COMPONENTS = ['text_encoder', 'unet', 'vae_decoder', 'vae_encoder'] as const;

// The graph, its external weights under the names each exporter uses (diffusers/Olive `weights.pb`, optimum
// `model.onnx_data`, torch.onnx `*.onnx.data`), and the component's config.json (vae scaling_factor).
function isComponentFile(name: string): boolean {
  return (
    name === 'model.onnx' ||
    name === 'config.json' ||
    name === 'weights.pb' ||
    name.endsWith('.onnx_data') ||
    name.endsWith('.onnx.data')
  );
}

// Markers of pipelines with a second text encoder (SDXL, SD3) the engine does not run yet.
const SECOND_ENCODER = /^(text_encoder_2|tokenizer_2|text_encoder_3)\//;

/** Class names in model_index.json that the engine cannot run; matched before any large download. */
const UNSUPPORTED_CLASS = /XL|StableDiffusion3|Flux|Kandinsky|Wuerstchen|StableCascade|PixArt|Sana|Kolors|Hunyuan/i;

export interface FileSelection {
  /** What to download, in a stable order: config files first, then components. */
  files: HubFile[];
  /** Paths the repository has that were left out (safety checker, PyTorch weights, images). */
  skipped: string[];
}

/**
 * Pick the files the engine needs from a repository listing. `configFiles` (a known model's config repository)
 * fills in config files the main listing lacks. Throws a UserError listing what is missing, or refusing SDXL.
 */
export function selectModelFiles(
  repo: string,
  listing: readonly HubFile[],
  configFiles: readonly HubFile[] = [],
): FileSelection {
  if (listing.some((f) => SECOND_ENCODER.test(f.path))) throw unsupportedPipeline(repo, 'it has text_encoder_2');

  const byPath = new Map(listing.map((f) => [f.path, f]));
  const configByPath = new Map(configFiles.map((f) => [f.path, f]));
  const files: HubFile[] = [];
  for (const path of CONFIG_FILES) {
    const file = byPath.get(path) ?? configByPath.get(path);
    if (file) files.push(file);
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
  const missing = REQUIRED_FILES.filter((p) => !chosen.has(p));
  if (missing.length > 0) {
    const pytorchOnly =
      !listing.some((f) => f.path.endsWith('.onnx')) &&
      listing.some((f) => /\.(safetensors|bin|ckpt)$/.test(f.path));
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
}

function unsupportedPipeline(repo: string, evidence: string): UserError {
  return new UserError(
    Identifiers.InvalidModel,
    `${repo} is an SDXL-class pipeline (${evidence}); the engine runs SD 1.x/2.x models (including LCM and ` +
      'Turbo) only so far. Pick one of those (docs/models.md lists known repositories).',
    { repo },
  );
}
