import { z } from 'zod';
import { EXECUTION_PROVIDERS, type EngineOptions } from '../protocol/engine-options.js';

/** pino's level names; `silent` turns logging off (tests, benchmarks). */
export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;

/**
 * A bot token is three base64url parts joined by dots (user id, timestamp, HMAC). Checking the shape catches the
 * usual mistakes (pasting the client secret, the application id, or a token with quotes or a `Bot ` prefix)
 * before discord.js turns them into an opaque 401.
 */
const TOKEN_SHAPE = /^[A-Za-z0-9_-]{17,}\.[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{20,}$/;
const SNOWFLAKE = /^\d{17,20}$/;
/** Local worker processes one bot may run (WORKERS, EXECUTION_DEVICE_IDS). */
export const MAX_WORKERS = 16;

const optionalString = z
  .string()
  .transform((value) => value.trim())
  .optional()
  .transform((value) => (value === '' ? undefined : value));

const booleanFlag = z
  .enum(['true', 'false', '1', '0', 'yes', 'no', 'cpu', 'none'], {
    error: 'EXECUTION_PROVIDER_FALLBACK must be cpu (fall back to the CPU) or none (fail fast).',
  })
  .transform((v) => v === 'true' || v === '1' || v === 'yes' || v === 'cpu');

/**
 * The keys every entry point that runs or lists models reads: the bot, the worker it starts, `npm run imagine` and
 * `npm run models:*`. `.env.example` lists them with their defaults; keep them in step.
 */
export const EngineEnvSchema = z.object({
  MODELS_DIR: optionalString.pipe(z.string().default('./models')),
  EMBEDDINGS_DIR: optionalString.pipe(z.string().default('./embeddings')),
  /** The zh→en translator's folder (docs/translation.md); unset means MODELS_DIR/opus-mt-zh-en. */
  TRANSLATOR_DIR: optionalString,
  LORAS_DIR: optionalString.pipe(z.string().default('./loras')),
  DEFAULT_MODEL: optionalString,
  EXECUTION_PROVIDER: optionalString.pipe(
    z
      .string()
      .transform((value) => value.toLowerCase())
      .pipe(z.enum(EXECUTION_PROVIDERS, { error: `EXECUTION_PROVIDER must be one of ${EXECUTION_PROVIDERS.join(', ')}.` }))
      .default('cpu'),
  ),
  EXECUTION_DEVICE_ID: optionalString.pipe(
    z.coerce.number<string>({ error: 'EXECUTION_DEVICE_ID must be a GPU index (0, 1, …).' }).int().min(0).default(0),
  ),
  CPU_THREADS: optionalString.pipe(
    z.coerce.number<string>({ error: 'CPU_THREADS must be a whole number (0 lets onnxruntime decide).' }).int().min(0).default(0),
  ),
  EXECUTION_PROVIDER_FALLBACK: optionalString.pipe(
    z
      .string()
      .transform((value) => value.toLowerCase())
      .pipe(booleanFlag)
      .default(false),
  ),
  MODEL_MEMORY_BUDGET_MIB: optionalString.pipe(
    z.coerce
      .number<string>({ error: 'MODEL_MEMORY_BUDGET_MIB must be a number of MiB, e.g. 8192.' })
      .int()
      .min(64, { error: 'MODEL_MEMORY_BUDGET_MIB must be at least 64 (MiB).' })
      .default(8192),
  ),
  LOG_LEVEL: optionalString.pipe(z.enum(LOG_LEVELS, { error: `LOG_LEVEL must be one of ${LOG_LEVELS.join(', ')}.` }).default('info')),
});

/** Remote workers (docs/scaling.md): the Redis both the bot (coordinator) and `npm run worker` hosts connect to. */
const RedisUrl = optionalString.pipe(
  z
    .url({
      protocol: /^rediss?$/,
      error: 'REDIS_URL must be a redis:// (or rediss://) URL such as redis://127.0.0.1:6379; leave it empty to run local workers only.',
    })
    .optional(),
);

/**
 * Every environment key the bot reads: the engine's keys plus Discord's and the store's. Messages never include the
 * value of DISCORD_TOKEN: zod's default messages would echo it in some cases, so every check on it sets its own.
 */
export const EnvSchema = EngineEnvSchema.extend({
  DISCORD_TOKEN: z
    .string({ error: 'DISCORD_TOKEN is missing: set it to the bot token from the Developer Portal (Bot → Reset Token).' })
    .transform((value) => value.trim())
    .refine((value) => value !== '', {
      error: 'DISCORD_TOKEN is empty: set it to the bot token from the Developer Portal (Bot → Reset Token).',
    })
    .refine((value) => value === '' || TOKEN_SHAPE.test(value), {
      error:
        'DISCORD_TOKEN does not look like a bot token (three dot-separated parts, no quotes, no "Bot " prefix). ' +
        'Copy it again from the Developer Portal (Bot → Reset Token); the client secret is not the token.',
    }),
  DISCORD_API_BASE: optionalString.pipe(
    z
      .url({ protocol: /^https?$/, error: 'DISCORD_API_BASE must be an http(s) URL such as http://127.0.0.1:8080/api.' })
      .refine((value) => !/\/v\d+\/?$/.test(value), {
        error: 'DISCORD_API_BASE must not end in a version (/v10): discord.js appends it. Use e.g. http://127.0.0.1:8080/api.',
      })
      .transform((value) => value.replace(/\/+$/, ''))
      .optional(),
  ),
  DEV_GUILD_ID: optionalString.pipe(
    z
      .string()
      .regex(SNOWFLAKE, { error: 'DEV_GUILD_ID must be a guild id (17 to 20 digits; Developer Mode → right-click the server → Copy Server ID).' })
      .optional(),
  ),
  DATA_DIR: optionalString.pipe(z.string().default('./data')),
  WORKERS: optionalString.pipe(
    z.coerce
      .number<string>({ error: 'WORKERS must be a whole number of local worker processes, e.g. 1 (0 runs none: jobs wait in the queue).' })
      .int({ error: 'WORKERS must be a whole number of local worker processes, e.g. 1 (0 runs none: jobs wait in the queue).' })
      .min(0, { error: 'WORKERS must be 0 or more (0 runs no local worker: jobs wait in the queue).' })
      // Each worker is a process holding its own copy of the models; past a few per host that is a typo, not a plan.
      .max(MAX_WORKERS, { error: `WORKERS must be at most ${MAX_WORKERS}; for one worker per GPU set EXECUTION_DEVICE_IDS (e.g. 0,1) instead.` })
      .default(1),
  ),
  EXECUTION_DEVICE_IDS: optionalString.pipe(
    z
      .string()
      .regex(/^\d+(\s*,\s*\d+)*$/, { error: 'EXECUTION_DEVICE_IDS must be GPU indexes separated by commas, e.g. 0,1 (one worker per GPU).' })
      .transform((value) => value.split(',').map((id) => Number(id.trim())))
      .refine((ids) => new Set(ids).size === ids.length, { error: 'EXECUTION_DEVICE_IDS names a GPU twice; list each index once, e.g. 0,1.' })
      .refine((ids) => ids.length <= MAX_WORKERS, { error: `EXECUTION_DEVICE_IDS may list at most ${MAX_WORKERS} GPUs.` })
      .optional(),
  ),
  REDIS_URL: RedisUrl,
});

export type Env = z.infer<typeof EnvSchema>;
export type EngineEnv = z.infer<typeof EngineEnvSchema>;

/**
 * What `npm run worker` (src/worker/remote-main.ts) reads on a worker host: the engine's keys, its local workers
 * (WORKERS / EXECUTION_DEVICE_IDS, as on the bot), the Redis to serve and a name for this host. No Discord token.
 */
export const RemoteWorkerEnvSchema = EngineEnvSchema.extend({
  REDIS_URL: RedisUrl.pipe(z.string({ error: 'REDIS_URL is missing: set it to the Redis the bot uses, e.g. redis://10.0.0.5:6379.' })),
  WORKER_ID: optionalString.pipe(
    z
      .string({ error: 'WORKER_ID is missing: name this worker host, e.g. WORKER_ID=gpu-box-1 (letters, digits, - and _).' })
      .regex(/^[A-Za-z0-9_-]{1,48}$/, {
        error: 'WORKER_ID must be 1 to 48 letters, digits, - or _ (it names Redis keys and queues), e.g. gpu-box-1.',
      }),
  ),
  WORKERS: EnvSchema.shape.WORKERS,
  EXECUTION_DEVICE_IDS: EnvSchema.shape.EXECUTION_DEVICE_IDS,
});
export type RemoteWorkerEnv = z.infer<typeof RemoteWorkerEnvSchema>;

/** Parses a worker host's environment (`npm run worker`). */
export function parseRemoteWorkerEnv(source: Record<string, string | undefined>): EnvResult<RemoteWorkerEnv> {
  return parseWith(RemoteWorkerEnvSchema, source);
}

export type EnvResult<E = Env> = { ok: true; env: E } | { ok: false; issues: string[] };

/** Parses the bot's environment (normally `process.env`); never throws and never echoes DISCORD_TOKEN. */
export function parseEnv(source: Record<string, string | undefined>): EnvResult {
  return parseWith(EnvSchema, source);
}

/** Parses the engine's keys only, for the command-line tools (no Discord token needed). */
export function parseEngineEnv(source: Record<string, string | undefined>): EnvResult<EngineEnv> {
  return parseWith(EngineEnvSchema, source);
}

/** What the engine is built with, from a parsed environment. */
export function engineOptionsFromEnv(env: EngineEnv): EngineOptions {
  return {
    modelsDir: env.MODELS_DIR,
    embeddingsDir: env.EMBEDDINGS_DIR,
    ...(env.TRANSLATOR_DIR ? { translatorDir: env.TRANSLATOR_DIR } : {}),
    lorasDir: env.LORAS_DIR,
    executionProvider: env.EXECUTION_PROVIDER,
    deviceId: env.EXECUTION_DEVICE_ID,
    threads: env.CPU_THREADS,
    allowCpuFallback: env.EXECUTION_PROVIDER_FALLBACK,
    memoryBudgetMiB: env.MODEL_MEMORY_BUDGET_MIB,
  };
}

/** One local worker the bot runs: its id (logs, /queue) and the GPU its engine uses. */
export interface LocalWorkerSpec {
  id: string;
  deviceId: number;
}

/**
 * The local workers an environment asks for. EXECUTION_DEVICE_IDS wins over WORKERS: one worker per listed GPU,
 * named `gpu<index>`, each engine on its own device. Otherwise WORKERS workers `w0`, `w1`, … all on
 * EXECUTION_DEVICE_ID (several workers on one device: CPU inference, or a GPU with memory to spare). Empty for
 * WORKERS=0.
 */
export function localWorkersFromEnv(env: Pick<Env, 'WORKERS' | 'EXECUTION_DEVICE_IDS' | 'EXECUTION_DEVICE_ID'>): LocalWorkerSpec[] {
  if (env.EXECUTION_DEVICE_IDS) return env.EXECUTION_DEVICE_IDS.map((deviceId) => ({ id: `gpu${deviceId}`, deviceId }));
  return Array.from({ length: env.WORKERS }, (_, index) => ({ id: `w${index}`, deviceId: env.EXECUTION_DEVICE_ID }));
}

function parseWith<S extends z.ZodType>(schema: S, source: Record<string, string | undefined>): EnvResult<z.infer<S>> {
  const parsed = schema.safeParse(source);
  if (parsed.success) return { ok: true, env: parsed.data };
  const issues = parsed.error.issues.map((issue) => {
    const key = issue.path.join('.');
    // Our messages already name the key; zod's fallbacks ("Invalid input") get the key prefixed.
    return issue.message.startsWith(key) ? issue.message : `${key}: ${issue.message}`;
  });
  return { ok: false, issues };
}
