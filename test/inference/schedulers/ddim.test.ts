import { describe, expect, it } from 'vitest';
import { schedulerFromConfig } from '../../../src/inference/schedulers/index.js';
import type { DDIMScheduler } from '../../../src/inference/schedulers/ddim.js';
import type { NoiseSource } from '../../../src/inference/schedulers/scheduler.js';
import { dummySampleDeter, fullLoop, meanAbs, noNoise, sd15Config, sumAbs } from './harness.js';

/** diffusers tests/schedulers/test_scheduler_ddim.py get_scheduler_config. */
const diffusersConfig = {
  _class_name: 'DDIMScheduler',
  num_train_timesteps: 1000,
  beta_start: 0.0001,
  beta_end: 0.02,
  beta_schedule: 'linear',
  clip_sample: true,
};

function ddim(extra: Record<string, unknown> = {}): DDIMScheduler {
  return schedulerFromConfig({ ...diffusersConfig, ...extra }).scheduler as DDIMScheduler;
}

describe('DDIMScheduler: diffusers goldens (test_scheduler_ddim.py)', () => {
  it('full loop, clip_sample, η = 0: Σ|x| ≈ 172.0067, mean ≈ 0.223967', () => {
    const x = fullLoop(ddim(), 10);
    expect(Math.abs(sumAbs(x) - 172.0067)).toBeLessThan(1e-2);
    expect(Math.abs(meanAbs(x) - 0.223967)).toBeLessThan(1e-3);
  });

  it('full loop with v_prediction: Σ|x| ≈ 52.5302, mean ≈ 0.0684', () => {
    const x = fullLoop(ddim({ prediction_type: 'v_prediction' }), 10);
    expect(Math.abs(sumAbs(x) - 52.5302)).toBeLessThan(1e-2);
    expect(Math.abs(meanAbs(x) - 0.0684)).toBeLessThan(1e-3);
  });

  it('full loop with set_alpha_to_one and beta_start 0.01: Σ|x| ≈ 149.8295, mean ≈ 0.1951', () => {
    const x = fullLoop(ddim({ set_alpha_to_one: true, beta_start: 0.01 }), 10);
    expect(Math.abs(sumAbs(x) - 149.8295)).toBeLessThan(1e-2);
    expect(Math.abs(meanAbs(x) - 0.1951)).toBeLessThan(1e-3);
  });

  it('full loop without set_alpha_to_one and beta_start 0.01: Σ|x| ≈ 149.0784, mean ≈ 0.1941', () => {
    const x = fullLoop(ddim({ set_alpha_to_one: false, beta_start: 0.01 }), 10);
    expect(Math.abs(sumAbs(x) - 149.0784)).toBeLessThan(1e-2);
    expect(Math.abs(meanAbs(x) - 0.1941)).toBeLessThan(1e-3);
  });

  it('full loop from step 8 after add_noise: Σ|x| ≈ 354.5418, mean ≈ 0.4616', () => {
    const x = fullLoop(ddim(), 10, { begin: 8 });
    expect(Math.abs(sumAbs(x) - 354.5418)).toBeLessThan(1e-2);
    expect(Math.abs(meanAbs(x) - 0.4616)).toBeLessThan(1e-3);
  });

  it('matches the _get_variance goldens (diffusers tolerance 1e-5)', () => {
    const s = ddim();
    const goldens: [number, number, number][] = [
      [0, 0, 0],
      [420, 400, 0.14771],
      [980, 960, 0.3246],
      [487, 486, 0.00979],
      [999, 998, 0.02],
    ];
    for (const [t, prev, expected] of goldens) expect(Math.abs(s.variance(t, prev) - expected)).toBeLessThan(1e-5);
  });

  it('spaces 5 leading steps with steps_offset 1 as 801, 601, 401, 201, 1', () => {
    const s = ddim({ steps_offset: 1 });
    s.setTimesteps(5);
    expect(s.timesteps).toEqual([801, 601, 401, 201, 1]);
  });
});

describe('DDIMScheduler', () => {
  it('defaults to leading spacing, η = 0 and initNoiseSigma 1 on SD1.5, with integer timesteps', () => {
    const s = schedulerFromConfig({ ...sd15Config, _class_name: 'DDIMScheduler' }).scheduler as DDIMScheduler;
    s.setTimesteps(20);
    expect(s.timesteps[0]).toBe(951);
    expect(s.timesteps[19]).toBe(1);
    expect(s.initNoiseSigma).toBe(1);
    expect(s.config.eta).toBe(0);
    // set_alpha_to_one false in SD1.5: the last step lands on ᾱ_0, not 1.
    expect(s.finalAlphaCumprod).toBeCloseTo(1 - 0.00085, 12);
  });

  it('clips the x0 estimate to ±clip_sample_range', () => {
    const s = ddim({ clip_sample_range: 0.5 });
    s.setTimesteps(10);
    const x = new Float32Array(16).fill(3);
    const eps = new Float32Array(16).fill(-2);
    const { predOriginalSample } = s.step(eps, 0, x, noNoise);
    expect(Array.from(predOriginalSample)).toEqual(new Array(16).fill(0.5));
  });

  it('draws noise only when η > 0 and then adds σ_t·z', () => {
    const s = ddim({ eta: 1 });
    s.setTimesteps(10);
    const x = dummySampleDeter();
    const eps = x.map((v) => v - 0.5);
    const ones: NoiseSource = { randn: (n) => new Float32Array(n).fill(1) };
    const zeros: NoiseSource = { randn: (n) => new Float32Array(n) };
    const a = s.step(eps, 3, x, ones).prevSample;
    const b = s.step(eps, 3, x, zeros).prevSample;
    const t = s.timesteps[3];
    expect(a[10] - b[10]).toBeCloseTo(Math.sqrt(s.variance(t, t - 100)), 5);
  });
});
