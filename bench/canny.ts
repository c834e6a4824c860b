/**
 * `npm run bench:canny`: the TypeScript Canny (src/inference/image/canny.ts) on a 1024×1024 RGB picture with
 * shapes and noise, as the ControlNet "canny" preprocessor runs it. Target: < 50 ms. Prints the median wall and
 * process CPU time of `--runs` runs after a warm-up (CPU time is the steady figure on a shared machine); does not assert.
 *
 *   npm run bench:canny [-- --runs 15 --size 1024 --low 100 --high 200]
 */
import { parseArgs } from 'node:util';
import { canny } from '../src/inference/image/canny.js';

const { values } = parseArgs({
  options: {
    runs: { type: 'string', default: '15' },
    size: { type: 'string', default: '1024' },
    low: { type: 'string', default: '100' },
    high: { type: 'string', default: '200' },
  },
});
const size = Number(values.size);
const runs = Number(values.runs);

// Gradients, discs and seeded noise: edges everywhere, weak ones too, so hysteresis has work.
const pixels = new Uint8Array(size * size * 3);
let s = 15;
for (let y = 0; y < size; y++) {
  for (let x = 0; x < size; x++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    const inDisc = ((x % 128) - 64) ** 2 + ((y % 128) - 64) ** 2 < 40 ** 2;
    const i = (y * size + x) * 3;
    pixels[i] = inDisc ? 230 : (x * 255) / size;
    pixels[i + 1] = inDisc ? 40 : (y * 255) / size;
    pixels[i + 2] = (s >>> 24) & 31;
  }
}
for (let i = 0; i < 3; i++) canny(pixels, size, size, 3, Number(values.low), Number(values.high));
const times: number[] = [];
// Process CPU time as well: on a shared machine the wall time includes waiting for a core, the CPU time does not.
const cpu: number[] = [];
let edges = 0;
for (let r = 0; r < runs; r++) {
  const started = performance.now();
  const cpuStart = process.cpuUsage();
  const out = canny(pixels, size, size, 3, Number(values.low), Number(values.high));
  const used = process.cpuUsage(cpuStart);
  times.push(performance.now() - started);
  cpu.push((used.user + used.system) / 1000);
  edges = out.reduce((n, v) => n + (v ? 1 : 0), 0);
}
times.sort((a, b) => a - b);
cpu.sort((a, b) => a - b);
const median = (v: number[]) => v[Math.floor(v.length / 2)].toFixed(1);
console.log(
  `canny ${size}x${size} RGB, thresholds ${values.low}/${values.high}: wall median ${median(times)} ms (best ${times[0].toFixed(1)}), CPU median ${median(cpu)} ms, over ${runs} runs (${edges} edge pixels; target < 50 ms)`,
);
