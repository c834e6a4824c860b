/**
 * DDIM (Song et al. 2020, "Denoising Diffusion Implicit Models", eq. 12). With η = 0 (the default) it is
 * deterministic: the latent moves along the direction of the predicted noise to the previous timestep's noise level.
 * η = 1 adds DDPM-like fresh noise.
 *
 * Works on the variance-preserving latent x_t = √ᾱ_t·x0 + √(1−ᾱ_t)·ε, so no input scaling and initNoiseSigma 1.
 * Timesteps are integers that index ᾱ directly.
 */
import { assertSameLength, assertStepIndex } from './assert-step-args.js';
import { assertInferenceSteps, noiseSchedule, spacedTimesteps, vpPredOriginal, type NoiseSchedule } from './noise-schedule.js';
import type { NoiseSource, Scheduler, SchedulerConfig, SchedulerStepOutput } from './scheduler.js';

export class DDIMScheduler implements Scheduler {
  static readonly className = 'DDIMScheduler';
  /** One UNet call per step. */
  readonly order = 1;
  /** The parsed scheduler_config.json; never mutated after construction. */
  readonly config: Readonly<SchedulerConfig>;
  /** The training schedule; no ᾱ floor, since DDIM never divides by σ. */
  readonly schedule: NoiseSchedule;
  /** Integer UNet timesteps, largest first; empty until setTimesteps. */
  timesteps: readonly number[] = [];
  /** The VP latent starts as N(0, I). */
  readonly initNoiseSigma = 1;
  /**
   * ᾱ "before" timestep 0, used by the last step: 1 with `set_alpha_to_one` (the last step lands on the clean
   * sample), else ᾱ_0 (it stops one training step short, as SD's configs ask).
   */
  readonly finalAlphaCumprod: number;
  private numInferenceSteps = 0;

  constructor(config: SchedulerConfig) {
    this.config = config;
    this.schedule = noiseSchedule(config);
    this.finalAlphaCumprod = config.setAlphaToOne ? 1 : this.schedule.alphasCumprod[0];
  }

  // Port of diffusers DDIMScheduler.set_timesteps (scheduling_ddim.py); linspace timesteps are rounded there.
  setTimesteps(numInferenceSteps: number): void {
    const N = this.config.numTrainTimesteps;
    assertInferenceSteps(numInferenceSteps, N);
    const timesteps = spacedTimesteps({
      spacing: this.config.timestepSpacing,
      numTrainTimesteps: N,
      steps: numInferenceSteps,
      stepsOffset: this.config.stepsOffset,
      linspaceMode: 'round',
    });
    // `leading` plus steps_offset can overshoot the table (n = N with offset 1 gives t = N); diffusers would index
    // out of range, so say what to change instead.
    if (timesteps[0] > N - 1) {
      throw new TypeError(
        `DDIM with ${numInferenceSteps} steps and steps_offset ${this.config.stepsOffset} reaches timestep ${timesteps[0]}, past the last training timestep ${N - 1}; use fewer steps`,
      );
    }
    this.timesteps = timesteps;
    this.numInferenceSteps = numInferenceSteps;
  }

  /** Identity: DDIM feeds the latent to the UNet as is. */
  scaleModelInput(sample: Float32Array, stepIndex: number): Float32Array {
    assertStepIndex(stepIndex, this.timesteps.length);
    return sample;
  }

  /** ᾱ at a timestep, or the final ᾱ for the step past t = 0. */
  private alphaProd(t: number): number {
    return t >= 0 ? this.schedule.alphasCumprod[t] : this.finalAlphaCumprod;
  }

  /**
   * Port of diffusers DDIMScheduler._get_variance: σ_t²/η² of eq. 16,
   * (1−ᾱ_prev)/(1−ᾱ_t)·(1 − ᾱ_t/ᾱ_prev).
   */
  variance(t: number, prevT: number): number {
    const a = this.alphaProd(t);
    const aPrev = this.alphaProd(prevT);
    return ((1 - aPrev) / (1 - a)) * (1 - a / aPrev);
  }

  // Port of diffusers DDIMScheduler.step (scheduling_ddim.py), use_clipped_model_output false, no thresholding.
  step(modelOutput: Float32Array, stepIndex: number, sample: Float32Array, noise: NoiseSource): SchedulerStepOutput {
    assertStepIndex(stepIndex, this.timesteps.length);
    assertSameLength(modelOutput, sample, 'modelOutput');
    const t = this.timesteps[stepIndex];
    // diffusers steps back by ⌊N/n⌋ whatever the spacing, not to the next listed timestep (they coincide for
    // `leading`; for `trailing` and `linspace` this is diffusers' behaviour and we keep it).
    const prevT = t - Math.floor(this.config.numTrainTimesteps / this.numInferenceSteps);
    const alphaProdT = this.alphaProd(t);
    const alphaProdPrev = this.alphaProd(prevT);
    const n = sample.length;

    const predOriginalSample = new Float32Array(n);
    // ε estimate goes into prevSample's buffer first, then is overwritten element by element below.
    const prevSample = new Float32Array(n);
    vpPredOriginal(this.config.predictionType, modelOutput, sample, alphaProdT, predOriginalSample, prevSample);
    if (this.config.clipSample) {
      const r = this.config.clipSampleRange;
      for (let i = 0; i < n; i++) predOriginalSample[i] = Math.min(Math.max(predOriginalSample[i], -r), r);
    }

    // σ_t of eq. 16 scaled by η: η = 1 is the DDPM posterior's noise, η = 0 the deterministic implicit model.
    // The direction term then carries exactly the noise variance left over: (1 − ᾱ_prev) − σ_t².
    const stdDev = this.config.eta * Math.sqrt(this.variance(t, prevT));
    const dirCoeff = Math.sqrt(Math.max(1 - alphaProdPrev - stdDev * stdDev, 0));
    const x0Coeff = Math.sqrt(alphaProdPrev);
    const z = stdDev > 0 ? noise.randn(n) : undefined;
    if (z && z.length !== n) throw new TypeError(`Expected the noise source to return ${n} samples, got ${z.length}`);
    for (let i = 0; i < n; i++) {
      // x_prev = √ᾱ_prev·x0 + √(1 − ᾱ_prev − σ²)·ε + σ·z
      prevSample[i] = x0Coeff * predOriginalSample[i] + dirCoeff * prevSample[i] + (z ? stdDev * z[i] : 0);
    }
    return { prevSample, predOriginalSample };
  }

  // Port of diffusers DDIMScheduler.add_noise (DDPM forward process): x_t = √ᾱ_t·x0 + √(1−ᾱ_t)·ε.
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
