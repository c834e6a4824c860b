import { CancelledError } from '../errors.js';
import type { GenerateRequest, GenerateResult, StepProgress } from '../protocol/generate-request.js';
import { WorkerCrashedError } from '../worker/worker-errors.js';
import type { FairQueue, FairQueueItem } from './fair-queue.js';
import type { WorkerRunner } from '../worker/job-runner.js';

/** Why a running job's AbortController fired. */
export type AbortReason = 'cancel' | 'shutdown';

export type DispatchOutcome =
  | { ok: true; result: GenerateResult; crashes: number; workerId: string }
  | { ok: false; error: unknown; crashes: number; aborted: AbortReason | undefined; workerId: string | undefined };

/** What to run for a dispatched item. */
export interface DispatchStart {
  /** The request as the worker takes it (stored input images read in); a rejection fails the job. */
  request: () => Promise<GenerateRequest>;
  watchdogMs: number;
  onProgress: (progress: StepProgress) => void;
}

export interface DispatchHooks<T> {
  /** Called when `item` leaves the queue for worker `workerId`; returns what to run. */
  start(item: T, workerId: string): DispatchStart;
  /** Called once per dispatched item, after the freed worker has already been handed its next item. */
  settle(item: T, outcome: DispatchOutcome): void;
  /** Worker `workerId` crashed under `item`; it goes back to the head of the line for its one retry. */
  retry?(item: T, error: WorkerCrashedError, workerId: string): void;
  /** An item waiting for its retry got a worker. */
  resume?(item: T, workerId: string): void;
  /** The model `item` needs, so an idle worker that has it loaded can be preferred. */
  model?(item: T): string | undefined;
}

interface Running<T> {
  item: T;
  /** Dispatch order: jobs waiting at the head go in the order they first left the queue. */
  seq: number;
  controller: AbortController;
  run: DispatchStart;
  /** Loaded once, on the first attempt; a retry sends the same request. */
  request: Promise<GenerateRequest> | undefined;
  crashes: number;
  /** Waiting at the head because its worker crashed under it (not merely vanished before it started). */
  crashed: boolean;
  /** The worker it is on; undefined while it waits for its retry. */
  worker: WorkerRunner | undefined;
}

/** A job and the worker it is on (undefined while it waits for a worker to retry on). */
export interface Assignment<T> {
  item: T;
  workerId: string | undefined;
}

/**
 * Moves jobs from the fair queue to the workers, one job per idle worker and never more: the fair queue is asked
 * for its next job only when a worker is free to start it, so a job submitted meanwhile competes fairly instead
 * of waiting behind a pre-filled line, and a newcomer waits for at most the jobs in service (one per worker).
 *
 * The job taken is always the queue's next one; affinity only chooses which idle worker gets it (one that already
 * has its model loaded, if any), never which job goes first. A job whose worker crashed under it waits at the
 * head of the line, ahead of the queue, for the next idle worker (any of them) and runs there once more.
 */
export class Dispatcher<T extends FairQueueItem> {
  readonly #queue: FairQueue<T>;
  readonly #workers: WorkerRunner[];
  readonly #maxRetries: number;
  readonly #hooks: DispatchHooks<T>;
  /** Jobs out of the queue and not settled yet (on a worker or waiting for their retry), in dispatch order. */
  readonly #running = new Map<string, Running<T>>();
  readonly #busy = new Map<WorkerRunner, Running<T>>();
  /** Crashed jobs waiting for a worker, first in line. */
  readonly #retries: Running<T>[] = [];
  /** Workers we wait on to become ready (at most one waiter each). */
  readonly #waiting = new Set<WorkerRunner>();
  readonly #inFlight = new Set<Promise<void>>();
  #stopped = false;
  #seq = 0;

  /**
   * `maxRetries`: how many times a job whose worker died under it goes back to the head of the line (1 for local
   * processes; remote workers add lost hosts and Redis restarts, which are no more the job's fault).
   */
  constructor(queue: FairQueue<T>, workers: readonly WorkerRunner[], hooks: DispatchHooks<T>, options: { maxRetries?: number } = {}) {
    const ids = new Set(workers.map((worker) => worker.id));
    if (ids.size !== workers.length) throw new TypeError(`Expected distinct worker ids, got ${workers.map((w) => w.id).join(', ')}`);
    this.#queue = queue;
    this.#workers = [...workers];
    this.#hooks = hooks;
    this.#maxRetries = options.maxRetries ?? 1;
  }

