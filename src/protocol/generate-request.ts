/**
 * The request contract every side shares: what a generation asks for, the absolute bounds of every field, the
 * built-in defaults, and the one zod schema that carries both. The bot validates a job against it before storing
 * it, the IPC boundary checks it in both processes, and the engine checks it for its library callers (the CLI).
 * Only checks that depend on the model (a fixed size, a missing vae_encoder) live in the engine.
 * Plain types and zod only: nothing here imports onnxruntime or discord.js.
 */
import { z } from 'zod';
import { Identifiers, UserError, type Identifier } from '../errors.js';
import { SAMPLER_NAMES, type SamplerName } from './samplers.js';

/** Largest seed; seeds are unsigned 32-bit integers. */
export const MAX_SEED = 0xffff_ffff;

/**
 * Absolute bounds of a request. Guild limits (/config) are usually tighter and are checked by the bot; the
 * /imagine and /config option ranges, the CLI and the model manifests read these same numbers.
 */
export const REQUEST_BOUNDS = {
  steps: { min: 1, max: 150 },
  cfg: { min: 0, max: 30 },
  /** Each side of an image, in pixels; sides are multiples of `multiple` (the VAE downsamples by 8). */
  side: { min: 64, max: 2048, multiple: 8 },
  /** Pixels of one image (width × height). */
  pixels: { min: 64 * 64, max: 2048 * 2048 },
  count: { min: 1, max: 4 },
  /** A1111's "Clip skip": condition on the CLIP hidden state this many layers from the end (1 = the last layer). */
  clipSkip: { min: 1, max: 12 },
  seed: { min: 0, max: MAX_SEED },
  /**
   * Long prompts are read in chunks of `tokens` CLIP tokens (A1111's rule: 75 plus start and end), each chunk one
   * text-encoder run; a prompt or negative prompt may take at most `max` chunks.
   */
  promptChunks: { tokens: 75, max: 8 },
  /** ControlNet (issue #15): units per request, each unit's weight, Canny's hysteresis thresholds (A1111's ranges). */
  controls: { max: 3 },
  controlStrength: { min: 0, max: 2 },
  cannyThreshold: { min: 1, max: 255 },
  /** Characters of the prompt and of the negative prompt. */
  promptChars: 1500,
  negativeChars: 1000,
} as const;

/** Used when neither the user, the server nor the model's imagine-bot.json set a value. */
export const REQUEST_DEFAULTS = {
  steps: 20,
  cfg: 7,
  sampler: 'euler_a' as SamplerName,
  width: 512,
  height: 512,
  count: 1,
  /** Clip skip 1: the text encoder's last layer, as diffusers and A1111 do by default. */
  clipSkip: 1,
  /** img2img from an uploaded or given picture: keeps a quarter of it. */
  img2imgStrength: 0.75,
  /** The img2img refinement after a 2× Lanczos upscale: keeps the composition, adds detail. */
  upscaleStrength: 0.3,
  /** V buttons: how far the variation seed's noise moves from the original (A1111 "variation strength"). */
  variationStrength: 0.3,
  /** V on an image that has no seed noise to vary (an upscale, an img2img result): redo it from its pixels. */
  imageVariationStrength: 0.45,
  /** Inpainting, as AUTOMATIC1111's inpaint tab starts. */
  inpaint: { strength: 0.75, maskBlur: 4, fill: 'original', area: 'whole', padding: 32 } satisfies InpaintOptions,
  /** Zoom Out and Pan: the new area is drawn from scratch. */
  outpaintStrength: 1,
  /**
   * Vary (Subtle) and Vary (Strong): img2img of a finished image. Per model in imagine-bot.json (`variation`); these
   * are used when the model does not say. Subtle keeps the composition, Strong redraws the details.
   */
  vary: { subtle: 0.35, strong: 0.75 },
  /** ControlNet: A1111's defaults (weight 1, Canny low 100 / high 200). */
  control: { strength: 1, cannyLow: 100, cannyHigh: 200 },
} as const;

/**
 * A stored input image: a path relative to DATA_DIR (`outputs/<jobId>/<n>.png`, later `inputs/…`). Jobs keep
 * references, never bytes; the bytes are read just before the job goes to a worker.
 */
export interface ImageRef {
  ref: string;
}

