/**
 * scheduler_config.json -> SchedulerConfig. The JSON is diffusers' snake_case; it is mapped to camelCase here, once.
 *
 * Like diffusers' `from_config`, a key missing from the JSON takes the default of the class being built, not of the
 * class that wrote the file: SD1.5 ships a PNDMScheduler config without `timestep_spacing`, which gives `leading`
 * to DDIM and LCM but `linspace` to Euler and DPM-Solver. Per-class defaults that differ (diffusers 0.3x):
 *
 * | key                 | Euler, Euler a | DPM-Solver | DDIM    | LCM           |
 * | ------------------- | -------------- | ---------- | ------- | ------------- |
 * | beta_start/end      | 1e-4 / 0.02    | same       | same    | 8.5e-4/0.012  |
 * | beta_schedule       | linear         | linear     | linear  | scaled_linear |
 * | timestep_spacing    | linspace       | linspace   | leading | leading       |
 * | clip_sample         | –              | –          | true    | false         |
 * | set_alpha_to_one    | –              | –          | true    | true          |
 * | eta (ours)          | 1 (Euler a)    | –          | 0       | –             |
 *
 * Keys diffusers knows but we do not implement are accepted silently while they hold the value that makes them a
 * no-op (`thresholding: false`, `solver_order: 2`, …); any other value, and any key we have never heard of, comes
 * back in `unknownKeys` for the caller to log, as diffusers logs "config attributes … will be ignored".
 */
import { z } from 'zod';
import type { SchedulerConfig } from './scheduler.js';

/** The diffusers scheduler classes we implement, by their `_class_name`. */
export const SCHEDULER_CLASS_NAMES = [
  'EulerDiscreteScheduler',
  'EulerAncestralDiscreteScheduler',
  'DPMSolverMultistepScheduler',
  'DDIMScheduler',
  'LCMScheduler',
] as const;
export type SchedulerClassName = (typeof SCHEDULER_CLASS_NAMES)[number];

/** A scheduler_config.json value we cannot use. The model loader wraps it in a ModelLoadError naming the file. */
export class SchedulerConfigError extends Error {
  override readonly name = 'SchedulerConfigError';
  constructor(
    message: string,
    /** One entry per bad key. */
    readonly issues: readonly { key: string; message: string }[],
  ) {
    super(message);
  }
}

const BETA_SCHEDULES = ['linear', 'scaled_linear', 'squaredcos_cap_v2'] as const;
const PREDICTION_TYPES = ['epsilon', 'v_prediction', 'sample'] as const;
const SPACINGS = ['leading', 'linspace', 'trailing'] as const;
const FINAL_SIGMAS = ['zero', 'sigma_min'] as const;

/**
 * One entry per key we apply: its zod schema and, for error messages, the values it allows in words. `null` is
 * accepted where diffusers writes it (`"trained_betas": null`) and means "use the default".
 */
const KEYS = {
  num_train_timesteps: { schema: z.number().int().min(2), allowed: 'an integer ≥ 2' },
  beta_start: { schema: z.number().gt(0).lt(1), allowed: 'a number between 0 and 1 (exclusive)' },
  beta_end: { schema: z.number().gt(0).lt(1), allowed: 'a number between 0 and 1 (exclusive)' },
  beta_schedule: { schema: z.enum(BETA_SCHEDULES), allowed: quoted(BETA_SCHEDULES) },
  trained_betas: {
    schema: z.array(z.number().gt(0).lt(1)).min(2).nullable(),
    allowed: 'null or an array of at least 2 numbers between 0 and 1 (exclusive)',
  },
  prediction_type: { schema: z.enum(PREDICTION_TYPES), allowed: quoted(PREDICTION_TYPES) },
  timestep_spacing: { schema: z.enum(SPACINGS), allowed: quoted(SPACINGS) },
  steps_offset: { schema: z.number().int().min(0), allowed: 'an integer ≥ 0' },
  set_alpha_to_one: { schema: z.boolean(), allowed: 'true or false' },
  clip_sample: { schema: z.boolean(), allowed: 'true or false' },
  clip_sample_range: { schema: z.number().gt(0), allowed: 'a number > 0' },
  use_karras_sigmas: { schema: z.boolean().nullable(), allowed: 'true, false or null' },
  original_inference_steps: { schema: z.number().int().min(1), allowed: 'an integer ≥ 1' },
  timestep_scaling: { schema: z.number().gt(0), allowed: 'a number > 0' },
  final_sigmas_type: { schema: z.enum(FINAL_SIGMAS), allowed: quoted(FINAL_SIGMAS) },
  lower_order_final: { schema: z.boolean(), allowed: 'true or false' },
  rescale_betas_zero_snr: { schema: z.boolean(), allowed: 'true or false' },
  eta: { schema: z.number().min(0), allowed: 'a number ≥ 0' },
} as const;
type Key = keyof typeof KEYS;

