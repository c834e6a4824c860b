import { describe, expect, it } from 'vitest';
import { TorchCpuRng, slerp } from '../../src/inference/rng.js';

// Expected values printed by PyTorch 1.13 (Debian python3-torch) on CPU:
//   torch.manual_seed(s); torch.randn(...)
describe('TorchCpuRng', () => {
  it('is MT19937: the 10000th output of the default seed 5489 is 4123659995 (C++ [rand.predef])', () => {
    const g = new TorchCpuRng(5489);
    let last = 0;
    for (let i = 0; i < 10_000; i++) last = g.nextUint32();
    expect(last).toBe(4123659995);
  });

  it('continues one stream across calls, as one torch generator does (diffusers passes it to every step)', () => {
    const g = new TorchCpuRng(0);
    g.randn(16);
    const second = g.randn(16);
    const fresh = new TorchCpuRng(0).randn(32);
    expect(Array.from(second)).toEqual(Array.from(fresh.slice(16)));
  });

  it('reproduces torch.randn(1, 4, 8, 8) for seed 42 (the 16-wide Box–Muller path)', () => {
    const x = new TorchCpuRng(42).randn(256);
    expect(Array.from(x.slice(0, 4))).toEqual([1.926915, 1.487284, 0.900717, -2.105521].map((v) => expect.closeTo(v, 5)));
    expect(Array.from(x.slice(-3))).toEqual([0.565505, 0.505792, 0.222454].map((v) => expect.closeTo(v, 5)));
    expect(x.reduce((a, v) => a + Math.abs(v), 0)).toBeCloseTo(206.2198, 2);
  });

  it('reproduces a length that is not a multiple of 16 (torch redraws the last 16)', () => {
    const expected = [
      -1.12584, -1.15236, -0.250579, -0.433879, 0.598839, -1.555095, -0.34136, 1.853006, 0.468096, -0.157712, 1.44366, 0.266049, 1.389366, 1.586334,
      0.946298, -0.843677, 0.931827, 1.259009, 2.004981, 0.053737,
    ];
    expect(Array.from(new TorchCpuRng(0).randn(20))).toEqual(expected.map((v) => expect.closeTo(v, 5)));
  });

  it('reproduces tensors under 16 elements (scalar Box–Muller with a cached value) and continues the stream', () => {
    expect(Array.from(new TorchCpuRng(4294967295).randn(3))).toEqual([1.219763, -0.392979, 1.023075].map((v) => expect.closeTo(v, 5)));
    const rng = new TorchCpuRng(7);
    expect(Array.from(rng.randn(5))).toEqual([-0.146795, 0.786141, 0.946822, -1.114344, 1.69079].map((v) => expect.closeTo(v, 5)));
    expect(Array.from(rng.randn(16).slice(0, 3))).toEqual([0.609473, -0.581134, 0.049044].map((v) => expect.closeTo(v, 5)));
  });

  it('rejects seeds outside 0..2^32-1', () => {
    expect(() => new TorchCpuRng(-1)).toThrow(/0–4294967295/);
    expect(() => new TorchCpuRng(2 ** 32)).toThrow(/0–4294967295/);
    expect(() => new TorchCpuRng(1.5)).toThrow(TypeError);
  });
});

describe('slerp', () => {
  const a = new TorchCpuRng(1).randn(4096);
  const b = new TorchCpuRng(2).randn(4096);
  const norm = (v: Float32Array) => Math.sqrt(v.reduce((s, x) => s + x * x, 0));

  it('returns the first tensor at 0 and the second at 1', () => {
    expect(Array.from(slerp(0, a, b).slice(0, 8))).toEqual(Array.from(a.slice(0, 8)).map((v) => expect.closeTo(v, 5)));
    expect(Array.from(slerp(1, a, b).slice(0, 8))).toEqual(Array.from(b.slice(0, 8)).map((v) => expect.closeTo(v, 5)));
  });

  it('keeps the norm of unit-Gaussian noise halfway, where a linear blend shrinks it by about √2', () => {
    const mid = slerp(0.5, a, b);
    expect(norm(mid) / norm(a)).toBeGreaterThan(0.97);
    const lerp = a.map((v, i) => (v + b[i]) / 2);
    expect(norm(lerp) / norm(a)).toBeLessThan(0.75);
  });

  it('falls back to a linear blend for parallel inputs instead of dividing by zero', () => {
    const out = slerp(0.3, a, a);
    expect(out.every(Number.isFinite)).toBe(true);
    expect(out[0]).toBeCloseTo(a[0], 5);
  });
});