/** What to generate from. `I` is how an input image travels: bytes for the engine, an `ImageRef` in stored jobs. */
export type GenerateMode<I = Uint8Array> =
  /** Plain text-to-image. */
  | { kind: 'txt2img' }
  /** Start from an image (PNG/JPEG/WebP), keep `1 - strength` of it. Needs a vae_encoder. */
  | { kind: 'img2img'; image: I; strength: number }
  /**
   * A1111's "variation seed": the seed's noise slerped towards `subseed`'s noise by `strength` (0 = the seed's
   * image, 1 = the subseed's). Works on every model, no vae_encoder needed.
   */
  | { kind: 'variation'; subseed: number; strength: number }
  /** Upscale `image` 2x: Lanczos, then an img2img refinement at `strength` when the model has a vae_encoder. */
  | { kind: 'upscale'; image: I; strength: number }
  /**
   * Repaint the white part of `mask` on `image` (both resized to the request's size; grey blends) and keep the rest:
   * outside the blurred mask edge the result's pixels are the source's. 9-channel inpainting UNets get diffusers'
   * input (latents ‖ mask ‖ masked-image latents); ordinary UNets run AUTOMATIC1111's masked img2img.
   */
  | ({ kind: 'inpaint'; image: I; mask: I } & InpaintOptions)
  /**
   * Midjourney's Zoom Out and Pan: `image` shrunk by `zoom` on a canvas of the same size, or shifted so the canvas
   * grows by half in `pan`'s direction; the new area is generated (an inpaint of it) and the source kept as it is.
   */
  | { kind: 'outpaint'; image: I; strength: number /** Exactly one of `zoom` and `pan`. */; zoom?: number; pan?: PanDirection };

export const PAN_DIRECTIONS = ['left', 'right', 'up', 'down'] as const;
export type PanDirection = (typeof PAN_DIRECTIONS)[number];

/** What is in the masked area before it is denoised (A1111's "Masked content"). */
export const MASKED_CONTENT = ['original', 'latent-noise'] as const;
export type MaskedContent = (typeof MASKED_CONTENT)[number];

/** How an inpaint is done, as AUTOMATIC1111's inpaint tab sets it. */
export interface InpaintOptions {
  /** How much of the masked area changes, (0, 1]. */
  strength: number;
  /** Gaussian blur (px) of the mask edge where the result is pasted over the source. @default 4 */
  maskBlur: number;
  /** @default 'original' */
  fill: MaskedContent;
  /** 'only-masked' works on the mask's box (plus `padding`) at full resolution, then pastes it back. @default 'whole' */
  area: 'whole' | 'only-masked';
  /** Pixels around the mask's box for 'only-masked'. @default 32 */
  padding: number;
}

/** How a control image becomes the map the ControlNet sees. */
export const CONTROL_PREPROCESSORS = ['none', 'canny', 'depth'] as const;
export type ControlPreprocessor = (typeof CONTROL_PREPROCESSORS)[number];

/**
 * One ControlNet unit (A1111's "ControlNet 0", "ControlNet 1", …): the model's `controlnet/<net>/` guided by
 * `image`, which is resized to the request's size (cover) and preprocessed: 'none' takes it as the map itself
 * (an edge, depth, pose or scribble map the user made), 'canny' draws its edges, 'depth' runs the installed depth
 * model. Several units add their residuals.
 */
export interface ControlUnit<I = Uint8Array> {
  net: string;
  image: I;
  /** Residuals × strength (A1111's "Weight"), 0..2. */
  strength: number;
  preprocess: ControlPreprocessor;
  /** Canny's hysteresis thresholds on the gradient magnitude (OpenCV's L1 semantics). @default 100 / 200 */
  cannyLow?: number;
  cannyHigh?: number;
}

export interface GenerateRequest<I = Uint8Array> {
  /** A model name under MODELS_DIR (the CLI also takes a folder path). */
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
  mode: GenerateMode<I>;
  /** Send a preview every this many steps; 0 turns previews off. @default 0 */
  previewEvery: number;
  /**
   * A1111's "Clip skip" (1–12): the prompt is encoded with the text encoder's hidden state `clipSkip` layers from
   * the end, then its final layer norm. Left out (stored jobs from before it existed) means 1. @default 1
   */
  clipSkip?: number;
  /**
   * Translate Chinese (Han) parts of the prompt and negative prompt to English before encoding, when the model
   * does not read Chinese (imagine-bot.json `languages`) and the translator is installed (docs/translation.md).
   * Left out means true. @default true
   */
  translate?: boolean;
  /** ControlNet units (issue #15); left out or empty: no ControlNet. */
  controls?: ControlUnit<I>[];
}

