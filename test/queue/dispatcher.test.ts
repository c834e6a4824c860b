import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { CancelledError } from '../../src/errors.js';
import type { GenerateRequest, GenerateResult, JobRequest } from '../../src/protocol/generate-request.js';
import { Dispatcher, type DispatchOutcome } from '../../src/queue/dispatcher.js';
import { FairQueue, type FairQueueItem } from '../../src/queue/fair-queue.js';
import { JobService } from '../../src/queue/job-service.js';
import type { Job, NewJob } from '../../src/queue/job.js';
import { Store } from '../../src/store/store.js';
import { WorkerCrashedError } from '../../src/worker/worker-errors.js';
import { statusLine } from '../../src/discord/commands/help.js';
import { workersLine } from '../../src/discord/commands/queue.js';
import { fakePng } from '../fixtures/workers/fake-engine.js';
import { ManualRunner } from '../fixtures/manual-runner.js';
import { smallRequest } from '../fixtures/requests.js';

function result(request: GenerateRequest): GenerateResult {
  const seed = request.seed ?? 42;
  return {
    images: [{ png: fakePng(seed, 0, request.prompt), seed, width: request.width, height: request.height, parameters: request.prompt }],
    seed,
    warnings: [],
    timings: { totalMs: 1000, inferenceMs: 1000, previewMs: 0, loadMs: 0 },
  };
}

const flush = () => new Promise((resolve) => setImmediate(resolve));

interface Item extends FairQueueItem {
  model: string;
}

/** A Dispatcher on a plain FairQueue: records starts (job, worker) and settlements in order. */
function bareDispatcher(workers: ManualRunner[]) {
  const queue = new FairQueue<Item>();
  const starts: Array<{ id: string; workerId: string }> = [];
  const settled: Array<{ id: string; outcome: DispatchOutcome }> = [];
  const dispatcher = new Dispatcher(queue, workers, {
    start: (item, workerId) => {
      starts.push({ id: item.id, workerId });
      return { request: async () => smallRequest({ prompt: item.id, model: item.model }), watchdogMs: 60_000, onProgress: () => {} };
    },
    settle: (item, outcome) => settled.push({ id: item.id, outcome }),
    model: (item) => item.model,
  });
  return { queue, dispatcher, starts, settled };
}

let seq = 0;
const item = (guildId: string, cost = 1, model = 'm'): Item => ({ id: `${guildId}-${seq++}`, guildId, userId: `${guildId}-u`, cost, model });

/** Finishes the job on `worker` and lets the dispatcher react. */
async function finish(worker: ManualRunner): Promise<void> {
  const call = worker.current;
  call.resolve(result(call.request));
  await flush();
}

