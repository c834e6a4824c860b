/**
 * The scheduler registry. Two ways in:
 * - `createScheduler(sampler, rawConfig)`: what the pipeline uses. The user's sampler name picks the algorithm; the
 *   model's scheduler_config.json (whatever class wrote it, e.g. SD1.5's PNDMScheduler) supplies the betas, spacing
 *   and offsets, exactly as diffusers' `XScheduler.from_config(pipe.scheduler.config)` does.
 * - `schedulerFromConfig(rawConfig)`: the class named by the config's own `_class_name`.
 */
import { SAMPLER_INFO, SAMPLER_NAMES, type SamplerName } from '../../protocol/samplers.js';
import { DDIMScheduler } from './ddim.js';
import { DPMSolverMultistepScheduler } from './dpm-solver-multistep.js';
import { EulerAncestralDiscreteScheduler } from './euler-ancestral-discrete.js';
import { EulerDiscreteScheduler } from './euler-discrete.js';
import { LCMScheduler } from './lcm.js';
import type { Scheduler, SchedulerConfig } from './scheduler.js';
import { parseSchedulerConfig, SCHEDULER_CLASS_NAMES, SchedulerConfigError, type SchedulerClassName } from './scheduler-config.js';

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

/** The algorithm behind each sampler name; Karras and the display name are part of the shared contract (SAMPLER_INFO). */
const SAMPLER_CLASSES: Readonly<Record<SamplerName, SchedulerClassName>> = {
  euler: 'EulerDiscreteScheduler',
  euler_a: 'EulerAncestralDiscreteScheduler',
  dpmpp_2m: 'DPMSolverMultistepScheduler',
  dpmpp_2m_karras: 'DPMSolverMultistepScheduler',
  ddim: 'DDIMScheduler',
  lcm: 'LCMScheduler',
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
  const className = SAMPLER_CLASSES[sampler];
  if (className === undefined) {
    throw new TypeError(`Expected \`sampler\` to be one of ${SAMPLER_NAMES.join(', ')}, got \`${String(sampler)}\``);
  }
  const { config, unknownKeys } = parseSchedulerConfig(rawConfig, className);
  config.useKarrasSigmas = SAMPLER_INFO[sampler].karras;
  return { scheduler: new SCHEDULERS[className](config), unknownKeys };
}

/**
 * Build the class the config names in `_class_name`, with its `use_karras_sigmas` as written. Throws
 * SchedulerConfigError when the class is missing or not one we implement (e.g. PNDMScheduler): pick a sampler with
 * `createScheduler` instead.
 */
export function schedulerFromConfig(rawConfig: unknown): CreatedScheduler {
  const className = typeof rawConfig === 'object' && rawConfig !== null ? (rawConfig as Record<string, unknown>)._class_name : undefined;
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