/** The zod schema over scheduler_config.json: every key optional, unknown keys kept so we can report them. */
export const schedulerConfigJsonSchema = z.looseObject(
  Object.fromEntries(Object.entries(KEYS).map(([k, v]) => [k, v.schema.optional()])) as {
    [K in Key]: z.ZodOptional<(typeof KEYS)[K]['schema']>;
  },
);
export type SchedulerConfigJson = z.infer<typeof schedulerConfigJsonSchema>;

/** Bookkeeping keys diffusers writes into every config. */
const META_KEYS = new Set(['_class_name', '_diffusers_version']);

/**
 * diffusers keys we do not implement, with the value(s) under which ignoring them changes nothing. PNDM's
 * `skip_prk_steps` and the thresholding knobs only matter to code paths we do not have, whatever their value.
 */
const NEUTRAL_KEYS: Record<string, (value: unknown) => boolean> = {
  skip_prk_steps: () => true,
  thresholding: (v) => v === false,
  dynamic_thresholding_ratio: () => true,
  sample_max_value: () => true,
  solver_order: (v) => v === 2,
  algorithm_type: (v) => v === 'dpmsolver++',
  solver_type: (v) => v === 'midpoint',
  euler_at_final: (v) => v === false,
  use_lu_lambdas: (v) => v === false,
  use_exponential_sigmas: (v) => v === false,
  use_beta_sigmas: (v) => v === false,
  use_flow_sigmas: (v) => v === false,
  use_dynamic_shifting: (v) => v === false,
  flow_shift: (v) => v === 1,
  time_shift_type: () => true,
  lambda_min_clipped: (v) => v === null || (typeof v === 'number' && !Number.isFinite(v)),
  variance_type: (v) => v === null,
  interpolation_type: (v) => v === 'linear',
  timestep_type: (v) => v === 'discrete',
  sigma_min: (v) => v === null,
  sigma_max: (v) => v === null,
};

/** diffusers' defaults shared by every class we ship. */
const COMMON_DEFAULTS: SchedulerConfig = {
  numTrainTimesteps: 1000,
  betaStart: 0.0001,
  betaEnd: 0.02,
  betaSchedule: 'linear',
  predictionType: 'epsilon',
  timestepSpacing: 'linspace',
  stepsOffset: 0,
  setAlphaToOne: true,
  clipSample: false,
  clipSampleRange: 1,
  useKarrasSigmas: false,
  originalInferenceSteps: 50,
  timestepScaling: 10,
  eta: 0,
  finalSigmasType: 'zero',
  lowerOrderFinal: true,
  rescaleBetasZeroSnr: false,
};

/** Per-class differences from COMMON_DEFAULTS (see the table at the top of this file). */
const CLASS_DEFAULTS: Record<SchedulerClassName, Partial<SchedulerConfig>> = {
  EulerDiscreteScheduler: {},
  EulerAncestralDiscreteScheduler: { eta: 1 },
  DPMSolverMultistepScheduler: {},
  DDIMScheduler: { timestepSpacing: 'leading', clipSample: true },
  LCMScheduler: { betaStart: 0.00085, betaEnd: 0.012, betaSchedule: 'scaled_linear', timestepSpacing: 'leading' },
};

/** The complete default config diffusers gives `className` when its JSON is empty. */
export function defaultSchedulerConfig(className: SchedulerClassName): SchedulerConfig {
  return { ...COMMON_DEFAULTS, ...CLASS_DEFAULTS[className] };
}

export interface ParsedSchedulerConfig {
  config: SchedulerConfig;
  /** Keys present in the JSON that we do not apply, for the caller to log. */
  unknownKeys: string[];
}

/**
 * Validate `raw` (the parsed scheduler_config.json) and fill the gaps with `className`'s defaults. Throws
 * SchedulerConfigError naming every bad key and the values it allows.
 */
