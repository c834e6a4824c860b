import { describe, expect, it } from 'vitest';
import { schedulerFromConfig } from '../../../src/inference/schedulers/index.js';
import type { DPMSolverMultistepScheduler } from '../../../src/inference/schedulers/dpm-solver-multistep.js';
import { dummyModel, dummySampleDeter, fullLoop, meanAbs, noNoise, sd15Config, sumAbs } from './harness.js';

/** diffusers tests/schedulers/test_scheduler_dpm_multi.py get_scheduler_config (non-default final steps). */
const diffusersConfig = {
  _class_name: 'DPMSolverMultistepScheduler',
  num_train_timesteps: 1000,
  beta_start: 0.0001,
  beta_end: 0.02,
  beta_schedule: 'linear',
  solver_order: 2,
  prediction_type: 'epsilon',
  thresholding: false,
  sample_max_value: 1.0,
  algorithm_type: 'dpmsolver++',
  solver_type: 'midpoint',
  lower_order_final: false,
  euler_at_final: false,
  variance_type: null,
  final_sigmas_type: 'sigma_min',
};

function dpm(extra: Record<string, unknown> = {}): DPMSolverMultistepScheduler {
  const { scheduler, unknownKeys } = schedulerFromConfig({ ...diffusersConfig, ...extra });
  expect(unknownKeys).toEqual([]);
  return scheduler as DPMSolverMultistepScheduler;
}

describe('DPMSolverMultistepScheduler: diffusers goldens (test_scheduler_dpm_multi.py)', () => {
  it('full loop, no noise: mean ≈ 0.3301', () => {
    expect(Math.abs(meanAbs(fullLoop(dpm(), 10)) - 0.3301)).toBeLessThan(1e-3);
  });

  it('full loop with v_prediction: mean ≈ 0.2251', () => {
    expect(Math.abs(meanAbs(fullLoop(dpm({ prediction_type: 'v_prediction' }), 10)) - 0.2251)).toBeLessThan(1e-3);
  });

  it('full loop with Karras sigmas and v_prediction: mean ≈ 0.2096', () => {
    const x = fullLoop(dpm({ prediction_type: 'v_prediction', use_karras_sigmas: true }), 10);
    expect(Math.abs(meanAbs(x) - 0.2096)).toBeLessThan(1e-3);
  });

  it('full loop from step 5 after add_noise: Σ|x| ≈ 318.4111, mean ≈ 0.4146', () => {
    const x = fullLoop(dpm(), 10, { begin: 5 });
    expect(Math.abs(sumAbs(x) - 318.4111)).toBeLessThan(1e-2);
    expect(Math.abs(meanAbs(x) - 0.4146)).toBeLessThan(1e-3);
  });
});

describe('DPMSolverMultistepScheduler', () => {
  it('spaces 10 linspace steps as 999, 899, …, 100 with initNoiseSigma 1', () => {
    const s = dpm();
    s.setTimesteps(10);
    expect(s.timesteps).toEqual([999, 899, 799, 699, 599, 500, 400, 300, 200, 100]);
    expect(s.initNoiseSigma).toBe(1);
  });

  it('takes the Karras range from the whole training schedule and rounds the timesteps', () => {
    const s = schedulerFromConfig({ ...sd15Config, _class_name: 'DPMSolverMultistepScheduler', use_karras_sigmas: true })
      .scheduler as DPMSolverMultistepScheduler;
    s.setTimesteps(10);
    expect(s.sigmas[0]).toBeCloseTo(14.6146, 4);
    expect(s.sigmas[9]).toBeCloseTo(0.0292, 4);
    expect(s.sigmas[10]).toBe(0);
    expect(s.timesteps[0]).toBe(999);
    expect(s.timesteps[9]).toBe(0);
    expect(s.timesteps.every(Number.isInteger)).toBe(true);
  });

  it('makes the first step first order even when img2img starts at a later index', () => {
    const s = dpm();
    s.setTimesteps(10);
    const x = dummySampleDeter();
    const eps = dummyModel(x, s.timesteps[5]);
    const { prevSample, predOriginalSample } = s.step(eps, 5, x, noNoise);
    // First-order DPM-Solver++ (DDIM in λ time): x_t = (σ_t/σ_s)·x − α_t·(e^{−h} − 1)·x0.
    const vp = (sigma: number) => [1 / Math.sqrt(sigma ** 2 + 1), sigma / Math.sqrt(sigma ** 2 + 1)];
    const [alphaS, sigmaS] = vp(s.sigmas[5]);
    const [alphaT, sigmaT] = vp(s.sigmas[6]);
    const h = Math.log(alphaT / sigmaT) - Math.log(alphaS / sigmaS);
    for (const i of [0, 100, 767]) {
      const x0 = (x[i] - sigmaS * eps[i]) / alphaS;
      expect(predOriginalSample[i]).toBeCloseTo(x0, 5);
      expect(prevSample[i]).toBeCloseTo((sigmaT / sigmaS) * x[i] - alphaT * (Math.exp(-h) - 1) * x0, 5);
    }
  });

  it('uses the previous x0 from the second step on, so step 6 after step 5 is not a first-order step', () => {
    const withHistory = dpm();
    withHistory.setTimesteps(10);
    const x5 = dummySampleDeter();
    const x6 = withHistory.step(dummyModel(x5, withHistory.timesteps[5]), 5, x5, noNoise).prevSample;
    const secondOrder = withHistory.step(dummyModel(x6, withHistory.timesteps[6]), 6, x6, noNoise).prevSample;
    const fresh = dpm();
    fresh.setTimesteps(10);
    const firstOrder = fresh.step(dummyModel(x6, fresh.timesteps[6]), 6, x6, noNoise).prevSample;
    expect(Math.abs(sumAbs(secondOrder) - sumAbs(firstOrder))).toBeGreaterThan(1e-3);
  });

  it('resets its history in setTimesteps, so a second run repeats the first exactly', () => {
    const s = dpm();
    const first = fullLoop(s, 10);
    const second = fullLoop(s, 10);
    expect(Array.from(second)).toEqual(Array.from(first));
  });

  it('refuses steps out of order', () => {
    const s = dpm();
    s.setTimesteps(10);
    const x = dummySampleDeter();
    s.step(x, 0, x, noNoise);
    expect(() => s.step(x, 2, x, noNoise)).toThrow(/in order: expected `stepIndex` 1, got 2/);
  });

  it('returns x0 exactly on a last step that ends at σ = 0 (final_sigmas_type zero)', () => {
    const s = dpm({ final_sigmas_type: 'zero', lower_order_final: true });
    s.setTimesteps(4);
    let x = dummySampleDeter();
    for (let i = 0; i < 3; i++) x = s.step(dummyModel(x, s.timesteps[i]), i, x, noNoise).prevSample;
    const last = s.step(dummyModel(x, s.timesteps[3]), 3, x, noNoise);
    expect(Array.from(last.prevSample)).toEqual(Array.from(last.predOriginalSample));
    expect(last.prevSample.every(Number.isFinite)).toBe(true);
  });

  it('hands back outputs the caller may overwrite without corrupting the next step', () => {
    const clean = dpm();
    const a = fullLoop(clean, 10);
    const s = dpm();
    s.setTimesteps(10);
    let x = dummySampleDeter();
    for (let i = 0; i < 10; i++) {
      const out = s.step(dummyModel(x, s.timesteps[i]), i, x, noNoise);
      out.predOriginalSample.fill(123); // a preview decoder scribbling on its input
      x = out.prevSample;
    }
    expect(Array.from(x)).toEqual(Array.from(a));
  });
});
