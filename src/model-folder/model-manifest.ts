import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { z } from 'zod';
import { ModelLoadError } from '../errors.js';
import { SAMPLER_NAMES } from '../protocol/samplers.js';
import { REQUEST_BOUNDS, type ModelDefaults } from '../protocol/generate-request.js';

/** Name of the optional per-model settings file inside a model folder. */
export const MANIFEST_FILE = 'imagine-bot.json';

const side = z.number().int().min(REQUEST_BOUNDS.side.min).max(REQUEST_BOUNDS.side.max).multipleOf(REQUEST_BOUNDS.side.multiple);

/** Families the engine tells apart: CLIP pad token, text width and preview matrix differ between them. */
export const MODEL_FAMILIES = ['sd1', 'sd2', 'sdxl', 'pixel'] as const;
export type ModelFamily = (typeof MODEL_FAMILIES)[number];

/**
 * `imagine-bot.json`: what the diffusers layout does not say about a model. Written by `models:pull` for known
 * repositories and by the training pipeline for the bundled model; editable by hand. Every field is optional.
 */
export const modelManifestSchema = z
  .object({
    /** Model family; selects the tokenizer pad id and the latent-to-RGB preview matrix. */
    family: z.enum(MODEL_FAMILIES).optional(),
    /**
     * [width, height] when the UNet was exported for one size only. The bot reads it before queueing, so a job
     * is never queued at a size the model cannot draw; the engine checks it against the UNet when loading.
     */
    fixedSize: z.tuple([side, side]).optional(),
    /** Used when neither the user nor the guild set a value. */
    defaults: z
      .object({
        sampler: z.enum(SAMPLER_NAMES).optional(),
        steps: z.number().int().min(REQUEST_BOUNDS.steps.min).max(REQUEST_BOUNDS.steps.max).optional(),
        cfg: z.number().min(REQUEST_BOUNDS.cfg.min).max(REQUEST_BOUNDS.cfg.max).optional(),
        width: side.optional(),
        height: side.optional(),
        negativePrompt: z.string().max(REQUEST_BOUNDS.negativeChars).optional(),
        clipSkip: z.number().int().min(REQUEST_BOUNDS.clipSkip.min).max(REQUEST_BOUNDS.clipSkip.max).optional(),
      })
      .strict()
      .default({}),
    /**
     * img2img strengths of the Vary (Subtle) and Vary (Strong) buttons for this model: how much of a finished image
     * is redrawn. Models differ in how much a given strength changes (measure with `npm run imagine -- --init`).
     */
    variation: z
      .object({ subtle: z.number().gt(0).max(1), strong: z.number().gt(0).max(1) })
      .strict()
      .refine((v) => v.subtle < v.strong, 'variation.subtle must be below variation.strong.')
      .optional(),
    /**
     * Words the model was trained on. When present, prompt words outside it are reported to the user
     * ("the model does not know: …") instead of being silently ignored. Chinese runs (written without spaces) are
     * split into these words by longest match (inference/prompt/unknown-words.ts), so list Chinese words as such.
     */
    knownWords: z.array(z.string().min(1)).optional(),
    /**
     * Languages the model's text encoder reads, as ISO 639-1 codes (`["en", "zh"]`). A model listing "zh" gets
     * Chinese prompts as typed; the others have them translated to English first (docs/translation.md).
     * @default ["en"]
     */
    languages: z
      .array(z.string().regex(/^[a-z]{2,3}(-[A-Za-z0-9]+)?$/, 'a language code such as "en" or "zh"'))
      .min(1)
      .optional(),
    /**
     * Latent-to-RGB preview for models whose family has no built-in matrix: one [r, g, b] row per latent channel,
     * applied to the predicted clean latent, then `clamp(rgb * 0.5 + 0.5, 0, 1)`.
     */
    preview: z
      .object({
        latentRgbFactors: z.array(z.tuple([z.number(), z.number(), z.number()])).min(1),
        bias: z.tuple([z.number(), z.number(), z.number()]).optional(),
      })
      .strict()
      .optional(),
    /** Where the model came from (models:pull writes the hub repository and revision). */
    source: z.object({ repo: z.string(), revision: z.string().optional() }).strict().optional(),
  })
  .strict();

export type ModelManifest = z.infer<typeof modelManifestSchema>;

/**
 * Read `imagine-bot.json` from a model folder. A missing file is an empty manifest; a malformed one is a
 * `ModelLoadError` naming the file and the offending field.
 */
export async function readModelManifest(modelDir: string): Promise<ModelManifest> {
  const file = path.join(modelDir, MANIFEST_FILE);
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return { defaults: {} };
    throw new ModelLoadError(`Cannot read ${file}: ${(error as Error).message}`, file, { cause: error });
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    throw new ModelLoadError(`${file} is not valid JSON: ${(error as Error).message}`, file, { cause: error });
  }
  const parsed = modelManifestSchema.safeParse(json);
  if (!parsed.success) {
    const issues = parsed.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; ');
    throw new ModelLoadError(`${file} is invalid: ${issues}`, file);
  }
  return parsed.data;
}

/** The manifest's defaults, typed as the engine contract's `ModelDefaults`. */
export function manifestDefaults(manifest: ModelManifest): ModelDefaults {
  return { ...manifest.defaults };
}
