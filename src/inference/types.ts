/**
 * The engine's public contract. The worker process (src/worker) and the CLI (src/cli) build requests of this
 * shape; the protocol (src/protocol) mirrors it with zod. Plain types only: nothing here imports onnxruntime.
 */

/** Sampler names users type. A1111 display names are mapped onto these by `parseSamplerName`. */
export const SAMPLER_NAMES = ['euler', 'euler_a', 'dpmpp_2m', 'dpmpp_2m_karras', 'ddim', 'lcm'] as const;
export type SamplerName = (typeof SAMPLER_NAMES)[number];

/** Largest seed; seeds are unsigned 32-bit integers. */
export const MAX_SEED = 0xffff_ffff;

/** What to generate from. */
export type GenerateMode =
  /** Plain text-to-image. */
  | { kind: 'txt2img' }
  /** Start from an image (PNG/JPEG/WebP bytes), keep `1 - strength` of it. Needs a vae_encoder. */
  | { kind: 'img2img'; image: Uint8Array; strength: number }
  /**
   * A1111's "variation seed": the seed's noise slerped towards `subseed`'s noise by `strength` (0 = the seed's
   * image, 1 = the subseed's). Works on every model, no vae_encoder needed.
   */
  | { kind: 'variation'; subseed: number; strength: number }
  /**
   * Upscale `image` 2x: Lanczos, then an img2img refinement at `strength` when the model has a vae_encoder;
   * plain Lanczos otherwise.
   */
  | { kind: 'upscale'; image: Uint8Array; strength: number };

export interface GenerateRequest {
  /** A model name under MODELS_DIR, or a path to a model folder. */
  model: string;
  prompt: string;
  /** @default '' */
  negativePrompt: string;
  steps: number;
  /** Classifier-free guidance scale; <= 1 skips the unconditional pass. */
  cfg: number;
  sampler: SamplerName;
  width: number;
  height: number;
  /** Images in one job, 1..4; image i uses seed + i. */
  count: number;
  /** 0..2^32-1; undefined picks a random seed, reported back in the result. */
  seed?: number;
  mode: GenerateMode;
  /** Send a preview every this many steps; 0 turns previews off. @default 0 */
  previewEvery: number;
}

export interface Preview {
  /** Small PNG of the predicted clean image. */
  png: Uint8Array;
  width: number;
  height: number;
}

export interface StepProgress {
  /** 1-based step just finished. */
  step: number;
  total: number;
  /** Which image of the job (0-based) this step belongs to. */
  image: number;
  preview?: Preview;
}

export interface GeneratedImage {
  png: Uint8Array;
  seed: number;
  width: number;
  height: number;
  /** The A1111-format parameters text also embedded in the PNG. */
  parameters: string;
}

export interface GenerateTimings {
  /** Whole generation, ms. */
  totalMs: number;
  /** Sum of onnxruntime session.run times, ms. */
  inferenceMs: number;
  /** Time spent building previews, ms. */
  previewMs: number;
  /** Model load time (0 when it was already loaded), ms. */
  loadMs: number;
}

export interface GenerateResult {
  images: GeneratedImage[];
  /** The seed of the first image (the one the user asked for or the random one picked). */
  seed: number;
  /** Things the user should know, such as a truncated prompt or words the model does not know. */
  warnings: string[];
  timings: GenerateTimings;
}

export interface GenerateOptions {
  onStep?: (progress: StepProgress) => void;
  signal?: AbortSignal;
}

export interface TokenizeResult {
  ids: number[];
  count: number;
  truncated: boolean;
}

export interface ModelSummary {
  name: string;
  path: string;
  family: string;
  hasVaeEncoder: boolean;
  hasPreviewDecoder: boolean;
  defaults: ModelDefaults;
}

/** Per-model defaults, read from `imagine-bot.json` in the model folder (see model-defaults.ts). */
export interface ModelDefaults {
  sampler?: SamplerName;
  steps?: number;
  cfg?: number;
  width?: number;
  height?: number;
  negativePrompt?: string;
}

/** Settings the engine is built with (from env in the worker, from flags in the CLI). */
export interface EngineOptions {
  /** Folder holding one sub-folder per model. @default './models' */
  modelsDir: string;
  /** onnxruntime execution provider. @default 'cpu' */
  executionProvider?: string;
  /** GPU device id for cuda/dml. @default 0 */
  deviceId?: number;
  /** CPU threads per session; 0 lets onnxruntime decide. @default 0 */
  threads?: number;
  /** Run on the CPU (with a warning) when the requested provider cannot start. @default false */
  allowCpuFallback?: boolean;
  /**
   * Upper bound on the summed on-disk size of loaded models, in MiB. When a job needs another model and the
   * budget would be exceeded, least recently used models are unloaded first. @default 8192
   */
  memoryBudgetMiB?: number;
}

/**
 * What the worker process and the CLI call. Created by `createEngine` in engine.ts, the only module that pulls
 * in onnxruntime-node (through session.ts).
 */
export interface Engine {
  /** Models found under modelsDir, with their per-model defaults. */
  listModels(): Promise<ModelSummary[]>;
  generate(request: GenerateRequest, options?: GenerateOptions): Promise<GenerateResult>;
  /** Token ids (with start/end tokens, no padding) per prompt, for `imagine tokens` and prompt checks. */
  tokenize(model: string, prompts: readonly string[]): Promise<TokenizeResult[]>;
  /** The provider sessions really run on (after any fallback), e.g. 'cpu' or 'cuda'. */
  readonly executionProvider: string;
  /**
   * Lines for the operator's log (CPU fallback, unloaded models, ignored scheduler config keys); callers drain
   * the array (`notes.splice(0)`) after init and after each job.
   */
  readonly notes?: string[];
  /** Release every session. */
  dispose(): Promise<void>;
}