export function parseSchedulerConfig(raw: unknown, className: SchedulerClassName): ParsedSchedulerConfig {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
    throw new SchedulerConfigError('scheduler_config.json must hold a JSON object', [{ key: '(root)', message: 'expected an object' }]);
  }
  // One safeParse reports every bad key at once, so a broken model folder is fixed in one edit, not one per run.
  const parsed = schedulerConfigJsonSchema.safeParse(raw);
  if (!parsed.success) {
    const issues = dedupe(
      parsed.error.issues.map((issue) => {
        const key = String(issue.path[0] ?? '(root)');
        const allowed = key in KEYS ? KEYS[key as Key].allowed : 'a valid value';
        const got = JSON.stringify((raw as Record<string, unknown>)[key]);
        return { key, message: `"${key}" is ${got ?? 'undefined'}; use ${allowed}` };
      }),
    );
    throw new SchedulerConfigError(`Invalid scheduler_config.json: ${issues.map((i) => i.message).join('; ')}`, issues);
  }
  const json = parsed.data;
  // Start from the target class's defaults and overwrite with what the file says: diffusers' from_config order.
  const config = defaultSchedulerConfig(className);
  // Map each applied key; `null` (and absence) keeps the class default.
  // `set` is the single snake_case -> camelCase mapping point (STYLE.md: snake_case only at the JSON edge).
  const set = <K extends keyof SchedulerConfig>(key: K, value: SchedulerConfig[K] | null | undefined) => {
    if (value !== undefined && value !== null) config[key] = value;
  };
  set('numTrainTimesteps', json.num_train_timesteps);
  set('betaStart', json.beta_start);
  set('betaEnd', json.beta_end);
  set('betaSchedule', json.beta_schedule);
  set('trainedBetas', json.trained_betas);
  set('predictionType', json.prediction_type);
  set('timestepSpacing', json.timestep_spacing);
  set('stepsOffset', json.steps_offset);
  set('setAlphaToOne', json.set_alpha_to_one);
  set('clipSample', json.clip_sample);
  set('clipSampleRange', json.clip_sample_range);
  set('useKarrasSigmas', json.use_karras_sigmas);
  set('originalInferenceSteps', json.original_inference_steps);
  set('timestepScaling', json.timestep_scaling);
  set('finalSigmasType', json.final_sigmas_type);
  set('lowerOrderFinal', json.lower_order_final);
  set('rescaleBetasZeroSnr', json.rescale_betas_zero_snr);
  set('eta', json.eta);
  checkConsistency(config);

  // Unknown keys never fail the load (configs from newer diffusers add keys all the time); they are only reported,
  // and a known-but-unimplemented key is reported only when its value would have changed the result.
  const unknownKeys = Object.entries(raw).flatMap(([key, value]) => {
    if (key in KEYS || META_KEYS.has(key)) return [];
    const neutral = NEUTRAL_KEYS[key];
    return neutral?.(value) ? [] : [key];
  });
  return { config, unknownKeys };
}

/** Cross-key rules a per-key schema cannot express. */
function checkConsistency(config: SchedulerConfig): void {
  const issues: { key: string; message: string }[] = [];
  if (config.trainedBetas !== undefined && config.trainedBetas.length !== config.numTrainTimesteps) {
    issues.push({
      key: 'trained_betas',
      message: `"trained_betas" has ${config.trainedBetas.length} values but "num_train_timesteps" is ${config.numTrainTimesteps}; make them agree`,
    });
  }
  if (config.originalInferenceSteps > config.numTrainTimesteps) {
    issues.push({
      key: 'original_inference_steps',
      message: `"original_inference_steps" (${config.originalInferenceSteps}) must not exceed "num_train_timesteps" (${config.numTrainTimesteps})`,
    });
  }
  if (issues.length > 0) {
    throw new SchedulerConfigError(`Invalid scheduler_config.json: ${issues.map((i) => i.message).join('; ')}`, issues);
  }
}

function quoted(values: readonly string[]): string {
  return `one of ${values.map((v) => `"${v}"`).join(', ')}`;
}

function dedupe(issues: { key: string; message: string }[]) {
  return issues.filter((issue, i) => issues.findIndex((other) => other.key === issue.key) === i);
}
