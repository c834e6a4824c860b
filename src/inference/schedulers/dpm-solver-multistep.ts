/**
 * DPM-Solver++(2M) (Lu et al. 2022, "DPM-Solver++", Algorithm 2), A1111's "DPM++ 2M" and, with `useKarrasSigmas`,
 * "DPM++ 2M Karras". A second-order multistep solver of the diffusion ODE in the data-prediction form: each step
 * reuses the previous step's x0 estimate to extrapolate, so it costs one UNet call like Euler but is second order.
 *
 * This follows diffusers' form, which works on the variance-preserving latent x = α_t·x0 + σ_t·ε (so no input
 * scaling, initNoiseSigma 1) with α_t = 1/√(σ²+1), σ_t = σ·α_t for the k-diffusion σ, and λ = ln(α_t/σ_t) = −ln σ.
 * k-diffusion's sample_dpmpp_2m is the same update written for x/α_t.
 *
 * State: the previous x0 estimate and how many steps were taken since setTimesteps. The first step taken is first
 * order (there is no history yet), whatever its index, so img2img starting at a later index is correct.
 */
import { assertSameLength, assertStepIndex } from './assert-step-args.js';
import {
  assertInferenceSteps,
  karrasSigmas,
  multistepTimesteps,
  noiseSchedule,
  roundHalfEven,
  sigmaAt,
  sigmaToTimestep,
  type NoiseSchedule,
} from './noise-schedule.js';
import type { NoiseSource, Scheduler, SchedulerConfig, SchedulerStepOutput } from './scheduler.js';

/** diffusers only drops to lower order near the end when the run is this short (lower_order_final). */
const LOWER_ORDER_FINAL_MAX_STEPS = 15;

export class DPMSolverMultistepScheduler implements Scheduler {
  static readonly className = 'DPMSolverMultistepScheduler';
  /** One UNet call per step: the second order comes from history, not from extra evaluations. */
  readonly order = 1;
  /** The parsed scheduler_config.json; never mutated after construction. */
  readonly config: Readonly<SchedulerConfig>;
  /** The training schedule (ᾱ, σ per integer timestep), built once per instance. */
  readonly schedule: NoiseSchedule;
  /** Integer UNet timesteps, largest first; empty until setTimesteps. */
  timesteps: readonly number[] = [];
  /** k-diffusion σ per step plus the final σ; length timesteps.length + 1. Step i goes from sigmas[i] to sigmas[i + 1]. */
  sigmas: Float64Array = new Float64Array(0);
  /** The VP latent is already N(0, I) at the start. */
  readonly initNoiseSigma = 1;

  /** x0 estimate of the last step taken; owned copy, so callers may do what they like with returned arrays. */
  private previousX0: Float32Array | undefined;
  /** Index of the last step taken, or -1 when none has been taken since setTimesteps. */
  private lastStepIndex = -1;

  constructor(config: SchedulerConfig) {
    this.config = config;
    this.schedule = noiseSchedule(config, true);
  }

  // Port of diffusers DPMSolverMultistepScheduler.set_timesteps (scheduling_dpmsolver_multistep.py).
  setTimesteps(numInferenceSteps: number): void {
    const { config, schedule } = this;
    assertInferenceSteps(numInferenceSteps, config.numTrainTimesteps);
    let timesteps: number[];
    let sigmas: number[];
    if (config.useKarrasSigmas) {
      // Unlike Euler, diffusers' DPM-Solver takes the Karras range from the whole training schedule (σ_0 to σ_{N−1}),
      // as A1111 does, whatever the spacing. Timesteps are rounded to integers, except for the cosine schedule.
      sigmas = karrasSigmas(schedule.sigmas[0], schedule.sigmas[schedule.sigmas.length - 1], numInferenceSteps);
      timesteps = sigmas.map((s) => sigmaToTimestep(schedule, s));
      if (config.betaSchedule !== 'squaredcos_cap_v2') timesteps = timesteps.map(roundHalfEven);
    } else {
      timesteps = multistepTimesteps({
        spacing: config.timestepSpacing,
        numTrainTimesteps: config.numTrainTimesteps,
        steps: numInferenceSteps,
        stepsOffset: config.stepsOffset,
      });
      // σ at the spaced integer timesteps; none of them is 0, so the last step goes to the final σ (0 by default)
      // rather than stopping at σ_0 = 0.029 (SD) with noise left in the image.
      sigmas = timesteps.map((t) => sigmaAt(schedule, t));
    }
    const sigmaLast = config.finalSigmasType === 'sigma_min' ? schedule.sigmas[0] : 0;
    this.timesteps = timesteps;
    this.sigmas = Float64Array.from([...sigmas, sigmaLast]);
    this.previousX0 = undefined;
    this.lastStepIndex = -1;
  }

  /** Identity: DPM-Solver feeds the VP latent to the UNet as is. */
  scaleModelInput(sample: Float32Array, stepIndex: number): Float32Array {
    assertStepIndex(stepIndex, this.timesteps.length);
    return sample;
  }

