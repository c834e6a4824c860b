import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { EditScheduler } from '../../../src/discord/delivery/edit-scheduler.js';

class FakeRateLimit extends Error {
  constructor(readonly retryAfterMs: number) {
    super('429');
  }
}

function makeScheduler(overrides: Partial<ConstructorParameters<typeof EditScheduler>[0]> = {}) {
  const errors: { key: string; final: boolean }[] = [];
  const scheduler = new EditScheduler({
    baseIntervalMs: 1000,
    maxIntervalMs: 8000,
    finalRetryMs: 500,
    finalAttempts: 3,
    retryAfterMs: (error) => (error instanceof FakeRateLimit ? error.retryAfterMs : undefined),
    onError: (key, _error, final) => errors.push({ key, final }),
    ...overrides,
  });
  return { scheduler, errors };
}

/** A send function that records what it delivered and can be told to fail or to hang. */
function recorder() {
  const sent: string[] = [];
  let inFlight = 0;
  let maxInFlight = 0;
  const failures: unknown[] = [];
  const send =
    (label: string, delayMs = 0) =>
    async () => {
      inFlight++;
      maxInFlight = Math.max(maxInFlight, inFlight);
      try {
        if (delayMs > 0) await new Promise((r) => setTimeout(r, delayMs));
        const failure = failures.shift();
        if (failure) throw failure;
        sent.push(label);
      } finally {
        inFlight--;
      }
    };
  return {
    sent,
    send,
    failures,
    get maxInFlight() {
      return maxInFlight;
    },
  };
}

