/**
 * The one interface every sampler implements. Pure maths on Float32Array latents (flattened NCHW of one
 * image, or of a whole batch: schedulers are element-wise), no onnxruntime import.
 *
 * Life cycle per generation: `setTimesteps(n)` (resets all per-run state), then for step index
 * i = begin..n-1 in order: `scaleModelInput(x, i)` -> UNet(timesteps[i]) -> guidance -> `step(eps, i, x, rng)`.
 * img2img starts at a later index `begin` and noises the encoded image with `addNoise(x0, noise, begin)`.
 */

/** Source of standard normal noise, seeded by the caller (src/inference/rng.ts). */
export interface NoiseSource {
  /** `n` independent N(0, 1) samples. */
  randn(n: number): Float32Array;
}

export interface SchedulerStepOutput {
  /** The latent for the next step (x_{t-1}). */
  prevSample: Float32Array;
  /** The model's current estimate of the clean latent (x0, "denoised"); previews decode this. */
  predOriginalSample: Float32Array;
}

export interface Scheduler {
  /** Number of model evaluations per step (1 for every sampler we ship). */
  readonly order: number;
  /** Timestep values to feed the UNet, one per step; may be fractional (Karras). Valid after setTimesteps. */
  readonly timesteps: readonly number[];
  /** Multiply fresh N(0, 1) noise by this to get the first txt2img latent. Valid after setTimesteps. */
  readonly initNoiseSigma: number;
  /** Compute the schedule for `numInferenceSteps` steps and reset per-run state (multistep history). */
  setTimesteps(numInferenceSteps: number): void;
  /**
   * Scale the latent before the UNet (Euler family: x / sqrt(sigma^2 + 1)). Schedulers whose model input is the
   * latent itself (DPM-Solver, DDIM, LCM) return `sample` unchanged, without a copy: never write into the result.
   */
  scaleModelInput(sample: Float32Array, stepIndex: number): Float32Array;
  /**
   * One denoising step from the UNet's prediction (after guidance; epsilon, v or x0 as the config's
   * `predictionType` says). Steps must be taken in order from the begin index; the first step taken after
   * `setTimesteps` is always first order, whatever its index (img2img).
   */
  step(modelOutput: Float32Array, stepIndex: number, sample: Float32Array, noise: NoiseSource): SchedulerStepOutput;
  /** Noise a clean latent to the noise level of `timesteps[stepIndex]` (img2img, upscale refinement). */
  addNoise(originalSamples: Float32Array, noise: Float32Array, stepIndex: number): Float32Array;
}

/**
 * scheduler_config.json after zod parsing (snake_case mapped to camelCase once). Missing keys take diffusers'
 * defaults; unknown keys are reported to the caller, who logs them.
 */
export interface SchedulerConfig {
  numTrainTimesteps: number;
  betaStart: number;
  betaEnd: number;
  betaSchedule: 'linear' | 'scaled_linear' | 'squaredcos_cap_v2';
  /** Explicit betas overriding the schedule (diffusers `trained_betas`). */
  trainedBetas?: number[];
  predictionType: 'epsilon' | 'v_prediction' | 'sample';
  timestepSpacing: 'leading' | 'linspace' | 'trailing';
  stepsOffset: number;
  setAlphaToOne: boolean;
  clipSample: boolean;
  clipSampleRange: number;
  useKarrasSigmas: boolean;
  /** LCM: number of distillation steps (diffusers `original_inference_steps`). */
  originalInferenceSteps: number;
  /** LCM boundary-condition scaling (diffusers `timestep_scaling`). */
  timestepScaling: number;
  /** DDIM / ancestral noise amount (not a diffusers config key: diffusers passes it to `step`). */
  eta: number;
  /** Last sigma of the Euler and DPM-Solver schedules: 0, or the smallest training sigma. */
  finalSigmasType: 'zero' | 'sigma_min';
  /** DPM-Solver: fall back to first order on the last step(s) when there are fewer than 15 steps. */
  lowerOrderFinal: boolean;
  /** Rescale the betas to zero terminal SNR (Lin et al. 2023, "Common Diffusion Noise Schedules ... are Flawed"). */
  rescaleBetasZeroSnr: boolean;
}
