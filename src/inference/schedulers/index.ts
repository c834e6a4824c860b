/**
 * The scheduler registry. Two ways in:
 * - `createScheduler(sampler, rawConfig)`: what the pipeline uses. The user's sampler name picks the algorithm; the
 *   model's scheduler_config.json (whatever class wrote it, e.g. SD1.5's PNDMScheduler) supplies the betas, spacing
 *   and offsets, exactly as diffusers' `XScheduler.from_config(pipe.scheduler.config)` does.
 * - `schedulerFromConfig(rawConfig)`: the class named by the config's own `_class_name`.
 */
import { Identifiers, UserError } from '../../errors.js';
import { SAMPLER_NAMES, type SamplerName } from '../types.js';
import { DDIMScheduler } from './ddim.js';
import { DPMSolverMultistepScheduler } from './dpm-solver-multistep.js';
import { EulerAncestralDiscreteScheduler } from './euler-ancestral-discrete.js';
import { EulerDiscreteScheduler } from './euler-discrete.js';
import { LCMScheduler } from './lcm.js';
import type { Scheduler, SchedulerConfig } from './scheduler.js';
import {
  parseSchedulerConfig,
  SCHEDULER_CLASS_NAMES,
  SchedulerConfigError,
  type SchedulerClassName,
} from './scheduler-config.js';

export type { NoiseSource, Scheduler, SchedulerConfig, SchedulerStepOutput } from './scheduler.js';
export { parseSchedulerConfig, SchedulerConfigError, SCHEDULER_CLASS_NAMES, type SchedulerClassName };
export { DDIMScheduler, DPMSolverMultistepScheduler, EulerAncestralDiscreteScheduler, EulerDiscreteScheduler, LCMScheduler };

export type SchedulerConstructor = new (config: SchedulerConfig) => Scheduler;

/** Keyed by diffusers `_class_name`, so a scheduler_config.json selects its class directly. */
export const SCHEDULERS: Readonly<Record<SchedulerClassName, SchedulerConstructor>> = {
  EulerDiscreteScheduler,
  EulerAncestralDiscreteScheduler,
  DPMSolverMultistepScheduler,
  DDIMScheduler,
  LCMScheduler,
};

/**
 * Per sampler: the class, whether it runs on Karras sigmas, and the AUTOMATIC1111 display name written into PNG
 * parameters. The sampler name decides Karras (overriding `use_karras_sigmas` in the config) so that "Sampler:
 * Euler" in a PNG never describes a Karras run.
 */
const SAMPLERS: Readonly<Record<SamplerName, { className: SchedulerClassName; karras: boolean; display: string }>> = {
  euler: { className: 'EulerDiscreteScheduler', karras: false, display: 'Euler' },
  euler_a: { className: 'EulerAncestralDiscreteScheduler', karras: false, display: 'Euler a' },
  dpmpp_2m: { className: 'DPMSolverMultistepScheduler', karras: false, display: 'DPM++ 2M' },
  dpmpp_2m_karras: { className: 'DPMSolverMultistepScheduler', karras: true, display: 'DPM++ 2M Karras' },
  ddim: { className: 'DDIMScheduler', karras: false, display: 'DDIM' },
  lcm: { className: 'LCMScheduler', karras: false, display: 'LCM' },
};

export interface CreatedScheduler {
  scheduler: Scheduler;
  /** scheduler_config.json keys that were not applied; the caller logs them. */
  unknownKeys: string[];
}

/**
 * Build the scheduler for `sampler`, configured from the model's scheduler_config.json (already JSON-parsed).
 * Throws SchedulerConfigError on a bad config value.
 */
export function createScheduler(sampler: SamplerName, rawConfig: unknown): CreatedScheduler {
  const entry = SAMPLERS[sampler];
  if (entry === undefined) {
    throw new TypeError(`Expected \`sampler\` to be one of ${SAMPLER_NAMES.join(', ')}, got \`${String(sampler)}\``);
  }
  const { config, unknownKeys } = parseSchedulerConfig(rawConfig, entry.className);
  config.useKarrasSigmas = entry.karras;
  return { scheduler: new SCHEDULERS[entry.className](config), unknownKeys };
}

/**
 * Build the class the config names in `_class_name`, with its `use_karras_sigmas` as written. Throws
 * SchedulerConfigError when the class is missing or not one we implement (e.g. PNDMScheduler): pick a sampler with
 * `createScheduler` instead.
 */
export function schedulerFromConfig(rawConfig: unknown): CreatedScheduler {
  const className =
    typeof rawConfig === 'object' && rawConfig !== null ? (rawConfig as Record<string, unknown>)._class_name : undefined;
  if (!isSchedulerClassName(className)) {
    const message = `scheduler_config.json names _class_name ${JSON.stringify(className)}; supported: ${SCHEDULER_CLASS_NAMES.join(', ')}`;
    throw new SchedulerConfigError(message, [{ key: '_class_name', message }]);
  }
  const { config, unknownKeys } = parseSchedulerConfig(rawConfig, className);
  return { scheduler: new SCHEDULERS[className](config), unknownKeys };
}

function isSchedulerClassName(value: unknown): value is SchedulerClassName {
  return typeof value === 'string' && (SCHEDULER_CLASS_NAMES as readonly string[]).includes(value);
}

/** Case, spaces, underscores and hyphens do not matter: "Euler a", "euler_a" and "EULERA" are one name. */
function normalize(name: string): string {
  return name.toLowerCase().replace(/[\s_-]+/g, '');
}

const BY_NORMALIZED_NAME: ReadonlyMap<string, SamplerName> = new Map(
  SAMPLER_NAMES.flatMap((name) => [
    [normalize(name), name] as const,
    [normalize(SAMPLERS[name].display), name] as const,
  ]),
);

/**
 * Our sampler names (`dpmpp_2m_karras`) and A1111 display names (`DPM++ 2M Karras`), case- and space-insensitive.
 * An unknown name is a UserError listing the valid ones.
 */
export function parseSamplerName(input: string): SamplerName {
  const found = BY_NORMALIZED_NAME.get(normalize(input));
  if (found !== undefined) return found;
  const valid = SAMPLER_NAMES.map((name) => `${name} ("${SAMPLERS[name].display}")`).join(', ');
  throw new UserError(Identifiers.UnknownSampler, `Unknown sampler "${input}". Use one of: ${valid}.`, {
    sampler: input,
  });
}

/** The AUTOMATIC1111 display name for PNG parameters: `dpmpp_2m_karras` -> "DPM++ 2M Karras". */
export function samplerDisplayName(name: SamplerName): string {
  return SAMPLERS[name].display;
}
