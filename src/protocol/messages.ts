import { z } from 'zod';
import { EngineOptionsSchema, type EngineOptions } from './engine-options.js';
import { BytesSchema, GenerateRequestSchema, type GenerateRequest, type GenerateResult, type ModelSummary } from './generate-request.js';
import { SAMPLER_NAMES } from './samplers.js';
import { SerializedErrorSchema } from './serialized-error.js';

/**
 * Bumped whenever a message changes shape. The worker refuses an `init` with another version, so a bot and a
 * worker from different checkouts fail the handshake loudly instead of misreading each other.
 */
export const PROTOCOL_VERSION = 3;

const NonNegativeInt = z.number().int().nonnegative();
const PositiveInt = z.number().int().positive();
const JobId = z.string().min(1).max(128);

const ModelSummarySchema = z.object({
  name: z.string(),
  family: z.string(),
  hasVaeEncoder: z.boolean(),
  hasPreviewDecoder: z.boolean(),
  controlNets: z.array(z.string()).optional(),
  defaults: z.object({
    sampler: z.enum(SAMPLER_NAMES).optional(),
    steps: z.number().optional(),
    cfg: z.number().optional(),
    width: z.number().optional(),
    height: z.number().optional(),
    negativePrompt: z.string().optional(),
  }),
  fixedSize: z.tuple([PositiveInt, PositiveInt]).optional(),
});

const GeneratedImageSchema = z.object({
  png: BytesSchema,
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
    preview: z.object({ png: BytesSchema, width: PositiveInt, height: PositiveInt }).optional(),
  }),
  z.object({
    type: z.literal('result'),
    jobId: JobId,
    images: z.array(GeneratedImageSchema).min(1),
    seed: NonNegativeInt,
    warnings: z.array(z.string()),
    timings: TimingsSchema,
    translations: z.object({ prompt: z.string().optional(), negativePrompt: z.string().optional() }).optional(),
    controlMaps: z.array(z.object({ png: BytesSchema, width: PositiveInt, height: PositiveInt })).optional(),
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
