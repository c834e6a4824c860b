/**
 * Arrival schedules for benchmarks: when each of a batch of commands is dispatched. A burst sends them all at once
 * (`perTurn` per event-loop turn); a rate sends them as a Poisson process, i.e. with exponential inter-arrival
 * times of mean 1/rate drawn from a seeded PRNG, so every run (and every arrangement of the fake) sees the same
 * arrival times.
 */

import { mulberry32 } from '../../fixtures/prng.js';

export type Arrivals = { kind: 'burst'; perTurn: number } | { kind: 'rate'; perSecond: number; seed: number };

/** Offsets in ms from the start of `count` Poisson arrivals at `perSecond`; the first comes after one gap, like the rest. */
export function poissonOffsets(count: number, perSecond: number, seed: number): number[] {
  if (!(perSecond > 0)) throw new Error(`arrival rate must be > 0 per second, got ${perSecond}`);
  const random = mulberry32(seed);
  const offsets: number[] = [];
  let at = 0;
  for (let i = 0; i < count; i++) {
    at += (-Math.log(1 - random()) / perSecond) * 1000;
    offsets.push(at);
  }
  return offsets;
}

/** How late the dispatches were against their schedule, ms. */
export interface ScheduleLateness {
  p50: number;
  p99: number;
  max: number;
}

/**
 * Calls `dispatch(i)` for every i < count on the schedule `arrivals` asks for; resolves once all were dispatched, with
 * how late each was against its scheduled time (all zero for a burst). Rates are scheduled with setTimeout up to
 * `spinMs` before the due time and then checked on every turn of the event loop (setImmediate, so the fake's sockets
 * are still served meanwhile) against performance.now(): setTimeout alone fires up to a few ms late.
 * Commands that fell due together (the loop was busy) go out in the same turn.
 */
export async function dispatchOnSchedule(count: number, arrivals: Arrivals, dispatch: (index: number) => void, spinMs = 1): Promise<number[]> {
  const lateness: number[] = [];
  if (arrivals.kind === 'burst') {
    for (let i = 0; i < count; i++) {
      dispatch(i);
      lateness.push(0);
      if (i % arrivals.perTurn === arrivals.perTurn - 1) await new Promise((resolve) => setImmediate(resolve));
    }
    return lateness;
  }
  const offsets = poissonOffsets(count, arrivals.perSecond, arrivals.seed);
  const start = performance.now();
  let i = 0;
  while (i < count) {
    const due = start + offsets[i];
    const wait = due - performance.now() - spinMs;
    if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
    while (performance.now() < due) await new Promise((resolve) => setImmediate(resolve));
    while (i < count && start + offsets[i] <= performance.now()) {
      lateness.push(performance.now() - (start + offsets[i]));
      dispatch(i++);
    }
  }
  return lateness;
}

export function summarizeLateness(lateness: number[]): ScheduleLateness {
  const sorted = [...lateness].sort((a, b) => a - b);
  const at = (p: number) => sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))] ?? 0;
  return { p50: at(50), p99: at(99), max: sorted[sorted.length - 1] ?? 0 };
}
