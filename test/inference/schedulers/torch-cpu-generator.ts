/**
 * torch's CPU generator, as far as `torch.manual_seed(seed)` + `torch.randn(n)` (float32, n ≥ 16, contiguous)
 * goes, so the diffusers goldens of the stochastic schedulers (Euler a, LCM multistep) can be reproduced: they draw
 * their noise from `torch.manual_seed(0)`.
 *
 * Written from the algorithm, not from torch's source: MT19937 (Matsumoto & Nishimura 1998, seeded with the
 * reference init_genrand); each float uniform is the low 24 bits of one 32-bit draw times 2^-24; then torch's
 * `normal_fill` turns every block of 16 uniforms into 16 normals by Box-Muller, pairing element j (as 1 − u, the
 * radius) with element j + 8 (the angle). A final partial block re-draws the last 16 positions.
 * Checked against torch.manual_seed(0); torch.randn(4, 4) in torch-cpu-generator.test.ts.
 */
import type { NoiseSource } from '../../../src/inference/schedulers/scheduler.js';

const N = 624;
const M = 397;

export class TorchCpuGenerator implements NoiseSource {
  private readonly mt = new Uint32Array(N);
  private index = N;

  constructor(seed: number) {
    this.mt[0] = seed >>> 0;
    for (let i = 1; i < N; i++) {
      const prev = this.mt[i - 1] ^ (this.mt[i - 1] >>> 30);
      this.mt[i] = (Math.imul(1812433253, prev) + i) >>> 0;
    }
  }

  /** The next 32-bit MT19937 output. */
  nextUint32(): number {
    if (this.index >= N) this.twist();
    let y = this.mt[this.index++];
    y ^= y >>> 11;
    y ^= (y << 7) & 0x9d2c5680;
    y ^= (y << 15) & 0xefc60000;
    y ^= y >>> 18;
    return y >>> 0;
  }

  private twist(): void {
    const mt = this.mt;
    for (let k = 0; k < N; k++) {
      const y = (mt[k] & 0x80000000) | (mt[(k + 1) % N] & 0x7fffffff);
      mt[k] = mt[(k + M) % N] ^ (y >>> 1) ^ (y & 1 ? 0x9908b0df : 0);
    }
    this.index = 0;
  }

  /** A float32 uniform in [0, 1) with 24 random bits. */
  private uniform(): number {
    return (this.nextUint32() & 0xffffff) / 16777216;
  }

  randn(n: number): Float32Array {
    if (n < 16) throw new RangeError('TorchCpuGenerator reproduces torch.randn only for n >= 16');
    const data = new Float32Array(n);
    for (let i = 0; i < n; i++) data[i] = this.uniform();
    for (let i = 0; i + 16 <= n; i += 16) normalFill16(data, i);
    if (n % 16 !== 0) {
      const start = n - 16;
      for (let i = 0; i < 16; i++) data[start + i] = this.uniform();
      normalFill16(data, start);
    }
    return data;
  }
}

/** Box-Muller over one block of 16 uniforms, in float32 like torch's kernel. */
function normalFill16(data: Float32Array, start: number): void {
  for (let j = 0; j < 8; j++) {
    const u1 = Math.fround(1 - data[start + j]);
    const u2 = data[start + j + 8];
    const radius = Math.fround(Math.sqrt(Math.fround(-2 * Math.fround(Math.log(u1)))));
    const theta = Math.fround(2 * Math.PI * u2);
    data[start + j] = radius * Math.cos(theta);
    data[start + j + 8] = radius * Math.sin(theta);
  }
}
