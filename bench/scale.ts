/**
 * Scaling benchmark: the fair queue and the dispatcher feeding 1, 2 and 4 workers (prints numbers; CI does not
 * time them). Three parts:
 *
 *   1. In-process fake workers with fixed costs (no onnxruntime, no processes): a job of cost c takes c × UNIT_MS.
 *      Four guilds keep a backlog (each with its own fixed job cost: 1×, 3×, 5×, 8×), a newcomer guild arrives late.
 *      Prints throughput, Jain's fairness index over served cost while all four are backlogged, the newcomer's
 *      wait counted in jobs (those in service when it arrived, plus any dispatched after it), behind those four
 *      and behind a single flooding guild, and the dispatch overhead per job: from a worker finishing to its
 *      next job arriving, measured with instant jobs.
 *   2. The whole bot side on real worker processes: WorkerPool of fake-engine fixture workers (IPC, store,
 *      image files), throughput for 1, 2 and 4 workers.
 *   3. Dispatch overhead per job, per transport: one fake-engine worker process run locally (child-process IPC)
 *      and one served through Redis on loopback (a redis-server this benchmark starts, skipped when none is
 *      installed; the worker host in its own process, as `npm run worker` runs). Each job is timed from the
 *      dispatcher handing it to the worker until its result is back, minus the engine time the worker reports:
 *      median and p95 (target for Redis on loopback ≤ 2 ms).
 *
 * Run: npm run bench:scale (BENCH_PARTS=3 npm run bench:scale for part 3 only)
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { GenerateRequest, GenerateResult } from '../src/protocol/generate-request.js';
import { Dispatcher } from '../src/queue/dispatcher.js';
import { FairQueue, type FairQueueItem } from '../src/queue/fair-queue.js';
import { JobService } from '../src/queue/job-service.js';
import { Store } from '../src/store/store.js';
import type { RunOptions, WorkerRunner } from '../src/worker/job-runner.js';
import { RemoteWorkers } from '../src/worker/remote-worker.js';
import { WorkerPool } from '../src/worker/worker-pool.js';
import { RedisFixture, REDIS_MISSING, hasRedisServer } from '../test/fixtures/redis-server.js';
import { smallRequest } from '../test/fixtures/requests.js';
import { fixtureWorker } from '../test/fixtures/workers/fixtures.js';

const WORKER_COUNTS = [1, 2, 4];
/** ms per cost unit in part 1. */
const UNIT_MS = 2;
const BACKLOGGED = [
  { guild: 'a', cost: 1 },
  { guild: 'b', cost: 3 },
  { guild: 'c', cost: 5 },
  { guild: 'd', cost: 8 },
];
const JOBS_PER_GUILD = 80;
/** The newcomer arrives after this many dispatches. */
const NEWCOMER_AFTER = 60;

interface Item extends FairQueueItem {
  index: number;
}

/** A worker that takes `cost × unitMs` per job (0: answers on the next turn of the event loop). */
class FakeWorker implements WorkerRunner {
  readonly loadedModels: readonly string[] = [];
  readonly ready = true;
  /** µs from finishing a job to being handed the next. */
  readonly gaps: number[] = [];
  #finishedAt: number | undefined;

  constructor(
    readonly id: string,
    readonly unitMs: number,
    readonly costOf: (jobId: string) => number,
  ) {}

  whenReady(): Promise<void> {
    return Promise.resolve();
  }

