/**
 * Euler (Karras et al. 2022, Algorithm 2 with no churn): the first-order ODE step in k-diffusion's σ space, the
 * A1111 "Euler" sampler, and "Euler Karras" with `useKarrasSigmas`.
 *
 * The latent lives in variance-exploding form x = x0 + σ·ε, so it starts as N(0, I)·initNoiseSigma and the UNet,
 * trained on x/√(σ²+1), gets the scaled copy from `scaleModelInput`.
 */
import { assertSameLength, assertStepIndex } from './assert-step-args.js';
import { assertInferenceSteps, eulerPredOriginal, noiseSchedule, sigmaSchedule, type NoiseSchedule } from './noise-schedule.js';
import type { NoiseSource, Scheduler, SchedulerConfig, SchedulerStepOutput } from './scheduler.js';

export class EulerDiscreteScheduler implements Scheduler {
  static readonly className: string = 'EulerDiscreteScheduler';
  /** One UNet call per step. */
  readonly order = 1;
  /** The parsed scheduler_config.json; never mutated after construction. */
  readonly config: Readonly<SchedulerConfig>;
  /** The training schedule (ᾱ, σ per integer timestep), built once per instance. */
  readonly schedule: NoiseSchedule;
  /** UNet timesteps, largest first; empty until setTimesteps. */
  timesteps: readonly number[] = [];
  /**
   * σ per step plus the final σ; length timesteps.length + 1, strictly decreasing except that a `sigma_min` final
   * σ may equal the last Karras σ. Step i goes from sigmas[i] to sigmas[i + 1].
   */
  sigmas: Float64Array = new Float64Array(0);
  /** Valid after setTimesteps (depends on the spacing). */
  initNoiseSigma = 1;

  constructor(config: SchedulerConfig) {
    this.config = config;
    // The ᾱ floor keeps σ finite on zero-terminal-SNR schedules (diffusers does the same for sigma schedulers).
    this.schedule = noiseSchedule(config, true);
  }

  /** Euler keeps no state between steps, so this only recomputes the schedule. */
  setTimesteps(numInferenceSteps: number): void {
    assertInferenceSteps(numInferenceSteps, this.config.numTrainTimesteps);
    const s = sigmaSchedule(this.schedule, this.config, numInferenceSteps);
    this.timesteps = s.timesteps;
    this.sigmas = s.sigmas;
    this.initNoiseSigma = s.initNoiseSigma;
  }

  scaleModelInput(sample: Float32Array, stepIndex: number): Float32Array {
    assertStepIndex(stepIndex, this.timesteps.length);
    // x = x0 + σ·ε has variance 1 + σ² (x0 of unit variance); the UNet was trained on unit-variance VP inputs.
    const sigma = this.sigmas[stepIndex];
    const scale = 1 / Math.sqrt(sigma * sigma + 1);
    const out = new Float32Array(sample.length);
    for (let i = 0; i < sample.length; i++) out[i] = sample[i] * scale;
    return out;
  }

  // Port of diffusers EulerDiscreteScheduler.step (scheduling_euler_discrete.py) with s_churn = 0, i.e.
  // k-diffusion sample_euler: d = (x − x0)/σ; x_next = x + d·(σ_next − σ). Deterministic: `noise` is unused.
  step(modelOutput: Float32Array, stepIndex: number, sample: Float32Array, _noise: NoiseSource): SchedulerStepOutput {
    const { sigma, predOriginalSample } = this.predictOriginal(modelOutput, stepIndex, sample);
    const dt = this.sigmas[stepIndex + 1] - sigma;
    const n = sample.length;
    // d = (x − x0)/σ is the ODE's dx/dσ (Karras et al. eq. 4 with σ(t) = t); one explicit Euler step along it.
    // σ > 0 always holds here: only the appended final σ can be 0, and it is never a step's starting σ.
    const prevSample = new Float32Array(n);
    const ratio = dt / sigma;
    for (let i = 0; i < n; i++) prevSample[i] = sample[i] + (sample[i] - predOriginalSample[i]) * ratio;
    return { prevSample, predOriginalSample };
  }

  /** Checks a step's arguments and returns its σ and the model's x0 estimate (shared with Euler ancestral). */
  protected predictOriginal(modelOutput: Float32Array, stepIndex: number, sample: Float32Array): { sigma: number; predOriginalSample: Float32Array } {
    assertStepIndex(stepIndex, this.timesteps.length);
    assertSameLength(modelOutput, sample, 'modelOutput');
    const sigma = this.sigmas[stepIndex];
    const predOriginalSample = eulerPredOriginal(this.config.predictionType, modelOutput, sample, sigma, new Float32Array(sample.length));
    return { sigma, predOriginalSample };
  }

  // Port of diffusers EulerDiscreteScheduler.add_noise: x = x0 + σ·ε (variance exploding, no √ᾱ factor).
  addNoise(originalSamples: Float32Array, noise: Float32Array, stepIndex: number): Float32Array {
    assertStepIndex(stepIndex, this.timesteps.length);
    assertSameLength(noise, originalSamples, 'noise');
    // x0 + σ·ε at the begin index is exactly the latent that index's step expects (img2img starts there).
    const sigma = this.sigmas[stepIndex];
    const out = new Float32Array(originalSamples.length);
    for (let i = 0; i < out.length; i++) out[i] = originalSamples[i] + noise[i] * sigma;
    return out;
  }
}
