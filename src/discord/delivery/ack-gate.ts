/**
 * Acknowledgements go first. Every interaction must be acknowledged within 3 s, and under a burst of commands each
 * message edit sent meanwhile (a job's "queued" state, a preview) is another REST request and response that the
 * bot's single event loop handles between acknowledgements. Edits wait here while acknowledgements are in flight,
 * at most `maxWaitMs`, so that a steady stream of commands cannot starve them.
 */
export class AckGate {
  readonly #maxWaitMs: number;
  #inFlight = 0;
  #waiters: (() => void)[] = [];

  constructor(options: { maxWaitMs?: number } = {}) {
    this.#maxWaitMs = options.maxWaitMs ?? 500;
  }

  /** Acknowledgements not settled yet. */
  get inFlight(): number {
    return this.#inFlight;
  }

  /** Counts `acknowledgement` as in flight until it settles. */
  track(acknowledgement: Promise<unknown>): void {
    this.#inFlight++;
    const settle = () => {
      this.#inFlight--;
      if (this.#inFlight === 0) this.#wake();
    };
    acknowledgement.then(settle, settle);
  }

  /** Resolves at once when no acknowledgement is in flight, else when none is or after `maxWaitMs`. */
  idle(): Promise<void> | undefined {
    if (this.#inFlight === 0) return undefined;
    return new Promise<void>((resolve) => {
      const timer = setTimeout(done, this.#maxWaitMs);
      timer.unref();
      function done() {
        clearTimeout(timer);
        resolve();
      }
      this.#waiters.push(done);
    });
  }

  #wake(): void {
    const waiters = this.#waiters;
    this.#waiters = [];
    for (const wake of waiters) wake();
  }
}
