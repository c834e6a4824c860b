/**
 * Remote workers through a real Redis (a redis-server this file starts on a free loopback port): worker hosts are
 * child processes running RemoteWorkerHost over fixture engines, the coordinator is a JobService with the
 * RemoteWorkers registry, as src/main.ts wires them with REDIS_URL.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { Job } from '../../src/queue/job.js';
import { JobService } from '../../src/queue/job-service.js';
import { Store } from '../../src/store/store.js';
import {
  DONE_CHANNEL,
  QUEUE_PREFIX,
  decodeResult,
  encodeValue,
  heartbeatKey,
  queueName,
  resultKey,
  type Heartbeat,
  type RemoteReturn,
} from '../../src/worker/remote-protocol.js';
import { RemoteWorkers } from '../../src/worker/remote-worker.js';
import { RedisFixture, REDIS_MISSING, hasRedisServer } from '../fixtures/redis-server.js';
import { smallRequest } from '../fixtures/requests.js';
import { fakePng } from '../fixtures/workers/fake-engine.js';

const HOST_ENTRY = fileURLToPath(new URL('../fixtures/workers/remote-host.ts', import.meta.url));

if (!hasRedisServer) {
  // Loud on purpose: a skipped suite must not pass for a tested one.
  process.stderr.write(`\n*** ${REDIS_MISSING}\n\n`);
}

// On CI a missing redis-server is a failure, not a skip (.ci/run installs it); the test exists only then.
if (!hasRedisServer && process.env.CI === 'true') {
  describe('remote workers on CI', () => {
    it('needs redis-server', () => {
      throw new Error(`${REDIS_MISSING} On CI a missing redis-server fails the run (.ci/run installs it).`);
    });
  });
}

describe.skipIf(!hasRedisServer)('remote workers through Redis', () => {
  const redis = new RedisFixture();
  const cleanups: Array<() => Promise<void> | void> = [];

  beforeAll(() => redis.start());
  afterAll(() => redis.dispose());
  beforeEach(async () => {
    const client = new Redis(redis.url);
    await client.flushall();
    client.disconnect();
  });
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  });

  /** Starts a worker host process serving `workerIds`; resolves once it is serving. */
  async function startHost(hostId: string, workerIds: string[], env: Record<string, string> = {}): Promise<ChildProcess> {
    const child = spawn(process.execPath, ['--import', 'tsx', HOST_ENTRY], {
      env: { ...process.env, REDIS_URL: redis.url, HOST_ID: hostId, WORKER_IDS: workerIds.join(','), FAKE_STEP_MS: '60', ...env },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    cleanups.push(async () => {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGCONT');
      child.kill('SIGKILL');
      await once(child, 'exit');
    });
    let out = '';
    await new Promise<void>((resolve, reject) => {
      child.stdout!.on('data', (chunk: Buffer) => {
        out += chunk.toString();
        if (out.includes('serving')) resolve();
      });
      child.once('exit', (code) => reject(new Error(`host ${hostId} exited with ${code} before serving`)));
    });
    return child;
  }

  /** A coordinator on `dir`'s store: JobService + RemoteWorkers polling every 50 ms. */
  async function coordinator(dir: string) {
    const store = Store.open(dir);
    const service = new JobService({ store, workers: [], maxRetries: 2, watchdog: { minMs: 20_000, factor: 4, unmeasuredMs: 20_000 } });
    service.setMaxListeners(50);
    const remote = new RemoteWorkers({ redisUrl: redis.url, pollMs: 50 });
    remote.on('worker', (worker) => service.addWorker(worker));
    const settled = new Map<string, Job>();
    const done: string[] = [];
    for (const name of ['done', 'failed', 'cancelled'] as const) {
      service.on(name, (job: Job) => {
        settled.set(job.id, job);
        if (name === 'done') done.push(job.id);
      });
    }
    let closed = false;
    /** Stops it as a crash would: no shutdown of the jobs, connections just dropped. */
    const crash = async () => {
      if (closed) return;
      closed = true;
      await remote.stop();
      store.close();
    };
    cleanups.push(async () => {
      if (closed) return;
      closed = true;
      await service.stop();
      await remote.stop();
      store.close();
    });
    service.start();
    await remote.start();
    const waitSettled = async (id: string): Promise<Job> => {
      while (!settled.has(id)) await Promise.race([once(service, 'done'), once(service, 'failed'), once(service, 'cancelled')]);
      return settled.get(id)!;
    };
    /** Resolves with the remote worker running job `id` once a step of it has been reported. */
    const runningOn = async (id: string): Promise<string> => {
      for (;;) {
        const [job] = (await once(service, 'progress')) as [Job];
        if (job.id !== id) continue;
        const worker = remote.status().find((status) => status.jobId === id);
        if (worker) return worker.id;
      }
    };
    const waitWorkers = async (count: number) => {
      while (remote.status().filter((status) => status.state === 'idle').length < count) await new Promise((resolve) => setTimeout(resolve, 20));
    };
    return { store, service, remote, settled, done, waitSettled, runningOn, waitWorkers, crash };
  }

  function tempDir(): string {
    const dir = mkdtempSync(path.join(tmpdir(), 'imagine-remote-'));
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    return dir;
  }

  function submit(service: JobService, prompt: string, steps = 6): Job {
    return service.submit(
      { kind: 'imagine', guildId: 'g1', channelId: 'c', userId: 'u1', request: smallRequest({ prompt, steps, previewEvery: 2 }) },
      { maxQueuedPerUser: 50, maxQueuedPerGuild: 50, maxQueuedTotal: 500 },
    );
  }

  it('runs jobs on a remote worker: previews come back as progress, images through Redis, one job per worker at a time', async () => {
    await startHost('a', ['a0']);
    const { service, remote, waitSettled, waitWorkers } = await coordinator(tempDir());
    await waitWorkers(1);
    expect(remote.status()).toEqual([expect.objectContaining({ id: 'a0', state: 'idle', host: 'host-a' })]);
    const previews: number[] = [];
    service.on('progress', (_job, progress) => {
      if (progress.preview) previews.push(progress.preview.png.byteLength);
    });
    const jobs = [submit(service, 'first'), submit(service, 'second')];
    await new Promise((resolve) => setImmediate(resolve));
    // Just-in-time: the second job waits in our fair queue, not in the worker's Redis queue.
    expect(service.list().map((listing) => listing.job.state)).toEqual(['running', 'queued']);
    const [first, second] = [await waitSettled(jobs[0]!.id), await waitSettled(jobs[1]!.id)];
    expect([first.state, second.state]).toEqual(['done', 'done']);
    expect(previews.length).toBeGreaterThan(0);
    expect(remote.status()[0]!.models).toEqual(['fake-model']);
  });

  it('delivers the images the engine made, bytes intact', async () => {
    await startHost('a', ['a0']);
    const { service, store, waitSettled, waitWorkers } = await coordinator(tempDir());
    await waitWorkers(1);
    const images: Uint8Array[] = [];
    service.on('done', (_job, generated) => images.push(...generated.map((image) => image.png)));
    const job = await waitSettled(submit(service, 'bytes', 2).id);
    expect(job.state).toBe('done');
    expect(Buffer.from(images[0]!).equals(Buffer.from(fakePng(7, 0, 'bytes')))).toBe(true);
    expect(store.jobs.get(job.id)?.outputs).toHaveLength(1);
  });

  it('ends an attempt in one transaction: the done message finds the images stored with their TTL and the worker shown idle', async () => {
    await startHost('a', ['a0']);
    // The bot's side played by hand, so nothing reads (and deletes) the images before we look.
    const queue = new Queue(queueName('a0'), { connection: new Redis(redis.url, { maxRetriesPerRequest: null }), prefix: QUEUE_PREFIX });
    const listener = new Redis(redis.url);
    const reader = new Redis(redis.url);
    cleanups.push(async () => {
      await queue.close();
      listener.disconnect();
      reader.disconnect();
    });
    await listener.subscribe(DONE_CHANNEL);
    const seen = new Promise<{ value: RemoteReturn; ttlMs: number; stored: Buffer | null; heartbeat: Heartbeat }>((resolve) =>
      listener.once('message', async (_channel, text: string) => {
        const { value } = JSON.parse(text) as { value: RemoteReturn };
        const key = value.ok ? value.resultKey : 'missing';
        const [[, ttlMs], [, stored], [, heartbeat]] = (await reader.multi().pttl(key).getBuffer(key).get(heartbeatKey('a')).exec()) as [
          [null, number],
          [null, Buffer | null],
          [null, string],
        ];
        resolve({ value, ttlMs, stored, heartbeat: JSON.parse(heartbeat) as Heartbeat });
      }),
    );
    const request = smallRequest({ prompt: 'transaction', steps: 2 });
    await queue.add('generate', { payload: encodeValue({ request, watchdogMs: 20_000 }) }, { jobId: 'job-1.attempt' });
    const { value, ttlMs, stored, heartbeat } = await seen;
    expect(value).toEqual({ ok: true, resultKey: resultKey('job-1.attempt') });
    expect(ttlMs).toBeGreaterThan(590_000);
    expect(Buffer.from(decodeResult(stored!).images[0]!.png).equals(Buffer.from(fakePng(7, 0, 'transaction')))).toBe(true);
    // The heartbeat went out with it: the worker is free, with the model it now has warm.
    expect(heartbeat.workers).toEqual([expect.objectContaining({ id: 'a0', state: 'idle', models: ['fake-model'] })]);
  });

  it('kill -9 of a worker host mid-job: the job runs again on another host and is delivered once, with a note', async () => {
    const hosts = { a: await startHost('a', ['a0']), b: await startHost('b', ['b0']) };
    const { service, store, done, waitSettled, runningOn, waitWorkers } = await coordinator(tempDir());
    await waitWorkers(2);
    const job = submit(service, 'survivor', 10);
    const first = await runningOn(job.id);
    hosts[first === 'a0' ? 'a' : 'b'].kill('SIGKILL');
    const settled = await waitSettled(job.id);
    expect(settled.state).toBe('done');
    expect(settled.warnings[0]).toMatch(new RegExp(`^Worker ${first} went away .* moved to another worker`));
    expect(done).toEqual([job.id]);
    expect(store.jobs.get(job.id)).toMatchObject({ state: 'done', outputs: [expect.anything()] });
  });

  it('a host whose heartbeat stops has its job moved; its late result is ignored (exactly once)', async () => {
    const hosts = { a: await startHost('a', ['a0']), b: await startHost('b', ['b0']) };
    const { service, remote, done, waitSettled, runningOn, waitWorkers } = await coordinator(tempDir());
    await waitWorkers(2);
    const job = submit(service, 'frozen', 10);
    const first = await runningOn(job.id);
    const frozen = hosts[first === 'a0' ? 'a' : 'b'];
    frozen.kill('SIGSTOP');
    const settled = await waitSettled(job.id);
    expect(settled.state).toBe('done');
    expect(settled.warnings[0]).toContain(`Worker ${first} went away`);
    // Thawed, the host finishes its old attempt and reports it: nobody waits for it any more.
    frozen.kill('SIGCONT');
    while (remote.status().find((status) => status.id === first)?.state !== 'idle') await new Promise((resolve) => setTimeout(resolve, 20));
    expect(done).toEqual([job.id]);
  });

  it('an engine crash on a remote host sends the job back to the head of the line, and it runs again', async () => {
    const marker = path.join(tempDir(), 'crashed-once');
    await startHost('a', ['a0'], { FIXTURE: 'crash-mid-job', CRASH_ONCE_MARKER: marker });
    const { service, done, waitSettled, waitWorkers } = await coordinator(tempDir());
    await waitWorkers(1);
    const job = submit(service, 'crashy', 4);
    const settled = await waitSettled(job.id);
    expect(settled.state).toBe('done');
    expect(settled.attempts).toBe(2);
    expect(settled.warnings[0]).toContain('Worker a0 went away');
    expect(done).toEqual([job.id]);
  });

  it('a job whose engine crashes on every try fails after the last retry with a message for its user', async () => {
    await startHost('a', ['a0'], { FIXTURE: 'crash-mid-job' });
    const { service, waitSettled, waitWorkers } = await coordinator(tempDir());
    await waitWorkers(1);
    const settled = await waitSettled(submit(service, 'doomed', 4).id);
    expect(settled.state).toBe('failed');
    // maxRetries 2: three tries in all.
    expect(settled.attempts).toBe(3);
    expect(settled.error).toMatchObject({ userFacing: true, message: expect.stringContaining('on every try') });
  });

  it('cancels a job running on a remote worker through Redis; the worker is free again', async () => {
    await startHost('a', ['a0'], { FAKE_STEP_MS: '100' });
    const { service, remote, waitSettled, runningOn, waitWorkers } = await coordinator(tempDir());
    await waitWorkers(1);
    const job = submit(service, 'never mind', 50);
    await runningOn(job.id);
    service.cancel(job.id, { userId: 'u1', canManageGuild: false });
    const settled = await waitSettled(job.id);
    expect(settled.state).toBe('cancelled');
    // Stopped on the host (not left running out of sight): the worker reports idle well before 50 steps of 100 ms.
    await waitWorkers(1);
    expect(remote.status()[0]).toMatchObject({ state: 'idle', jobId: undefined });
    const next = await waitSettled(submit(service, 'after', 2).id);
    expect(next.state).toBe('done');
  });

  it('Redis restarted mid-job: the job is found lost and runs again once the hosts are back', async () => {
    await startHost('a', ['a0']);
    const { service, done, waitSettled, runningOn, waitWorkers } = await coordinator(tempDir());
    await waitWorkers(1);
    const job = submit(service, 'restart', 10);
    await runningOn(job.id);
    await redis.stop();
    await redis.start();
    const settled = await waitSettled(job.id);
    expect(settled.state).toBe('done');
    expect(settled.warnings[0]).toContain('went away');
    expect(done).toEqual([job.id]);
  });

  it('a bot whose Redis is unreachable still starts, with no remote worker, and stops cleanly', async () => {
    // Port 1 on loopback: nothing listens, every connection is refused.
    const remote = new RemoteWorkers({ redisUrl: 'redis://127.0.0.1:1', pollMs: 50 });
    await remote.start();
    expect(remote.status()).toEqual([]);
    await remote.stop();
  });

  it('coordinator restart mid-job: the new coordinator reruns the job from its store and delivers it', async () => {
    await startHost('a', ['a0']);
    const dir = tempDir();
    const before = await coordinator(dir);
    await before.waitWorkers(1);
    const job = submit(before.service, 'resume', 8);
    await before.runningOn(job.id);
    await before.crash();
    const after = await coordinator(dir);
    const settled = await after.waitSettled(job.id);
    expect(settled.state).toBe('done');
    expect(after.done).toEqual([job.id]);
    expect(after.store.jobs.get(job.id)).toMatchObject({ state: 'done' });
  });
});