describe('Dispatcher with several workers', () => {
  it('runs one job per idle worker and never queues a second one on a worker', async () => {
    const workers = [new ManualRunner('w0'), new ManualRunner('w1'), new ManualRunner('w2')];
    const { queue, dispatcher, starts } = bareDispatcher(workers);
    for (let i = 0; i < 7; i += 1) queue.enqueue(item(`g${i % 3}`));
    dispatcher.pump();
    await flush();
    expect(starts.map((s) => s.workerId)).toEqual(['w0', 'w1', 'w2']);
    expect(workers.map((w) => w.calls.length)).toEqual([1, 1, 1]);
    expect(queue.size).toBe(4);
    // A pump with every worker busy takes nothing out of the queue.
    dispatcher.pump();
    expect(queue.size).toBe(4);
    await finish(workers[1]!);
    expect(workers.map((w) => w.calls.length)).toEqual([1, 2, 1]);
    expect(dispatcher.running).toHaveLength(3);
    expect(queue.size).toBe(3);
  });

  it('keeps the fair order: every job leaves the queue in the order a one-worker dispatcher would take it', async () => {
    const workers = [new ManualRunner('w0'), new ManualRunner('w1')];
    const { queue, dispatcher, starts } = bareDispatcher(workers);
    const costs = [1, 16, 4, 2, 8, 1, 3];
    for (let i = 0; i < 21; i += 1) queue.enqueue(item(`g${i % 3}`, costs[i % costs.length]));
    const expected = queue.order().map((job) => job.id);
    dispatcher.pump();
    await flush();
    // Finish jobs on alternating and uneven workers; the order out of the queue must not care.
    for (let round = 0; starts.length < 21; round += 1) await finish(workers[round % 3 === 0 ? 1 : 0]!);
    expect(starts.map((s) => s.id)).toEqual(expected);
  });

  it('starts a newcomer guild after at most the jobs in service (one per worker), whoever frees first', async () => {
    for (let trial = 0; trial < 40; trial += 1) {
      const workers = [new ManualRunner('w0'), new ManualRunner('w1')];
      const { queue, dispatcher, starts } = bareDispatcher(workers);
      for (let i = 0; i < 30; i += 1) queue.enqueue(item('flood', 1 + ((i * 7 + trial) % 16)));
      dispatcher.pump();
      await flush();
      // Let the flood run a while on both workers.
      for (let i = 0; i < trial % 9; i += 1) await finish(workers[(i + trial) % 2]!);
      const inService = dispatcher.running.length;
      expect(inService).toBe(2);
      const startedBefore = starts.length;
      const newcomer = item('newcomer', 1 + (trial % 16));
      queue.enqueue(newcomer);
      await finish(workers[trial % 2]!);
      // The very next job out of the queue is the newcomer's: it waited for the two jobs in service, no more.
      expect(starts[startedBefore]!.id).toBe(newcomer.id);
    }
  });

  it('gives the next job to the idle worker that has its model loaded, without reordering the queue', async () => {
    const workers = [new ManualRunner('w0'), new ManualRunner('w1'), new ManualRunner('w2')];
    workers[0]!.loadedModels = ['anime'];
    workers[1]!.loadedModels = ['photo', 'anime'];
    workers[2]!.loadedModels = [];
    const { queue, dispatcher, starts } = bareDispatcher(workers);
    const photo = item('g1', 1, 'photo');
    queue.enqueue(photo);
    dispatcher.pump();
    await flush();
    expect(starts).toEqual([{ id: photo.id, workerId: 'w1' }]);

    // Two idle workers (w0: anime, w2: empty); the head job needs a model neither has: the empty one takes it,
    // so w0 keeps its warm model. The anime job behind it then goes to w0.
    const sdxl = item('g2', 1, 'sdxl');
    const anime = item('g3', 1, 'anime');
    queue.enqueue(sdxl);
    queue.enqueue(anime);
    dispatcher.pump();
    await flush();
    expect(starts.slice(1)).toEqual([
      { id: sdxl.id, workerId: 'w2' },
      { id: anime.id, workerId: 'w0' },
    ]);

    // Only w1 (photo, anime) is idle: the head job runs there even though its model is not loaded: affinity
    // picks the worker, never the job.
    await finish(workers[1]!);
    const head = item('g4', 1, 'sdxl');
    const wouldMatch = item('g5', 1, 'photo');
    queue.enqueue(head);
    queue.enqueue(wouldMatch);
    dispatcher.pump();
    await flush();
    expect(starts.slice(3)).toEqual([{ id: head.id, workerId: 'w1' }]);
    expect(queue.peek()).toBe(wouldMatch);
  });

  it('puts a job whose worker crashed at the head of the line and runs it on the next idle worker', async () => {
    const workers = [new ManualRunner('w0'), new ManualRunner('w1')];
    const retries: Array<{ id: string; workerId: string }> = [];
    const queue = new FairQueue<Item>();
    const starts: Array<{ id: string; workerId: string }> = [];
    const settled: Array<{ id: string; outcome: DispatchOutcome }> = [];
    const resumed: Array<{ id: string; workerId: string }> = [];
    const dispatcher = new Dispatcher(queue, workers, {
      start: (job, workerId) => {
        starts.push({ id: job.id, workerId });
        return { request: async () => smallRequest({ prompt: job.id }), watchdogMs: 60_000, onProgress: () => {} };
      },
      settle: (job, outcome) => settled.push({ id: job.id, outcome }),
      retry: (job, _error, workerId) => retries.push({ id: job.id, workerId }),
      resume: (job, workerId) => resumed.push({ id: job.id, workerId }),
    });
    const crashing = item('g1');
    const second = item('g2');
    const queued = item('g3');
    queue.enqueue(crashing);
    queue.enqueue(second);
    queue.enqueue(queued);
    dispatcher.pump();
    await flush();
    // w0 dies under its job and restarts (not ready for a while).
    workers[0]!.ready = false;
    workers[0]!.current.reject(new WorkerCrashedError('killed', null, 'SIGKILL'));
    await flush();
    expect(retries).toEqual([{ id: crashing.id, workerId: 'w0' }]);
    expect(dispatcher.running.map((job) => job.id)).toEqual([crashing.id, second.id]);
    expect(dispatcher.assignments()).toEqual([
      { item: crashing, workerId: undefined },
      { item: second, workerId: 'w1' },
    ]);
    // w1 frees first: the crashed job goes ahead of the queued one, on w1.
    await finish(workers[1]!);
    expect(resumed).toEqual([{ id: crashing.id, workerId: 'w1' }]);
    expect(workers[1]!.current.jobId).toBe(crashing.id);
    expect(queue.has(queued.id)).toBe(true);
    // w0 comes back and takes the queued job; the retried one completes on w1.
    workers[0]!.setReady();
    await flush();
    expect(workers[0]!.current.jobId).toBe(queued.id);
    await finish(workers[1]!);
    expect(settled.map((s) => [s.id, s.outcome.ok, s.outcome.crashes, s.outcome.workerId])).toEqual([
      [second.id, true, 0, 'w1'],
      [crashing.id, true, 1, 'w1'],
    ]);
    // The job was started once (one 'started'); the retry is not a new dispatch.
    expect(starts.map((s) => s.id)).toEqual([crashing.id, second.id, queued.id]);
  });

  it('puts a job back at the head, without using its retry, when its worker died before the job reached it', async () => {
    const workers = [new ManualRunner('w0'), new ManualRunner('w1')];
    const queue = new FairQueue<Item>();
    let release!: () => void;
    const slowRead = new Promise<void>((resolve) => (release = resolve));
    const retries: string[] = [];
    const settled: DispatchOutcome[] = [];
    const dispatcher = new Dispatcher(queue, workers, {
      start: (job) => ({
        // The job's input image is still being read when its worker dies.
        request: async () => {
          if (job.guildId === 'slow') await slowRead;
          return smallRequest({ prompt: job.id });
        },
        watchdogMs: 60_000,
        onProgress: () => {},
      }),
      settle: (_job, outcome) => settled.push(outcome),
      retry: (job) => retries.push(job.id),
    });
    const slow = item('slow');
    queue.enqueue(slow);
    dispatcher.pump();
    await flush();
    expect(workers[0]!.calls).toHaveLength(0);
    workers[0]!.ready = false;
    release();
    await flush();
    // It went to w1, the idle one, and no crash was counted.
    expect(workers[1]!.current.jobId).toBe(slow.id);
    expect(retries).toEqual([]);
    await finish(workers[1]!);
    expect(settled).toEqual([expect.objectContaining({ ok: true, crashes: 0, workerId: 'w1' })]);
  });

  it('retries several crashed jobs in the order they first left the queue, ahead of the queue', async () => {
    const workers = [new ManualRunner('w0'), new ManualRunner('w1'), new ManualRunner('w2')];
    const { queue, dispatcher, starts } = bareDispatcher(workers);
    const jobs = [item('g1'), item('g2'), item('g3'), item('g4')];
    for (const job of jobs) queue.enqueue(job);
    dispatcher.pump();
    await flush();
    // w0 crashes first, then w1: the job that left the queue first (on w0) retries first, not the latest crash.
    for (const worker of [workers[0]!, workers[1]!]) {
      worker.ready = false;
      worker.current.reject(new WorkerCrashedError('killed', null, 'SIGKILL'));
      await flush();
    }
    await finish(workers[2]!);
    workers[1]!.setReady();
    await flush();
    expect([workers[2]!.current.jobId, workers[1]!.current.jobId]).toEqual([jobs[0]!.id, jobs[1]!.id]);
    expect(queue.peek()).toBe(jobs[3]);
    expect(starts.map((s) => s.id)).toEqual(jobs.slice(0, 3).map((job) => job.id));
  });

  it('cancels a job waiting for its retry without any worker', async () => {
    const workers = [new ManualRunner('w0')];
    const { queue, dispatcher, settled } = bareDispatcher(workers);
    const job = item('g1');
    queue.enqueue(job);
    dispatcher.pump();
    await flush();
    workers[0]!.ready = false;
    workers[0]!.current.reject(new WorkerCrashedError('killed', null, 'SIGKILL'));
    await flush();
    expect(dispatcher.abort(job.id, 'cancel')).toBe(true);
    expect(settled).toEqual([
      { id: job.id, outcome: { ok: false, error: expect.any(CancelledError), crashes: 1, aborted: 'cancel', workerId: undefined } },
    ]);
    workers[0]!.setReady();
    await flush();
    expect(workers[0]!.calls).toHaveLength(1);
    expect(dispatcher.running).toEqual([]);
  });
});

