import { once } from 'node:events';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { Identifiers, UserError } from '../../src/errors.js';
import type { GenerateRequest, GenerateResult, JobRequest } from '../../src/protocol/generate-request.js';
import { createLogger } from '../../src/logger.js';
import { JobService, type JobServiceOptions } from '../../src/queue/job-service.js';
import type { Job, JobEventName, NewJob, QueuePosition } from '../../src/queue/job.js';
import { Store } from '../../src/store/store.js';
import { WorkerCrashedError } from '../../src/worker/worker-errors.js';
import { fakePng } from '../fixtures/workers/fake-engine.js';
import { ManualRunner } from '../fixtures/manual-runner.js';
import { smallRequest } from '../fixtures/requests.js';

function result(request: GenerateRequest, totalMs = 1000): GenerateResult {
  const seed = request.seed ?? 42;
  return {
    images: Array.from({ length: request.count }, (_, i) => ({
      png: fakePng(seed + i, i, request.prompt),
      seed: seed + i,
      width: request.width,
      height: request.height,
      parameters: `${request.prompt}\nSeed: ${seed + i}`,
    })),
    seed,
    warnings: [],
    timings: { totalMs, inferenceMs: totalMs, previewMs: 0, loadMs: 0 },
  };
}

const dirs: string[] = [];
const cleanups: Array<() => Promise<void> | void> = [];

afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

function setup(options: Partial<JobServiceOptions> & { dir?: string; maxPageCount?: number } = {}) {
  const dir = options.dir ?? mkdtempSync(path.join(tmpdir(), 'imagine-jobs-'));
  if (!options.dir) dirs.push(dir);
  const store = Store.open(dir, { maxPageCount: options.maxPageCount });
  const runner = (options.runner as ManualRunner | undefined) ?? new ManualRunner();
  const service = new JobService({ store, runner, ...options });
  const events: Array<[JobEventName, string, unknown?]> = [];
  for (const name of ['queued', 'position', 'started', 'progress', 'done', 'failed', 'cancelled'] as const) {
    service.on(name, (job: Job, detail?: unknown) => events.push([name, job.id, detail]));
  }
  cleanups.push(async () => {
    await service.stop();
    store.close();
  });
  return { dir, store, runner, service, events };
}

function newJob(guildId: string, userId = 'u1', request: Partial<JobRequest> = {}): NewJob {
  return {
    kind: 'imagine',
    guildId,
    channelId: `${guildId}-channel`,
    userId,
    interactionId: 'interaction-1',
    interactionToken: 'super-secret-interaction-token',
    interactionCreatedAt: 1_700_000_000_000,
    request: smallRequest(request),
  };
}

/** Lets setImmediate-coalesced position updates run. */
const tick = () => new Promise((resolve) => setImmediate(resolve));

