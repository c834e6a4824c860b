/**
 * Behaviour every sampler must share, whatever its maths: driven by a perfect denoiser (it knows the clean latent
 * x0 and answers with the exact ε, v or x0 of the latent it is shown), a run that starts from x0 noised by
 * `addNoise` at any begin index must land back on x0, and every step's predOriginalSample must be x0.
 */
import { describe, expect, it } from 'vitest';
import { createScheduler } from '../../../src/inference/schedulers/index.js';
import type { Scheduler } from '../../../src/inference/schedulers/scheduler.js';
import { SAMPLER_NAMES, type SamplerName } from '../../../src/protocol/samplers.js';
import { sd15Config } from './harness.js';
import { TorchCpuRng } from '../../../src/inference/rng.js';

type Prediction = 'epsilon' | 'v_prediction' | 'sample';
const N = 1024;

interface Introspectable extends Scheduler {
  schedule: { alphasCumprod: Float64Array };
  sigmas?: Float64Array;
}

/**
 * How the latent at step i is built from x0 and ε: x = a·x0 + b·ε, plus the variance-preserving pair (α, σ_vp) that
 * defines v = α·ε − σ_vp·x0, and the factor the scheduler should have divided the model input by.
 */
function parametrisation(sampler: SamplerName, s: Introspectable, i: number) {
  if (sampler === 'ddim' || sampler === 'lcm') {
    const abar = s.schedule.alphasCumprod[s.timesteps[i]];
    return { a: Math.sqrt(abar), b: Math.sqrt(1 - abar), alpha: Math.sqrt(abar), sigmaVp: Math.sqrt(1 - abar), inputScale: 1 };
  }
  const sigma = (s.sigmas as Float64Array)[i];
  const alpha = 1 / Math.sqrt(sigma * sigma + 1);
  if (sampler === 'dpmpp_2m' || sampler === 'dpmpp_2m_karras') {
    return { a: alpha, b: sigma * alpha, alpha, sigmaVp: sigma * alpha, inputScale: 1 };
  }
  // Euler family: variance-exploding latent x0 + σ·ε, model input x/√(σ² + 1).
  return { a: 1, b: sigma, alpha, sigmaVp: sigma * alpha, inputScale: alpha };
}

function oracle(sampler: SamplerName, s: Introspectable, i: number, modelInput: Float32Array, x0: Float32Array, prediction: Prediction) {
  const p = parametrisation(sampler, s, i);
  const out = new Float32Array(modelInput.length);
  for (let k = 0; k < out.length; k++) {
    const x = modelInput[k] / p.inputScale; // undo the input scaling, so a wrong scaling shows up as a wrong answer
    const eps = (x - p.a * x0[k]) / p.b;
    out[k] = prediction === 'epsilon' ? eps : prediction === 'v_prediction' ? p.alpha * eps - p.sigmaVp * x0[k] : x0[k];
  }
  return out;
}

function run(sampler: SamplerName, prediction: Prediction, steps: number, begin: number) {
  const { scheduler } = createScheduler(sampler, { ...sd15Config, prediction_type: prediction, set_alpha_to_one: true });
  const s = scheduler as Introspectable;
  s.setTimesteps(steps);
  const x0 = Float32Array.from({ length: N }, (_, k) => Math.sin(k * 0.37) * 0.9);
  const noise = new TorchCpuRng(7).randn(N);
  const rng = new TorchCpuRng(42);
  let x = s.addNoise(x0, noise, begin);
  const previews: Float32Array[] = [];
  for (let i = begin; i < s.timesteps.length; i++) {
    const out = s.step(oracle(sampler, s, i, s.scaleModelInput(x, i), x0, prediction), i, x, rng);
    previews.push(out.predOriginalSample);
    x = out.prevSample;
  }
  return { x, x0, previews };
}

function maxAbsDiff(a: Float32Array, b: Float32Array): number {
  let m = 0;
  for (let k = 0; k < a.length; k++) m = Math.max(m, Math.abs(a[k] - b[k]));
  return m;
}

describe.each(SAMPLER_NAMES)('%s with a perfect denoiser', (sampler) => {
  const steps = sampler === 'lcm' ? 4 : 10;

  it.each(['epsilon', 'v_prediction', 'sample'] as const)('recovers x0 from pure-noise level (%s)', (prediction) => {
    const { x, x0, previews } = run(sampler, prediction, steps, 0);
    expect(maxAbsDiff(x, x0)).toBeLessThan(1e-3);
    for (const preview of previews) expect(maxAbsDiff(preview, x0)).toBeLessThan(1e-3);
  });

  it('recovers x0 in img2img from a later begin index', () => {
    const begin = Math.floor(steps / 2) + 1;
    const { x, x0, previews } = run(sampler, 'epsilon', steps, begin);
    expect(previews).toHaveLength(steps - begin);
    expect(maxAbsDiff(x, x0)).toBeLessThan(1e-3);
  });

  it('noises to a level that is not the clean latent (the oracle test can fail)', () => {
    const { scheduler } = createScheduler(sampler, sd15Config);
    scheduler.setTimesteps(steps);
    const x0 = new Float32Array(N).fill(0.5);
    const noisy = scheduler.addNoise(x0, new TorchCpuRng(1).randn(N), 0);
    expect(maxAbsDiff(noisy, x0)).toBeGreaterThan(0.5);
  });
});
