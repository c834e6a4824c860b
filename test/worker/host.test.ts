import { once } from 'node:events';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { CancelledError, Identifiers, UserError } from '../../src/errors.js';
import type { StepProgress } from '../../src/protocol/generate-request.js';
import { WorkerHost, workerEnv, type WorkerHostOptions } from '../../src/worker/host.js';
import { ProtocolError, WatchdogTimeoutError, WorkerCrashedError, WorkerStartError } from '../../src/worker/worker-errors.js';
import { fakePng } from '../fixtures/workers/fake-engine.js';
import { fixtureWorker, isAlive, type WorkerFixture } from '../fixtures/workers/fixtures.js';
import { smallRequest } from '../fixtures/requests.js';

const hosts: WorkerHost[] = [];
const pids = new Set<number>();

function makeHost(fixture: WorkerFixture, options: Partial<WorkerHostOptions> = {}): WorkerHost {
  const host = new WorkerHost({
    engine: { modelsDir: '/nonexistent/models', memoryBudgetMiB: 1024 },
    entry: fixtureWorker(fixture),
    backoff: { initialMs: 20, maxMs: 200 },
    startTimeoutMs: 30_000,
    ...options,
  });
  host.on('ready', (info) => pids.add(info.pid));
  hosts.push(host);
  return host;
}

function runOptions(overrides: { watchdogMs?: number; signal?: AbortSignal; progress?: StepProgress[] } = {}) {
  return {
    signal: overrides.signal ?? new AbortController().signal,
    watchdogMs: overrides.watchdogMs ?? 30_000,
    onProgress: (progress: StepProgress) => overrides.progress?.push(progress),
  };
}

afterEach(async () => {
  await Promise.all(hosts.splice(0).map((host) => host.stop()));
  // Every worker any test started must be gone.
  for (const pid of pids) expect(isAlive(pid), `worker ${pid} still running`).toBe(false);
  pids.clear();
});

describe('WorkerHost', () => {
  it('completes the handshake and reports models, samplers and the provider', async () => {
    const host = makeHost('ok');
    const info = await host.start();
    expect(info.models.map((model) => model.name)).toEqual(['fake-model']);
    expect(info.samplers).toContain('dpmpp_2m_karras');
    expect(info.executionProvider).toBe('fake');
    expect(host.ready).toBe(true);
  });

  it('runs jobs one after another on the same worker, with progress and previews', async () => {
    const host = makeHost('ok');
    const { pid } = await host.start();
    const progress: StepProgress[] = [];
    const first = await host.run('job-1', smallRequest({ steps: 3, previewEvery: 2, count: 2, seed: 100 }), runOptions({ progress }));
    expect(first.images.map((image) => image.seed)).toEqual([100, 101]);
    expect(Buffer.from(first.images[1]!.png)).toEqual(Buffer.from(fakePng(101, 1, 'a lighthouse at dusk')));
    expect(progress.map((p) => `${p.image}:${p.step}/${p.total}`)).toEqual(['0:1/3', '0:2/3', '0:3/3', '1:1/3', '1:2/3', '1:3/3']);
    expect(progress.filter((p) => p.preview).map((p) => p.preview!.png)).toHaveLength(2);
    const second = await host.run('job-2', smallRequest({ seed: 5 }), runOptions());
    expect(second.seed).toBe(5);
    // Models stay loaded between jobs: same process.
    expect(host.pid).toBe(pid);
  });

  it('delivers a UserError from the engine as a UserError with its identifier', async () => {
    const host = makeHost('ok');
    await host.start();
    const error = await host.run('bad-size', smallRequest({ model: 'fixed-64', width: 128 }), runOptions()).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(UserError);
    expect((error as UserError).identifier).toBe(Identifiers.InvalidSize);
    expect((error as UserError).message).toBe('Model "fixed-64" only draws 64x64; got 128x64.');
    expect((error as UserError).context).toEqual({ width: 128, height: 64 });
    // The worker survives a user error.
    await expect(host.run('after', smallRequest(), runOptions())).resolves.toMatchObject({ seed: 7 });
  });

  it('cancels a running job through its AbortSignal', async () => {
    const host = makeHost('ok', { env: { ...process.env, FAKE_STEP_MS: '50' } });
    const { pid } = await host.start();
    const controller = new AbortController();
    const progress: StepProgress[] = [];
    const running = host.run('long', smallRequest({ steps: 150 }), {
      ...runOptions({ signal: controller.signal }),
      onProgress: (p) => {
        progress.push(p);
        if (p.step === 2) controller.abort('cancel');
      },
    });
    await expect(running).rejects.toBeInstanceOf(CancelledError);
    expect(progress.length).toBeLessThan(150);
    expect(host.pid).toBe(pid);
    expect(host.ready).toBe(true);
  });

  it('fails a job with WorkerCrashedError when the worker dies mid-job, then respawns it', async () => {
    const host = makeHost('crash-mid-job');
    const first = await host.start();
    const error = await host.run('crash', smallRequest(), runOptions()).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(WorkerCrashedError);
    expect((error as WorkerCrashedError).signal).toBe('SIGKILL');
    await host.whenReady();
    expect(host.info!.pid).not.toBe(first.pid);
    expect(isAlive(first.pid)).toBe(false);
  });

  it('kills and restarts a worker whose job runs past the watchdog', async () => {
    const host = makeHost('hang');
    const first = await host.start();
    const error = await host.run('hangs', smallRequest(), runOptions({ watchdogMs: 300 })).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(WatchdogTimeoutError);
    expect((error as WatchdogTimeoutError).watchdogMs).toBe(300);
    expect(isAlive(first.pid)).toBe(false);
    await host.whenReady();
    expect(host.info!.pid).not.toBe(first.pid);
  });

  it('kills a hung worker that ignores a cancel after the grace period', async () => {
    const host = makeHost('hang', { cancelGraceMs: 200 });
    const first = await host.start();
    const controller = new AbortController();
    const running = host.run('hangs', smallRequest(), {
      ...runOptions({ signal: controller.signal }),
      onProgress: () => controller.abort('cancel'),
    });
    await expect(running).rejects.toBeInstanceOf(CancelledError);
    expect(isAlive(first.pid)).toBe(false);
  });

  it('treats a malformed message as a protocol error: the job fails and the worker restarts', async () => {
    const host = makeHost('garbage-message');
    const first = await host.start();
    const error = await host.run('garbage', smallRequest(), runOptions()).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ProtocolError);
    expect((error as ProtocolError).message).toMatch(/invalid worker message/);
    expect((error as ProtocolError).raw).toMatchObject({ type: 'result', images: 'not images' });
    await host.whenReady();
    expect(host.info!.pid).not.toBe(first.pid);
  });

  it('reports init-failed with the engine error and keeps retrying with backoff', async () => {
    const host = makeHost('init-fails');
    const failures: Error[] = [];
    host.on('start-failed', (error) => failures.push(error));
    const error = await host.start().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(WorkerStartError);
    expect((error as Error).message).toBe('The worker failed to start: No models folder at /nonexistent/models');
    expect(((error as Error).cause as Error).message).toBe('ModelLoadError: No models folder at /nonexistent/models');
    await once(host, 'start-failed');
    expect(failures.length).toBeGreaterThanOrEqual(2);
    expect(host.ready).toBe(false);
  });

  it('waits for a slow worker to become ready before taking jobs', async () => {
    const host = makeHost('slow-start', { env: { ...process.env, SLOW_START_MS: '1200' } });
    const started = host.start();
    expect(host.ready).toBe(false);
    await host.whenReady();
    await expect(started).resolves.toMatchObject({ executionProvider: 'fake' });
    await expect(host.run('after-slow-start', smallRequest(), runOptions())).resolves.toMatchObject({ seed: 7 });
  });

  it('kills a worker that does not become ready within the start timeout', async () => {
    const host = makeHost('slow-start', { startTimeoutMs: 300, env: { ...process.env, SLOW_START_MS: '60000' } });
    const exits: Array<NodeJS.Signals | null> = [];
    host.on('exit', (_code, signal) => exits.push(signal));
    const error = await host.start().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(WorkerStartError);
    expect((error as Error).message).toBe('The worker did not become ready within 300 ms');
    expect(exits[0]).toBe('SIGKILL');
  });

  it('shuts the worker down on stop', async () => {
    const host = makeHost('ok');
    const { pid } = await host.start();
    const exit = once(host, 'exit');
    await host.stop();
    const [code] = await exit;
    expect(code).toBe(0);
    expect(isAlive(pid)).toBe(false);
  });
});

