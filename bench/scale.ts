/**
 * Scaling benchmark: the fair queue and the dispatcher feeding 1, 2 and 4 workers (prints numbers; CI does not
 * time them). Two parts:
 *
 *   1. In-process fake workers with fixed costs (no onnxruntime, no processes): a job of cost c takes c × UNIT_MS.
 *      Four guilds keep a backlog (each with its own fixed job cost: 1×, 3×, 5×, 8×), a newcomer guild arrives late.
 *      Prints throughput, Jain's fairness index over served cost while all four are backlogged, the newcomer's
 *      wait counted in jobs (those in service when it arrived, plus any dispatched after it), behind those four
 *      and behind a single flooding guild, and the dispatch overhead per job: from a worker finishing to its
 *      next job arriving, measured with instant jobs.
 *   2. The whole bot side on real worker processes: WorkerPool of fake-engine fixture workers (IPC, store,
 *      image files), throughput for 1, 2 and 4 workers.
 *   3. Remote workers through Redis on loopback (a redis-server this benchmark starts; skipped when none is
 *      installed): the same fake-engine worker process served through BullMQ (RemoteWorkerHost) vs. run locally,
 *      one worker, jobs back to back; the difference per job is what Redis dispatch costs (target ≤ 2 ms).
 *
 * Run: npm run bench:scale (BENCH_PARTS=3 npm run bench:scale for part 3 only)
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { GenerateRequest, GenerateResult } from '../src/protocol/generate-request.js';
import { Dispatcher } from '../src/queue/dispatcher.js';
import { FairQueue, type FairQueueItem } from '../src/queue/fair-queue.js';
import { JobService } from '../src/queue/job-service.js';
import { Store } from '../src/store/store.js';
import type { RunOptions, WorkerRunner } from '../src/worker/job-runner.js';
import { RemoteWorkerHost } from '../src/worker/remote-host.js';
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

/** Part 3: `jobs` jobs back to back on one worker process, locally or through Redis; ms per job after a warm-up. */
async function serialRun(redisUrl: string | undefined, jobs: number): Promise<number> {
  const dir = mkdtempSync(path.join(tmpdir(), 'imagine-bench-remote-'));
  const store = Store.open(dir);
  const pool = new WorkerPool({
    workers: [{ id: 'r0' }],
    engine: { modelsDir: '/unused' },
    host: { entry: fixtureWorker('ok'), env: { ...process.env, FAKE_STEP_MS: '0', FAKE_IMAGE_BYTES: '400000' } },
  });
  const host = redisUrl ? new RemoteWorkerHost({ redisUrl, hostId: 'bench', workers: pool.workers }) : undefined;
  const remote = redisUrl ? new RemoteWorkers({ redisUrl }) : undefined;
  const service = new JobService({ store, workers: remote ? [] : pool.workers });
  remote?.on('worker', (worker) => service.addWorker(worker));
  try {
    await pool.start();
    await host?.start();
    await remote?.start();
    service.start();
    const one = (i: number) =>
      new Promise<void>((resolve) => {
        const job = service.submit(
          { kind: 'imagine', guildId: 'g', channelId: 'c', userId: 'u', request: smallRequest({ steps: 2, seed: i }) },
          { maxQueuedPerUser: 100, maxQueuedPerGuild: 100, maxQueuedTotal: 1000 },
        );
        const listener = (done: { id: string }) => {
          if (done.id !== job.id) return;
          service.off('done', listener);
          resolve();
        };
        service.on('done', listener);
      });
    for (let i = 0; i < 5; i += 1) await one(i);
    const started = performance.now();
    for (let i = 0; i < jobs; i += 1) await one(100 + i);
    return (performance.now() - started) / jobs;
  } finally {
    await service.stop();
    await remote?.stop();
    await host?.stop();
    await pool.stop();
    store.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

if (PARTS.has('3')) {
  console.log('\nPart 3: Redis on loopback (BullMQ), 1 worker process (fake engine, 2 steps × 0 ms, 400 kB image), 100 jobs back to back');
  if (!hasRedisServer) {
    console.log(`skipped: ${REDIS_MISSING}`);
  } else {
    const redis = new RedisFixture();
    await redis.start();
    try {
      const local = await serialRun(undefined, 100);
      const viaRedis = await serialRun(redis.url, 100);
      console.log(['path', 'ms per job'].join(' | '));
      console.log(['local (IPC)', local.toFixed(2)].join(' | '));
      console.log(['remote (Redis)', viaRedis.toFixed(2)].join(' | '));
      console.log(`Redis dispatch overhead per job: ${(viaRedis - local).toFixed(2)} ms (target ≤ 2 ms)`);
    } finally {
      await redis.dispose();
    }
  }
}
