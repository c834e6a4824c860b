/**
 * The maths every scheduler shares: the training noise schedule (betas, alphasCumprod, sigmas), the three timestep
 * spacings, sigma interpolation at fractional timesteps, sigma -> timestep (`_sigma_to_t`) and Karras sigmas.
 *
 * Everything here is float64 (JS numbers in Float64Array). diffusers builds these tables in float32; the difference
 * is below 1e-6 relative and well inside every published golden, while float64 keeps the long cumulative product
 * (1000 factors) and the log-sigma interpolation from drifting.
 *
 * Sources: diffusers scheduling_euler_discrete.py (`__init__`, `set_timesteps`, `_sigma_to_t`, `_convert_to_karras`),
 * scheduling_dpmsolver_multistep.py (`set_timesteps`), scheduling_ddim.py (`set_timesteps`),
 * scheduling_utils.py (`betas_for_alpha_bar`, `rescale_zero_terminal_snr`); k-diffusion sampling.py
 * (`get_sigmas_karras`).
 */
import type { SchedulerConfig } from './scheduler.js';

/** The training-time noise schedule, indexed by integer timestep t = 0..N-1. */
export interface NoiseSchedule {
  readonly numTrainTimesteps: number;
  readonly betas: Float64Array;
  /** ᾱ_t = Π_{i≤t} (1 − β_i). Decreasing in t. */
  readonly alphasCumprod: Float64Array;
  /** σ_t = √((1 − ᾱ_t)/ᾱ_t), the k-diffusion (variance-exploding) noise level of timestep t. Increasing in t. */
  readonly sigmas: Float64Array;
  /** ln σ_t, the grid `sigmaToTimestep` interpolates on. */
  readonly logSigmas: Float64Array;
}

export type BetaConfig = Pick<
  SchedulerConfig,
  'numTrainTimesteps' | 'betaStart' | 'betaEnd' | 'betaSchedule' | 'trainedBetas' | 'rescaleBetasZeroSnr'
>;

/**
 * Betas for `linear`, `scaled_linear` (linear in √β, the latent-diffusion schedule) or `squaredcos_cap_v2`
 * (Nichol & Dhariwal's cosine ᾱ, betas capped at 0.999), or the explicit `trainedBetas`.
 */
export function betasFor(config: BetaConfig): Float64Array {
  const n = config.numTrainTimesteps;
  if (config.trainedBetas !== undefined) return Float64Array.from(config.trainedBetas);
  const betas = new Float64Array(n);
  // A one-step schedule has no spacing: linspace(a, b, 1) is [a], as in torch.
  const denom = n > 1 ? n - 1 : 1;
  switch (config.betaSchedule) {
    case 'linear':
      for (let i = 0; i < n; i++) betas[i] = config.betaStart + (i / denom) * (config.betaEnd - config.betaStart);
      break;
    case 'scaled_linear': {
      const a = Math.sqrt(config.betaStart);
      const b = Math.sqrt(config.betaEnd);
      for (let i = 0; i < n; i++) betas[i] = (a + (i / denom) * (b - a)) ** 2;
      break;
    }
    case 'squaredcos_cap_v2': {
      // Port of diffusers betas_for_alpha_bar (scheduling_utils.py), cosine transform, max_beta 0.999.
      const alphaBar = (t: number) => Math.cos(((t + 0.008) / 1.008) * (Math.PI / 2)) ** 2;
      for (let i = 0; i < n; i++) betas[i] = Math.min(1 - alphaBar((i + 1) / n) / alphaBar(i / n), 0.999);
      break;
    }
  }
  return betas;
}

/**
 * Port of diffusers rescale_zero_terminal_snr (scheduling_utils.py): shift and scale √ᾱ so that the last timestep
 * is pure noise (ᾱ_{N−1} = 0) while ᾱ_0 is unchanged.
 */
export function rescaleZeroTerminalSnr(betas: Float64Array): Float64Array {
  const n = betas.length;
  const sqrtAbar = cumprodOneMinus(betas).map(Math.sqrt);
  const first = sqrtAbar[0];
  const last = sqrtAbar[n - 1];
  for (let i = 0; i < n; i++) sqrtAbar[i] = ((sqrtAbar[i] - last) * first) / (first - last);
  const out = new Float64Array(n);
  out[0] = 1 - sqrtAbar[0] ** 2;
  for (let i = 1; i < n; i++) out[i] = 1 - sqrtAbar[i] ** 2 / sqrtAbar[i - 1] ** 2;
  return out;
}

