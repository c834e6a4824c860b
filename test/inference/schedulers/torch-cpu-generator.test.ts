import { describe, expect, it } from 'vitest';
import { TorchCpuGenerator } from './torch-cpu-generator.js';

// The goldens of Euler a and LCM multistep depend on this helper being torch's generator, so it is checked first.
describe('TorchCpuGenerator', () => {
  it('is MT19937: the 10000th output of the default seed 5489 is 4123659995 (C++ [rand.predef])', () => {
    const g = new TorchCpuGenerator(5489);
    let last = 0;
    for (let i = 0; i < 10_000; i++) last = g.nextUint32();
    expect(last).toBe(4123659995);
  });

  it('reproduces torch.manual_seed(0); torch.randn(4, 4)', () => {
    const expected = [
      -1.1258, -1.1524, -0.2506, -0.4339, 0.8487, 0.692, -0.316, -2.1152, 0.3223, -1.2633, 0.35, 0.3081, 0.1198,
      1.2377, 1.1168, -0.2473,
    ];
    const got = Array.from(new TorchCpuGenerator(0).randn(16));
    got.forEach((v, i) => expect(v).toBeCloseTo(expected[i], 4));
  });

  it('continues the stream across calls, as one torch generator does', () => {
    const g = new TorchCpuGenerator(0);
    const first = g.randn(16);
    const second = g.randn(16);
    expect(Array.from(second)).not.toEqual(Array.from(first));
    const both = new TorchCpuGenerator(0);
    both.randn(16);
    expect(Array.from(both.randn(16))).toEqual(Array.from(second));
  });
});
