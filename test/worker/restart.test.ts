import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { Store } from '../../src/store/store.js';
import { fakePng } from '../fixtures/workers/fake-engine.js';
import { isAlive } from '../fixtures/workers/fixtures.js';

const HARNESS = fileURLToPath(new URL('../fixtures/workers/bot-harness.js', import.meta.url));

interface HarnessEvent {
  event: string;
  id?: string;
  pid?: number;
  count?: number;
}

interface Harness {
  child: ChildProcess;
  events: HarnessEvent[];
  /** Resolves with the first event that passes `test`. */
  waitFor(test: (events: HarnessEvent[]) => boolean): Promise<void>;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

const children: ChildProcess[] = [];
const dirs: string[] = [];
const workerPids = new Set<number>();

function startHarness(dataDir: string, submit: number): Harness {
  const child = spawn(process.execPath, ['--import', 'tsx', HARNESS], {
    env: { ...process.env, HARNESS_DATA_DIR: dataDir, HARNESS_SUBMIT: String(submit), FAKE_STEP_MS: '25' },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  children.push(child);
  const events: HarnessEvent[] = [];
  const listeners = new Set<() => void>();
  createInterface({ input: child.stdout! }).on('line', (line) => {
    const event = JSON.parse(line) as HarnessEvent;
    if (event.event === 'worker') workerPids.add(event.pid!);
    events.push(event);
    for (const listener of listeners) listener();
  });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.on('exit', (code, signal) => resolve({ code, signal })),
  );
  return {
    child,
    events,
    exited,
    waitFor: (test) =>
      new Promise<void>((resolve, reject) => {
        const check = () => {
          if (test(events)) {
            listeners.delete(check);
            resolve();
          }
        };
        listeners.add(check);
        void exited.then(() => {
          if (listeners.has(check)) reject(new Error(`harness exited before the condition; events: ${JSON.stringify(events)}`));
        });
        check();
      }),
  };
}

afterEach(() => {
  for (const child of children.splice(0)) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

const ids = (events: HarnessEvent[], name: string) => events.filter((e) => e.event === name).map((e) => e.id!);

describe('restart after kill -9', () => {
  it('resumes queued and running jobs and completes every job exactly once', async () => {
    const dataDir = mkdtempSync(path.join(tmpdir(), 'imagine-restart-'));
    dirs.push(dataDir);

    const first = startHarness(dataDir, 6);
    // Kill once two jobs are done and a third is on the worker: queued, running and done jobs all exist.
    await first.waitFor((events) => ids(events, 'done').length >= 2 && ids(events, 'started').length >= 3);
    first.child.kill('SIGKILL');
    expect((await first.exited).signal).toBe('SIGKILL');
    const submitted = ids(first.events, 'submitted');
    expect(submitted).toHaveLength(6);
    const doneBefore = ids(first.events, 'done');

    // The orphaned worker notices its parent is gone and exits by itself.
    const firstWorkers = first.events.filter((e) => e.event === 'worker').map((e) => e.pid!);
    await vi.waitFor(() => expect(firstWorkers.filter(isAlive)).toEqual([]), { timeout: 10_000, interval: 50 });

    const store = Store.open(dataDir);
    const states = submitted.map((id) => store.jobs.get(id)!.state);
    store.close();
    expect(states.filter((s) => s === 'done').length).toBeGreaterThanOrEqual(doneBefore.length);
    expect(states).toContain('running');
    expect(states).toContain('queued');

    const second = startHarness(dataDir, 0);
    await second.waitFor((events) => events.some((e) => e.event === 'idle'));
    expect((await second.exited).code).toBe(0);
    expect(second.events.find((e) => e.event === 'restored')!.count).toBe(6 - states.filter((s) => s === 'done').length);

    const doneAfter = ids(second.events, 'done');
    // Exactly once to completion: nothing finished twice, nothing committed before the kill ran again.
    expect([...doneBefore, ...doneAfter].sort()).toEqual([...submitted].sort());
    for (const id of ids(second.events, 'started')) expect(doneBefore).not.toContain(id);

    const reopened = Store.open(dataDir);
    try {
      for (const [index, id] of submitted.entries()) {
        const job = reopened.jobs.get(id)!;
        expect(job.state).toBe('done');
        expect(job.seeds).toEqual([index]);
        expect(existsSync(job.outputs[0]!.path)).toBe(true);
        expect(readFileSync(job.outputs[0]!.path)).toEqual(Buffer.from(fakePng(index, 0, 'a lighthouse at dusk')));
      }
      expect(reopened.jobs.listUnfinished()).toEqual([]);
    } finally {
      reopened.close();
    }
    for (const pid of workerPids) expect(isAlive(pid)).toBe(false);
  });
});