/** A request as the bot stores it: input images by reference. */
export type JobRequest = GenerateRequest<ImageRef>;

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
  /** The map each ControlNet unit saw (after preprocessing, at the request's size), in `controls` order. */
  controlMaps?: Preview[];
  /** The English the model was given, for the parts that were translated (shown as "🌐 …" with the result). */
  translations?: PromptTranslations;
}

/** Translated prompts; a side that had nothing to translate is left out. */
export interface PromptTranslations {
  prompt?: string;
  negativePrompt?: string;
}

/** Per-model defaults, read from `imagine-bot.json` in the model folder. */
export interface ModelDefaults {
  sampler?: SamplerName;
  steps?: number;
  cfg?: number;
  width?: number;
  height?: number;
  negativePrompt?: string;
  /** Clip skip for this model (anime models trained on NovelAI-style conditioning want 2). */
  clipSkip?: number;
}

/** One installed model as the worker reports it. */
export interface ModelSummary {
  name: string;
  family: string;
  hasVaeEncoder: boolean;
  hasPreviewDecoder: boolean;
  /** ControlNets the model ships (`controlnet/<name>/`), usable in a request's `controls`; optional for older workers. */
  controlNets?: string[];
  defaults: ModelDefaults;
  /** [width, height] when the model only draws one size (a fixed-shape UNet export). */
  fixedSize?: [number, number];
  /** img2img strengths of Vary (Subtle) and Vary (Strong), from imagine-bot.json; unset uses REQUEST_DEFAULTS.vary. */
  variation?: { subtle: number; strong: number };
}

// ---- the schema ------------------------------------------------------------------------------------------

type Range = { readonly min: number; readonly max: number };

const wholeNumber = (label: string, { min, max }: Range) =>
  z.number().refine((v) => Number.isInteger(v) && v >= min && v <= max, {
    error: (issue) => `${label} must be a whole number from ${min} to ${max}; got ${String(issue.input)}.`,
  });

const numberIn = (label: string, { min, max }: Range) =>
  z.number().refine((v) => Number.isFinite(v) && v >= min && v <= max, {
    error: (issue) => `${label} must be from ${min} to ${max}; got ${String(issue.input)}.`,
  });

const side = (label: string) => {
  const { min, max, multiple } = REQUEST_BOUNDS.side;
  return z.number().superRefine((v, ctx) => {
    if (!Number.isInteger(v) || v % multiple !== 0) {
      ctx.addIssue({
        code: 'custom',
        message: `${label} must be a multiple of ${multiple}; got ${v} (try ${Math.max(multiple, Math.round(v / multiple) * multiple)}).`,
      });
    } else if (v < min || v > max) {
      ctx.addIssue({ code: 'custom', message: `${label} must be from ${min} to ${max} pixels; got ${v}.` });
    }
  });
};

const strength = z.number().refine((v) => v > 0 && v <= 1, {
  error: (issue) => `Strength must be greater than 0 and at most 1; got ${String(issue.input)}.`,
});

// Structured clone (fork's advanced serialization) delivers Buffers and Uint8Arrays as Uint8Array.
export const BytesSchema = z.custom<Uint8Array>((value) => value instanceof Uint8Array, 'Expected image bytes (a Uint8Array)');

/** A DATA_DIR-relative path that cannot leave DATA_DIR: no absolute paths, no `..`, no backslashes. */
export const ImageRefSchema = z.object({
  ref: z
    .string()
    .regex(/^(outputs|inputs)\/[\w-]+(\/[\w.-]+)+$/, 'Expected a stored image reference such as outputs/<job>/0.png')
    .refine((ref) => !ref.split('/').includes('..'), 'A stored image reference cannot contain ..'),
});

