/**
 * Latent Consistency Model multistep sampling (Luo et al. 2023, Algorithm 1). The consistency function maps any
 * noisy latent straight to a clean estimate ("denoised"); between steps the estimate is re-noised to the next
 * timestep with fresh noise, and the last step returns the estimate itself.
 *
 * Timesteps come from the distillation grid (every N/original_inference_steps training steps), not from
 * timestep_spacing, which LCM ignores. Works on the variance-preserving latent: no input scaling, initNoiseSigma 1.
 */
import { UserError, Identifiers } from '../../errors.js';
import { assertSameLength, assertStepIndex } from './assert-step-args.js';
import { assertInferenceSteps, linspace, noiseSchedule, vpPredOriginal, type NoiseSchedule } from './noise-schedule.js';
import type { NoiseSource, Scheduler, SchedulerConfig, SchedulerStepOutput } from './scheduler.js';

/** σ_data of the consistency-model boundary condition (Song et al. 2023), 0.5 in LCM. */
const SIGMA_DATA = 0.5;

/**
 * Port of diffusers LCMScheduler.set_timesteps with strength 1: the distillation grid
 * (1..original_steps)·⌊N/original_steps⌋ − 1, largest first, sampled at ⌊linspace(0, len, n, endpoint=False)⌋.
 * N = 1000, 50 original steps, n = 4: 999, 759, 499, 259.
 */
export function lcmTimesteps(numTrainTimesteps: number, originalSteps: number, steps: number): number[] {
  const k = Math.floor(numTrainTimesteps / originalSteps);
  const origin = Array.from({ length: originalSteps }, (_, i) => (originalSteps - i) * k - 1);
  // linspace(0, len, n, endpoint=False) = linspace(0, len, n + 1) without its last point.
  const indices = linspace(0, origin.length, steps + 1)
    .slice(0, steps)
    .map(Math.floor);
  return indices.map((i) => origin[i]);
}

export class LCMScheduler implements Scheduler {
  static readonly className = 'LCMScheduler';
  /** One UNet call per step. */
  readonly order = 1;
  /** The parsed scheduler_config.json; never mutated after construction. */
  readonly config: Readonly<SchedulerConfig>;
  /** The training schedule; usually SD's scaled_linear betas. */
  readonly schedule: NoiseSchedule;
  /** Integer UNet timesteps on the distillation grid, largest first; empty until setTimesteps. */
  timesteps: readonly number[] = [];
  /** The VP latent starts as N(0, I). */
  readonly initNoiseSigma = 1;
  /** ᾱ past timestep 0 (only reached by grids whose last timestep is < 0, which ours never make). */
  readonly finalAlphaCumprod: number;

  constructor(config: SchedulerConfig) {
    this.config = config;
    this.schedule = noiseSchedule(config);
    this.finalAlphaCumprod = config.setAlphaToOne ? 1 : this.schedule.alphasCumprod[0];
  }

  setTimesteps(numInferenceSteps: number): void {
    const original = this.config.originalInferenceSteps;
    // Steps beyond the distillation grid are something the user asked for and can change.
    if (Number.isInteger(numInferenceSteps) && numInferenceSteps > original) {
      throw new UserError(Identifiers.StepsOutOfRange, `LCM models run at most ${original} steps (usually 2–8); ask for ${original} or fewer.`, {
        steps: numInferenceSteps,
        max: original,
      });
    }
    assertInferenceSteps(numInferenceSteps, original);
    this.timesteps = lcmTimesteps(this.config.numTrainTimesteps, original, numInferenceSteps);
  }

  /** Identity: LCM feeds the latent to the UNet as is. */
  scaleModelInput(sample: Float32Array, stepIndex: number): Float32Array {
    assertStepIndex(stepIndex, this.timesteps.length);
    return sample;
  }

  /**
   * Port of diffusers get_scalings_for_boundary_condition_discrete: with s = t·timestep_scaling,
   * c_skip = σ_d²/(s² + σ_d²), c_out = s/√(s² + σ_d²). At t = 0 this is the identity (c_skip 1, c_out 0), the
   * consistency model's boundary condition f(x, 0) = x.
   */
  boundaryScalings(t: number): { cSkip: number; cOut: number } {
    const s = t * this.config.timestepScaling;
    const d2 = SIGMA_DATA * SIGMA_DATA;
    return { cSkip: d2 / (s * s + d2), cOut: s / Math.sqrt(s * s + d2) };
  }

  private alphaProd(t: number): number {
    return t >= 0 ? this.schedule.alphasCumprod[t] : this.finalAlphaCumprod;
  }

  // Port of diffusers LCMScheduler.step (scheduling_lcm.py), no thresholding. predOriginalSample is `denoised`.
  step(modelOutput: Float32Array, stepIndex: number, sample: Float32Array, noise: NoiseSource): SchedulerStepOutput {
    const count = this.timesteps.length;
    assertStepIndex(stepIndex, count);
    assertSameLength(modelOutput, sample, 'modelOutput');
    const t = this.timesteps[stepIndex];
    const isLast = stepIndex === count - 1;
    const alphaProdT = this.alphaProd(t);
    const { cSkip, cOut } = this.boundaryScalings(t);
    const n = sample.length;

    // The consistency function f(x, t) = c_skip·x + c_out·x0_θ; at LCM's timesteps (≥ 19) c_skip is below 1e-5, so
    // denoised is x0_θ up to a sliver of x, but the parametrisation is what the model was distilled with.
    const denoised = vpPredOriginal(this.config.predictionType, modelOutput, sample, alphaProdT, new Float32Array(n));
    const r = this.config.clipSample ? this.config.clipSampleRange : Infinity;
    for (let i = 0; i < n; i++) {
      const x0 = Math.min(Math.max(denoised[i], -r), r);
      denoised[i] = cOut * x0 + cSkip * sample[i];
    }

    if (isLast) {
      // The final latent is the clean estimate; a copy, so the two outputs never alias.
      return { prevSample: denoised.slice(), predOriginalSample: denoised };
    }
    // Re-noise to the next listed timestep: x = √ᾱ_prev·denoised + √(1−ᾱ_prev)·z.
    const alphaProdPrev = this.alphaProd(this.timesteps[stepIndex + 1]);
    const a = Math.sqrt(alphaProdPrev);
    const b = Math.sqrt(1 - alphaProdPrev);
    const z = noise.randn(n);
    if (z.length !== n) throw new TypeError(`Expected the noise source to return ${n} samples, got ${z.length}`);
    const prevSample = new Float32Array(n);
    for (let i = 0; i < n; i++) prevSample[i] = a * denoised[i] + b * z[i];
    return { prevSample, predOriginalSample: denoised };
  }

  // Port of diffusers LCMScheduler.add_noise (DDPM forward process): x_t = √ᾱ_t·x0 + √(1−ᾱ_t)·ε.
  addNoise(originalSamples: Float32Array, noise: Float32Array, stepIndex: number): Float32Array {
    assertStepIndex(stepIndex, this.timesteps.length);
    assertSameLength(noise, originalSamples, 'noise');
    const a = this.alphaProd(this.timesteps[stepIndex]);
    const sa = Math.sqrt(a);
    const sb = Math.sqrt(1 - a);
    const out = new Float32Array(originalSamples.length);
    for (let i = 0; i < out.length; i++) out[i] = sa * originalSamples[i] + sb * noise[i];
    return out;
  }
}