  run(jobId: string, request: GenerateRequest, _options: RunOptions): Promise<GenerateResult> {
    if (this.#finishedAt !== undefined) this.gaps.push((performance.now() - this.#finishedAt) * 1000);
    const ms = this.costOf(jobId) * this.unitMs;
    return new Promise((resolve) => {
      const done = () => {
        this.#finishedAt = performance.now();
        resolve({ images: [], seed: request.seed ?? 0, warnings: [], timings: { totalMs: ms, inferenceMs: ms, previewMs: 0, loadMs: 0 } });
      };
      if (ms > 0) setTimeout(done, ms);
      else setImmediate(done);
    });
  }
}

function jain(values: number[]): number {
  const sum = values.reduce((a, b) => a + b, 0);
  const squares = values.reduce((a, b) => a + b * b, 0);
  return (sum * sum) / (values.length * squares);
}

interface FakeRun {
  workers: number;
  jobs: number;
  wallMs: number;
  jain: number;
  newcomerInService: number;
  newcomerDispatchedAhead: number;
}

async function fakeRun(workerCount: number, unitMs: number, backlogged = BACKLOGGED): Promise<FakeRun & { gapsUs: number[] }> {
  const queue = new FairQueue<Item>();
  const costs = new Map<string, number>();
  const workers = Array.from({ length: workerCount }, (_, i) => new FakeWorker(`w${i}`, unitMs, (id) => costs.get(id)!));
  const served = new Map<string, number>(backlogged.map(({ guild }) => [guild, 0]));
  let fairness: number | undefined;
  let dispatched = 0;
  let newcomer: { arrivedAt: number; inService: number } | undefined;
  let newcomerStartedAt: number | undefined;
  let total = 0;
  let settled = 0;
  let finish!: () => void;
  const finished = new Promise<void>((resolve) => (finish = resolve));
  const dispatcher: Dispatcher<Item> = new Dispatcher(queue, workers, {
    start: (item) => {
      dispatched += 1;
      if (item.guildId === 'newcomer') newcomerStartedAt = dispatched;
      if (fairness === undefined && served.has(item.guildId)) {
        served.set(item.guildId, served.get(item.guildId)! + item.cost);
        // Jain's index over the window in which every backlogged guild still had jobs queued.
        if (backlogged.some(({ guild }) => queue.countGuild(guild) === 0)) fairness = jain([...served.values()]);
      }
      if (dispatched === NEWCOMER_AFTER) {
        // Arrives "now": after this dispatch, with every worker busy.
        queueMicrotask(() => {
          newcomer = { arrivedAt: dispatched, inService: dispatcher.running.length };
          enqueue({ id: 'newcomer-0', guildId: 'newcomer', userId: 'n', cost: 4, index: 0 });
          total += 1;
          dispatcher.pump();
        });
      }
      return { request: async () => smallRequest({ seed: item.index }), watchdogMs: 600_000, onProgress: () => {} };
    },
    settle: () => {
      settled += 1;
      if (settled === total) finish();
    },
  });
  const enqueue = (item: Item) => {
    costs.set(item.id, item.cost);
    queue.enqueue(item);
  };
  for (let i = 0; i < JOBS_PER_GUILD; i += 1) {
    for (const { guild, cost } of backlogged) {
      // Two users per guild, so the inner level has work too.
      enqueue({ id: `${guild}-${i}`, guildId: guild, userId: `${guild}-u${i % 2}`, cost, index: i });
      total += 1;
    }
  }
  const started = performance.now();
  dispatcher.pump();
  await finished;
  const wallMs = performance.now() - started;
  return {
    workers: workerCount,
    jobs: total,
    wallMs,
    jain: fairness ?? jain([...served.values()]),
    newcomerInService: newcomer!.inService,
    newcomerDispatchedAhead: newcomerStartedAt! - newcomer!.arrivedAt - 1,
    gapsUs: workers.flatMap((worker) => worker.gaps),
  };
}

const percentile = (sorted: number[], p: number) => sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;

/** Part 2: real worker processes (fake engine), the whole bot side (JobService, store, images). */
async function processRun(workerCount: number): Promise<{ jobs: number; wallMs: number }> {
  const dir = mkdtempSync(path.join(tmpdir(), 'imagine-bench-scale-'));
  const store = Store.open(dir);
  const pool = new WorkerPool({
    workers: Array.from({ length: workerCount }, (_, i) => ({ id: `w${i}` })),
    engine: { modelsDir: '/unused' },
    host: { entry: fixtureWorker('ok'), env: { ...process.env, FAKE_STEP_MS: '10', FAKE_IMAGE_BYTES: '400000' } },
  });
  const service = new JobService({ store, workers: pool.workers });
  const jobs = 48;
  try {
    await pool.start();
    service.start();
    let done = 0;
    const finished = new Promise<void>((resolve) =>
      service.on('done', () => {
        done += 1;
        if (done === jobs) resolve();
      }),
    );
    const started = performance.now();
    for (let i = 0; i < jobs; i += 1) {
      service.submit(
        { kind: 'imagine', guildId: `g${i % 6}`, channelId: 'c', userId: `u${i % 4}`, request: smallRequest({ steps: 10, seed: i }) },
        { maxQueuedPerUser: 100, maxQueuedPerGuild: 100, maxQueuedTotal: 1000 },
      );
    }
    await finished;
    return { jobs, wallMs: performance.now() - started };
  } finally {
    await service.stop();
    await pool.stop();
    store.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

console.log(`imagine-bot scaling benchmark (node ${process.version}, ${process.platform}/${process.arch})\n`);
/** Which parts to run (all by default). */
const PARTS = new Set((process.env.BENCH_PARTS ?? '1,2,3').split(',').map((part) => part.trim()));

if (PARTS.has('1')) {
  console.log(
    `Part 1: in-process fake workers, ${BACKLOGGED.length} backlogged guilds × ${JOBS_PER_GUILD} jobs (costs ${BACKLOGGED.map((g) => `${g.cost}×`).join(', ')}, ${UNIT_MS} ms per 1×), newcomer after ${NEWCOMER_AFTER} dispatches`,
  );
  const header = [
    'workers',
    'jobs/s',
    'speed-up',
    "Jain's index (served cost)",
    'newcomer wait, 4 guilds backlogged (in service + dispatched ahead)',
    'newcomer wait, 1 guild flooding',
    'dispatch overhead per job, mean / p99',
  ];
  console.log(header.join(' | '));
  let base: number | undefined;
  for (const count of WORKER_COUNTS) {
    const run = await fakeRun(count, UNIT_MS);
    // Overhead with instant jobs, so nothing but the dispatch path is between two jobs on a worker.
    const instant = await fakeRun(count, 0);
    const flood = await fakeRun(count, UNIT_MS, [{ guild: 'flood', cost: 3 }]);
    const gaps = instant.gapsUs.sort((a, b) => a - b);
    const mean = gaps.reduce((a, b) => a + b, 0) / gaps.length;
    const rate = (run.jobs / run.wallMs) * 1000;
    base ??= rate;
    console.log(
      [
        count,
        rate.toFixed(1),
        `${(rate / base).toFixed(2)}×`,
        run.jain.toFixed(5),
        `${run.newcomerInService + run.newcomerDispatchedAhead} (${run.newcomerInService} + ${run.newcomerDispatchedAhead})`,
        `${flood.newcomerInService + flood.newcomerDispatchedAhead} (${flood.newcomerInService} + ${flood.newcomerDispatchedAhead})`,
        `${mean.toFixed(1)} / ${percentile(gaps, 99).toFixed(1)} µs`,
      ].join(' | '),
    );
  }
}

if (PARTS.has('2')) {
  console.log('\nPart 2: worker processes (fake engine, 10 steps × 10 ms, 400 kB images), JobService + store, 48 jobs from 6 guilds');
  console.log(['workers', 'jobs/s', 'speed-up', 'wall'].join(' | '));
  let processBase: number | undefined;
  for (const count of WORKER_COUNTS) {
    const run = await processRun(count);
    const rate = (run.jobs / run.wallMs) * 1000;
    processBase ??= rate;
    console.log([count, rate.toFixed(2), `${(rate / processBase).toFixed(2)}×`, `${(run.wallMs / 1000).toFixed(2)} s`].join(' | '));
  }
}

/**
 * Part 3: a worker as the dispatcher sees it, each run timed from the moment the dispatcher hands the job over
 * (`run`) to the moment its result is back, minus the engine's own time for the job (`timings.totalMs`, measured
 * inside the engine process). What is left is what the coordinator and the transport add per job: the request
 * out, the start, progress, the images back. The store, the image files and Discord come after and are not
 * dispatch: they are the same for every transport (the "whole job" column shows them).
 */
class TimedWorker implements WorkerRunner {
  readonly overheadsMs: number[] = [];

  constructor(readonly inner: WorkerRunner) {}

  get id(): string {
    return this.inner.id;
  }

  get ready(): boolean {
    return this.inner.ready;
  }

  get loadedModels(): readonly string[] {
    return this.inner.loadedModels;
  }

  whenReady(): Promise<void> {
    return this.inner.whenReady();
  }

  async run(jobId: string, request: GenerateRequest, options: RunOptions): Promise<GenerateResult> {
    const handedOver = performance.now();
    const result = await this.inner.run(jobId, request, options);
    this.overheadsMs.push(performance.now() - handedOver - result.timings.totalMs);
    return result;
  }
}

/** The fake job of part 3: steps of STEP_MS (so progress is spread over the job as with a real engine) and one PNG of IMAGE_BYTES. */
const REMOTE_STEPS = 4;
const STEP_MS = 5;
const IMAGE_BYTES = 400_000;
const WARM_UP_JOBS = 20;
const TIMED_JOBS = 200;
const HOST_ENTRY = fileURLToPath(new URL('../test/fixtures/workers/remote-host.ts', import.meta.url));
const fakeEngineEnv = { FAKE_STEP_MS: String(STEP_MS), FAKE_IMAGE_BYTES: String(IMAGE_BYTES) };

/** A worker host process (`npm run worker` over a fake engine, as the remote-worker tests run it) serving worker `r0`. */
async function startHostProcess(redisUrl: string): Promise<ChildProcess> {
  const child = spawn(process.execPath, ['--import', 'tsx', HOST_ENTRY], {
    // The production heartbeat (2 s, gone after 10 s), not the tests' fast one.
    env: {
      ...process.env,
      ...fakeEngineEnv,
      REDIS_URL: redisUrl,
      HOST_ID: 'bench',
      WORKER_IDS: 'r0',
      HEARTBEAT_MS: '2000',
      HEARTBEAT_TTL_MS: '10000',
    },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let out = '';
  await new Promise<void>((resolve, reject) => {
    child.stdout!.on('data', (chunk: Buffer) => {
      out += chunk.toString();
      if (out.includes('serving')) resolve();
    });
    child.once('exit', (code) => reject(new Error(`the worker host exited with ${code} before serving`)));
  });
  return child;
}

interface SerialRun {
  /** Per job: handed to the worker → result back, minus the engine's time. */
  overheadsMs: number[];
  /** Per job: submitted → done (store, image files and all). */
  wholeJobMs: number[];
}

/** Jobs back to back through the JobService on one worker: a local process, or one served through Redis by a host process. */
async function serialRun(redisUrl: string | undefined): Promise<SerialRun> {
  const dir = mkdtempSync(path.join(tmpdir(), 'imagine-bench-remote-'));
  const store = Store.open(dir);
  const pool = redisUrl
    ? undefined
    : new WorkerPool({
        workers: [{ id: 'w0' }],
        engine: { modelsDir: '/unused' },
        host: { entry: fixtureWorker('ok'), env: { ...process.env, ...fakeEngineEnv } },
      });
  const host = redisUrl ? await startHostProcess(redisUrl) : undefined;
  const remote = redisUrl ? new RemoteWorkers({ redisUrl }) : undefined;
  const timed: TimedWorker[] = (pool?.workers ?? []).map((worker) => new TimedWorker(worker));
  const service = new JobService({ store, workers: timed });
  remote?.on('worker', (worker) => {
    const wrapped = new TimedWorker(worker);
    timed.push(wrapped);
    service.addWorker(wrapped);
  });
  try {
    await pool?.start();
    await remote?.start();
    service.start();
    const one = (i: number) =>
      new Promise<number>((resolve) => {
        const submitted = performance.now();
        const job = service.submit(
          { kind: 'imagine', guildId: 'g', channelId: 'c', userId: 'u', request: smallRequest({ steps: REMOTE_STEPS, seed: i }) },
          { maxQueuedPerUser: 100, maxQueuedPerGuild: 100, maxQueuedTotal: 1000 },
        );
        const listener = (done: { id: string }) => {
          if (done.id !== job.id) return;
          service.off('done', listener);
          resolve(performance.now() - submitted);
        };
        service.on('done', listener);
      });
    for (let i = 0; i < WARM_UP_JOBS; i += 1) await one(i);
    const skip = timed[0]!.overheadsMs.length;
    const wholeJobMs: number[] = [];
    for (let i = 0; i < TIMED_JOBS; i += 1) wholeJobMs.push(await one(1000 + i));
    return { overheadsMs: timed[0]!.overheadsMs.slice(skip), wholeJobMs };
  } finally {
    await service.stop();
    await remote?.stop();
    if (host) {
      host.kill('SIGTERM');
      await once(host, 'exit');
    }
    await pool?.stop();
    store.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

const median = (sorted: number[]) => sorted[Math.floor(sorted.length / 2)]!;

if (PARTS.has('3')) {
  console.log(
    `\nPart 3: dispatch overhead per job, 1 worker, ${TIMED_JOBS} jobs back to back after ${WARM_UP_JOBS} warm-up (fake engine: ${REMOTE_STEPS} steps × ${STEP_MS} ms, one ${IMAGE_BYTES / 1000} kB PNG)`,
  );
  console.log('overhead = from the dispatcher handing a job to its worker until the result is back, minus the engine time the worker reports');
  const load = () =>
    loadavg()
      .map((value) => value.toFixed(2))
      .join(' ');
  console.log(`load average before: ${load()} (${cpus().length} CPUs)`);
  const runs: Array<[string, SerialRun]> = [['local worker process (IPC)', await serialRun(undefined)]];
  if (!hasRedisServer) {
    console.log(`Redis part skipped: ${REDIS_MISSING}`);
  } else {
    const redis = new RedisFixture();
    await redis.start();
    try {
      runs.push(['remote worker, Redis on loopback (BullMQ, host in its own process)', await serialRun(redis.url)]);
    } finally {
      await redis.dispose();
    }
  }
  console.log(['transport', 'overhead median', 'overhead p95', 'whole job median (submit → done, incl. store + files)'].join(' | '));
  for (const [name, run] of runs) {
    const overheads = [...run.overheadsMs].sort((a, b) => a - b);
    const whole = [...run.wholeJobMs].sort((a, b) => a - b);
    console.log(
      [name, `${median(overheads).toFixed(2)} ms`, `${percentile(overheads, 95).toFixed(2)} ms`, `${median(whole).toFixed(2)} ms`].join(' | '),
    );
  }
  const viaRedis = runs[1]?.[1];
  if (viaRedis) {
    const overhead = median([...viaRedis.overheadsMs].sort((a, b) => a - b));
    console.log(
      `Redis on loopback: ${overhead.toFixed(2)} ms dispatch overhead per job (median; target ≤ 2 ms: ${overhead <= 2 ? 'met' : 'NOT met'})`,
    );
  }
  console.log(`load average after: ${load()}`);
}
