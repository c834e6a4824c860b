import PQueue from 'p-queue';
import type { GenerateRequest, GenerateResult, StepProgress } from '../protocol/generate-request.js';
import { WorkerCrashedError } from '../worker/worker-errors.js';
import type { FairQueue, FairQueueItem } from './fair-queue.js';
import type { JobRunner } from '../worker/job-runner.js';

/** Why a running job's AbortController fired. */
export type AbortReason = 'cancel' | 'shutdown';

export type DispatchOutcome =
  | { ok: true; result: GenerateResult; crashes: number }
  | { ok: false; error: unknown; crashes: number; aborted: AbortReason | undefined };

/** What to run for a dispatched item. */
export interface DispatchStart {
  /** The request as the worker takes it (stored input images read in); a rejection fails the job. */
  request: () => Promise<GenerateRequest>;
  watchdogMs: number;
  onProgress: (progress: StepProgress) => void;
}

export interface DispatchHooks<T> {
  /** Called when `item` leaves the queue for the worker; returns what to run. */
  start(item: T): DispatchStart;
  /** Called once per dispatched item, after the next item has already been handed to the worker. */
  settle(item: T, outcome: DispatchOutcome): void;
  /** A worker crash is being retried (the only retry there is). */
  retry?(item: T, error: WorkerCrashedError): void;
}

interface Running<T> {
  item: T;
  controller: AbortController;
}

/**
 * Moves jobs from the fair queue to the runner, one at a time. The single slot is a p-queue with concurrency 1;
 * the fair queue is only asked for the next job when the slot frees, so a job submitted meanwhile competes
 * fairly instead of waiting behind a pre-filled line.
 */
export class Dispatcher<T extends FairQueueItem> {
  readonly #queue: FairQueue<T>;
  readonly #runner: JobRunner;
  readonly #hooks: DispatchHooks<T>;
  readonly #slot = new PQueue({ concurrency: 1 });
  #running: Running<T> | undefined;
  #stopped = false;
  #waitingForRunner = false;

  constructor(queue: FairQueue<T>, runner: JobRunner, hooks: DispatchHooks<T>) {
    this.#queue = queue;
    this.#runner = runner;
    this.#hooks = hooks;
    // 'next' fires as soon as the slot frees, before the finished job's result is persisted: the worker gets its
    // next job without waiting for file writes and SQLite (the idle-gap target).
    this.#slot.on('next', () => this.pump());
  }

  /** The job on the worker, if any. */
  get running(): T | undefined {
    return this.#running?.item;
  }

  /** Starts the next job if the slot is free, the runner is ready and the queue is not empty. Idempotent. */
  pump(): void {
    if (this.#stopped || this.#slot.size + this.#slot.pending > 0 || this.#queue.size === 0) return;
    if (!this.#runner.ready) {
      if (this.#waitingForRunner) return;
      // Jobs stay queued (cancellable, with positions) while the worker restarts.
      this.#waitingForRunner = true;
      void this.#runner.whenReady().then(() => {
        this.#waitingForRunner = false;
        this.pump();
      });
      return;
    }
    const item = this.#queue.dequeue()!;
    const controller = new AbortController();
    this.#running = { item, controller };
    void this.#slot
      .add(() => this.#run(item, controller))
      .then((outcome) => this.#hooks.settle(item, outcome!));
  }

  /** Aborts the running job if it is `id`. Returns whether it was running. */
  abort(id: string, reason: AbortReason): boolean {
    if (this.#running?.item.id !== id) return false;
    this.#running.controller.abort(reason);
    return true;
  }

  /** Stops dispatching, aborts the running job (it goes back to the queue) and waits for the slot to empty. */
  async stop(): Promise<void> {
    this.#stopped = true;
    this.#running?.controller.abort('shutdown' satisfies AbortReason);
    await this.#slot.onIdle();
  }

  async #run(item: T, controller: AbortController): Promise<DispatchOutcome> {
    const { request: load, watchdogMs, onProgress } = this.#hooks.start(item);
    let crashes = 0;
    try {
      let request: GenerateRequest;
      try {
        request = await load();
      } catch (error) {
        return { ok: false, error, crashes, aborted: undefined };
      }
      for (;;) {
        try {
          const result = await this.#runner.run(item.id, request, { signal: controller.signal, onProgress, watchdogMs });
          return { ok: true, result, crashes };
        } catch (error) {
          const aborted = controller.signal.aborted ? (controller.signal.reason as AbortReason) : undefined;
          // Retry once, and only when the worker died under the job: the job may not be at fault (another
          // process took the memory). A second crash, a hang or a protocol error is not retried.
          if (error instanceof WorkerCrashedError && crashes === 0 && aborted === undefined && !this.#stopped) {
            crashes += 1;
            this.#hooks.retry?.(item, error);
            await this.#runner.whenReady();
            if (!controller.signal.aborted) continue;
          }
          return { ok: false, error, crashes, aborted: controller.signal.aborted ? (controller.signal.reason as AbortReason) : aborted };
        }
      }
    } finally {
      this.#running = undefined;
    }
  }
}
