import { describe, expect, it } from 'vitest';
import {
  betasFor,
  karrasSigmas,
  linspace,
  multistepTimesteps,
  noiseSchedule,
  roundHalfEven,
  sigmaAt,
  sigmaToTimestep,
  spacedTimesteps,
} from '../../../src/inference/schedulers/noise-schedule.js';
import { defaultSchedulerConfig } from '../../../src/inference/schedulers/scheduler-config.js';

/** SD1.x/2.x training schedule (reference/inference.md §1.4). */
const sdBetas = {
  ...defaultSchedulerConfig('EulerDiscreteScheduler'),
  betaStart: 0.00085,
  betaEnd: 0.012,
  betaSchedule: 'scaled_linear' as const,
};

describe('noiseSchedule', () => {
  const sd = noiseSchedule(sdBetas);

  it('reproduces the SD scaled_linear test vectors of reference/inference.md §3.3', () => {
    expect(sd.sigmas[0]).toBeCloseTo(0.029167, 6);
    expect(sd.sigmas[999]).toBeCloseTo(14.614641, 6);
    expect(sd.alphasCumprod[999]).toBeCloseTo(4.660099e-3, 9);
  });

  it('builds scaled_linear betas linearly in √β between beta_start and beta_end', () => {
    expect(sd.betas[0]).toBeCloseTo(0.00085, 12);
    expect(sd.betas[999]).toBeCloseTo(0.012, 12);
    expect(Math.sqrt(sd.betas[500]) - Math.sqrt(sd.betas[499])).toBeCloseTo((Math.sqrt(0.012) - Math.sqrt(0.00085)) / 999, 12);
  });

  it('caps squaredcos_cap_v2 betas at 0.999 and keeps ᾱ decreasing', () => {
    const betas = betasFor({ ...sdBetas, betaSchedule: 'squaredcos_cap_v2' });
    expect(Math.max(...betas)).toBe(0.999);
    expect(betas[0]).toBeGreaterThan(0);
    const { alphasCumprod } = noiseSchedule({ ...sdBetas, betaSchedule: 'squaredcos_cap_v2' });
    for (let i = 1; i < alphasCumprod.length; i++) expect(alphasCumprod[i]).toBeLessThan(alphasCumprod[i - 1]);
  });

  it('uses trained_betas verbatim when given', () => {
    const trained = Array.from({ length: 10 }, (_, i) => 0.01 * (i + 1));
    const s = noiseSchedule({ ...sdBetas, numTrainTimesteps: 10, trainedBetas: trained });
    expect(Array.from(s.betas)).toEqual(trained);
    expect(s.alphasCumprod[1]).toBeCloseTo(0.99 * 0.98, 12);
  });

  it('rescales to zero terminal SNR, keeping ᾱ_0 and flooring ᾱ_{N−1} at 2^-24 only for sigma schedulers', () => {
    const config = { ...sdBetas, rescaleBetasZeroSnr: true };
    const vp = noiseSchedule(config);
    expect(vp.alphasCumprod[0]).toBeCloseTo(sd.alphasCumprod[0], 12);
    expect(vp.alphasCumprod[999]).toBeCloseTo(0, 15);
    const ve = noiseSchedule(config, true);
    expect(ve.alphasCumprod[999]).toBe(2 ** -24);
    expect(Number.isFinite(ve.sigmas[999])).toBe(true);
  });
});

