import { describe, expect, it } from 'vitest';
import { float16ToFloat32, float32ToFloat16, fromFloat16Bits, toFloat16Bits } from '../../../src/inference/model/float16.js';

describe('float16 conversion', () => {
  it.each([
    [0, 0x0000],
    [-0, 0x8000],
    [1, 0x3c00],
    [-2, 0xc000],
    [0.5, 0x3800],
    [65504, 0x7bff], // largest finite half
    [65520, 0x7c00], // rounds up to Infinity
    [Infinity, 0x7c00],
    [-Infinity, 0xfc00],
    [2 ** -24, 0x0001], // smallest subnormal
    [2 ** -14, 0x0400], // smallest normal
    [1 + 2 ** -11, 0x3c00], // halfway: ties to even (down)
    [1 + 3 * 2 ** -11, 0x3c02], // halfway: ties to even (up)
    [0.1, 0x2e66],
  ])('encodes %f as 0x%s', (value, bits) => {
    expect(toFloat16Bits(value)).toBe(bits);
  });

  it('keeps NaN a NaN', () => {
    expect(Number.isNaN(fromFloat16Bits(toFloat16Bits(Number.NaN)))).toBe(true);
  });

  it('round-trips every finite half value exactly', () => {
    for (let h = 0; h < 0x10000; h++) {
      const exp = (h >>> 10) & 0x1f;
      if (exp === 0x1f) continue;
      expect(toFloat16Bits(fromFloat16Bits(h))).toBe(h);
    }
  });

  it('converts arrays both ways within half precision', () => {
    const values = Float32Array.from([0.25, -3.5, 1234.5, 1e-3]);
    const back = float16ToFloat32(float32ToFloat16(values));
    // Half precision keeps 11 significant bits: relative error at most 2^-11. (1234.5 is a tie and rounds to even.)
    expect(Array.from(back)).toEqual([0.25, -3.5, 1234, expect.closeTo(1e-3, 6)]);
    values.forEach((v, i) => expect(Math.abs(back[i] - v) / Math.abs(v)).toBeLessThanOrEqual(2 ** -11));
  });
});
