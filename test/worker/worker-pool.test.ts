import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { afterEach, describe, expect, it } from 'vitest';
import { createLogger } from '../../src/logger.js';
import type { Job } from '../../src/queue/job.js';
import { JobService } from '../../src/queue/job-service.js';
import { Store } from '../../src/store/store.js';
import { localWorkersFromEnv } from '../../src/config/env.js';
import { WorkerPool } from '../../src/worker/worker-pool.js';
import { fixtureWorker, isAlive, type WorkerFixture } from '../fixtures/workers/fixtures.js';
import { smallRequest } from '../fixtures/requests.js';

const cleanups: Array<() => Promise<void> | void> = [];
const pids = new Set<number>();

afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  for (const pid of pids) expect(isAlive(pid), `worker ${pid} still running`).toBe(false);
  pids.clear();
});

/** A bot stack on a pool of `size` fixture workers, with every event timestamped in the order it happened. */
async function poolStack(size: number, fixture: WorkerFixture, env: Record<string, string> = {}) {
  const dir = mkdtempSync(path.join(tmpdir(), 'imagine-pool-'));
  const store = Store.open(dir);
  const lines: Array<Record<string, unknown>> = [];
  const logger = createLogger({
    level: 'debug',
    destination: new Writable({
      write(chunk, _encoding, done) {
        for (const line of String(chunk).split('\n').filter(Boolean)) lines.push(JSON.parse(line) as Record<string, unknown>);
        done();
      },
    }),
  });
  const pool = new WorkerPool({
    workers: Array.from({ length: size }, (_, i) => ({ id: `w${i}` })),
    engine: { modelsDir: '/unused' },
    host: { entry: fixtureWorker(fixture), env: { ...process.env, ...env }, backoff: { initialMs: 20, maxMs: 100 }, cancelGraceMs: 300 },
    logger,
  });
  pool.on('ready', (_worker, info) => pids.add(info.pid));
  const service = new JobService({ store, workers: pool.workers, logger, watchdog: { minMs: 20_000, factor: 4, unmeasuredMs: 20_000 } });
  // waitSettled races three once() listeners per settlement.
  service.setMaxListeners(50);
  cleanups.push(async () => {
    await service.stop();
    await pool.stop();
    store.close();
    rmSync(dir, { recursive: true, force: true });
  });
  const started = await pool.start();
  expect(started.map((s) => s.status)).toEqual(Array.from({ length: size }, () => 'fulfilled'));
  service.start();
  /** What happened, in order: [event, jobId, workerId at start]. */
  const timeline: Array<{ event: string; id: string; at: number; workerId?: string }> = [];
  const settled = new Map<string, Job>();
  service.on('started', (job) => {
    const workerId = service.list().find((l) => l.job.id === job.id)?.workerId;
    timeline.push({ event: 'started', id: job.id, at: performance.now(), workerId });
  });
  // The worker's last step: the job is over on the worker. ('done' comes later, after the images are written,
  // and by then the worker already runs its next job.)
  service.on('progress', (job, progress) => {
    if (progress.step === progress.total) timeline.push({ event: 'last-step', id: job.id, at: performance.now() });
  });
  for (const name of ['done', 'failed', 'cancelled'] as const) {
    service.on(name, (job: Job) => {
      timeline.push({ event: name, id: job.id, at: performance.now() });
      settled.set(job.id, job);
    });
  }
  const waitSettled = async (ids: string[]) => {
    while (!ids.every((id) => settled.has(id))) await Promise.race([once(service, 'done'), once(service, 'failed'), once(service, 'cancelled')]);
    return ids.map((id) => settled.get(id)!);
  };
  return { pool, service, store, timeline, lines, waitSettled };
}

function submit(service: JobService, prompt: string, guildId: string, steps = 4): Job {
  return service.submit(
    { kind: 'imagine', guildId, channelId: 'c', userId: `${guildId}-user`, request: smallRequest({ prompt, steps }) },
    { maxQueuedPerUser: 50, maxQueuedPerGuild: 50, maxQueuedTotal: 500 },
  );
}