  /**
   * Adds a worker that appeared after the start (a remote worker announced by its heartbeat). A worker that goes
   * away stays listed, not ready: its id may come back, and a job on it fails over through `run` rejecting.
   */
  addWorker(worker: WorkerRunner): void {
    if (this.#workers.some((other) => other.id === worker.id)) throw new TypeError(`Expected a new worker id, got ${worker.id}`);
    this.#workers.push(worker);
    this.pump();
  }

  /** How many workers jobs are dispatched to (ready or not). */
  get workerCount(): number {
    return this.#workers.length;
  }

  /** The jobs in service: on a worker, or between a crash and their retry. In dispatch order. */
  get running(): T[] {
    return [...this.#running.values()].map((running) => running.item);
  }

  /** The jobs in service with the worker each is on. */
  assignments(): Assignment<T>[] {
    return [...this.#running.values()].map((running) => ({ item: running.item, workerId: running.worker?.id }));
  }

  /**
   * Hands the next job to each idle worker while there are both. Idempotent; called on submit, on every freed
   * worker (before the finished job is persisted: the idle-gap target) and when a worker becomes ready.
   */
  pump(): void {
    while (!this.#stopped && (this.#retries.length > 0 || this.#queue.size > 0)) {
      const idle = this.#workers.filter((worker) => worker.ready && !this.#busy.has(worker));
      if (idle.length === 0) {
        // Jobs stay queued (cancellable, with positions) while workers start or restart; with no worker at all
        // (WORKERS=0) they simply wait.
        this.#waitForWorkers();
        return;
      }
      const retry = this.#retries[0];
      const item = retry ? retry.item : this.#queue.peek()!;
      const worker = this.#pick(idle, this.#hooks.model?.(item));
      if (retry) {
        this.#retries.shift();
        if (retry.crashed) this.#hooks.resume?.(item, worker.id);
        retry.crashed = false;
        this.#launch(retry, worker);
        continue;
      }
      this.#queue.dequeue();
      const running: Running<T> = {
        item,
        seq: this.#seq++,
        controller: new AbortController(),
        run: undefined as unknown as DispatchStart,
        request: undefined,
        crashes: 0,
        crashed: false,
        worker: undefined,
      };
      this.#running.set(item.id, running);
      // On its worker before `start` runs, so listeners of 'started' see where it runs.
      running.worker = worker;
      this.#busy.set(worker, running);
      running.run = this.#hooks.start(item, worker.id);
      this.#launch(running, worker);
    }
  }

  /** Aborts job `id` if it is in service (on a worker or waiting for its retry). Returns whether it was. */
  abort(id: string, reason: AbortReason): boolean {
    const running = this.#running.get(id);
    if (!running) return false;
    running.controller.abort(reason);
    const waiting = this.#retries.indexOf(running);
    if (waiting >= 0) {
      // Not on any worker: settle it here, nothing will answer for it.
      this.#retries.splice(waiting, 1);
      this.#running.delete(id);
      this.#hooks.settle(running.item, { ok: false, error: new CancelledError(), crashes: running.crashes, aborted: reason, workerId: undefined });
    }
    return true;
  }

  /** Stops dispatching, aborts every job in service (they go back to the queue) and waits for the workers to let go. */
  async stop(): Promise<void> {
    this.#stopped = true;
    for (const id of [...this.#running.keys()]) this.abort(id, 'shutdown');
    while (this.#inFlight.size > 0) await Promise.all(this.#inFlight);
  }

  /**
   * The idle worker for a job of `model`: the one that used that model most recently; else an empty one (loading
   * there evicts nobody's warm model); else the first. Ties go to pool order, so a lone job lands on w0.
   */
  #pick(idle: readonly WorkerRunner[], model: string | undefined): WorkerRunner {
    let best = idle[0]!;
    let bestRank = Number.POSITIVE_INFINITY;
    for (const worker of idle) {
      const index = model === undefined ? -1 : worker.loadedModels.indexOf(model);
      const rank = index >= 0 ? index : worker.loadedModels.length === 0 ? Number.MAX_SAFE_INTEGER - 1 : Number.MAX_SAFE_INTEGER;
      if (rank < bestRank) {
        best = worker;
        bestRank = rank;
      }
    }
    return best;
  }

  #waitForWorkers(): void {
    for (const worker of this.#workers) {
      if (worker.ready || this.#busy.has(worker) || this.#waiting.has(worker)) continue;
      this.#waiting.add(worker);
      void worker.whenReady().then(() => {
        this.#waiting.delete(worker);
        this.pump();
      });
    }
  }

  #launch(running: Running<T>, worker: WorkerRunner): void {
    running.worker = worker;
    this.#busy.set(worker, running);
    const execution = this.#execute(running, worker).finally(() => this.#inFlight.delete(execution));
    this.#inFlight.add(execution);
  }

  async #execute(running: Running<T>, worker: WorkerRunner): Promise<void> {
    const { item } = running;
    const outcome = await this.#attempt(running, worker);
    this.#busy.delete(worker);
    running.worker = undefined;
    if (outcome === 'retry') {
      const at = this.#retries.findIndex((other) => other.seq > running.seq);
      this.#retries.splice(at < 0 ? this.#retries.length : at, 0, running);
      this.pump();
      return;
    }
    this.#running.delete(item.id);
    // The freed worker gets its next job before this one's result is written and committed.
    this.pump();
    this.#hooks.settle(item, outcome);
  }

  async #attempt(running: Running<T>, worker: WorkerRunner): Promise<DispatchOutcome | 'retry'> {
    const { item, controller } = running;
    const reason = () => (controller.signal.aborted ? (controller.signal.reason as AbortReason) : undefined);
    let request: GenerateRequest;
    try {
      running.request ??= running.run.request();
      request = await running.request;
    } catch (error) {
      return { ok: false, error, crashes: running.crashes, aborted: reason(), workerId: worker.id };
    }
    if (!worker.ready && reason() === undefined && !this.#stopped) {
      // The worker died (or was stopped) while the request was read, before the job reached it: not the job's
      // doing, so back to the head without using up its one retry.
      return 'retry';
    }
    try {
      const { onProgress, watchdogMs } = running.run;
      const result = await worker.run(item.id, request, { signal: controller.signal, onProgress, watchdogMs });
      return { ok: true, result, crashes: running.crashes, workerId: worker.id };
    } catch (error) {
      // Retry (once by default), and only when the worker died under the job: the job may not be at fault (another process
      // took the memory). A second crash, a hang or a protocol error is not retried.
      if (error instanceof WorkerCrashedError && running.crashes < this.#maxRetries && reason() === undefined && !this.#stopped) {
        running.crashes += 1;
        running.crashed = true;
        this.#hooks.retry?.(item, error, worker.id);
        return 'retry';
      }
      return { ok: false, error, crashes: running.crashes, aborted: reason(), workerId: worker.id };
    }
  }
}
