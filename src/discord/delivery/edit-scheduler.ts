/** How a submitted state ended. */
export type EditOutcome =
  /** Sent to Discord. */
  | 'sent'
  /** Replaced by a newer state before it was sent (coalescing). */
  | 'superseded'
  /** A preview that failed and was not retried, or anything pending when the scheduler closed. */
  | 'dropped'
  /** A final state that kept failing after every retry. */
  | 'failed';

export interface EditSchedulerOptions {
  /** Gap between two preview edits in one bucket when Discord is not pushing back, ms. @default 1000 */
  baseIntervalMs?: number;
  /** Ceiling for the adaptive gap, ms. @default 15000 */
  maxIntervalMs?: number;
  /** Attempts for a final state before it counts as failed (429s do not count). @default 6 */
  finalAttempts?: number;
  /** First retry delay for a failed final state, doubled each time, ms. @default 1000 */
  finalRetryMs?: number;
  /** Milliseconds to wait when `error` is a rate limit, else undefined. */
  retryAfterMs: (error: unknown) => number | undefined;
  /** Called for every failed send (after a drop or the last retry); never with rate limits. */
  onError?: (key: string, error: unknown, final: boolean) => void;
}

interface Pending {
  send: () => Promise<void>;
  final: boolean;
  settle: (outcome: EditOutcome) => void;
  attempts: number;
}

interface Entry {
  key: string;
  bucketKey: string;
  bucket: Bucket;
  pending?: Pending;
  inFlight: boolean;
  timer?: NodeJS.Timeout;
  /** Set once a final state was submitted: later previews are stale by definition. */
  finalSeen: boolean;
}

interface Bucket {
  intervalMs: number;
  /** Earliest start of the next preview edit (pacing). */
  nextAt: number;
  /** Nothing may start before this (Discord's retry_after). */
  blockedUntil: number;
  users: number;
}

/** Counters for logs and the benchmark. */
export interface EditStats {
  sent: number;
  superseded: number;
  rateLimited: number;
  failed: number;
  dropped: number;
}

/**
 * The one place message edits go through. Per message: at most one edit in flight and only the newest state
 * sent; a final state is never replaced by a preview and is retried until it lands. Per bucket (the Discord
 * rate-limit scope: an interaction token or a channel): previews are paced by an interval that doubles on a 429,
 * never goes below its retry_after, and relaxes back after successes. Finals skip the pacing (one per job, and the
 * user is waiting for it) but still wait out a 429.
 */
export class EditScheduler {
  readonly #entries = new Map<string, Entry>();
  readonly #buckets = new Map<string, Bucket>();
  readonly #options: Required<Omit<EditSchedulerOptions, 'onError'>> & Pick<EditSchedulerOptions, 'onError'>;
  #closed = false;
  readonly stats: EditStats = { sent: 0, superseded: 0, rateLimited: 0, failed: 0, dropped: 0 };

