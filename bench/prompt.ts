/**
 * `npm run bench:prompt`: text-encoding time of a prompt of 1 chunk against one of 8 chunks (A1111 long prompts),
 * on a generated CLIP-sized text encoder (77 tokens × 768 wide, `--layers` dense layers), through the engine's own
 * path (parse → chunk → encode → emphasis → join). Run with a batch-capable encoder (the 8 chunks go in one
 * [8, 77] run) and with its batch fixed to 1 (8 runs). Target: 8 chunks ≤ 8 × one chunk. Prints wall and process
 * CPU time (the latter is steady on a shared machine, with --threads 1), medians of interleaved runs; does not assert.
 *
 *   npm run bench:prompt [-- --layers 8 --runs 9 --threads 1]
 */
import { rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { loadModel, releaseModel } from '../src/inference/model/loaded-model.js';
import { RunClock } from '../src/inference/model/session.js';
import { Generation } from '../src/inference/pipelines/generation.js';
import { inspectModelFolder } from '../src/model-folder/model-folder.js';
import type { GenerateRequest } from '../src/protocol/generate-request.js';
import { GraphBuilder } from '../test/fixtures/onnx-graph.js';
import { smallRequest } from '../test/fixtures/requests.js';
import { makeTempDir, writeTinyModel } from '../test/fixtures/tiny-models.js';

const { values } = parseArgs({
  options: {
    layers: { type: 'string', default: '8' },
    runs: { type: 'string', default: '9' },
    // onnxruntime threads; 0 = its default (all cores). 1 gives steadier ratios on a shared machine.
    threads: { type: 'string', default: '1' },
  },
});
const threads = Number(values.threads);
const layers = Number(values.layers);
const runs = Number(values.runs);
const WIDTH = 768;

/** ids → sin(id·w) [b, 77, 768] → `layers` × (MatMul 768×768, Tanh): about CLIP's per-token dense cost. */
function textEncoder(batch: number | string): Uint8Array {
  const g = new GraphBuilder();
  let seed = 1;
  const rand = (n: number, scale: number) =>
    Float32Array.from({ length: n }, () => {
      seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0;
      return ((seed / 2 ** 32) * 2 - 1) * scale;
    });
  const ids = g.op('Cast', ['input_ids'], { to: 1 });
  const col = g.op('Unsqueeze', [ids, g.int64Const([2])]);
  let x = g.op('Sin', [g.op('Mul', [col, g.floatConst(rand(WIDTH, 0.01), [WIDTH])])]);
  for (let i = 0; i < layers; i++) {
    x = g.op(
      'Tanh',
      [g.op('MatMul', [x, g.floatConst(rand(WIDTH * WIDTH, 0.05), [WIDTH, WIDTH])])],
      {},
      i === layers - 1 ? 'last_hidden_state' : undefined,
    );
  }
  return g.build(
    [{ name: 'input_ids', type: 'int32', shape: [batch, 77] }],
    [{ name: 'last_hidden_state', type: 'float32', shape: [batch, 77, WIDTH] }],
  );
}

const dir = await makeTempDir('imagine-bench-prompt-');
const ONE = '(a lighthouse on a cliff:1.2), [fog], dramatic sky';
const EIGHT = Array.from({ length: 8 }, () => ONE).join(' BREAK ');

const request = (prompt: string): GenerateRequest => smallRequest({ model: 'bench', prompt, steps: 1, cfg: 1, seed: undefined });

try {
  for (const [label, batch] of [
    ['batched encoder', 'batch'],
    ['batch fixed to 1', 1],
  ] as const) {
    const modelDir = path.join(dir, String(batch));
    await writeTinyModel(modelDir, { hiddenSize: WIDTH });
    await writeFile(path.join(modelDir, 'text_encoder', 'model.onnx'), textEncoder(batch));
    const model = await loadModel(await inspectModelFolder(modelDir), {
      graphOptimizationLevel: 'all',
      ...(threads > 0 ? { intraOpNumThreads: threads } : {}),
    });
    const clock = new RunClock();
    const gen = new Generation(model, request(ONE), clock, {});
    const once = async (prompt: string, expected: number) => {
      const before = clock.totalMs;
      const cpu = process.cpuUsage();
      const started = performance.now();
      const { chunks } = await gen.encodeText(prompt, 'prompt');
      if (chunks !== expected) throw new Error(`expected ${expected} chunks, got ${chunks}`);
      const used = process.cpuUsage(cpu);
      return { ms: performance.now() - started, onnxMs: clock.totalMs - before, cpuMs: (used.user + used.system) / 1000 };
    };
    await once(ONE, 1); // warm-up
    await once(EIGHT, 8);
    // Interleaved, so a busy moment on a shared machine slows both sides alike; medians, so one run does not decide.
    type Sample = { ms: number; onnxMs: number; cpuMs: number };
    const ones: Sample[] = [];
    const eights: Sample[] = [];
    for (let i = 0; i < runs; i++) {
      ones.push(await once(ONE, 1));
      eights.push(await once(EIGHT, 8));
    }
    const median = (v: Sample[]): Sample => {
      const pick = (key: keyof Sample) => v.map((x) => x[key]).sort((a, b) => a - b)[Math.floor(v.length / 2)];
      return { ms: pick('ms'), onnxMs: pick('onnxMs'), cpuMs: pick('cpuMs') };
    };
    const one = median(ones);
    const eight = median(eights);
    // CPU time is what the work costs; wall time also counts waiting for a core when the machine is shared.
    const verdict = (a: number, b: number) => (b <= 8 * a ? 'within' : 'OVER');
    process.stdout.write(
      `${label}: wall 1 chunk ${one.ms.toFixed(1)} ms (onnxruntime ${one.onnxMs.toFixed(1)}), 8 chunks ${eight.ms.toFixed(1)} ms (onnxruntime ${eight.onnxMs.toFixed(1)}) = ` +
        `${(eight.ms / one.ms).toFixed(2)}× (${verdict(one.ms, eight.ms)} 8×); ` +
        `CPU 1 chunk ${one.cpuMs.toFixed(1)} ms, 8 chunks ${eight.cpuMs.toFixed(1)} ms = ${(eight.cpuMs / one.cpuMs).toFixed(2)}× (${verdict(one.cpuMs, eight.cpuMs)} 8×)\n`,
    );
    await releaseModel(model);
  }
} finally {
  await rm(dir, { recursive: true, force: true });
}