function cumprodOneMinus(betas: Float64Array): Float64Array {
  const out = new Float64Array(betas.length);
  let prod = 1;
  for (let i = 0; i < betas.length; i++) {
    prod *= 1 - betas[i];
    out[i] = prod;
  }
  return out;
}

/**
 * Build the training schedule. `terminalAlphaFloor` mirrors the sigma-based schedulers (Euler, DPM-Solver): with a
 * zero-terminal-SNR schedule ᾱ_{N−1} = 0 would make σ infinite, so diffusers sets it to 2^-24 there, and only there.
 */
export function noiseSchedule(config: BetaConfig, terminalAlphaFloor = false): NoiseSchedule {
  let betas = betasFor(config);
  if (config.rescaleBetasZeroSnr) betas = rescaleZeroTerminalSnr(betas);
  const alphasCumprod = cumprodOneMinus(betas);
  if (config.rescaleBetasZeroSnr && terminalAlphaFloor) alphasCumprod[alphasCumprod.length - 1] = 2 ** -24;
  const sigmas = alphasCumprod.map((a) => Math.sqrt((1 - a) / a));
  const logSigmas = sigmas.map(Math.log);
  return { numTrainTimesteps: betas.length, betas, alphasCumprod, sigmas, logSigmas };
}

/** numpy's `round`: halves go to the even neighbour (np.round(332.5) = 332), which Math.round does not do. */
export function roundHalfEven(x: number): number {
  const floor = Math.floor(x);
  const diff = x - floor;
  if (diff > 0.5) return floor + 1;
  if (diff < 0.5) return floor;
  return floor % 2 === 0 ? floor : floor + 1;
}

/** numpy.linspace(start, stop, num): evenly spaced, the last point exactly `stop`; num = 1 gives [start]. */
export function linspace(start: number, stop: number, num: number): number[] {
  if (num === 1) return [start];
  const step = (stop - start) / (num - 1);
  const out = Array.from({ length: num }, (_, i) => start + i * step);
  out[num - 1] = stop;
  return out;
}

export type TimestepSpacing = SchedulerConfig['timestepSpacing'];

export interface SpacingOptions {
  spacing: TimestepSpacing;
  numTrainTimesteps: number;
  steps: number;
  stepsOffset: number;
  /**
   * How `linspace` timesteps are kept: `float32` for the sigma schedulers (diffusers builds them with
   * dtype=np.float32 and feeds them fractional), `round` for DDIM, whose timesteps index ᾱ directly.
   */
  linspaceMode: 'float32' | 'round';
}

/**
 * The three diffusers timestep spacings, largest timestep first (Table 2 of "Common Diffusion Noise Schedules and
 * Sample Steps are Flawed"). Port of the shared branch of diffusers EulerDiscreteScheduler.set_timesteps /
 * DDIMScheduler.set_timesteps.
 * - leading:  t_i = i·⌊N/n⌋ + steps_offset (n=20, N=1000, offset 1: 951 … 1)
 * - linspace: linspace(0, N−1, n)            (n=4: 999, 666, 333, 0)
 * - trailing: round(N − i·N/n) − 1          (n=4: 999, 749, 499, 249)
 *
 * Trailing deliberately makes exactly n points: numpy's arange(N, 0, −N/n) makes n+1 for some n (61, 103, …) when
 * N/n is inexact, which gives diffusers a trailing −1 timestep.
 */
export function spacedTimesteps(options: SpacingOptions): number[] {
  const { spacing, numTrainTimesteps: N, steps: n, stepsOffset } = options;
  switch (spacing) {
    case 'linspace': {
      const points = linspace(0, N - 1, n).reverse();
      return options.linspaceMode === 'round' ? points.map(roundHalfEven) : points.map(Math.fround);
    }
    case 'leading': {
      const ratio = Math.floor(N / n);
      return Array.from({ length: n }, (_, i) => (n - 1 - i) * ratio + stepsOffset);
    }
    case 'trailing':
      return trailing(N, N, n);
  }
}

