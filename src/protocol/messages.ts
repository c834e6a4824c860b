import { z } from 'zod';
import { SAMPLER_NAMES, type EngineOptions, type GenerateRequest, type GenerateResult, type ModelSummary } from '../inference/types.js';
import { SerializedErrorSchema } from './serialized-error.js';

/**
 * Bumped whenever a message changes shape. The worker refuses an `init` with another version, so a bot and a
 * worker from different checkouts fail the handshake loudly instead of misreading each other.
 */
export const PROTOCOL_VERSION = 1;

// Structured clone (fork's advanced serialization) delivers Buffers and Uint8Arrays as Uint8Array.
const Bytes = z.custom<Uint8Array>((value) => value instanceof Uint8Array, 'Expected a Uint8Array');
const NonNegativeInt = z.number().int().nonnegative();
const PositiveInt = z.number().int().positive();
const JobId = z.string().min(1).max(128);

// The protocol checks shape only. Semantic limits (sizes divisible by 8, steps 1..150, known model) belong to
// the engine, which answers with a UserError; a bad value must not look like a protocol fault and restart the worker.
export const GenerateModeSchema = z.discriminatedUnion('kind', [
  z.object({ kind: z.literal('txt2img') }),
  z.object({ kind: z.literal('img2img'), image: Bytes, strength: z.number() }),
  z.object({ kind: z.literal('variation'), subseed: NonNegativeInt, strength: z.number() }),
  z.object({ kind: z.literal('upscale'), image: Bytes, strength: z.number() }),
]);

export const GenerateRequestSchema = z.object({
  model: z.string(),
  prompt: z.string(),
  negativePrompt: z.string(),
  steps: PositiveInt,
  cfg: z.number(),
  sampler: z.enum(SAMPLER_NAMES),
  width: PositiveInt,
  height: PositiveInt,
  count: PositiveInt,
  seed: NonNegativeInt.optional(),
  mode: GenerateModeSchema,
  previewEvery: NonNegativeInt,
});

export const EngineOptionsSchema = z.object({
  modelsDir: z.string(),
  executionProvider: z.string().optional(),
  deviceId: NonNegativeInt.optional(),
  threads: NonNegativeInt.optional(),
  memoryBudgetMiB: z.number().positive().optional(),
});

const ModelSummarySchema = z.object({
  name: z.string(),
  path: z.string(),
  family: z.string(),
  hasVaeEncoder: z.boolean(),
  hasPreviewDecoder: z.boolean(),
  defaults: z.object({
    sampler: z.enum(SAMPLER_NAMES).optional(),
    steps: z.number().optional(),
    cfg: z.number().optional(),
    width: z.number().optional(),
    height: z.number().optional(),
    negativePrompt: z.string().optional(),
  }),
});

const GeneratedImageSchema = z.object({
  png: Bytes,
  seed: NonNegativeInt,
  width: PositiveInt,
  height: PositiveInt,
  parameters: z.string(),
});

const TimingsSchema = z.object({
  totalMs: z.number().nonnegative(),
  inferenceMs: z.number().nonnegative(),
  previewMs: z.number().nonnegative(),
  loadMs: z.number().nonnegative(),
});

/** Bot → worker. */
export const BotMessageSchema = z.discriminatedUnion('type', [
  z.object({ type: z.literal('init'), protocolVersion: z.number().int(), options: EngineOptionsSchema }),
  z.object({ type: z.literal('generate'), jobId: JobId, request: GenerateRequestSchema }),
  z.object({ type: z.literal('cancel'), jobId: JobId }),
  z.object({ type: z.literal('shutdown') }),
]);
export type BotMessage = z.infer<typeof BotMessageSchema>;

/** Worker → bot. */
export const WorkerMessageSchema = z.discriminatedUnion('type', [
  z.object({
    type: z.literal('ready'),
    protocolVersion: z.number().int(),
    models: z.array(ModelSummarySchema),
    samplers: z.array(z.string()),
    executionProvider: z.string(),
  }),
  z.object({ type: z.literal('init-failed'), error: SerializedErrorSchema }),
  z.object({
    type: z.literal('progress'),
    jobId: JobId,
    step: NonNegativeInt,
    total: NonNegativeInt,
    image: NonNegativeInt,
    preview: z.object({ png: Bytes, width: PositiveInt, height: PositiveInt }).optional(),
  }),
  z.object({
    type: z.literal('result'),
    jobId: JobId,
    images: z.array(GeneratedImageSchema).min(1),
    seed: NonNegativeInt,
    warnings: z.array(z.string()),
    timings: TimingsSchema,
  }),
  z.object({ type: z.literal('failed'), jobId: JobId, error: SerializedErrorSchema }),
]);
export type WorkerMessage = z.infer<typeof WorkerMessageSchema>;

export type MessageOf<U extends { type: string }, T extends U['type']> = Extract<U, { type: T }>;

// Compile-time checks that the wire schemas and the engine contract (src/inference/types.ts) describe the same
// shapes. If someone adds a field to GenerateRequest, this stops compiling until the schema follows.
type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;
const requestMatches: Same<z.infer<typeof GenerateRequestSchema>, GenerateRequest> = true;
const optionsMatch: Same<z.infer<typeof EngineOptionsSchema>, EngineOptions> = true;
const modelsMatch: Same<z.infer<typeof ModelSummarySchema>, ModelSummary> = true;
const resultMatches: Same<Omit<MessageOf<WorkerMessage, 'result'>, 'type' | 'jobId'>, GenerateResult> = true;
void [requestMatches, optionsMatch, modelsMatch, resultMatches];
