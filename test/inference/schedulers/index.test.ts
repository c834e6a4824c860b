import { describe, expect, it } from 'vitest';
import {
  createScheduler,
  DDIMScheduler,
  DPMSolverMultistepScheduler,
  EulerAncestralDiscreteScheduler,
  EulerDiscreteScheduler,
  LCMScheduler,
  SchedulerConfigError,
  schedulerFromConfig,
  SCHEDULERS,
} from '../../../src/inference/schedulers/index.js';
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
    const plain = createScheduler('dpmpp_2m', { ...sd15Config, use_karras_sigmas: true }).scheduler as DPMSolverMultistepScheduler;
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
