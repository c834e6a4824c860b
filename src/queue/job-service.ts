import { randomBytes } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { CancelledError, Identifiers, UserError, newReferenceId } from '../errors.js';
import { text } from '../i18n/translate.js';
import { userError } from '../i18n/user-error.js';
import type { GeneratedImage, GenerateResult, StepProgress } from '../protocol/generate-request.js';
import type { Logger } from '../logger.js';
import { JobRequestSchema, type GenerateRequest, type JobRequest } from '../protocol/generate-request.js';
import type { JobInsert } from '../store/job-repository.js';
import type { Store } from '../store/store.js';
import { Dispatcher, type DispatchOutcome, type DispatchStart } from './dispatcher.js';
import { FairQueue } from './fair-queue.js';
import { CostRate, type WatchdogOptions } from './cost-rate.js';
import { jobCost } from './job-cost.js';
import { jobNotStored, limitReached, resultNotStored, toJobFailure } from './job-failure.js';
import { singleWorker, type JobRunner, type WorkerRunner } from '../worker/job-runner.js';
import type { CancelRequest, Job, JobEvents, JobListing, NewJob, QueueLimits, QueuePosition } from './job.js';

export interface JobServiceOptions {
  store: Store;
  /** The workers jobs run on, one job each at a time (a WorkerPool's `workers`); empty: jobs wait in the queue. */
  workers?: readonly WorkerRunner[];
  /** A single runner instead of `workers` (it becomes worker `w0`). */
  runner?: JobRunner;
  logger?: Logger;
  /** Caps used when `submit` gets none. @default { maxQueuedPerUser: 3, maxQueuedPerGuild: 20, maxQueuedTotal: 200 } */
  limits?: QueueLimits;
  watchdog?: Partial<WatchdogOptions>;
  /** Weight of the newest measurement in the exponential average of ms per cost unit. @default 0.3 */
  rateSmoothing?: number;
  /** Clock, for ETAs. @default Date.now */
  now?: () => number;
  /** How often a job whose worker died or went away under it runs again elsewhere before it fails. @default 1 */
  maxRetries?: number;
}

const DEFAULT_LIMITS: QueueLimits = { maxQueuedPerUser: 3, maxQueuedPerGuild: 20, maxQueuedTotal: 200 };

/**
 * The queue as the Discord layer sees it: submit, cancel, look up and list jobs, and listen to their events.
 * Jobs are written to the store before they are queued, and every state change is committed before its event
 * fires, so a listener that reads the store sees what the event says.
 */
export class JobService extends EventEmitter<JobEvents> {
  readonly #store: Store;
  readonly #logger: Logger | undefined;
  readonly #limits: QueueLimits;
  readonly #rate: CostRate;
  readonly #now: () => number;
  readonly #queue = new FairQueue<Job>();
  readonly #dispatcher: Dispatcher<Job>;
  /** Jobs in the queue or on the worker, by id: the live copies that events hand out snapshots of. */
  readonly #live = new Map<string, Job>();
  /** Who asked to cancel the running job; its state changes when the worker confirms. */
  readonly #cancelRequests = new Map<string, string>();
  /** Last position announced per queued job, to emit 'position' only on change. */
  #positions = new Map<string, number>();
  #positionsScheduled = false;
  #started = false;
  #stopping = false;
  /** Settlements in progress (writing images, committing), awaited by `stop`. */
  readonly #settling = new Set<Promise<void>>();
  /** Jobs moved off a worker that died or went away, with the note their result carries. */
  readonly #moved = new Map<string, string>();