describe('EditScheduler', () => {
  beforeEach(() => vi.useFakeTimers());
  afterEach(() => vi.useRealTimers());

  it('sends the first state at once and coalesces later ones to the newest', async () => {
    const { scheduler } = makeScheduler();
    const r = recorder();
    const first = scheduler.submit('m1', 'b', r.send('p1'));
    await vi.advanceTimersByTimeAsync(0);
    const second = scheduler.submit('m1', 'b', r.send('p2'));
    const third = scheduler.submit('m1', 'b', r.send('p3'));
    await vi.advanceTimersByTimeAsync(999);
    expect(r.sent).toEqual(['p1']);
    await vi.advanceTimersByTimeAsync(1);
    expect(r.sent).toEqual(['p1', 'p3']);
    expect(await first).toBe('sent');
    expect(await second).toBe('superseded');
    expect(await third).toBe('sent');
    expect(scheduler.stats).toMatchObject({ sent: 2, superseded: 1 });
  });

  it('keeps at most one edit in flight per message', async () => {
    const { scheduler } = makeScheduler({ baseIntervalMs: 0 });
    const r = recorder();
    void scheduler.submit('m1', 'b', r.send('p0', 300));
    await vi.advanceTimersByTimeAsync(0);
    for (let i = 1; i < 5; i++) void scheduler.submit('m1', 'b', r.send(`p${i}`, 300));
    await vi.advanceTimersByTimeAsync(2000);
    expect(r.maxInFlight).toBe(1);
    expect(r.sent).toEqual(['p0', 'p4']);
  });

  it('never lets a preview replace a final state', async () => {
    const { scheduler } = makeScheduler();
    const r = recorder();
    void scheduler.submit('m1', 'b', r.send('p1'));
    await vi.advanceTimersByTimeAsync(0);
    const final = scheduler.submit('m1', 'b', r.send('final'), { final: true });
    const late = scheduler.submit('m1', 'b', r.send('late preview'));
    expect(await late).toBe('superseded');
    await vi.advanceTimersByTimeAsync(5000);
    expect(await final).toBe('sent');
    expect(r.sent).toEqual(['p1', 'final']);
  });

  it('sends a final without waiting for the preview pacing', async () => {
    const { scheduler } = makeScheduler({ baseIntervalMs: 5000 });
    const r = recorder();
    void scheduler.submit('m1', 'b', r.send('p1'));
    await vi.advanceTimersByTimeAsync(0);
    void scheduler.submit('m1', 'b', r.send('final'), { final: true });
    await vi.advanceTimersByTimeAsync(0);
    expect(r.sent).toEqual(['p1', 'final']);
  });

  it('waits out retry_after on a 429, doubles the interval and resends the newest state', async () => {
    const { scheduler, errors } = makeScheduler();
    const r = recorder();
    r.failures.push(new FakeRateLimit(3000));
    const outcome = scheduler.submit('m1', 'b', r.send('p1'));
    await vi.advanceTimersByTimeAsync(0);
    expect(r.sent).toEqual([]);
    expect(scheduler.intervalOf('b')).toBe(3000);
    await vi.advanceTimersByTimeAsync(2999);
    expect(r.sent).toEqual([]);
    await vi.advanceTimersByTimeAsync(1);
    expect(r.sent).toEqual(['p1']);
    expect(await outcome).toBe('sent');
    expect(errors).toEqual([]);
    expect(scheduler.stats.rateLimited).toBe(1);
  });

  it('delivers a final state through repeated 429s', async () => {
    const { scheduler } = makeScheduler();
    const r = recorder();
    for (let i = 0; i < 6; i++) r.failures.push(new FakeRateLimit(1000));
    const outcome = scheduler.submit('m1', 'b', r.send('final'), { final: true });
    await vi.advanceTimersByTimeAsync(10_000);
    expect(await outcome).toBe('sent');
    expect(r.sent).toEqual(['final']);
    expect(scheduler.stats.rateLimited).toBe(6);
  });

  it('applies a 429 to every message of the same bucket but not to other buckets', async () => {
    const { scheduler } = makeScheduler({ baseIntervalMs: 0 });
    const r = recorder();
    r.failures.push(new FakeRateLimit(2000));
    void scheduler.submit('m1', 'channel-a', r.send('a1'));
    await vi.advanceTimersByTimeAsync(0);
    void scheduler.submit('m2', 'channel-a', r.send('a2'));
    void scheduler.submit('m3', 'channel-b', r.send('b1'));
    await vi.advanceTimersByTimeAsync(1999);
    expect(r.sent).toEqual(['b1']);
    await vi.advanceTimersByTimeAsync(1);
    expect(r.sent).toEqual(['b1', 'a1']);
    // The bucket's interval is now the 2 s retry_after, so the second message of the channel waits for it too.
    await vi.advanceTimersByTimeAsync(1999);
    expect(r.sent).toEqual(['b1', 'a1']);
    await vi.advanceTimersByTimeAsync(1);
    expect(r.sent).toEqual(['b1', 'a1', 'a2']);
  });

  it('relaxes the interval back towards the base after successes', async () => {
    const { scheduler } = makeScheduler();
    const r = recorder();
    r.failures.push(new FakeRateLimit(4000));
    void scheduler.submit('m1', 'b', r.send('p0'));
    await vi.advanceTimersByTimeAsync(0);
    expect(scheduler.intervalOf('b')).toBe(4000);
    await vi.advanceTimersByTimeAsync(4000);
    for (let i = 1; i <= 3; i++) {
      void scheduler.submit('m1', 'b', r.send(`p${i}`));
      await vi.advanceTimersByTimeAsync(5000);
    }
    expect(r.sent).toEqual(['p0', 'p1', 'p2', 'p3']);
    expect(scheduler.intervalOf('b')).toBeLessThan(4000);
    expect(scheduler.intervalOf('b')).toBeGreaterThanOrEqual(1000);
  });

  it('drops a preview that fails, but retries a final that fails with backoff until it lands', async () => {
    const { scheduler, errors } = makeScheduler();
    const r = recorder();
    r.failures.push(new Error('boom'));
    const preview = scheduler.submit('m1', 'b', r.send('p1'));
    await vi.advanceTimersByTimeAsync(0);
    expect(await preview).toBe('dropped');
    r.failures.push(new Error('boom'), new Error('boom'));
    const final = scheduler.submit('m1', 'b', r.send('final'), { final: true });
    await vi.advanceTimersByTimeAsync(0);
    await vi.advanceTimersByTimeAsync(500);
    expect(r.sent).toEqual([]);
    await vi.advanceTimersByTimeAsync(1000);
    expect(await final).toBe('sent');
    expect(errors).toEqual([
      { key: 'm1', final: false },
      { key: 'm1', final: true },
      { key: 'm1', final: true },
    ]);
  });

  it('reports a final as failed after the last attempt', async () => {
    const { scheduler } = makeScheduler();
    const r = recorder();
    r.failures.push(new Error('a'), new Error('b'), new Error('c'));
    const final = scheduler.submit('m1', 'b', r.send('final'), { final: true });
    await vi.advanceTimersByTimeAsync(10_000);
    expect(await final).toBe('failed');
    expect(r.sent).toEqual([]);
  });

  it('resolves pending states as dropped on close', async () => {
    const { scheduler } = makeScheduler();
    const r = recorder();
    void scheduler.submit('m1', 'b', r.send('p1'));
    await vi.advanceTimersByTimeAsync(0);
    const pending = scheduler.submit('m1', 'b', r.send('p2'));
    scheduler.close();
    expect(await pending).toBe('dropped');
    await vi.advanceTimersByTimeAsync(5000);
    expect(r.sent).toEqual(['p1']);
  });
});