describe('timestep spacings', () => {
  const base = { numTrainTimesteps: 1000, stepsOffset: 0, linspaceMode: 'float32' as const };

  it('leading with steps_offset 1 and n = 20 gives 951, 901, …, 51, 1', () => {
    const t = spacedTimesteps({ ...base, spacing: 'leading', steps: 20, stepsOffset: 1 });
    expect(t).toEqual(Array.from({ length: 20 }, (_, i) => 951 - 50 * i));
  });

  it('linspace with n = 4 gives 999, 666, 333, 0', () => {
    expect(spacedTimesteps({ ...base, spacing: 'linspace', steps: 4 })).toEqual([999, 666, 333, 0]);
  });

  it('trailing with n = 4 gives 999, 749, 499, 249', () => {
    expect(spacedTimesteps({ ...base, spacing: 'trailing', steps: 4 })).toEqual([999, 749, 499, 249]);
  });

  it('keeps float32 linspace timesteps fractional for sigma schedulers and rounds them half-to-even for DDIM', () => {
    const f = spacedTimesteps({ ...base, spacing: 'linspace', steps: 20 });
    expect(f[1]).toBe(Math.fround(999 - 999 / 19));
    expect(Number.isInteger(f[1])).toBe(false);
    const r = spacedTimesteps({ ...base, spacing: 'linspace', steps: 7, linspaceMode: 'round' });
    // linspace(0, 999, 7) = 0, 166.5, 333, 499.5, 666, 832.5, 999: numpy rounds the halves to even.
    expect(r).toEqual([999, 832, 666, 500, 333, 166, 0]);
  });

  it('makes exactly n trailing timesteps even where numpy arange would make n + 1 (n = 61)', () => {
    const t = spacedTimesteps({ ...base, spacing: 'trailing', steps: 61 });
    expect(t).toHaveLength(61);
    expect(Math.min(...t)).toBeGreaterThanOrEqual(0);
  });

  it("uses DPM-Solver's n + 1 point variant that never lands on t = 0", () => {
    expect(multistepTimesteps({ spacing: 'linspace', numTrainTimesteps: 1000, steps: 10, stepsOffset: 0 })).toEqual([
      999, 899, 799, 699, 599, 500, 400, 300, 200, 100,
    ]);
    expect(multistepTimesteps({ spacing: 'leading', numTrainTimesteps: 1000, steps: 10, stepsOffset: 1 })).toEqual([
      901, 811, 721, 631, 541, 451, 361, 271, 181, 91,
    ]);
  });

  it('rounds like numpy: halves to the even neighbour', () => {
    expect([0.5, 1.5, 2.5, 332.5, 333.5, -0.5, 2.4999, 2.5001].map(roundHalfEven)).toEqual([0, 2, 2, 332, 334, 0, 2, 3]);
  });

  it('linspace matches numpy, including a single point', () => {
    expect(linspace(0, 1, 5)).toEqual([0, 0.25, 0.5, 0.75, 1]);
    expect(linspace(0, 999, 1)).toEqual([0]);
  });
});

describe('sigma interpolation', () => {
  const sd = noiseSchedule(sdBetas);

  it('interpolates σ linearly between integer timesteps and clamps outside 0..N−1', () => {
    expect(sigmaAt(sd, 500.25)).toBeCloseTo(0.75 * sd.sigmas[500] + 0.25 * sd.sigmas[501], 12);
    expect(sigmaAt(sd, -3)).toBe(sd.sigmas[0]);
    expect(sigmaAt(sd, 2000)).toBe(sd.sigmas[999]);
  });

  it('maps σ back to its timestep by log-σ interpolation (_sigma_to_t)', () => {
    expect(sigmaToTimestep(sd, sd.sigmas[0])).toBe(0);
    expect(sigmaToTimestep(sd, sd.sigmas[999])).toBe(999);
    expect(sigmaToTimestep(sd, sd.sigmas[420])).toBeCloseTo(420, 10);
    const mid = Math.exp(0.5 * (sd.logSigmas[300] + sd.logSigmas[301]));
    expect(sigmaToTimestep(sd, mid)).toBeCloseTo(300.5, 10);
    // Below σ_min and above σ_max the timestep clamps to the ends of the table.
    expect(sigmaToTimestep(sd, 1e-4)).toBe(0);
    expect(sigmaToTimestep(sd, 100)).toBe(999);
  });

  it('gives the Karras n = 10 list of reference/inference.md §3.3 from the model σ range', () => {
    const sigmas = karrasSigmas(sd.sigmas[0], sd.sigmas[999], 10);
    const expected = [14.6146, 9.1029, 5.4784, 3.1686, 1.7494, 0.9141, 0.4469, 0.2014, 0.0819, 0.0292];
    sigmas.forEach((s, i) => expect(s).toBeCloseTo(expected[i], 4));
  });
});
