import type { NoiseSource } from './schedulers/scheduler.js';

/**
 * Seeded Gaussian noise that reproduces PyTorch's CPU generator: `torch.manual_seed(s); torch.randn(n)` gives
 * the same numbers (to float32 rounding of log/sin/cos), so a seed means the same starting noise here as in
 * diffusers or ComfyUI on CPU. Port of torch's mt19937 (aten/src/ATen/core/MT19937RNGEngine.h) and
 * `normal_fill` (aten/src/ATen/native/cpu/DistributionTemplates.h); sd.cpp's rng_mt19937.hpp does the same.
 */
export class TorchCpuRng implements NoiseSource {
  private readonly state = new Uint32Array(624);
  private index = 624;

  constructor(seed: number) {
    if (!Number.isInteger(seed) || seed < 0 || seed > 0xffff_ffff) {
      throw new TypeError(`Expected \`seed\` to be an integer 0–4294967295, got \`${seed}\` (${typeof seed})`);
    }
    // Standard MT19937 initialisation (Knuth's multiplier); Math.imul keeps the product in 32 bits.
    this.state[0] = seed >>> 0;
    for (let i = 1; i < 624; i++) {
      const prev = this.state[i - 1] ^ (this.state[i - 1] >>> 30);
      this.state[i] = (Math.imul(1812433253, prev) + i) >>> 0;
    }
  }

  /** Next raw 32-bit output of MT19937. */
  nextUint32(): number {
    if (this.index >= 624) this.twist();
    let y = this.state[this.index++];
    y ^= y >>> 11;
    y ^= (y << 7) & 0x9d2c5680;
    y ^= (y << 15) & 0xefc60000;
    y ^= y >>> 18;
    return y >>> 0;
  }

  /** torch's `uniform_real_distribution<float>(0, 1)`: the low 24 bits of one draw, scaled to [0, 1). */
  uniform(): number {
    return (this.nextUint32() & 0xff_ffff) * 2 ** -24;
  }

  /**
   * `n` standard normal samples in torch's order. torch fills the whole tensor with uniforms first, then runs
   * Box–Muller over blocks of 16 (pairing j with j + 8); a tail shorter than 16 is handled by redrawing 16
   * fresh uniforms for the last 16 slots. Tensors under 16 elements take a different path in torch (scalar
   * Box–Muller with a cached second value), reproduced in `randnSmall`.
   */
  randn(n: number): Float32Array {
    const data = new Float32Array(n);
    if (n < 16) return this.randnSmall(data);
    for (let i = 0; i < n; i++) data[i] = this.uniform();
    for (let i = 0; i + 16 <= n; i += 16) normalFill16(data, i);
    if (n % 16 !== 0) {
      const start = n - 16;
      for (let i = 0; i < 16; i++) data[start + i] = this.uniform();
      normalFill16(data, start);
    }
    return data;
  }

  private cachedNormal: number | undefined;

  /**
   * torch's `normal_distribution<double>` for small tensors: Box–Muller on two 53-bit uniforms, returning
   * the cosine branch and caching the sine branch for the next call.
   */
  private randnSmall(data: Float32Array): Float32Array {
    for (let i = 0; i < data.length; i++) {
      if (this.cachedNormal !== undefined) {
        data[i] = this.cachedNormal;
        this.cachedNormal = undefined;
        continue;
      }
      const u1 = this.uniform53();
      const u2 = this.uniform53();
      const r = Math.sqrt(-2 * Math.log1p(-u2));
      const theta = 2 * Math.PI * u1;
      this.cachedNormal = r * Math.sin(theta);
      data[i] = r * Math.cos(theta);
    }
    return data;
  }

  /** torch's `uniform_real_distribution<double>`: a 64-bit draw (two 32-bit outputs) masked to 53 bits. */
  private uniform53(): number {
    // random64() is make64BitsFrom32Bits(first, second) = (first << 32) | second; keep the low 53 bits:
    // all of the second draw and the low 21 bits of the first.
    const hi = this.nextUint32();
    const lo = this.nextUint32();
    return ((hi & 0x1f_ffff) * 2 ** 32 + lo) * 2 ** -53;
  }

  private twist(): void {
    const s = this.state;
    for (let i = 0; i < 624; i++) {
      const y = (s[i] & 0x8000_0000) | (s[(i + 1) % 624] & 0x7fff_ffff);
      let next = s[(i + 397) % 624] ^ (y >>> 1);
      if (y & 1) next ^= 0x9908_b0df;
      s[i] = next >>> 0;
    }
    this.index = 0;
  }
}

/** torch's `normal_fill_16`: Box–Muller over 8 pairs (j, j + 8) of uniforms already in `data`. */
function normalFill16(data: Float32Array, offset: number): void {
  for (let j = 0; j < 8; j++) {
    // 1 - u maps [0, 1) to (0, 1], so the log is finite.
    const u1 = 1 - data[offset + j];
    const u2 = data[offset + j + 8];
    const radius = Math.sqrt(-2 * Math.log(u1));
    const theta = 2 * Math.PI * u2;
    data[offset + j] = radius * Math.cos(theta);
    data[offset + j + 8] = radius * Math.sin(theta);
  }
}

/**
 * Spherical interpolation between two noise tensors, as A1111's variation seed does (modules/rng.py `slerp`),
 * over the whole tensor: `t = 0` gives `a`, `t = 1` gives `b`, and the result keeps unit-Gaussian statistics
 * where a linear blend would shrink them. Nearly parallel inputs fall back to a linear blend.
 */
export function slerp(t: number, a: Float32Array, b: Float32Array): Float32Array {
  if (a.length !== b.length) throw new TypeError(`slerp needs equal lengths, got ${a.length} and ${b.length}`);
  let normA = 0;
  let normB = 0;
  let dot = 0;
  for (let i = 0; i < a.length; i++) {
    normA += a[i] * a[i];
    normB += b[i] * b[i];
    dot += a[i] * b[i];
  }
  const cos = dot / Math.sqrt(normA * normB);
  const out = new Float32Array(a.length);
  if (!Number.isFinite(cos) || Math.abs(cos) > 0.9995) {
    for (let i = 0; i < a.length; i++) out[i] = a[i] * (1 - t) + b[i] * t;
    return out;
  }
  const omega = Math.acos(cos);
  const sinOmega = Math.sin(omega);
  const wa = Math.sin((1 - t) * omega) / sinOmega;
  const wb = Math.sin(t * omega) / sinOmega;
  for (let i = 0; i < a.length; i++) out[i] = wa * a[i] + wb * b[i];
  return out;
}