  constructor(options: JobServiceOptions) {
    super();
    this.#store = options.store;
    this.#logger = options.logger;
    this.#limits = options.limits ?? DEFAULT_LIMITS;
    this.#now = options.now ?? Date.now;
    this.#rate = new CostRate(this.#store, { watchdog: options.watchdog, smoothing: options.rateSmoothing });
    const workers = options.workers ?? (options.runner ? [singleWorker(options.runner)] : undefined);
    if (!workers) throw new TypeError('Expected `workers` or `runner`');
    this.#dispatcher = new Dispatcher(
      this.#queue,
      workers,
      {
        start: (job, workerId) => this.#onStart(job, workerId),
        settle: (job, outcome) => this.#track(this.#onSettled(job, outcome)),
        retry: (job, error, workerId) => {
          this.#logger?.warn({ jobId: job.id, workerId, err: error }, 'worker crashed under a job; retrying it once, on the next idle worker');
          this.#store.jobs.markRunning(job.id, this.#now());
          job.attempts += 1;
          // The user sees why the image took longer (and that nothing needs doing).
          this.#moved.set(job.id, `Worker ${workerId} went away while making this image, so it was moved to another worker and made again.`);
        },
        resume: (job, workerId) => this.#logger?.info({ jobId: job.id, workerId }, 'retrying a job after a worker crash'),
        model: (job) => job.request.model,
      },
      { maxRetries: options.maxRetries },
    );
  }

  /** Adds a worker that appeared after the start (a remote worker, announced by its heartbeat). */
  addWorker(worker: WorkerRunner): void {
    this.#dispatcher.addWorker(worker);
  }

  /**
   * Restores unfinished jobs from the store and starts dispatching. Jobs that were running when the bot stopped
   * (even by kill -9) go first, then the queued ones in submission order. A job whose result was committed is
   * done and is not rerun. Returns how many jobs were restored.
   */
  start(): number {
    if (this.#started) throw new TypeError('Expected `start` to be called once');
    this.#started = true;
    const unfinished = this.#store.jobs.listUnfinished();
    const interrupted = unfinished.filter((job) => job.state === 'running');
    for (const job of interrupted) this.#store.jobs.requeue(job.id);
    const waiting = unfinished.filter((job) => job.state === 'queued');
    for (const job of [...interrupted, ...waiting]) {
      const live: Job = { ...job, state: 'queued', startedAt: null };
      this.#live.set(live.id, live);
      this.#queue.enqueue(live);
    }
    if (unfinished.length > 0) {
      this.#logger?.info({ interrupted: interrupted.length, queued: waiting.length }, 'restored unfinished jobs');
    }
    this.#schedulePositions();
    this.#dispatcher.pump();
    return unfinished.length;
  }

  /**
   * Stores and queues a job. Emits 'queued' (with its position) on the next tick.
   * @throws UserError (userQueueFull / queueFull) naming the cap and its number when a cap is reached.
   * @throws UserError (queueFull) when the store cannot write the job (full disk, I/O error); nothing is queued.
   * @throws TypeError when the request does not match GenerateRequest (a bug in the caller).
   */
  submit(newJob: NewJob, limits: QueueLimits = this.#limits): Job {
    const refused = this.refusal(newJob, limits);
    if (refused) throw refused;
    const parsed = JobRequestSchema.safeParse(newJob.request);
    if (!parsed.success) {
      throw new TypeError(`Expected \`request\` to be a JobRequest: ${parsed.error.message}`);
    }
    const job = this.#insert({
      id: randomBytes(8).toString('base64url'),
      kind: newJob.kind,
      parentJobId: newJob.parentJobId ?? null,
      guildId: newJob.guildId,
      channelId: newJob.channelId,
      userId: newJob.userId,
      interactionId: newJob.interactionId ?? null,
      interactionToken: newJob.interactionToken ?? null,
      interactionCreatedAt: newJob.interactionCreatedAt ?? null,
      messageId: newJob.messageId ?? null,
      replyToMessageId: newJob.replyToMessageId ?? null,
      locale: newJob.locale ?? null,
      request: newJob.request,
      cost: jobCost(newJob.request),
      state: 'queued',
      attempts: 0,
      createdAt: this.#now(),
      startedAt: null,
      finishedAt: null,
      seeds: [],
      outputs: [],
      warnings: [],
      timings: null,
      error: null,
      cancelledBy: null,
      deliveredAt: null,
    });
    this.#live.set(job.id, job);
    this.#queue.enqueue(job);
    this.#logger?.debug({ jobId: job.id, guildId: job.guildId, userId: job.userId, cost: job.cost }, 'job queued');
    this.#schedulePositions();
    // Dispatch after returning, so the caller holds the job before its 'started' event can fire.
    queueMicrotask(() => this.#dispatcher.pump());
    return { ...job };
  }

  /** Writes a new job; a job the store could not keep must not be queued, or a restart would silently lose it. */
  #insert(job: JobInsert): Job {
    try {
      return this.#store.jobs.insert(job);
    } catch (error) {
      const ref = newReferenceId();
      this.#logger?.error({ jobId: job.id, guildId: job.guildId, ref, err: error }, 'could not store a new job');
      const code = (error as { code?: unknown }).code;
      throw jobNotStored(ref, typeof code === 'string' ? code : undefined);
    }
  }

  /**
   * The UserError `submit` would throw for this job now (stopping, or a cap reached), counting `pending`: jobs the
   * caller has accepted but not submitted yet. In memory only, so the Discord layer can refuse before it
   * acknowledges an interaction and write the job to the store after.
   */
  refusal(
    newJob: Pick<NewJob, 'guildId' | 'userId'>,
    limits: QueueLimits = this.#limits,
    pending: readonly Pick<NewJob, 'guildId' | 'userId'>[] = [],
  ): UserError | undefined {
    if (this.#stopping) return userError(Identifiers.QueueFull, text('error.restarting'));
    const exceeded = this.#queue.exceededLimit(newJob, limits, [...this.#dispatcher.running, ...pending]);
    if (!exceeded) return undefined;
    return limitReached(exceeded);
  }

  /**
   * Cancels a queued job at once, or asks the worker to stop a running one ('cancelled' fires when it has).
   * Returns the job as it stands after the request.
   * @throws UserError notFound (no such job, or already finished) or notAllowed (not the owner, no Manage Server).
   */
  cancel(jobId: string, by: CancelRequest): Job {
    const job = this.#live.get(jobId);
    if (!job) {
      const stored = this.#store.jobs.get(jobId);
      throw stored
        ? userError(Identifiers.NotFound, text('error.alreadyFinal', { state: stored.state }), { jobId })
        : userError(Identifiers.NotFound, text('error.noSuchJob'), { jobId });
    }
    const moderator = by.canManageGuild && (by.guildId === undefined || by.guildId === job.guildId);
    if (by.userId !== job.userId && !moderator) {
      throw userError(Identifiers.NotAllowed, text('error.cancelNotAllowed'), { jobId });
    }
    if (this.#queue.remove(jobId)) {
      this.#finish(job, () => this.#store.jobs.cancel(jobId, by.userId, this.#now()), {
        state: 'cancelled',
        cancelledBy: by.userId,
      });
      this.#emit('cancelled', { ...job });
      this.#schedulePositions();
      return { ...job };
    }
    this.#cancelRequests.set(jobId, by.userId);
    this.#dispatcher.abort(jobId, 'cancel');
    return { ...job };
  }

  /** A job by id: live if unfinished, from the store otherwise. */
  get(jobId: string): Job | undefined {
    const live = this.#live.get(jobId);
    return live ? { ...live } : this.#store.jobs.get(jobId);
  }

  /** Where a queued job stands; undefined when it is not queued. O(queued jobs). */
  position(jobId: string): QueuePosition | undefined {
    const listing = this.#listings().find((entry) => entry.job.id === jobId && entry.position !== null);
    return listing && this.#toPosition(listing);
  }

  /** The running job and the queued ones, in dispatch order, with positions and ETAs; one guild's when given. */
  list(guildId?: string): JobListing[] {
    const listings = this.#listings();
    return guildId === undefined ? listings : listings.filter((listing) => listing.job.guildId === guildId);
  }

  /** How many workers jobs are dispatched to (ready or not); 0 means jobs only wait. */
  get workerCount(): number {
    return this.#dispatcher.workerCount;
  }

  /** The job a message shows (a result a member replied to), from the store; undefined when the message is not a job's. */
  getByMessageId(messageId: string): Job | undefined {
    const stored = this.#store.jobs.getByMessageId(messageId);
    if (!stored) return undefined;
    return this.get(stored.id);
  }

  /** Measured ms per unit of cost (steps × pixels × images), or null before the first job. */
  get msPerCostUnit(): number | null {
    return this.#rate.msPerCostUnit;
  }

  /** Remembers the message that shows the job, so it can be found again after a restart. */
  setMessageId(jobId: string, messageId: string): void {
    this.#store.jobs.setMessageId(jobId, messageId);
    const live = this.#live.get(jobId);
    if (live) live.messageId = messageId;
  }

  /** The Discord layer posted the job's final state; it will not be offered again by `undelivered`. */
  markDelivered(jobId: string): void {
    this.#store.jobs.markDelivered(jobId, this.#now());
  }

  /**
   * Finished jobs whose final message was never confirmed (the bot stopped between the commit and the post).
   * Call after `start` and post them.
   */
  undelivered(): Job[] {
    return this.#store.jobs.listUndelivered();
  }

  /**
   * Stops taking and dispatching jobs. A running job is stopped and stays queued in the store for the next
   * start; settlements in flight are awaited. The store stays open (the caller owns it).
   */
  async stop(): Promise<void> {
    this.#stopping = true;
    await this.#dispatcher.stop();
    await Promise.all(this.#settling);
  }

  #onStart(job: Job, workerId: string): DispatchStart {
    const startedAt = this.#now();
    this.#logger?.debug({ jobId: job.id, guildId: job.guildId, workerId }, 'job started');
    this.#store.jobs.markRunning(job.id, startedAt);
    job.state = 'running';
    job.startedAt = startedAt;
    job.attempts += 1;
    this.#positions.delete(job.id);
    this.#emit('started', { ...job });
    this.#schedulePositions();
    return {
      request: () => this.#withImages(job.request),
      watchdogMs: this.#rate.watchdogFor(job.cost),
      onProgress: (progress: StepProgress) => this.#emit('progress', { ...job }, progress),
    };
  }

  /**
   * The request with its stored input images read in: jobs keep references (small rows, one copy of each image
   * on disk), the worker gets bytes. A missing file fails the job with a message the user can act on.
   */
  async #withImages(request: JobRequest): Promise<GenerateRequest> {
    const mode: Record<string, unknown> = { ...request.mode };
    for (const key of ['image', 'mask'] as const) {
      const value = mode[key];
      // Rows written before image references existed carry the bytes themselves.
      if (value === undefined || value instanceof Uint8Array) continue;
      try {
        mode[key] = await this.#store.images.read((value as { ref: string }).ref);
      } catch {
        throw userError(Identifiers.NotFound, text('error.inputGone'));
      }
    }
    // ControlNet images (issue #15) are stored references too.
    const controls =
      request.controls && (await Promise.all(request.controls.map(async (unit) => ({ ...unit, image: await this.#readImage(unit.image) }))));
    const { controls: _refs, ...rest } = request;
    return { ...rest, mode: mode as GenerateRequest['mode'], ...(controls ? { controls } : {}) };
  }

  async #readImage(value: { ref: string } | Uint8Array): Promise<Uint8Array> {
    if (value instanceof Uint8Array) return value;
    try {
      return await this.#store.images.read(value.ref);
    } catch {
      throw userError(Identifiers.NotFound, text('error.controlGone'));
    }
  }

  async #onSettled(job: Job, outcome: DispatchOutcome): Promise<void> {
    const cancelledBy = this.#cancelRequests.get(job.id);
    this.#cancelRequests.delete(job.id);
    const moved = this.#moved.get(job.id);
    this.#moved.delete(job.id);
    if (outcome.ok && moved) outcome = { ...outcome, result: { ...outcome.result, warnings: [moved, ...outcome.result.warnings] } };
    if (outcome.ok) {
      await this.#complete(job, outcome.result);
      return;
    }
    const { error } = outcome;
    if (outcome.aborted === 'shutdown') {
      // Not the job's fault: back to queued, so the next start runs it.
      this.#store.jobs.requeue(job.id);
      this.#live.delete(job.id);
      return;
    }
    if (outcome.aborted === 'cancel' || error instanceof CancelledError) {
      this.#finish(job, () => this.#store.jobs.cancel(job.id, cancelledBy ?? job.userId, this.#now()), {
        state: 'cancelled',
        cancelledBy: cancelledBy ?? job.userId,
      });
      this.#emit('cancelled', { ...job });
      return;
    }
    const failure = toJobFailure(error, job.request.model);
    const log = error instanceof UserError ? 'debug' : 'error';
    this.#logger?.[log]({ jobId: job.id, guildId: job.guildId, workerId: outcome.workerId, ref: failure.ref, err: error }, 'job failed');
    this.#finish(job, () => this.#store.jobs.fail(job.id, failure, this.#now()), { state: 'failed', error: failure });
    this.#emit('failed', { ...job }, error instanceof Error ? error : new Error(String(error)));
  }

  async #complete(job: Job, result: GenerateResult): Promise<void> {
    let outputs: Job['outputs'];
    try {
      outputs = await Promise.all(
        result.images.map(async (image, index) => ({
          path: await this.#store.images.write(job.id, index, image.png),
          seed: image.seed,
          width: image.width,
          height: image.height,
          parameters: image.parameters,
        })),
      );
      // What each ControlNet saw, kept beside the images so the result shows it, after a restart too.
      await Promise.all((result.controlMaps ?? []).map((map, index) => this.#store.images.writeControlMap(job.id, index, map.png)));
    } catch (error) {
      const failure = toJobFailure(error);
      this.#logger?.error({ jobId: job.id, ref: failure.ref, err: error }, 'could not write the images');
      this.#finish(job, () => this.#store.jobs.fail(job.id, failure, this.#now()), { state: 'failed', error: failure });
      this.#emit('failed', { ...job }, error as Error);
      return;
    }
    const completion = {
      outputs,
      seeds: result.images.map((image) => image.seed),
      warnings: result.warnings,
      timings: result.timings,
      finishedAt: this.#now(),
    };
    try {
      this.#finish(job, () => this.#store.jobs.complete(job.id, completion), { state: 'done', ...completion });
    } catch (error) {
      this.#resultNotStored(job, error);
      return;
    }
    try {
      this.#rate.learn(job.cost, result.timings);
    } catch (error) {
      // Only the ETAs after a restart suffer; the job is committed and its 'done' must still go out.
      this.#logger?.warn({ err: error }, 'could not store the measured cost rate');
    }
    this.#emit('done', { ...job }, result.images as GeneratedImage[]);
  }

  /**
   * The done state was not committed (full disk, I/O error), so the job must not look done: it is reported failed.
   * If even the failure cannot be committed, the store still holds it unfinished and the next start reruns it.
   */
  #resultNotStored(job: Job, error: unknown): void {
    const failure = resultNotStored();
    this.#logger?.error({ jobId: job.id, ref: failure.ref, err: error }, 'could not commit the result of a job');
    try {
      this.#finish(job, () => this.#store.jobs.fail(job.id, failure, this.#now()), { state: 'failed', error: failure });
    } catch (failError) {
      this.#logger?.error({ jobId: job.id, ref: failure.ref, err: failError }, 'could not commit the failure either; the next start reruns the job');
      this.#finish(job, () => true, { state: 'failed', error: failure });
    }
    this.#emit('failed', { ...job }, error instanceof Error ? error : new Error(String(error)));
  }

  /** Commits a final state, then applies it to the live copy and forgets the job. */
  #finish(job: Job, commit: () => boolean, changes: Partial<Job>): void {
    if (!commit()) this.#logger?.warn({ jobId: job.id, changes: changes.state }, 'job was already final in the store');
    Object.assign(job, changes);
    this.#live.delete(job.id);
    this.#positions.delete(job.id);
  }

  /**
   * The jobs in service, then the queued ones in dispatch order. ETAs replay the dispatcher on the measured rate:
   * N workers that each free up when their job's estimated time is over, every job (running ones first, then the
   * queue in fair order) starting on the worker that frees up first. So with N workers a queued job starts after
   * about (the work ahead of it) / N. The approximation: all workers are taken to be as fast as the measured average
   * (one rate for the pool), model loads and affinity are ignored, and a job waiting for its crash retry counts
   * with its remaining time, not a full rerun. With no worker (WORKERS=0) nothing has an ETA.
   */
  #listings(): JobListing[] {
    const rate = this.#rate.msPerCostUnit;
    const workers = this.#dispatcher.workerCount;
    const estimate = rate !== null && workers > 0;
    // When each worker is next free, ms from now; a sorted array, N is small.
    const free = Array.from({ length: workers }, () => 0);
    const take = (ms: number): number => {
      const start = free.shift()!;
      const end = start + ms;
      free.splice(sortedIndex(free, end), 0, end);
      return start;
    };
    const listings: JobListing[] = [];
    const now = this.#now();
    for (const { item: job, workerId } of this.#dispatcher.assignments()) {
      const elapsed = job.startedAt === null ? 0 : now - job.startedAt;
      const remaining = estimate ? Math.max(0, job.cost * rate - elapsed) : 0;
      const etaMs = estimate ? take(remaining) + remaining : null;
      listings.push({ job: { ...job }, position: null, etaMs: etaMs === null ? null : Math.round(etaMs), workerId });
    }
    let position = 0;
    for (const job of this.#queue.order()) {
      position += 1;
      listings.push({ job: { ...job }, position, etaMs: estimate ? Math.round(take(job.cost * rate)) : null });
    }
    return listings;
  }

  #toPosition(listing: JobListing): QueuePosition {
    return { position: listing.position!, etaMs: listing.etaMs };
  }

  /** Positions move on every enqueue, dispatch and cancel; recompute once per tick, not once per change. */
  #schedulePositions(): void {
    if (this.#positionsScheduled) return;
    this.#positionsScheduled = true;
    setImmediate(() => {
      this.#positionsScheduled = false;
      const next = new Map<string, number>();
      for (const listing of this.#listings()) {
        if (listing.position === null) continue;
        const before = this.#positions.get(listing.job.id);
        next.set(listing.job.id, listing.position);
        const position = this.#toPosition(listing);
        if (before === undefined) this.#emit('queued', listing.job, position);
        else if (before !== listing.position) this.#emit('position', listing.job, position);
      }
      this.#positions = next;
    });
  }

  #track(promise: Promise<void>): void {
    const tracked = promise
      .catch((error: unknown) => this.#logger?.error({ err: error }, 'settling a job failed'))
      .finally(() => this.#settling.delete(tracked));
    this.#settling.add(tracked);
  }

  /** A listener that throws must not break dispatching: log it and go on. */
  #emit<E extends keyof JobEvents>(event: E, ...args: JobEvents[E]): void {
    try {
      (this.emit as (event: E, ...args: JobEvents[E]) => boolean)(event, ...args);
    } catch (error) {
      this.#logger?.error({ err: error, event }, 'a job event listener threw');
    }
  }
}

/** Where `value` goes in the ascending `sorted` to keep it sorted (after equal values). */
function sortedIndex(sorted: readonly number[], value: number): number {
  let low = 0;
  let high = sorted.length;
  while (low < high) {
    const mid = (low + high) >> 1;
    if (sorted[mid]! <= value) low = mid + 1;
    else high = mid;
  }
  return low;
}