/** The most jobs running on workers at once, replaying 'started' and last-step events in the order they came. */
function maxOverlap(timeline: Array<{ event: string }>): number {
  let running = 0;
  let max = 0;
  for (const entry of timeline) {
    if (entry.event === 'started') running += 1;
    else if (entry.event === 'last-step') running -= 1;
    max = Math.max(max, running);
  }
  return max;
}

describe('WorkerPool with fixture workers', () => {
  it('runs jobs on all workers at once, one each, and learns which models each has loaded', async () => {
    const { pool, service, timeline, waitSettled } = await poolStack(3, 'ok', { FAKE_STEP_MS: '40' });
    expect(pool.status().map((s) => [s.id, s.state, s.models])).toEqual([
      ['w0', 'idle', []],
      ['w1', 'idle', []],
      ['w2', 'idle', []],
    ]);
    const jobs = Array.from({ length: 9 }, (_, i) => submit(service, `job ${i}`, `g${i % 3}`, 6));
    await new Promise((resolve) => setImmediate(resolve));
    expect(pool.status().map((s) => s.state)).toEqual(['busy', 'busy', 'busy']);
    const done = await waitSettled(jobs.map((job) => job.id));
    expect(done.map((job) => job.state)).toEqual(jobs.map(() => 'done'));
    // Three jobs overlapped, never four: one per worker.
    expect(maxOverlap(timeline)).toBe(3);
    // The first three started before any finished: true concurrency, not a fast serial line.
    expect(
      timeline
        .filter((e) => e.event !== 'done')
        .slice(0, 4)
        .map((entry) => entry.event),
    ).toEqual(['started', 'started', 'started', 'last-step']);
    const perWorker = new Map<string, number>();
    for (const entry of timeline) if (entry.event === 'started') perWorker.set(entry.workerId!, (perWorker.get(entry.workerId!) ?? 0) + 1);
    expect([...perWorker.keys()].sort()).toEqual(['w0', 'w1', 'w2']);
    // Wall time: the last job ended on its worker before the sum of the jobs' own run times had passed (overlap,
    // not a speed claim: serial running would make the two equal).
    const at = (id: string, event: string) => timeline.find((e) => e.id === id && e.event === event)!.at;
    const span = Math.max(...jobs.map((job) => at(job.id, 'last-step'))) - Math.min(...jobs.map((job) => at(job.id, 'started')));
    const own = jobs.map((job) => at(job.id, 'last-step') - at(job.id, 'started'));
    expect(span).toBeLessThan(own.reduce((a, b) => a + b, 0));
    expect(pool.status().map((s) => [s.state, s.models])).toEqual([
      ['idle', ['fake-model']],
      ['idle', ['fake-model']],
      ['idle', ['fake-model']],
    ]);
  });

  it("retries a crashed worker's job on another worker and keeps serving while the crashed one restarts", async () => {
    const marker = path.join(mkdtempSync(path.join(tmpdir(), 'imagine-marker-')), 'crashed');
    cleanups.push(() => rmSync(path.dirname(marker), { recursive: true, force: true }));
    const { pool, service, store, lines, waitSettled } = await poolStack(2, 'crash-mid-job', { CRASH_ONCE_MARKER: marker, FAKE_STEP_MS: '20' });
    const [w0, w1] = pool.workers;
    const before = [w0!.pid, w1!.pid];
    // Both idle and empty: the job goes to w0, which dies under it at step 2; w1 is idle, so the retry runs there.
    const crashing = submit(service, 'crashes once', 'g1');
    const [result] = await waitSettled([crashing.id]);
    expect(result!.state).toBe('done');
    expect(store.jobs.get(crashing.id)!.attempts).toBe(2);
    const retried = lines.find((line) => line.msg === 'retrying a job after a worker crash');
    const crashed = lines.find((line) => line.msg === 'worker crashed under a job; retrying it once, on the next idle worker');
    expect(crashed).toMatchObject({ jobId: crashing.id, workerId: 'w0' });
    expect(retried).toMatchObject({ jobId: crashing.id, workerId: 'w1' });
    // w1 was never touched; w0 came back as a new process with nothing loaded.
    expect(w1!.pid).toBe(before[1]);
    await w0!.whenReady();
    expect(w0!.pid).not.toBe(before[0]);
    expect(w0!.loadedModels).toEqual([]);
    expect(w1!.loadedModels).toEqual(['fake-model']);
    // And the pool keeps serving on both.
    const after = [submit(service, 'after 1', 'g2'), submit(service, 'after 2', 'g3'), submit(service, 'after 3', 'g4')];
    expect((await waitSettled(after.map((job) => job.id))).map((job) => job.state)).toEqual(['done', 'done', 'done']);
  });

  it('cancels a hung job on worker 2 (killing only that worker) while worker 1 finishes its job', async () => {
    const { pool, service, store, waitSettled, timeline } = await poolStack(2, 'hang', { FAIL_PROMPT: 'hang', FAKE_STEP_MS: '30' });
    const [w0, w1] = pool.workers;
    const before = [w0!.pid, w1!.pid];
    const fine = submit(service, 'fine', 'g1', 60);
    const hung = submit(service, 'hang', 'g2');
    // Cancel once the hung job has reported step 1: the worker is then spinning in step 2 and cannot read the
    // cancel, so only the kill after the grace period stops it.
    let hungStep = false;
    service.on('progress', (job) => (hungStep ||= job.id === hung.id));
    while (!hungStep) await once(service, 'progress');
    expect(timeline.filter((e) => e.event === 'started').map((e) => [e.id, e.workerId])).toEqual([
      [fine.id, 'w0'],
      [hung.id, 'w1'],
    ]);
    service.cancel(hung.id, { userId: 'g2-user', canManageGuild: false });
    const [a, b] = await waitSettled([fine.id, hung.id]);
    expect(b!.state).toBe('cancelled');
    expect(a!.state).toBe('done');
    expect(store.jobs.get(fine.id)!.attempts).toBe(1);
    // The cancel grace ran out on w1 only: it was killed and respawned, w0 kept its process.
    expect(timeline.findIndex((e) => e.id === hung.id && e.event === 'cancelled')).toBeLessThan(
      timeline.findIndex((e) => e.id === fine.id && e.event === 'done'),
    );
    expect(w0!.pid).toBe(before[0]);
    await w1!.whenReady();
    expect(w1!.pid).not.toBe(before[1]);
  });

  it('builds each worker on its own GPU (EXECUTION_DEVICE_IDS) and names it after it', async () => {
    const pool = new WorkerPool({
      workers: localWorkersFromEnv({ EXECUTION_DEVICE_IDS: [0, 2], WORKERS: 1, EXECUTION_DEVICE_ID: 0 }),
      engine: { modelsDir: '/unused', deviceId: 7 },
      host: { entry: fixtureWorker('device-probe') },
    });
    pool.on('ready', (_worker, info) => pids.add(info.pid));
    cleanups.push(() => pool.stop());
    const started = await pool.start();
    expect(started.map((s) => s.status === 'fulfilled' && [s.value.executionProvider])).toEqual([['fake-device-0'], ['fake-device-2']]);
    expect(pool.status().map((s) => [s.id, s.deviceId, s.state])).toEqual([
      ['gpu0', 0, 'idle'],
      ['gpu2', 2, 'idle'],
    ]);
    expect(pool.executionProvider).toBe('fake-device-0');
  });

  it('starts nothing with no workers (WORKERS=0): jobs stay queued', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'imagine-pool-'));
    const store = Store.open(dir);
    const pool = new WorkerPool({ workers: [], engine: { modelsDir: '/unused' } });
    const service = new JobService({ store, workers: pool.workers });
    cleanups.push(async () => {
      await service.stop();
      await pool.stop();
      store.close();
      rmSync(dir, { recursive: true, force: true });
    });
    expect(await pool.start()).toEqual([]);
    service.start();
    const job = submit(service, 'waits', 'g1');
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(store.jobs.get(job.id)!.state).toBe('queued');
    expect(service.position(job.id)).toEqual({ position: 1, etaMs: null });
    expect(pool.status()).toEqual([]);
    expect(pool.executionProvider).toBeUndefined();
  });
});
