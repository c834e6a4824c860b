import { describe, expect, it } from 'vitest';
import { schedulerFromConfig } from '../../../src/inference/schedulers/index.js';
import type { EulerAncestralDiscreteScheduler } from '../../../src/inference/schedulers/euler-ancestral-discrete.js';
import type { EulerDiscreteScheduler } from '../../../src/inference/schedulers/euler-discrete.js';
import type { NoiseSource } from '../../../src/inference/schedulers/scheduler.js';
import { fullLoop, meanAbs, sumAbs } from './harness.js';
import { TorchCpuRng } from '../../../src/inference/rng.js';

/** diffusers tests/schedulers/test_scheduler_euler_ancestral.py get_scheduler_config. */
const diffusersConfig = {
  _class_name: 'EulerAncestralDiscreteScheduler',
  num_train_timesteps: 1100,
  beta_start: 0.0001,
  beta_end: 0.02,
  beta_schedule: 'linear',
};

function eulerA(extra: Record<string, unknown> = {}): EulerAncestralDiscreteScheduler {
  return schedulerFromConfig({ ...diffusersConfig, ...extra }).scheduler as EulerAncestralDiscreteScheduler;
}

/** The Euler tests' loop; noise from torch.manual_seed(0), reproduced by TorchCpuRng. */
const loop = () => ({ scaleAndOverwrite: true, useInitNoiseSigma: true, noise: new TorchCpuRng(0) });

describe('EulerAncestralDiscreteScheduler: diffusers goldens (test_scheduler_euler_ancestral.py)', () => {
  it('full loop, no added noise: Σ|x| ≈ 152.3192, mean ≈ 0.1983', () => {
    const x = fullLoop(eulerA(), 10, loop());
    expect(Math.abs(sumAbs(x) - 152.3192)).toBeLessThan(1e-2);
    expect(Math.abs(meanAbs(x) - 0.1983)).toBeLessThan(1e-3);
  });

  it('full loop with v_prediction: Σ|x| ≈ 108.4439, mean ≈ 0.1412', () => {
    const x = fullLoop(eulerA({ prediction_type: 'v_prediction' }), 10, loop());
    expect(Math.abs(sumAbs(x) - 108.4439)).toBeLessThan(1e-2);
    expect(Math.abs(meanAbs(x) - 0.1412)).toBeLessThan(1e-3);
  });

  it('full loop from step 8 after add_noise: Σ|x| ≈ 56163.0508, mean ≈ 73.1290', () => {
    const x = fullLoop(eulerA(), 10, { ...loop(), begin: 8 });
    expect(Math.abs(sumAbs(x) - 56163.0508)).toBeLessThan(1e-2);
    expect(Math.abs(meanAbs(x) - 73.129)).toBeLessThan(1e-3);
  });

  it('fails the golden with other noise, so the goldens really pin the noise path', () => {
    const x = fullLoop(eulerA(), 10, { scaleAndOverwrite: true, useInitNoiseSigma: true, noise: new TorchCpuRng(1) });
    expect(Math.abs(sumAbs(x) - 152.3192)).toBeGreaterThan(1e-2);
  });
});

describe('EulerAncestralDiscreteScheduler', () => {
  it('splits each step so that σ_down² + σ_up² = σ_next², with σ_up = σ_next·√(1 − σ_next²/σ²) at η = 1', () => {
    const s = eulerA();
    s.setTimesteps(10);
    for (let i = 0; i < 9; i++) {
      const [sigma, next] = [s.sigmas[i], s.sigmas[i + 1]];
      const { sigmaUp, sigmaDown } = s.ancestralStep(sigma, next);
      expect(sigmaDown ** 2 + sigmaUp ** 2).toBeCloseTo(next ** 2, 10);
      expect(sigmaUp).toBeCloseTo(next * Math.sqrt(1 - next ** 2 / sigma ** 2), 10);
    }
  });

  it('draws one noise vector per step while σ_next > 0 and none on the last step', () => {
    const s = eulerA();
    s.setTimesteps(5);
    const draws: number[] = [];
    const counting: NoiseSource = {
      randn(n) {
        draws.push(n);
        return new Float32Array(n);
      },
    };
    let x: Float32Array = new Float32Array(768).fill(1);
    for (let i = 0; i < 5; i++)
      x = s.step(
        x.map((v) => v * 0.1),
        i,
        x,
        counting,
      ).prevSample;
    expect(draws).toEqual([768, 768, 768, 768]);
  });

  it('equals plain Euler with η = 0', () => {
    const a = fullLoop(eulerA({ eta: 0 }), 10, { scaleAndOverwrite: true, useInitNoiseSigma: true });
    const euler = schedulerFromConfig({ ...diffusersConfig, _class_name: 'EulerDiscreteScheduler' }).scheduler as EulerDiscreteScheduler;
    const b = fullLoop(euler, 10, { scaleAndOverwrite: true, useInitNoiseSigma: true });
    expect(Array.from(a)).toEqual(Array.from(b));
  });

  it('adds σ_up·z on top of the deterministic part', () => {
    const s = eulerA();
    s.setTimesteps(10);
    const x = new Float32Array(32).fill(2);
    const eps = new Float32Array(32).fill(0.5);
    const ones: NoiseSource = { randn: (n) => new Float32Array(n).fill(1) };
    const zeros: NoiseSource = { randn: (n) => new Float32Array(n) };
    const withNoise = s.step(eps, 3, x, ones).prevSample;
    const without = s.step(eps, 3, x, zeros).prevSample;
    const { sigmaUp } = s.ancestralStep(s.sigmas[3], s.sigmas[4]);
    expect(withNoise[0] - without[0]).toBeCloseTo(sigmaUp, 5);
  });
});
