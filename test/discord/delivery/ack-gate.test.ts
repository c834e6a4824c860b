import { afterEach, describe, expect, it, vi } from 'vitest';
import { AckGate } from '../../../src/discord/delivery/ack-gate.js';

function deferred() {
  let resolve!: () => void;
  let reject!: (error: Error) => void;
  const promise = new Promise<void>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

describe('AckGate', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it('lets edits through at once when no acknowledgement is in flight', () => {
    expect(new AckGate().idle()).toBeUndefined();
  });

  it('holds edits until every acknowledgement in flight has settled, failed ones included', async () => {
    const gate = new AckGate();
    const a = deferred();
    const b = deferred();
    gate.track(a.promise);
    gate.track(b.promise);
    let released = false;
    void gate.idle()!.then(() => (released = true));
    a.resolve();
    await Promise.resolve();
    await Promise.resolve();
    expect(released).toBe(false);
    expect(gate.inFlight).toBe(1);
    b.reject(new Error('ack failed'));
    await vi.waitFor(() => expect(released).toBe(true));
    expect(gate.inFlight).toBe(0);
  });

  it('never holds an edit longer than maxWaitMs, so a stream of commands cannot starve edits', async () => {
    vi.useFakeTimers();
    const gate = new AckGate({ maxWaitMs: 500 });
    gate.track(new Promise(() => undefined));
    let released = false;
    void gate.idle()!.then(() => (released = true));
    await vi.advanceTimersByTimeAsync(499);
    expect(released).toBe(false);
    await vi.advanceTimersByTimeAsync(1);
    expect(released).toBe(true);
  });
});