describe('JobService', () => {
  it('stores a submitted job, runs it, writes its images and commits the result', async () => {
    const { service, runner, store, events } = setup();
    const job = service.submit(newJob('g1', 'u1', { count: 2, seed: 10 }));
    expect(store.jobs.get(job.id)).toMatchObject({
      state: 'queued',
      guildId: 'g1',
      cost: 4 * 64 * 64 * 2,
      interactionToken: 'super-secret-interaction-token',
    });
    const call = await runner.next();
    expect(call.jobId).toBe(job.id);
    expect(service.get(job.id)).toMatchObject({ state: 'running', attempts: 1 });
    call.options.onProgress({ step: 1, total: 4, image: 0 });
    const done = once(service, 'done');
    call.resolve(result(call.request));
    const [doneJob, images] = (await done) as [Job, GenerateResult['images']];
    expect(images.map((image) => image.seed)).toEqual([10, 11]);
    expect(doneJob.state).toBe('done');
    const stored = store.jobs.get(job.id)!;
    expect(stored).toMatchObject({ state: 'done', seeds: [10, 11] });
    expect(stored.outputs.map((o) => path.relative(store.dataDir, o.path))).toEqual([`outputs/${job.id}/0.png`, `outputs/${job.id}/1.png`]);
    expect(readFileSync(stored.outputs[1]!.path)).toEqual(Buffer.from(fakePng(11, 1, 'a lighthouse at dusk')));
    expect(events.map(([name]) => name)).toEqual(['started', 'progress', 'done']);
    expect(events.find(([name]) => name === 'progress')![2]).toEqual({ step: 1, total: 4, image: 0 });
  });

  it('names the per-user cap and its number when it is hit, counting the running job', async () => {
    const { service, runner } = setup();
    const limits = { maxQueuedPerUser: 2, maxQueuedPerGuild: 10, maxQueuedTotal: 100 };
    service.submit(newJob('g1', 'ann'), limits);
    await runner.next();
    service.submit(newJob('g1', 'ann'), limits);
    const error = (() => {
      try {
        service.submit(newJob('g1', 'ann'), limits);
      } catch (e) {
        return e;
      }
    })();
    expect(error).toBeInstanceOf(UserError);
    expect((error as UserError).identifier).toBe(Identifiers.UserQueueFull);
    expect((error as UserError).message).toBe(
      'You already have 2 images queued or running here, the most this server allows per member. Wait for one to finish or cancel one.',
    );
    expect((error as UserError).context).toEqual({ limit: 'maxQueuedPerUser', max: 2 });
    // Another member is not affected.
    expect(service.submit(newJob('g1', 'bob'), limits).state).toBe('queued');
  });

  it('names the guild and total caps', () => {
    const { service } = setup();
    service.submit(newJob('g1', 'a'), { maxQueuedPerUser: 5, maxQueuedPerGuild: 1, maxQueuedTotal: 100 });
    expect(() => service.submit(newJob('g1', 'b'), { maxQueuedPerUser: 5, maxQueuedPerGuild: 1, maxQueuedTotal: 100 })).toThrow(
      'This server already has 1 image queued or running, the most it allows. Try again when some have finished.',
    );
    expect(() => service.submit(newJob('g2', 'c'), { maxQueuedPerUser: 5, maxQueuedPerGuild: 5, maxQueuedTotal: 1 })).toThrow(
      "The bot's queue is full (1 images across all servers). Try again in a few minutes.",
    );
  });

  it('rejects a request that does not match GenerateRequest with a TypeError', () => {
    const { service } = setup();
    expect(() => service.submit({ ...newJob('g1'), request: { ...smallRequest(), steps: 'many' } as never })).toThrow(TypeError);
  });

  it('lets the owner or a moderator of that guild cancel a queued job, and nobody else', async () => {
    const { service, runner, store, events } = setup();
    service.submit(newJob('g1', 'owner'));
    await runner.next();
    const queued = service.submit(newJob('g1', 'owner'));
    expect(() => service.cancel(queued.id, { userId: 'stranger', canManageGuild: false })).toThrow(
      'Only the member who asked for this image, or someone with Manage Server, can cancel it.',
    );
    expect(() => service.cancel(queued.id, { userId: 'mod-elsewhere', canManageGuild: true, guildId: 'g2' })).toThrow(UserError);
    const cancelled = service.cancel(queued.id, { userId: 'mod', canManageGuild: true, guildId: 'g1' });
    expect(cancelled).toMatchObject({ state: 'cancelled', cancelledBy: 'mod' });
    expect(store.jobs.get(queued.id)).toMatchObject({ state: 'cancelled', cancelledBy: 'mod' });
    expect(events.filter(([name]) => name === 'cancelled').map(([, id]) => id)).toEqual([queued.id]);
    expect(() => service.cancel(queued.id, { userId: 'owner', canManageGuild: false })).toThrow('That image is already cancelled.');
    expect(() => service.cancel('nope', { userId: 'owner', canManageGuild: false })).toThrow('There is no such image job.');
  });

  it('cancels a running job through the runner and records it once the worker stops', async () => {
    const { service, runner, store } = setup();
    const job = service.submit(newJob('g1', 'owner'));
    const call = await runner.next();
    const cancelled = once(service, 'cancelled');
    expect(service.cancel(job.id, { userId: 'owner', canManageGuild: false }).state).toBe('running');
    expect(call.options.signal.aborted).toBe(true);
    await cancelled;
    expect(store.jobs.get(job.id)).toMatchObject({ state: 'cancelled', cancelledBy: 'owner' });
    // The slot is free again.
    service.submit(newJob('g1', 'owner'));
    expect((await runner.next()).jobId).not.toBe(job.id);
  });

  it('gives every queued job its position and an ETA from the measured cost rate', async () => {
    let now = 1_000_000;
    const { service, runner, events } = setup({ now: () => now });
    // Measure: a job of cost 4*64*64 = 16384 that took 1638.4 ms -> 0.1 ms per unit.
    const first = service.submit(newJob('g0'));
    const call = await runner.next();
    call.resolve(result(call.request, 1638.4));
    await once(service, 'done');
    expect(service.msPerCostUnit).toBeCloseTo(0.1, 10);

    const running = service.submit(newJob('g1', 'a', { steps: 10 }));
    await runner.next();
    now += 400; // the running job (estimated 4096 ms) is 400 ms in
    const a2 = service.submit(newJob('g1', 'a', { steps: 2 }));
    const b1 = service.submit(newJob('g2', 'b', { steps: 5 }));
    const a3 = service.submit(newJob('g1', 'a', { steps: 1 }));
    const listing = service.list();
    // g1's job is running, so g2's b1, a newcomer, goes next (it waits for the running job only); g1's a2 and a3
    // follow (start-time fair queueing: g1 continues where its running job's cost ends).
    expect(listing.map((l) => [l.job.id, l.position, l.etaMs])).toEqual([
      [running.id, null, 3696],
      [b1.id, 1, 3696],
      [a2.id, 2, Math.round(3696 + 5 * 4096 * 0.1)],
      [a3.id, 3, Math.round(3696 + 7 * 4096 * 0.1)],
    ]);
    expect(service.list('g2').map((l) => l.job.id)).toEqual([b1.id]);
    expect(service.position(b1.id)).toEqual({ position: 1, etaMs: 3696 });
    expect(service.position(running.id)).toBeUndefined();
    expect(service.position(first.id)).toBeUndefined();

    await tick();
    const queuedEvents = events.filter(([name]) => name === 'queued').map(([, id, p]) => [id, (p as QueuePosition).position]);
    expect(queuedEvents).toEqual([
      [b1.id, 1],
      [a2.id, 2],
      [a3.id, 3],
    ]);
    // Cancelling the head moves the others up, and only they get 'position'.
    service.cancel(b1.id, { userId: 'b', canManageGuild: false });
    await tick();
    const moved = events.filter(([name]) => name === 'position').map(([, id, p]) => [id, (p as QueuePosition).position]);
    expect(moved).toEqual([
      [a2.id, 1],
      [a3.id, 2],
    ]);
  });

  it('returns null ETAs before any job has been measured', async () => {
    const { service, runner } = setup();
    const job = service.submit(newJob('g1'));
    service.submit(newJob('g1'));
    await runner.next();
    expect(service.list().every((l) => l.etaMs === null)).toBe(true);
    expect(service.get(job.id)?.state).toBe('running');
  });

  it('persists the measured cost rate across restarts', async () => {
    const first = setup();
    first.service.submit(newJob('g1'));
    const call = await first.runner.next();
    call.resolve(result(call.request, 3276.8));
    await once(first.service, 'done');
    await first.service.stop();
    first.store.close();
    const second = setup({ dir: first.dir });
    expect(second.service.msPerCostUnit).toBeCloseTo(0.2, 10);
  });

  it('scales the watchdog with the job cost once a rate is known', async () => {
    const { service, runner } = setup({ watchdog: { minMs: 1000, factor: 3, unmeasuredMs: 600_000 } });
    service.submit(newJob('g1'));
    const firstCall = await runner.next();
    expect(firstCall.options.watchdogMs).toBe(600_000);
    firstCall.resolve(result(firstCall.request, 16384)); // 1 ms per unit
    await once(service, 'done');
    service.submit(newJob('g1', 'u1', { steps: 8 }));
    expect((await runner.next()).options.watchdogMs).toBe(3 * 8 * 64 * 64);
  });

  it('retries a job once when the worker crashes under it', async () => {
    const { service, runner, store } = setup();
    const job = service.submit(newJob('g1'));
    const first = await runner.next();
    runner.ready = false;
    first.reject(new WorkerCrashedError('exit', null, 'SIGKILL'));
    const retry = runner.next();
    runner.setReady();
    const second = await retry;
    expect(second.jobId).toBe(job.id);
    const done = once(service, 'done');
    second.resolve(result(second.request));
    await done;
    expect(store.jobs.get(job.id)).toMatchObject({ state: 'done', attempts: 2 });
    expect(runner.calls).toHaveLength(2);
  });

  it('fails a job with a clear message after a second crash, and goes on with the next job', async () => {
    const { service, runner, store } = setup();
    const job = service.submit(newJob('g1'));
    const next = service.submit(newJob('g2'));
    (await runner.next()).reject(new WorkerCrashedError('exit', 137, null));
    const failed = once(service, 'failed');
    (await runner.next()).reject(new WorkerCrashedError('exit', 137, null));
    const [failedJob, error] = (await failed) as [Job, Error];
    expect(error).toBeInstanceOf(WorkerCrashedError);
    expect(failedJob.error).toMatchObject({ userFacing: true, message: expect.stringContaining('on every try') });
    expect(store.jobs.get(job.id)).toMatchObject({ state: 'failed', error: { name: 'WorkerCrashedError', userFacing: true } });
    expect((await runner.next()).jobId).toBe(next.id);
  });

  it('fails a job with the UserError the engine raised, user-facing with its identifier', async () => {
    const { service, runner, store } = setup();
    const job = service.submit(newJob('g1'));
    const failed = once(service, 'failed');
    (await runner.next()).reject(new UserError(Identifiers.UnknownModel, 'There is no model called "x".'));
    const [, error] = (await failed) as [Job, Error];
    expect(error).toBeInstanceOf(UserError);
    expect(store.jobs.get(job.id)!.error).toMatchObject({ identifier: 'unknownModel', userFacing: true, message: 'There is no model called "x".' });
  });

  it('fails an internal error with a reference id and no user-facing text', async () => {
    const { service, runner, store } = setup();
    const job = service.submit(newJob('g1'));
    const failed = once(service, 'failed');
    (await runner.next()).reject(new Error('onnx session exploded'));
    await failed;
    const error = store.jobs.get(job.id)!.error!;
    expect(error).toMatchObject({ userFacing: false, message: 'onnx session exploded' });
    expect(error.ref).toMatch(/^[0-9a-f]{8}$/);
  });

  it('dispatches fairly: five single-job guilds start within the first six jobs behind a 50-job guild', async () => {
    const { service, runner } = setup();
    const limits = { maxQueuedPerUser: 100, maxQueuedPerGuild: 100, maxQueuedTotal: 1000 };
    for (let i = 0; i < 50; i += 1) service.submit(newJob('flood', `u${i % 4}`), limits);
    for (let g = 1; g <= 5; g += 1) service.submit(newJob(`g${g}`), limits);
    const started: string[] = [];
    for (let i = 0; i < 6; i += 1) {
      const call = await runner.next();
      started.push(service.get(call.jobId)!.guildId);
      const done = once(service, 'done');
      call.resolve(result(call.request));
      await done;
    }
    expect(started.filter((g) => g !== 'flood').sort()).toEqual(['g1', 'g2', 'g3', 'g4', 'g5']);
  });

  it('restores queued and interrupted jobs after a restart, interrupted first, without rerunning finished ones', async () => {
    const first = setup();
    const done = first.service.submit(newJob('g1', 'a'));
    const firstCall = await first.runner.next();
    firstCall.resolve(result(firstCall.request));
    await once(first.service, 'done');
    const interrupted = first.service.submit(newJob('g1', 'a'));
    await first.runner.next();
    const waiting1 = first.service.submit(newJob('g2', 'b'));
    const waiting2 = first.service.submit(newJob('g1', 'c'));
    // Simulate a crash: drop the service without stop(); the store still says "running".
    first.store.close();
    cleanups.splice(0);
    dirs.splice(0);

    const second = setup({ dir: first.dir });
    dirs.push(first.dir);
    expect(second.store.jobs.get(interrupted.id)?.state).toBe('running');
    expect(second.service.start()).toBe(3);
    const order: string[] = [];
    for (let i = 0; i < 3; i += 1) {
      const call = await second.runner.next();
      order.push(call.jobId);
      const finished = once(second.service, 'done');
      call.resolve(result(call.request));
      await finished;
    }
    expect(order).toEqual([interrupted.id, waiting1.id, waiting2.id]);
    expect(second.runner.calls.map((c) => c.jobId)).not.toContain(done.id);
    expect(second.store.jobs.listUnfinished()).toEqual([]);
    expect(second.store.jobs.get(interrupted.id)?.attempts).toBe(2);
  });

  it('refuses a job it cannot store (disk full) with a UserError, queues nothing and keeps the earlier jobs', async () => {
    // max_page_count is clamped to the current size: the database cannot grow, as on a full disk.
    const { dir, service, store } = setup({ maxPageCount: 1 });
    const limits = { maxQueuedPerUser: 10_000, maxQueuedPerGuild: 10_000, maxQueuedTotal: 10_000 };
    const accepted: Job[] = [];
    let refusal: unknown;
    for (let i = 0; i < 1000 && refusal === undefined; i += 1) {
      try {
        accepted.push(service.submit(newJob('g1', `u${i}`, { prompt: 'p'.repeat(500) }), limits));
      } catch (error) {
        refusal = error;
      }
    }
    expect(accepted.length).toBeGreaterThan(0);
    expect(refusal).toBeInstanceOf(UserError);
    expect((refusal as UserError).message).toBe(
      'The bot could not save your job (its disk may be full); nothing was queued. Try again later; if it keeps happening tell the bot owner.',
    );
    await tick();
    expect(
      service
        .list()
        .map((listing) => listing.job.id)
        .sort(),
    ).toEqual(accepted.map((job) => job.id).sort());
    await service.stop();
    store.close();
    const reopened = Store.open(dir);
    try {
      expect(reopened.jobs.listUnfinished().map((job) => job.id)).toEqual(accepted.map((job) => job.id));
    } finally {
      reopened.close();
    }
  });

  it('reports a job failed, not done, when its result cannot be committed', async () => {
    const { service, runner, store, events } = setup();
    const job = service.submit(newJob('g1'));
    const call = await runner.next();
    vi.spyOn(store.jobs, 'complete').mockImplementation(() => {
      throw Object.assign(new Error('database or disk is full'), { code: 'SQLITE_FULL' });
    });
    const failed = once(service, 'failed');
    call.resolve(result(call.request));
    const [failedJob] = (await failed) as [Job];
    expect(failedJob).toMatchObject({ state: 'failed', error: { userFacing: true } });
    expect(failedJob.error!.message).toContain('could not save');
    expect(events.map(([name]) => name)).not.toContain('done');
    expect(service.get(job.id)?.state).toBe('failed');
    expect(store.jobs.get(job.id)?.state).toBe('failed');
    expect(service.list()).toEqual([]);
  }, 5_000);

  it('still reports a committed job done when the cost rate cannot be stored', async () => {
    const { service, runner, store } = setup();
    const job = service.submit(newJob('g1'));
    const call = await runner.next();
    vi.spyOn(store, 'setMeta').mockImplementation(() => {
      throw Object.assign(new Error('database or disk is full'), { code: 'SQLITE_FULL' });
    });
    const done = once(service, 'done');
    call.resolve(result(call.request));
    await done;
    expect(store.jobs.get(job.id)?.state).toBe('done');
  }, 5_000);

  it('puts a running job back in the queue on stop, so the next start runs it', async () => {
    const { service, runner, store } = setup();
    const job = service.submit(newJob('g1'));
    await runner.next();
    await service.stop();
    expect(store.jobs.get(job.id)?.state).toBe('queued');
    expect(() => service.submit(newJob('g1'))).toThrow(UserError);
  });

  it('offers finished jobs for delivery until the Discord layer confirms them', async () => {
    const { service, runner } = setup();
    const job = service.submit(newJob('g1'));
    const call = await runner.next();
    call.resolve(result(call.request));
    await once(service, 'done');
    service.setMessageId(job.id, 'message-7');
    expect(service.undelivered().map((j) => [j.id, j.messageId])).toEqual([[job.id, 'message-7']]);
    service.markDelivered(job.id);
    expect(service.undelivered()).toEqual([]);
  });

  it('keeps dispatching when an event listener throws', async () => {
    const { service, runner } = setup();
    service.on('started', () => {
      throw new Error('listener bug');
    });
    service.submit(newJob('g1'));
    const call = await runner.next();
    const done = once(service, 'done');
    call.resolve(result(call.request));
    await expect(done).resolves.toBeDefined();
  });

  it('never writes the interaction token to the log', async () => {
    const lines: string[] = [];
    const destination = new Writable({
      write(chunk, _encoding, callback) {
        lines.push(String(chunk));
        callback();
      },
    });
    const logger = createLogger({ level: 'trace', destination });
    const { service, runner } = setup({ logger });
    const job = service.submit(newJob('g1'));
    logger.info({ job: service.get(job.id) }, 'a careless log line with the whole job');
    const failed = once(service, 'failed');
    (await runner.next()).reject(new Error('boom'));
    await failed;
    const text = lines.join('');
    expect(text).toContain('"interactionToken":"[redacted]"');
    expect(text).toContain('job failed');
    expect(text).not.toContain('super-secret-interaction-token');
    expect(existsSync(path.join(service.get(job.id)!.outputs[0]?.path ?? '/nonexistent'))).toBe(false);
  });
});