const dirs: string[] = [];
const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

function service(workers: ManualRunner[], now?: () => number) {
  const dir = mkdtempSync(path.join(tmpdir(), 'imagine-pool-'));
  dirs.push(dir);
  const store = Store.open(dir);
  const jobs = new JobService({ store, workers, now, limits: { maxQueuedPerUser: 50, maxQueuedPerGuild: 50, maxQueuedTotal: 500 } });
  cleanups.push(async () => {
    await jobs.stop();
    store.close();
  });
  jobs.start();
  return { jobs, store };
}

const newJob = (guildId: string, request: Partial<JobRequest> = {}): NewJob => ({
  kind: 'imagine',
  guildId,
  channelId: 'c',
  userId: `${guildId}-user`,
  request: smallRequest(request),
});

describe('JobService on several workers', () => {
  it('cancels a job on worker 2 without touching the job on worker 1', async () => {
    const workers = [new ManualRunner('w0'), new ManualRunner('w1')];
    const { jobs, store } = service(workers);
    const first = jobs.submit(newJob('g1'));
    const second = jobs.submit(newJob('g2'));
    await flush();
    expect(jobs.list().map((l) => [l.job.id, l.workerId])).toEqual([
      [first.id, 'w0'],
      [second.id, 'w1'],
    ]);
    const cancelled = once(jobs, 'cancelled');
    jobs.cancel(second.id, { userId: 'g2-user', canManageGuild: false });
    const [job] = (await cancelled) as [Job];
    expect(job.id).toBe(second.id);
    expect(workers[1]!.current.options.signal.aborted).toBe(true);
    expect(workers[0]!.current.options.signal.aborted).toBe(false);
    expect(jobs.get(first.id)!.state).toBe('running');
    const done = once(jobs, 'done');
    workers[0]!.current.resolve(result(workers[0]!.current.request));
    expect(((await done) as [Job])[0].id).toBe(first.id);
    expect(store.jobs.get(first.id)).toMatchObject({ state: 'done', attempts: 1 });
    expect(store.jobs.get(second.id)).toMatchObject({ state: 'cancelled' });
  });

  it('counts every running job against the caps', async () => {
    const workers = [new ManualRunner('w0'), new ManualRunner('w1')];
    const { jobs } = service(workers);
    const limits = { maxQueuedPerUser: 2, maxQueuedPerGuild: 10, maxQueuedTotal: 10 };
    jobs.submit(newJob('g1'), limits);
    jobs.submit(newJob('g1'), limits);
    await flush();
    expect(jobs.list().filter((l) => l.position === null)).toHaveLength(2);
    expect(jobs.refusal({ guildId: 'g1', userId: 'g1-user' }, limits)?.message).toMatch(/2/);
  });

  it('estimates start times as the queued work spread over the workers', async () => {
    let clock = 0;
    const workers = [new ManualRunner('w0'), new ManualRunner('w1')];
    const { jobs } = service(workers, () => clock);
    // Measure a rate: one job of cost c taking 1000 ms.
    jobs.submit(newJob('g0'));
    await flush();
    clock = 1000;
    const measured = once(jobs, 'done');
    workers[0]!.current.resolve(result(workers[0]!.current.request));
    await measured;
    const unit = 1000; // ms for a job of smallRequest's cost
    const a = jobs.submit(newJob('g1', { steps: 8 })); // 2 units, on w0
    const b = jobs.submit(newJob('g2')); // 1 unit, on w1
    const c = jobs.submit(newJob('g3'));
    const d = jobs.submit(newJob('g4', { steps: 12 }));
    const e = jobs.submit(newJob('g5'));
    await flush();
    const eta = new Map(jobs.list().map((l) => [l.job.id, [l.position, l.etaMs, l.workerId]]));
    expect(eta.get(a.id)).toEqual([null, 2 * unit, 'w0']);
    expect(eta.get(b.id)).toEqual([null, unit, 'w1']);
    // w1 frees at 1 unit: c starts there; w0 and the new w1 free at 2: d takes w0, e waits for w1 (at 2).
    expect(eta.get(c.id)).toEqual([1, unit, undefined]);
    expect(eta.get(d.id)).toEqual([2, 2 * unit, undefined]);
    expect(eta.get(e.id)).toEqual([3, 2 * unit, undefined]);
  });

  it('keeps jobs queued, with positions and no ETA, when the bot runs no worker (WORKERS=0), and says so', async () => {
    const { jobs } = service([]);
    const first = jobs.submit(newJob('g1'));
    const second = jobs.submit(newJob('g2'));
    await flush();
    await flush();
    expect(jobs.workerCount).toBe(0);
    expect(jobs.list().map((l) => [l.job.id, l.job.state, l.position, l.etaMs])).toEqual([
      [first.id, 'queued', 1, null],
      [second.id, 'queued', 2, null],
    ]);
    expect(workersLine([])).toBe(
      "⚠️ No image worker runs on this bot (WORKERS=0), so images wait here and none will start. The bot's operator can set WORKERS=1 (or EXECUTION_DEVICE_IDS) and restart it.",
    );
    expect(statusLine(undefined, ['tiny'], 'tiny', [])).toBe(
      "_Status: no image worker runs on this bot (WORKERS=0), so images wait in the queue. The bot's operator can set WORKERS=1 (or EXECUTION_DEVICE_IDS) and restart it._",
    );
  });
});
