import { describe, expect, it } from 'vitest';
import { Identifiers, UserError } from '../../../src/errors.js';
import {
  createScheduler,
  DDIMScheduler,
  DPMSolverMultistepScheduler,
  EulerAncestralDiscreteScheduler,
  EulerDiscreteScheduler,
  LCMScheduler,
  parseSamplerName,
  samplerDisplayName,
  SchedulerConfigError,
  schedulerFromConfig,
  SCHEDULERS,
} from '../../../src/inference/schedulers/index.js';
import { SAMPLER_NAMES } from '../../../src/inference/types.js';
import { sd15Config } from './harness.js';

describe('createScheduler', () => {
  it('picks the class from the sampler name and the maths from the model config', () => {
    const cases = [
      ['euler', EulerDiscreteScheduler],
      ['euler_a', EulerAncestralDiscreteScheduler],
      ['dpmpp_2m', DPMSolverMultistepScheduler],
      ['dpmpp_2m_karras', DPMSolverMultistepScheduler],
      ['ddim', DDIMScheduler],
      ['lcm', LCMScheduler],
    ] as const;
    for (const [sampler, cls] of cases) {
      const { scheduler, unknownKeys } = createScheduler(sampler, sd15Config);
      expect(scheduler).toBeInstanceOf(cls);
      expect(unknownKeys).toEqual([]);
      // SD1.5's scaled_linear betas reach every class.
      expect((scheduler as unknown as { schedule: { sigmas: Float64Array } }).schedule.sigmas[999]).toBeCloseTo(14.614641, 5);
    }
  });

  it('lets the sampler name decide Karras sigmas, whatever the config says', () => {
    const karras = createScheduler('dpmpp_2m_karras', sd15Config).scheduler as DPMSolverMultistepScheduler;
    const plain = createScheduler('dpmpp_2m', { ...sd15Config, use_karras_sigmas: true })
      .scheduler as DPMSolverMultistepScheduler;
    expect(karras.config.useKarrasSigmas).toBe(true);
    expect(plain.config.useKarrasSigmas).toBe(false);
    karras.setTimesteps(10);
    plain.setTimesteps(10);
    expect(karras.sigmas[1]).toBeCloseTo(9.1029, 4);
    expect(plain.sigmas[1]).not.toBeCloseTo(9.1029, 2);
  });

  it('passes unknown config keys back to the caller', () => {
    expect(createScheduler('euler', { ...sd15Config, shiny: true }).unknownKeys).toEqual(['shiny']);
  });

  it('throws SchedulerConfigError for a bad config value', () => {
    expect(() => createScheduler('ddim', { ...sd15Config, timestep_spacing: 'sideways' })).toThrow(SchedulerConfigError);
  });
});

describe('schedulerFromConfig', () => {
  it('builds the class named by _class_name, keeping use_karras_sigmas as written', () => {
    const { scheduler } = schedulerFromConfig({ ...sd15Config, _class_name: 'EulerDiscreteScheduler', use_karras_sigmas: true });
    expect(scheduler).toBeInstanceOf(EulerDiscreteScheduler);
    expect((scheduler as EulerDiscreteScheduler).config.useKarrasSigmas).toBe(true);
  });

  it('keys the registry by diffusers class name', () => {
    for (const [name, cls] of Object.entries(SCHEDULERS)) expect((cls as unknown as { className: string }).className).toBe(name);
  });

  it('rejects a class we do not implement, listing the ones we do', () => {
    expect(() => schedulerFromConfig(sd15Config)).toThrow(/"PNDMScheduler".*EulerDiscreteScheduler, EulerAncestralDiscreteScheduler/);
    expect(() => schedulerFromConfig({})).toThrow(SchedulerConfigError);
  });
});

describe('parseSamplerName', () => {
  it('accepts our names and A1111 display names, ignoring case and spaces', () => {
    const cases: [string, string][] = [
      ['euler', 'euler'],
      ['Euler', 'euler'],
      ['Euler a', 'euler_a'],
      ['EULER_A', 'euler_a'],
      ['DPM++ 2M', 'dpmpp_2m'],
      ['dpm++2m', 'dpmpp_2m'],
      ['DPM++ 2M Karras', 'dpmpp_2m_karras'],
      ['  dpm++  2m   karras ', 'dpmpp_2m_karras'],
      ['dpmpp_2m_karras', 'dpmpp_2m_karras'],
      ['DDIM', 'ddim'],
      ['lcm', 'lcm'],
      ['LCM', 'lcm'],
    ];
    for (const [input, expected] of cases) expect(parseSamplerName(input)).toBe(expected);
  });

  it('rejects an unknown name with a UserError that lists the valid names', () => {
    let error: unknown;
    try {
      parseSamplerName('Heun');
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(UserError);
    expect((error as UserError).identifier).toBe(Identifiers.UnknownSampler);
    expect((error as UserError).message).toMatch(/Unknown sampler "Heun"/);
    for (const name of SAMPLER_NAMES) expect((error as UserError).message).toContain(name);
    expect((error as UserError).message).toContain('"DPM++ 2M Karras"');
    expect(() => parseSamplerName('')).toThrow(UserError);
  });
});

describe('samplerDisplayName', () => {
  it('gives the A1111 name used in PNG parameters and parses back to the same sampler', () => {
    expect(SAMPLER_NAMES.map(samplerDisplayName)).toEqual(['Euler', 'Euler a', 'DPM++ 2M', 'DPM++ 2M Karras', 'DDIM', 'LCM']);
    for (const name of SAMPLER_NAMES) expect(parseSamplerName(samplerDisplayName(name))).toBe(name);
  });
});
