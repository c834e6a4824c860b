import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { z } from 'zod';
import { ModelLoadError } from '../errors.js';
import { SAMPLER_NAMES, type ModelDefaults } from './types.js';

/** Name of the optional per-model settings file inside a model folder. */
export const MANIFEST_FILE = 'imagine-bot.json';

/**
 * `imagine-bot.json`: what the diffusers layout does not say about a model. Written by `models:pull` for known
 * repositories and by the training pipeline for the bundled model; editable by hand. Every field is optional.
 */
export const modelManifestSchema = z
  .object({
    /** Model family; selects the tokenizer pad id and the latent-to-RGB preview matrix. */
    family: z.enum(['sd1', 'sd2', 'sdxl', 'pixel']).optional(),
    /** Used when neither the user nor the guild set a value. */
    defaults: z
      .object({
        sampler: z.enum(SAMPLER_NAMES).optional(),
        steps: z.number().int().min(1).max(150).optional(),
        cfg: z.number().min(0).max(30).optional(),
        width: z.number().int().min(8).max(4096).multipleOf(8).optional(),
        height: z.number().int().min(8).max(4096).multipleOf(8).optional(),
        negativePrompt: z.string().max(2000).optional(),
      })
      .strict()
      .default({}),
    /**
     * Words the model was trained on. When present, prompt words outside it are reported to the user
     * ("the model does not know: …") instead of being silently ignored.
     */
    knownWords: z.array(z.string().min(1)).optional(),
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
    source: z
      .object({ repo: z.string(), revision: z.string().optional() })
      .strict()
      .optional(),
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