  constructor(options: EditSchedulerOptions) {
    this.#options = { baseIntervalMs: 1000, maxIntervalMs: 15_000, finalAttempts: 6, finalRetryMs: 1000, ...options };
    if (!(this.#options.baseIntervalMs >= 0)) throw new TypeError(`Expected \`baseIntervalMs\` to be >= 0, got \`${this.#options.baseIntervalMs}\``);
  }

  /**
   * Queue a state of message `key`. `send` performs the edit; it runs at most once, and never while another
   * state of the same message is in flight. Resolves when the state was sent, superseded, dropped or failed.
   */
  submit(key: string, bucketKey: string, send: () => Promise<void>, options: { final?: boolean } = {}): Promise<EditOutcome> {
    const final = options.final ?? false;
    if (this.#closed) return Promise.resolve('dropped');
    let entry = this.#entries.get(key);
    if (!entry) {
      entry = { key, bucketKey, bucket: this.#bucket(bucketKey), inFlight: false, finalSeen: false };
      this.#entries.set(key, entry);
    }
    if (entry.finalSeen && !final) {
      this.stats.superseded++;
      return Promise.resolve('superseded');
    }
    return new Promise<EditOutcome>((settle) => {
      const current = entry.pending;
      if (current) {
        this.stats.superseded++;
        current.settle('superseded');
      }
      entry.pending = { send, final, settle, attempts: 0 };
      if (final) entry.finalSeen = true;
      this.#schedule(entry);
    });
  }

  /** True while the message has a state queued or in flight. */
  isBusy(key: string): boolean {
    const entry = this.#entries.get(key);
    return entry !== undefined && (entry.inFlight || entry.pending !== undefined);
  }

  /** Current preview gap of a bucket, ms (for logs and tests). */
  intervalOf(bucketKey: string): number {
    return this.#buckets.get(bucketKey)?.intervalMs ?? this.#options.baseIntervalMs;
  }

  /** Stops every timer; pending states resolve as dropped. Edits in flight finish on their own. */
  close(): void {
    this.#closed = true;
    for (const entry of this.#entries.values()) {
      clearTimeout(entry.timer);
      entry.timer = undefined;
      if (entry.pending) {
        this.stats.dropped++;
        entry.pending.settle('dropped');
        entry.pending = undefined;
      }
    }
  }

  #bucket(key: string): Bucket {
    let bucket = this.#buckets.get(key);
    if (!bucket) {
      bucket = { intervalMs: this.#options.baseIntervalMs, nextAt: 0, blockedUntil: 0, users: 0 };
      this.#buckets.set(key, bucket);
    }
    bucket.users++;
    return bucket;
  }

  #schedule(entry: Entry, minDelay = 0): void {
    if (this.#closed || entry.inFlight || entry.timer || !entry.pending) return;
    const now = Date.now();
    const { bucket } = entry;
    const startAt = Math.max(bucket.blockedUntil, entry.pending.final ? 0 : bucket.nextAt, now + minDelay);
    entry.timer = setTimeout(() => {
      entry.timer = undefined;
      void this.#run(entry);
    }, startAt - now);
  }

  async #run(entry: Entry): Promise<void> {
    const pending = entry.pending;
    if (!pending || entry.inFlight || this.#closed) return;
    const { bucket } = entry;
    const now = Date.now();
    // Another message of the bucket may have taken the slot since this timer was set.
    const startAt = Math.max(bucket.blockedUntil, pending.final ? 0 : bucket.nextAt);
    if (startAt > now) {
      this.#schedule(entry);
      return;
    }
    entry.pending = undefined;
    entry.inFlight = true;
    bucket.nextAt = now + bucket.intervalMs;
    let retryDelay = 0;
    try {
      await pending.send();
      this.stats.sent++;
      // Relax slowly: one success after a 429 does not mean the limit is gone.
      bucket.intervalMs = Math.max(this.#options.baseIntervalMs, Math.round(bucket.intervalMs * 0.9));
      pending.settle('sent');
    } catch (error) {
      const retryAfter = this.#options.retryAfterMs(error);
      if (retryAfter !== undefined) {
        this.stats.rateLimited++;
        bucket.intervalMs = Math.min(this.#options.maxIntervalMs, Math.max(bucket.intervalMs * 2, retryAfter));
        bucket.blockedUntil = Math.max(bucket.blockedUntil, Date.now() + retryAfter);
        bucket.nextAt = Math.max(bucket.nextAt, bucket.blockedUntil);
        this.#requeue(entry, pending);
      } else if (pending.final && pending.attempts + 1 < this.#options.finalAttempts) {
        pending.attempts++;
        retryDelay = this.#options.finalRetryMs * 2 ** (pending.attempts - 1);
        this.#options.onError?.(entry.key, error, true);
        this.#requeue(entry, pending);
      } else {
        if (pending.final) this.stats.failed++;
        else this.stats.dropped++;
        this.#options.onError?.(entry.key, error, pending.final);
        pending.settle(pending.final ? 'failed' : 'dropped');
      }
    } finally {
      entry.inFlight = false;
    }
    if (entry.pending) this.#schedule(entry, retryDelay);
    else this.#forget(entry);
  }

  /** Puts a state that did not land back, unless a newer one arrived meanwhile (then the older is superseded). */
  #requeue(entry: Entry, state: Pending): void {
    if (entry.pending && (entry.pending.final || !state.final)) {
      this.stats.superseded++;
      state.settle('superseded');
      return;
    }
    if (entry.pending) {
      // A preview arrived while the final was in flight; the final wins.
      this.stats.superseded++;
      entry.pending.settle('superseded');
    }
    entry.pending = state;
  }

  #forget(entry: Entry): void {
    const drop = () => {
      if (this.#entries.get(entry.key) !== entry || this.isBusy(entry.key)) return;
      this.#entries.delete(entry.key);
      const { bucket } = entry;
      bucket.users--;
      // A bucket that is still backing off keeps its state for the next message in the same channel.
      this.#sweepBucket(entry.bucketKey, bucket);
    };
    // Entries that saw a final linger a minute so that late previews are still refused, then go to bound memory.
    if (entry.finalSeen) setTimeout(drop, 60_000).unref();
    else drop();
  }

  /** Forgets an unused bucket once its pacing and back-off are over, so the map does not grow with every channel. */
  #sweepBucket(key: string, bucket: Bucket): void {
    if (bucket.users > 0 || this.#buckets.get(key) !== bucket) return;
    const busyUntil = Math.max(bucket.nextAt, bucket.blockedUntil);
    if (bucket.intervalMs === this.#options.baseIntervalMs && busyUntil <= Date.now()) {
      this.#buckets.delete(key);
      return;
    }
    setTimeout(
      () => {
        if (bucket.intervalMs > this.#options.baseIntervalMs) bucket.intervalMs = this.#options.baseIntervalMs;
        this.#sweepBucket(key, bucket);
      },
      Math.max(1000, busyUntil - Date.now()) + 30_000,
    ).unref();
  }
}