  // Port of diffusers DPMSolverMultistepScheduler.step with algorithm_type "dpmsolver++", solver_order 2,
  // solver_type "midpoint": convert_model_output, then dpm_solver_first_order_update or
  // multistep_dpm_solver_second_order_update.
  step(modelOutput: Float32Array, stepIndex: number, sample: Float32Array, _noise: NoiseSource): SchedulerStepOutput {
    const count = this.timesteps.length;
    assertStepIndex(stepIndex, count);
    assertSameLength(modelOutput, sample, 'modelOutput');
    if (this.lastStepIndex >= 0 && stepIndex !== this.lastStepIndex + 1) {
      throw new TypeError(
        `DPM-Solver steps must be taken in order: expected \`stepIndex\` ${this.lastStepIndex + 1}, got ${stepIndex}; call setTimesteps to start over`,
      );
    }
    const n = sample.length;
    const sigma = this.sigmas[stepIndex];
    const sigmaNext = this.sigmas[stepIndex + 1];
    // DPM-Solver++ integrates the data prediction (x0), which stays bounded where ε-based solvers blow up at high
    // guidance; everything below is expressed in x0 estimates m0 (now) and m1 (previous step).
    const x0 = this.dataPrediction(modelOutput, sample, sigma, new Float32Array(n));

    const short = this.config.lowerOrderFinal && count < LOWER_ORDER_FINAL_MAX_STEPS;
    // Last step: first order when the run is short, or when it ends at σ = 0 (its λ is +∞, so the second-order
    // correction would be 0·∞; the first-order update then returns x0 exactly).
    const lowerOrderFinal = stepIndex === count - 1 && (short || this.config.finalSigmasType === 'zero');
    const firstOrder = this.previousX0 === undefined || lowerOrderFinal;

    const prevSample = new Float32Array(n);
    if (sigmaNext === 0) {
      // The limit of the first-order update as σ_next → 0: the clean estimate itself.
      prevSample.set(x0);
    } else {
      // h > 0 is the step in half log-SNR; expm1 keeps e^{−h} − 1 accurate when h is small (many steps).
      const [alphaT, sigmaT] = vp(sigmaNext);
      const [, sigmaS0] = vp(sigma);
      const h = lambda(sigmaNext) - lambda(sigma);
      const sampleCoeff = sigmaT / sigmaS0;
      const x0Coeff = -alphaT * Math.expm1(-h);
      if (firstOrder) {
        // x_t = (σ_t/σ_s)·x − α_t·(e^{−h} − 1)·x0  (DDIM in λ time)
        for (let i = 0; i < n; i++) prevSample[i] = sampleCoeff * sample[i] + x0Coeff * x0[i];
      } else {
        // Midpoint form: D0 = m0, D1 = (m0 − m1)/r0 with r0 = h_{prev}/h; x_t = ... − α_t(e^{−h}−1)·(D0 + D1/2).
        // The history comes from step stepIndex − 1 (steps are taken in order), so its σ is sigmas[stepIndex − 1].
        // A zero h (a sigma_min final σ equal to the last Karras σ) gives r0 = ±∞ and a vanishing correction.
        const sigmaS1 = this.sigmas[stepIndex - 1];
        const r0 = (lambda(sigma) - lambda(sigmaS1)) / h;
        const d1Coeff = 0.5 / r0;
        const m1 = this.previousX0 as Float32Array;
        for (let i = 0; i < n; i++) {
          const m0 = x0[i];
          prevSample[i] = sampleCoeff * sample[i] + x0Coeff * (m0 + d1Coeff * (m0 - m1[i]));
        }
      }
    }

    // Keep our own copy of x0 for the next step (reusing the buffer: no allocation after the first step).
    if (this.previousX0?.length !== n) this.previousX0 = new Float32Array(n);
    this.previousX0.set(x0);
    this.lastStepIndex = stepIndex;
    return { prevSample, predOriginalSample: x0 };
  }

  // Port of diffusers DPMSolverMultistepScheduler.add_noise: x = α_t·x0 + σ_t·ε at the step's σ.
  addNoise(originalSamples: Float32Array, noise: Float32Array, stepIndex: number): Float32Array {
    assertStepIndex(stepIndex, this.timesteps.length);
    assertSameLength(noise, originalSamples, 'noise');
    // The same (α_t, σ_t) the step at this index assumes, so img2img's first step sees exactly its noise level.
    const [alphaT, sigmaT] = vp(this.sigmas[stepIndex]);
    const out = new Float32Array(originalSamples.length);
    for (let i = 0; i < out.length; i++) out[i] = alphaT * originalSamples[i] + sigmaT * noise[i];
    return out;
  }

  /** Port of diffusers convert_model_output for dpmsolver++: the model's x0 estimate, written into `out`. */
  private dataPrediction(modelOutput: Float32Array, sample: Float32Array, sigma: number, out: Float32Array) {
    const [alphaT, sigmaT] = vp(sigma);
    const n = sample.length;
    switch (this.config.predictionType) {
      // x = α·x0 + σ_t·ε solved for x0.
      case 'epsilon':
        for (let i = 0; i < n; i++) out[i] = (sample[i] - sigmaT * modelOutput[i]) / alphaT;
        break;
      // v = α·ε − σ_t·x0 (Salimans & Ho 2022) with α² + σ_t² = 1 gives x0 = α·x − σ_t·v.
      case 'v_prediction':
        for (let i = 0; i < n; i++) out[i] = alphaT * sample[i] - sigmaT * modelOutput[i];
        break;
      case 'sample':
        out.set(modelOutput);
        break;
    }
    return out;
  }
}

/** k-diffusion σ -> (α_t, σ_t) of the VP process (diffusers `_sigma_to_alpha_sigma_t`). */
function vp(sigma: number): [number, number] {
  const alpha = 1 / Math.sqrt(sigma * sigma + 1);
  return [alpha, sigma * alpha];
}

/** Half log-SNR λ = ln α_t − ln σ_t = −ln σ. */
function lambda(sigma: number): number {
  return -Math.log(sigma);
}
