import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { GenerateRequest, GenerateResult } from '../../src/protocol/generate-request.js';
import { jobCost } from '../../src/queue/job-cost.js';
import { JobService } from '../../src/queue/job-service.js';
import type { Job, NewJob } from '../../src/queue/job.js';
import { Store } from '../../src/store/store.js';
import type { JobRunner, RunOptions } from '../../src/worker/job-runner.js';
import { smallRequest } from '../fixtures/requests.js';

/** A runner that records the request it was given and never finishes. */
class RecordingRunner implements JobRunner {
  ready = true;
  requests: GenerateRequest[] = [];
  whenReady(): Promise<void> {
    return Promise.resolve();
  }
  run(_jobId: string, request: GenerateRequest, options: RunOptions): Promise<GenerateResult> {
    this.requests.push(request);
    return new Promise((_resolve, reject) => options.signal.addEventListener('abort', () => reject(new Error('stopped')), { once: true }));
  }
}

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

function setup() {
  const dir = mkdtempSync(path.join(tmpdir(), 'imagine-controls-'));
  const store = Store.open(dir);
  const runner = new RecordingRunner();
  const service = new JobService({ store, runner });
  cleanups.push(async () => {
    await service.stop();
    store.close();
    rmSync(dir, { recursive: true, force: true });
  });
  return { store, runner, service };
}

function job(controls: NonNullable<NewJob['request']['controls']>): NewJob {
  return {
    kind: 'imagine',
    guildId: 'g1',
    channelId: 'c1',
    userId: 'u1',
    interactionId: 'i1',
    interactionToken: 'token',
    interactionCreatedAt: 1_700_000_000_000,
    request: { ...smallRequest(), controls },
  };
}

describe('JobService with ControlNet units (#15)', () => {
  it('stores control images by reference and hands the worker their bytes', async () => {
    const { store, runner, service } = setup();
    await store.images.write('src-job', 0, new Uint8Array([1, 2, 3]));
    service.submit(
      job([{ net: 'canny', image: { ref: 'outputs/src-job/0.png' }, strength: 0.8, preprocess: 'canny', cannyLow: 50, cannyHigh: 150 }]),
    );
    await expect.poll(() => runner.requests.length).toBe(1);
    const [unit] = runner.requests[0].controls!;
    expect(unit).toMatchObject({ net: 'canny', strength: 0.8, preprocess: 'canny', cannyLow: 50, cannyHigh: 150 });
    expect([...(unit.image as Uint8Array)]).toEqual([1, 2, 3]);
  });

  it('prices each ControlNet unit as half a UNet pass', () => {
    const plain = jobCost({ steps: 10, width: 64, height: 64, count: 1 });
    expect(plain).toBe(10 * 64 * 64);
    expect(jobCost({ steps: 10, width: 64, height: 64, count: 1, controls: [{}, {}] })).toBe(2 * plain);
  });

  it('fails the job with an actionable message when a control image is gone', async () => {
    const { service } = setup();
    const failed = once(service, 'failed');
    service.submit(job([{ net: 'canny', image: { ref: 'outputs/missing/0.png' }, strength: 1, preprocess: 'none' }]));
    const [failedJob] = (await failed) as [Job, Error];
    expect(failedJob.error).toMatchObject({ message: expect.stringContaining('control image this job uses is no longer stored') });
  });
});