function requestSchema<I extends z.ZodType>(image: I) {
  const seed = wholeNumber('Seed', REQUEST_BOUNDS.seed);
  return z.object({
    model: z.string().min(1, 'Name a model.'),
    prompt: z.string().max(REQUEST_BOUNDS.promptChars, `The prompt is over ${REQUEST_BOUNDS.promptChars} characters; shorten it.`),
    negativePrompt: z
      .string()
      .max(REQUEST_BOUNDS.negativeChars, `The negative prompt is over ${REQUEST_BOUNDS.negativeChars} characters; shorten it.`),
    steps: wholeNumber('Steps', REQUEST_BOUNDS.steps),
    cfg: numberIn('CFG scale', REQUEST_BOUNDS.cfg),
    sampler: z.enum(SAMPLER_NAMES),
    width: side('Width'),
    height: side('Height'),
    count: wholeNumber('Count', REQUEST_BOUNDS.count),
    seed: seed.optional(),
    mode: z.discriminatedUnion('kind', [
      z.object({ kind: z.literal('txt2img') }),
      z.object({ kind: z.literal('img2img'), image, strength }),
      z.object({
        kind: z.literal('variation'),
        subseed: wholeNumber('Variation seed', REQUEST_BOUNDS.seed),
        strength: numberIn('Variation strength', { min: 0, max: 1 }),
      }),
      z.object({ kind: z.literal('upscale'), image, strength }),
      z.object({
        kind: z.literal('inpaint'),
        image,
        mask: image,
        strength,
        maskBlur: wholeNumber('Mask blur', { min: 0, max: 64 }),
        fill: z.enum(MASKED_CONTENT),
        area: z.enum(['whole', 'only-masked']),
        padding: wholeNumber('Only-masked padding', { min: 0, max: 256 }),
      }),
      z
        .object({
          kind: z.literal('outpaint'),
          image,
          strength,
          zoom: numberIn('Zoom out', { min: 1.1, max: 4 }).optional(),
          pan: z.enum(PAN_DIRECTIONS).optional(),
        })
        .refine((m) => (m.zoom === undefined) !== (m.pan === undefined), 'Give either a zoom-out factor or a pan direction.'),
    ]),
    previewEvery: wholeNumber('previewEvery', { min: 0, max: REQUEST_BOUNDS.steps.max }),
    // Optional, not .default(): jobs stored before clip skip existed must still read as the same request.
    clipSkip: wholeNumber('Clip skip', REQUEST_BOUNDS.clipSkip).optional(),
    // Optional for the same reason: stored jobs from before translation read as "translate".
    translate: z.boolean().optional(),
    controls: z
      .array(
        z
          .object({
            net: z.string().min(1, "Name the ControlNet (a folder under the model's controlnet/)."),
            image,
            strength: numberIn('ControlNet strength', REQUEST_BOUNDS.controlStrength),
            preprocess: z.enum(CONTROL_PREPROCESSORS),
            cannyLow: numberIn('Canny low threshold', REQUEST_BOUNDS.cannyThreshold).optional(),
            cannyHigh: numberIn('Canny high threshold', REQUEST_BOUNDS.cannyThreshold).optional(),
          })
          .refine(
            (u) => (u.cannyLow ?? REQUEST_DEFAULTS.control.cannyLow) <= (u.cannyHigh ?? REQUEST_DEFAULTS.control.cannyHigh),
            'The Canny low threshold must not be above the high one.',
          ),
      )
      .max(REQUEST_BOUNDS.controls.max, `At most ${REQUEST_BOUNDS.controls.max} ControlNet units per image.`)
      .optional(),
  });
}

/** A request with image bytes: what crosses to the worker and what the engine runs. */
export const GenerateRequestSchema = requestSchema(BytesSchema);
/** A request with stored image references: what the bot stores and queues. */
export const JobRequestSchema = requestSchema(ImageRefSchema);

const IDENTIFIER_BY_FIELD: Record<string, Identifier> = {
  steps: Identifiers.StepsOutOfRange,
  width: Identifiers.InvalidSize,
  height: Identifiers.InvalidSize,
  sampler: Identifiers.UnknownSampler,
  prompt: Identifiers.PromptTooLong,
  negativePrompt: Identifiers.PromptTooLong,
};

/** The first problem of a failed parse as a UserError whose message says what to change. */
function toUserError(error: z.ZodError): UserError {
  const issue = error.issues[0];
  const field = String(issue.path[0] ?? '');
  const custom = issue.code === 'custom' || issue.code === 'too_big' || issue.code === 'too_small';
  const message = custom ? issue.message : `Invalid request: ${issue.path.join('.') || '(root)'}: ${issue.message}.`;
  return new UserError(IDENTIFIER_BY_FIELD[field] ?? Identifiers.InvalidArgument, message, { field });
}

/** Checks a request against the contract; throws a UserError naming the first problem. */
export function checkGenerateRequest(value: unknown): GenerateRequest {
  const parsed = GenerateRequestSchema.safeParse(value);
  if (!parsed.success) throw toUserError(parsed.error);
  return parsed.data as GenerateRequest;
}

/** Same for a stored job's request. */
export function checkJobRequest(value: unknown): JobRequest {
  const parsed = JobRequestSchema.safeParse(value);
  if (!parsed.success) throw toUserError(parsed.error);
  return parsed.data as JobRequest;
}
