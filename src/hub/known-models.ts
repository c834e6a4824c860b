import type { ModelManifest } from '../model-folder/model-manifest.js';

/**
 * A hub repository we know how to run well. models:pull writes `family` and `defaults` into the model's
 * imagine-bot.json so that a fresh install produces good images without any /config.
 */
export interface KnownModel {
  repo: string;
  /** Branch or tag holding the ONNX export when it is not `main`. */
  revision?: string;
  family: NonNullable<ModelManifest['family']>;
  defaults: ModelManifest['defaults'];
  /**
   * Keys merged into scheduler/scheduler_config.json after download, for exports whose config does not match
   * how the model was distilled (Turbo needs trailing spacing to start at t=999).
   */
  schedulerConfig?: Record<string, unknown>;
  /**
   * A repository (pinned to its own resolved commit) that supplies the small config files (model_index.json,
   * scheduler/, tokenizer/) when this one ships only the ONNX graphs.
   */
  configRepo?: string;
  /** One line for docs and `models:list --known`: what it is, precision, download size. */
  note: string;
}

const SD15 = { sampler: 'dpmpp_2m_karras', steps: 25, cfg: 7, width: 512, height: 512 } as const;
// LCM Dreamshaper folds guidance into the UNet through timestep_cond (w = cfg − 1), so any cfg costs one UNet pass;
// its model card and diffusers' LCM pipeline use 8–8.5 (cfg 1 would embed "no guidance" and wash the image out).
const LCM = { sampler: 'lcm', steps: 4, cfg: 8, width: 512, height: 512 } as const;
// ADD-distilled: 1–4 Euler steps from t=999 with guidance off, trained at 512×512 (diffusers sdxl_turbo.md).
const TURBO = { sampler: 'euler', steps: 1, cfg: 0, width: 512, height: 512 } as const;
const TURBO_SCHEDULER = { timestep_spacing: 'trailing' };
// SDXL base: diffusers' and onnxruntime's SDXL demo defaults (30 steps, guidance 5) at its native 1024×1024; Euler
// is the scheduler the repository ships (EulerDiscreteScheduler).
const SDXL = { sampler: 'euler', steps: 30, cfg: 5, width: 1024, height: 1024 } as const;

export const KNOWN_MODELS: readonly KnownModel[] = [
  {
    repo: 'stable-diffusion-v1-5/stable-diffusion-v1-5',
    revision: 'onnx',
    family: 'sd1',
    defaults: SD15,
    note: 'SD 1.5, fp32 ONNX on the `onnx` branch; about 4.3 GB (unet 3.44 GB)',
  },
  {
    repo: 'onnx-community/stable-diffusion-v1-5-ONNX',
    family: 'sd1',
    defaults: SD15,
    note: 'SD 1.5, fp32; about 4.3 GB pulled (5.48 GB repo, safety checker skipped)',
  },
  {
    repo: 'TheyCallMeHex/LCM-Dreamshaper-V7-ONNX',
    family: 'sd1',
    defaults: LCM,
    note: 'LCM Dreamshaper v7, fp32; about 4.3 GB; 4 steps',
  },
  {
    repo: 'SimianLuo/LCM_Dreamshaper_v7',
    family: 'sd1',
    defaults: LCM,
    note: 'LCM Dreamshaper v7 (original repo, ONNX on main), fp32; about 4.3 GB',
  },
  {
    repo: 'aislamov/lcm-dreamshaper-v7-onnx',
    family: 'sd1',
    defaults: LCM,
    note: 'LCM Dreamshaper v7, fp16 (for GPUs; slower than fp32 on most CPUs); about 2 GB',
  },
  {
    repo: 'schmuell/sd-turbo-ort-web',
    family: 'sd2',
    defaults: TURBO,
    schedulerConfig: TURBO_SCHEDULER,
    configRepo: 'stabilityai/sd-turbo',
    note: 'SD-Turbo, fp16 (GPU; works on CPU but slowly); about 2.5 GB; 1–4 steps, no guidance',
  },
  {
    repo: 'tlwu/sd-turbo-onnxruntime',
    family: 'sd2',
    defaults: TURBO,
    schedulerConfig: TURBO_SCHEDULER,
    configRepo: 'stabilityai/sd-turbo',
    note: 'SD-Turbo, fp16 optimized for the CUDA provider (may not load on CPU); about 2.6 GB',
  },
  // SDXL sizes are from the hub listings (reference/inference.md §5); nothing here was downloaded.
  {
    repo: 'stabilityai/sdxl-turbo',
    family: 'sdxl',
    defaults: TURBO,
    schedulerConfig: TURBO_SCHEDULER,
    note: 'SDXL-Turbo, fp32 optimum export; about 13.9 GB (unet model.onnx_data 10.3 GB, text_encoder_2 2.78 GB); 1–4 steps, no guidance, 512×512; wants about 16 GB of model memory',
  },
  {
    repo: 'tlwu/sdxl-turbo-onnxruntime',
    family: 'sdxl',
    defaults: TURBO,
    schedulerConfig: TURBO_SCHEDULER,
    note: 'SDXL-Turbo, fp16 optimized for the CUDA provider (may not load on CPU; its fp16 VAE may give NaN/black images); text_encoder_2 alone 4.17 GB in the hub listing',
  },
  {
    repo: 'stabilityai/stable-diffusion-xl-base-1.0',
    family: 'sdxl',
    defaults: SDXL,
    note: 'SDXL base 1.0, fp32 optimum export; about 13.9 GB (unet 10.27 GB, text_encoder_2 2.78 GB); 30 steps, cfg 5, 1024×1024; wants about 16 GB of model memory',
  },
];

/** The known entry for a repository id, compared case-insensitively as the hub does. */
export function findKnownModel(repo: string): KnownModel | undefined {
  const key = repo.toLowerCase();
  return KNOWN_MODELS.find((m) => m.repo.toLowerCase() === key);
}

/** The imagine-bot.json models:pull writes for a known repository. */
export function knownModelManifest(known: KnownModel, source: { repo: string; revision: string }): ModelManifest {
  return { family: known.family, defaults: { ...known.defaults }, source };
}

/**
 * The zh→en prompt translator (docs/translation.md): Helsinki-NLP's opus-mt-zh-en MarianMT (CC-BY-4.0) as
 * transformers.js' optimum export (onnx/encoder_model.onnx, onnx/decoder_model_merged.onnx, source.spm, target.spm,
 * vocab.json). Not an image model: models:pull installs it as MODELS_DIR/opus-mt-zh-en, where the engine looks.
 */
export const TRANSLATOR = {
  /** `npm run models:pull -- opus-mt-zh-en` stands for this repository. */
  alias: 'opus-mt-zh-en',
  repo: 'Xenova/opus-mt-zh-en',
  /** The same export under the onnx-community organisation. */
  alternatives: ['onnx-community/opus-mt-zh-en', 'Helsinki-NLP/opus-mt-zh-en'],
  folder: 'opus-mt-zh-en',
  note: 'zh→en prompt translator, Helsinki-NLP opus-mt-zh-en (CC-BY-4.0), fp32 encoder + merged decoder; about 450 MB',
} as const;

/** True for a repository models:pull installs as the translator rather than as an image model. */
export function isTranslatorRepo(repo: string): boolean {
  const key = repo.toLowerCase();
  return [TRANSLATOR.alias, TRANSLATOR.repo, ...TRANSLATOR.alternatives].some((r) => r.toLowerCase() === key);
}
