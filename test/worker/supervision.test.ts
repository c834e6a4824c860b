import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { Job } from '../../src/queue/job.js';
import { JobService } from '../../src/queue/job-service.js';
import { Store } from '../../src/store/store.js';
import { WorkerHost } from '../../src/worker/host.js';
import { fixtureWorker, isAlive, type WorkerFixture } from '../fixtures/workers/fixtures.js';
import { smallRequest } from '../fixtures/requests.js';

const cleanups: Array<() => Promise<void> | void> = [];
const pids = new Set<number>();

afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  for (const pid of pids) expect(isAlive(pid)).toBe(false);
  pids.clear();
});

/** A real bot stack (store, host, service) on a fixture worker. */
async function stack(fixture: WorkerFixture, env: Record<string, string>) {
  const dir = mkdtempSync(path.join(tmpdir(), 'imagine-supervision-'));
  const store = Store.open(dir);
  const host = new WorkerHost({
    engine: { modelsDir: '/unused' },
    entry: fixtureWorker(fixture),
    env: { ...process.env, ...env },
    backoff: { initialMs: 20, maxMs: 100 },
  });
  host.on('ready', (info) => pids.add(info.pid));
  const service = new JobService({ store, runner: host, watchdog: { minMs: 1500, factor: 4, unmeasuredMs: 1500 } });
  cleanups.push(async () => {
    await service.stop();
    await host.stop();
    store.close();
    rmSync(dir, { recursive: true, force: true });
  });
  await host.start();
  service.start();
  const settled = new Map<string, Job>();
  for (const name of ['done', 'failed', 'cancelled'] as const) service.on(name, (job: Job) => settled.set(job.id, job));
  const waitSettled = async (ids: string[]) => {
    while (!ids.every((id) => settled.has(id))) await Promise.race([once(service, 'done'), once(service, 'failed'), once(service, 'cancelled')]);
    return ids.map((id) => settled.get(id)!);
  };
  return { service, store, host, waitSettled };
}

function submit(service: JobService, prompt: string, guildId = 'g1'): Job {
  return service.submit({ kind: 'imagine', guildId, channelId: 'c', userId: `${prompt}-user`, request: smallRequest({ prompt }) });
}

describe('supervision through the JobService', () => {
  it('retries a job once after a worker crash and completes it and the job queued behind it', async () => {
    const marker = path.join(mkdtempSync(path.join(tmpdir(), 'imagine-marker-')), 'crashed');
    const { service, store, waitSettled } = await stack('crash-mid-job', { CRASH_ONCE_MARKER: marker });
    const crashing = submit(service, 'first');
    const behind = submit(service, 'second', 'g2');
    const [a, b] = await waitSettled([crashing.id, behind.id]);
    expect([a!.state, b!.state]).toEqual(['done', 'done']);
    expect(store.jobs.get(crashing.id)!.attempts).toBe(2);
    expect(store.jobs.get(behind.id)!.attempts).toBe(1);
    rmSync(path.dirname(marker), { recursive: true, force: true });
  });

  it('fails a job that crashes the worker twice with a message for its user; the queued job still runs', async () => {
    const { service, waitSettled } = await stack('crash-mid-job', { FAIL_PROMPT: 'boom' });
    const crashing = submit(service, 'boom');
    const behind = submit(service, 'fine', 'g2');
    const [a, b] = await waitSettled([crashing.id, behind.id]);
    expect(a!.state).toBe('failed');
    expect(a!.error).toMatchObject({ name: 'WorkerCrashedError', userFacing: true });
    expect(a!.error!.message).toMatch(/^The image worker crashed \(or went away\) on every try while making this image/);
    expect(b!.state).toBe('done');
  });

  it('kills a hung job at its watchdog time, fails it, and runs the queued job on a new worker', async () => {
    const { service, host, waitSettled } = await stack('hang', { FAIL_PROMPT: 'hang' });
    const firstPid = host.pid!;
    const hanging = submit(service, 'hang');
    const behind = submit(service, 'fine', 'g2');
    const [a, b] = await waitSettled([hanging.id, behind.id]);
    expect(a!.state).toBe('failed');
    expect(a!.error).toMatchObject({ name: 'WatchdogTimeoutError', userFacing: true });
    expect(a!.error!.message).toBe('This image took far longer than expected (over 2 s), so it was stopped.');
    expect(b!.state).toBe('done');
    expect(host.pid).not.toBe(firstPid);
  });

  it('fails a job whose worker sends garbage as an internal error and restarts the worker', async () => {
    const { service, host, waitSettled } = await stack('garbage-message', { FAIL_PROMPT: 'garbage' });
    const firstPid = host.pid!;
    const bad = submit(service, 'garbage');
    const behind = submit(service, 'fine', 'g2');
    const [a, b] = await waitSettled([bad.id, behind.id]);
    expect(a!.state).toBe('failed');
    expect(a!.error).toMatchObject({ name: 'ProtocolError', userFacing: false });
    expect(b!.state).toBe('done');
    expect(host.pid).not.toBe(firstPid);
  });

  it('keeps jobs queued while the worker starts slowly and runs them once it is ready', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'imagine-slow-'));
    const store = Store.open(dir);
    const host = new WorkerHost({
      engine: { modelsDir: '/unused' },
      entry: fixtureWorker('slow-start'),
      env: { ...process.env, SLOW_START_MS: '1000' },
    });
    host.on('ready', (info) => pids.add(info.pid));
    const service = new JobService({ store, runner: host });
    cleanups.push(async () => {
      await service.stop();
      await host.stop();
      store.close();
      rmSync(dir, { recursive: true, force: true });
    });
    const starting = host.start();
    service.start();
    const job = submit(service, 'early');
    await new Promise((resolve) => setImmediate(resolve));
    expect(service.get(job.id)!.state).toBe('queued');
    expect(service.position(job.id)?.position).toBe(1);
    const [, [done]] = await Promise.all([starting, once(service, 'done')]);
    expect((done as Job).id).toBe(job.id);
  });
});