function trailing(start: number, numTrainTimesteps: number, n: number): number[] {
  const ratio = numTrainTimesteps / n;
  return Array.from({ length: n }, (_, i) => roundHalfEven(start - i * ratio) - 1);
}

/**
 * DPM-Solver's own variant of the spacings (port of diffusers DPMSolverMultistepScheduler.set_timesteps): linspace
 * and leading lay n+1 points and drop the last (t = 0), so the final step lands on the appended final sigma
 * instead of on timestep 0. With n = 10, N = 1000: linspace 999, 899, …, 100; leading 900, 810, …, 90 (+ steps_offset).
 */
export function multistepTimesteps(options: Omit<SpacingOptions, 'linspaceMode'>): number[] {
  const { spacing, numTrainTimesteps: N, steps: n, stepsOffset } = options;
  switch (spacing) {
    case 'linspace':
      return linspace(0, N - 1, n + 1)
        .map(roundHalfEven)
        .reverse()
        .slice(0, n);
    case 'leading': {
      const ratio = Math.floor(N / (n + 1));
      return Array.from({ length: n }, (_, i) => (n - i) * ratio + stepsOffset);
    }
    case 'trailing':
      return trailing(N, N, n);
  }
}

/**
 * σ at a possibly fractional timestep: numpy.interp(t, 0..N−1, σ), linear between the integer timesteps and clamped
 * at both ends.
 */
export function sigmaAt(schedule: NoiseSchedule, t: number): number {
  const s = schedule.sigmas;
  if (t <= 0) return s[0];
  if (t >= s.length - 1) return s[s.length - 1];
  const i = Math.floor(t);
  return s[i] + (s[i + 1] - s[i]) * (t - i);
}

/**
 * Port of diffusers `_sigma_to_t` (scheduling_euler_discrete.py): the fractional timestep whose σ is `sigma`, by
 * linear interpolation in log σ between the two neighbouring integer timesteps. Clamped to [0, N−1].
 */
export function sigmaToTimestep(schedule: NoiseSchedule, sigma: number): number {
  const logSigmas = schedule.logSigmas;
  const logSigma = Math.log(Math.max(sigma, 1e-10));
  // low = the last timestep whose log σ is ≤ logSigma (0 when there is none), kept one short of the end so that
  // high = low + 1 exists. numpy does this with cumsum(dists >= 0).argmax().
  let low = 0;
  for (let i = 0; i < logSigmas.length; i++) if (logSigmas[i] <= logSigma) low = i;
  low = Math.min(low, logSigmas.length - 2);
  const lo = logSigmas[low];
  const hi = logSigmas[low + 1];
  const w = Math.min(Math.max((lo - logSigma) / (lo - hi), 0), 1);
  return (1 - w) * low + w * (low + 1);
}

/**
 * Karras et al. 2022 (EDM) eq. 5: n sigmas from σ_max down to σ_min, evenly spaced in σ^(1/ρ), ρ = 7. No trailing
 * zero: the schedulers append their own final sigma. Port of k-diffusion get_sigmas_karras / diffusers
 * `_convert_to_karras`.
 */
export function karrasSigmas(sigmaMin: number, sigmaMax: number, n: number, rho = 7): number[] {
  const minInvRho = sigmaMin ** (1 / rho);
  const maxInvRho = sigmaMax ** (1 / rho);
  return linspace(0, 1, n).map((ramp) => (maxInvRho + ramp * (minInvRho - maxInvRho)) ** rho);
}

/**
 * Check a requested step count; a bad count is a bug in the caller (the pipeline validates user input), so it is a
 * TypeError that names the range.
 */
export function assertInferenceSteps(steps: number, max: number, what = 'numInferenceSteps'): void {
  if (!Number.isInteger(steps) || steps < 1 || steps > max) {
    throw new TypeError(`Expected \`${what}\` to be an integer 1–${max}, got \`${String(steps)}\` (${typeof steps})`);
  }
}

