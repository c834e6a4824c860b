import type { GenerateTimings } from '../protocol/generate-request.js';
import type { Store } from '../store/store.js';

/** Meta key of the persisted cost rate. */
const COST_RATE_KEY = 'queue.msPerCostUnit';

export interface WatchdogOptions {
  /** Never kill a job sooner than this, whatever the estimate; covers model loading. @default 120_000 */
  minMs: number;
  /** Kill when a job runs this many times longer than its estimate. @default 4 */
  factor: number;
  /** Limit used before any job has been measured. @default 1_800_000 */
  unmeasuredMs: number;
}

const DEFAULT_WATCHDOG: WatchdogOptions = { minMs: 120_000, factor: 4, unmeasuredMs: 1_800_000 };

/**
 * Measured milliseconds per unit of cost (steps × pixels × images), learnt from every finished job and kept across
 * restarts: what ETAs and the watchdog's patience are made of.
 */
export class CostRate {
  readonly #store: Pick<Store, 'getMeta' | 'setMeta'>;
  readonly #watchdog: WatchdogOptions;
  readonly #smoothing: number;
  #msPerCostUnit: number | null;

  constructor(
    store: Pick<Store, 'getMeta' | 'setMeta'>,
    options: {
      watchdog?: Partial<WatchdogOptions>;
      /** Weight of the newest measurement in the exponential average. @default 0.3 */
      smoothing?: number;
    } = {},
  ) {
    this.#store = store;
    this.#watchdog = { ...DEFAULT_WATCHDOG, ...options.watchdog };
    this.#smoothing = options.smoothing ?? 0.3;
    const stored = store.getMeta<number>(COST_RATE_KEY);
    this.#msPerCostUnit = typeof stored === 'number' && stored > 0 ? stored : null;
  }

  /** ms per cost unit, or null before the first job. */
  get msPerCostUnit(): number | null {
    return this.#msPerCostUnit;
  }

  learn(cost: number, timings: GenerateTimings): void {
    // Loading a model is a one-off; counting it would inflate every ETA after a model switch.
    const workMs = Math.max(0, timings.totalMs - timings.loadMs);
    if (workMs <= 0) return;
    const sample = workMs / cost;
    this.#msPerCostUnit = this.#msPerCostUnit === null ? sample : this.#msPerCostUnit + this.#smoothing * (sample - this.#msPerCostUnit);
    this.#store.setMeta(COST_RATE_KEY, this.#msPerCostUnit);
  }

  /** How long a job of `cost` may run before the worker is killed. */
  watchdogFor(cost: number): number {
    if (this.#msPerCostUnit === null) return Math.max(this.#watchdog.minMs, this.#watchdog.unmeasuredMs);
    return Math.max(this.#watchdog.minMs, Math.ceil(this.#watchdog.factor * cost * this.#msPerCostUnit));
  }
}
