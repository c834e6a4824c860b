/**
 * A port of the fixtures of diffusers' scheduler tests (tests/schedulers/test_schedulers.py, SchedulerCommonTest)
 * and of their full-loop shapes, so their published goldens can be asserted against our schedulers.
 *
 * - `dummySampleDeter`: arange(768) reshaped to (C=3, H=8, W=8, B=4), divided by 768, permuted to (B, C, H, W).
 *   We store it flattened in NCHW order, so element [b, c, h, w] is (c·256 + h·32 + w·4 + b)/768. The order matters
 *   only where the sample meets noise element-wise (torch noise is drawn in NCHW order).
 * - `dummyNoiseDeter`: the same with arange flipped: (767 − that index)/768.
 * - `dummyModel`: sample·t/(t + 1), t the timestep fed to the UNet.
 */
import type { NoiseSource, Scheduler } from '../../../src/inference/schedulers/scheduler.js';

/** SD1.5's scheduler_config.json (PNDMScheduler), whose betas every SD1.x sampler runs on. */
export const sd15Config = {
  _class_name: 'PNDMScheduler',
  _diffusers_version: '0.6.0',
  beta_end: 0.012,
  beta_schedule: 'scaled_linear',
  beta_start: 0.00085,
  num_train_timesteps: 1000,
  set_alpha_to_one: false,
  skip_prk_steps: true,
  steps_offset: 1,
  trained_betas: null,
  clip_sample: false,
};

const B = 4;
const C = 3;
const H = 8;
const W = 8;
const NUM = B * C * H * W;

function deter(flip: boolean): Float32Array {
  const out = new Float32Array(NUM);
  for (let b = 0; b < B; b++)
    for (let c = 0; c < C; c++)
      for (let h = 0; h < H; h++)
        for (let w = 0; w < W; w++) {
          const k = ((c * H + h) * W + w) * B + b; // index in the (C, H, W, B) arange
          out[((b * C + c) * H + h) * W + w] = (flip ? NUM - 1 - k : k) / NUM;
        }
  return out;
}

export function dummySampleDeter(): Float32Array {
  return deter(false);
}

export function dummyNoiseDeter(): Float32Array {
  return deter(true);
}

export function dummyModel(sample: Float32Array, t: number): Float32Array {
  const factor = t / (t + 1);
  return sample.map((x) => x * factor);
}

export function scale(x: Float32Array, factor: number): Float32Array {
  return x.map((v) => v * factor);
}

export function sumAbs(x: Float32Array): number {
  let s = 0;
  for (const v of x) s += Math.abs(v);
  return s;
}

export function meanAbs(x: Float32Array): number {
  return sumAbs(x) / x.length;
}

/** A noise source that must not be used: for schedulers that are deterministic by contract. */
export const noNoise: NoiseSource = {
  randn() {
    throw new Error('this scheduler step must not draw noise');
  },
};

export interface LoopOptions {
  /** First step index (diffusers' t_start·order); sample is noised there with dummyNoiseDeter when > 0. */
  begin?: number;
  /**
   * The Euler tests' loop: `sample = scale_model_input(sample, t)` overwrites the sample, so `step` receives the
   * *scaled* sample. The DPM, DDIM and LCM tests never call scale_model_input.
   */
  scaleAndOverwrite?: boolean;
  /** Multiply the starting sample by initNoiseSigma (the Euler tests do). */
  useInitNoiseSigma?: boolean;
  noise?: NoiseSource;
}

/** The full denoising loop of diffusers' scheduler tests, through our interface. */
export function fullLoop(scheduler: Scheduler, steps: number, options: LoopOptions = {}): Float32Array {
  scheduler.setTimesteps(steps);
  let sample = dummySampleDeter();
  if (options.useInitNoiseSigma) sample = scale(sample, scheduler.initNoiseSigma);
  const begin = options.begin ?? 0;
  if (begin > 0) sample = scheduler.addNoise(sample, dummyNoiseDeter(), begin);
  for (let i = begin; i < scheduler.timesteps.length; i++) {
    if (options.scaleAndOverwrite) sample = scheduler.scaleModelInput(sample, i);
    const output = dummyModel(sample, scheduler.timesteps[i]);
    sample = scheduler.step(output, i, sample, options.noise ?? noNoise).prevSample;
  }
  return sample;
}