/** What `sigmaSchedule` gives the Euler-family schedulers. */
export interface SigmaSchedule {
  /** UNet timesteps, one per step; fractional with Karras sigmas or float32 linspace. */
  timesteps: number[];
  /** One σ per step plus the final σ (0, or σ_min with `final_sigmas_type: sigma_min`): length steps + 1. */
  sigmas: Float64Array;
  /** σ_max for linspace/trailing; √(σ_max² + 1) for leading, whose first timestep is below N−1. */
  initNoiseSigma: number;
}

/**
 * The Euler-family sigma schedule. Port of diffusers EulerDiscreteScheduler.set_timesteps: space the timesteps,
 * read σ at each (interpolated), optionally replace them by Karras sigmas between the *spaced* σ_min and σ_max
 * (so with `leading` spacing the range is narrower than the model's) and map those back to fractional timesteps
 * with `_sigma_to_t`, then append the final σ.
 */
export function sigmaSchedule(schedule: NoiseSchedule, config: SchedulerConfig, steps: number): SigmaSchedule {
  let timesteps = spacedTimesteps({
    spacing: config.timestepSpacing,
    numTrainTimesteps: config.numTrainTimesteps,
    steps,
    stepsOffset: config.stepsOffset,
    linspaceMode: 'float32',
  });
  let sigmas = timesteps.map((t) => sigmaAt(schedule, t));
  if (config.useKarrasSigmas) {
    sigmas = karrasSigmas(sigmas[sigmas.length - 1], sigmas[0], steps);
    timesteps = sigmas.map((s) => sigmaToTimestep(schedule, s));
  }
  const sigmaLast = config.finalSigmasType === 'sigma_min' ? schedule.sigmas[0] : 0;
  const all = Float64Array.from([...sigmas, sigmaLast]);
  const sigmaMax = Math.max(...all);
  const initNoiseSigma = config.timestepSpacing === 'leading' ? Math.sqrt(sigmaMax ** 2 + 1) : sigmaMax;
  return { timesteps, sigmas: all, initNoiseSigma };
}

/**
 * The model's clean-sample estimate x0 for the Euler family, which works on x = x0 + σ·ε (k-diffusion's
 * CompVisDenoiser). v-prediction: x0 = x/(σ²+1) − v·σ/√(σ²+1), from v = α·ε − σ_vp·x0 with α = 1/√(σ²+1).
 * Writes into `out` and returns it.
 */
export function eulerPredOriginal(
  predictionType: SchedulerConfig['predictionType'],
  modelOutput: Float32Array,
  sample: Float32Array,
  sigma: number,
  out: Float32Array,
): Float32Array {
  const n = sample.length;
  if (predictionType === 'epsilon') {
    for (let i = 0; i < n; i++) out[i] = sample[i] - sigma * modelOutput[i];
  } else if (predictionType === 'v_prediction') {
    const cOut = -sigma / Math.sqrt(sigma * sigma + 1);
    const cIn = 1 / (sigma * sigma + 1);
    for (let i = 0; i < n; i++) out[i] = modelOutput[i] * cOut + sample[i] * cIn;
  } else {
    out.set(modelOutput);
  }
  return out;
}

/**
 * The clean-sample estimate for the variance-preserving schedulers (DDIM, LCM) at ᾱ_t, where x = √ᾱ·x0 + √(1−ᾱ)·ε.
 * Also returns the matching ε estimate into `epsOut` when given (DDIM needs it). Writes into `out`.
 */
export function vpPredOriginal(
  predictionType: SchedulerConfig['predictionType'],
  modelOutput: Float32Array,
  sample: Float32Array,
  alphaProd: number,
  out: Float32Array,
  epsOut?: Float32Array,
): Float32Array {
  const n = sample.length;
  const a = Math.sqrt(alphaProd);
  const b = Math.sqrt(1 - alphaProd);
  for (let i = 0; i < n; i++) {
    const m = modelOutput[i];
    const x = sample[i];
    let x0: number;
    let eps: number;
    if (predictionType === 'epsilon') {
      x0 = (x - b * m) / a;
      eps = m;
    } else if (predictionType === 'v_prediction') {
      x0 = a * x - b * m;
      eps = a * m + b * x;
    } else {
      x0 = m;
      eps = (x - a * m) / b;
    }
    out[i] = x0;
    if (epsOut) epsOut[i] = eps;
  }
  return out;
}