describe('the worker environment', () => {
  it('keeps what Node, onnxruntime and the GPU libraries read and drops everything else', () => {
    const env = workerEnv({
      PATH: '/usr/bin',
      HOME: '/home/bot',
      LANG: 'C.UTF-8',
      LC_ALL: 'C.UTF-8',
      TZ: 'UTC',
      NODE_ENV: 'production',
      LD_LIBRARY_PATH: '/usr/local/cuda/lib64',
      CUDA_VISIBLE_DEVICES: '1',
      ORT_LOGGING_LEVEL: '3',
      OMP_NUM_THREADS: '4',
      DISCORD_TOKEN: 'discord-secret',
      HF_TOKEN: 'hf-secret',
      DATA_DIR: '/data',
      NODE_OPTIONS: '--require /tmp/evil.js',
    });
    expect(env).toEqual({
      PATH: '/usr/bin',
      HOME: '/home/bot',
      LANG: 'C.UTF-8',
      LC_ALL: 'C.UTF-8',
      TZ: 'UTC',
      NODE_ENV: 'production',
      LD_LIBRARY_PATH: '/usr/local/cuda/lib64',
      CUDA_VISIBLE_DEVICES: '1',
      ORT_LOGGING_LEVEL: '3',
      OMP_NUM_THREADS: '4',
    });
  });

  it('forks the worker without the Discord or Hugging Face token', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'imagine-env-'));
    const out = path.join(dir, 'env.json');
    const entry = path.join(dir, 'env-probe.mjs');
    // A worker that only reports what it was given, then exits (the host counts that as a failed start).
    writeFileSync(
      entry,
      `import { writeFileSync } from 'node:fs';\nwriteFileSync(${JSON.stringify(out)}, JSON.stringify(process.env));\nprocess.exit(0);\n`,
    );
    const saved = { DISCORD_TOKEN: process.env.DISCORD_TOKEN, HF_TOKEN: process.env.HF_TOKEN };
    process.env.DISCORD_TOKEN = 'discord-secret';
    process.env.HF_TOKEN = 'hf-secret';
    try {
      const host = new WorkerHost({ engine: { modelsDir: '/unused' }, entry, execArgv: [], backoff: { initialMs: 60_000, maxMs: 60_000 } });
      hosts.push(host);
      await expect(host.start()).rejects.toBeInstanceOf(WorkerStartError);
      await vi.waitFor(() => expect(existsSync(out)).toBe(true));
      const env = JSON.parse(readFileSync(out, 'utf8')) as Record<string, string>;
      expect(env).not.toHaveProperty('DISCORD_TOKEN');
      expect(env).not.toHaveProperty('HF_TOKEN');
      expect(env.PATH).toBe(process.env.PATH);
    } finally {
      for (const [name, value] of Object.entries(saved)) {
        if (value === undefined) delete process.env[name];
        else process.env[name] = value;
      }
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
