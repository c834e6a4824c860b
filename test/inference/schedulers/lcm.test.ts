import { describe, expect, it } from 'vitest';
import { Identifiers, UserError } from '../../../src/errors.js';
import { createScheduler, schedulerFromConfig } from '../../../src/inference/schedulers/index.js';
import { type LCMScheduler, lcmTimesteps } from '../../../src/inference/schedulers/lcm.js';
import type { NoiseSource } from '../../../src/inference/schedulers/scheduler.js';
import { dummySampleDeter, fullLoop, meanAbs, noNoise, sd15Config, sumAbs } from './harness.js';
import { TorchCpuRng } from '../../../src/inference/rng.js';

/** diffusers tests/schedulers/test_scheduler_lcm.py get_scheduler_config. */
const diffusersConfig = {
  _class_name: 'LCMScheduler',
  num_train_timesteps: 1000,
  beta_start: 0.00085,
  beta_end: 0.012,
  beta_schedule: 'scaled_linear',
  prediction_type: 'epsilon',
};

const lcm = () => schedulerFromConfig(diffusersConfig).scheduler as LCMScheduler;

describe('LCMScheduler: diffusers goldens (test_scheduler_lcm.py)', () => {
  it('one-step full loop: Σ|x| ≈ 18.7097, mean ≈ 0.0244', () => {
    const x = fullLoop(lcm(), 1, { noise: new TorchCpuRng(0) });
    expect(Math.abs(sumAbs(x) - 18.7097)).toBeLessThan(1e-3);
    expect(Math.abs(meanAbs(x) - 0.0244)).toBeLessThan(1e-3);
  });

  it('ten-step full loop with torch.manual_seed(0) noise: Σ|x| ≈ 197.7616, mean ≈ 0.2575', () => {
    const x = fullLoop(lcm(), 10, { noise: new TorchCpuRng(0) });
    expect(Math.abs(sumAbs(x) - 197.7616)).toBeLessThan(1e-3);
    expect(Math.abs(meanAbs(x) - 0.2575)).toBeLessThan(1e-3);
  });
});

describe('LCMScheduler', () => {
  it('picks 999, 759, 499, 259 for 4 steps from the 50-step distillation grid', () => {
    const s = lcm();
    s.setTimesteps(4);
    expect(s.timesteps).toEqual([999, 759, 499, 259]);
    expect(lcmTimesteps(1000, 50, 1)).toEqual([999]);
    expect(lcmTimesteps(1000, 50, 50)).toEqual(Array.from({ length: 50 }, (_, i) => 999 - 20 * i));
  });

  it('ignores timestep_spacing: SD1.5 (leading, steps_offset 1) still gets the distillation grid', () => {
    const { scheduler } = createScheduler('lcm', sd15Config);
    scheduler.setTimesteps(4);
    expect(scheduler.timesteps).toEqual([999, 759, 499, 259]);
    expect(scheduler.initNoiseSigma).toBe(1);
  });

  it('computes the boundary-condition scalings with timestep_scaling 10 and σ_data 0.5', () => {
    const s = lcm();
    const { cSkip, cOut } = s.boundaryScalings(259);
    const scaled = 2590;
    expect(cSkip).toBeCloseTo(0.25 / (scaled ** 2 + 0.25), 15);
    expect(cOut).toBeCloseTo(scaled / Math.sqrt(scaled ** 2 + 0.25), 15);
    expect(s.boundaryScalings(0)).toEqual({ cSkip: 1, cOut: 0 });
  });

  it('re-noises denoised to the next timestep between steps and returns denoised on the last', () => {
    const s = lcm();
    s.setTimesteps(2);
    const x = dummySampleDeter();
    const eps = x.map((v) => v * 0.3);
    const z = new Float32Array(x.length).fill(0.25);
    const fixed: NoiseSource = { randn: () => z };
    const first = s.step(eps, 0, x, fixed);
    const aPrev = s.schedule.alphasCumprod[s.timesteps[1]];
    expect(first.prevSample[5]).toBeCloseTo(Math.sqrt(aPrev) * first.predOriginalSample[5] + Math.sqrt(1 - aPrev) * 0.25, 5);
    const last = s.step(eps, 1, first.prevSample, noNoise);
    expect(Array.from(last.prevSample)).toEqual(Array.from(last.predOriginalSample));
    expect(last.prevSample).not.toBe(last.predOriginalSample);
  });

  it('refuses more steps than the distillation grid with a UserError saying the maximum', () => {
    const s = lcm();
    let error: unknown;
    try {
      s.setTimesteps(60);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(UserError);
    expect((error as UserError).identifier).toBe(Identifiers.StepsOutOfRange);
    expect((error as UserError).message).toMatch(/at most 50 steps/);
  });
});
