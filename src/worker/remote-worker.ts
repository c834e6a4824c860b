import { randomBytes } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { Queue, QueueEvents } from 'bullmq';
import { Redis } from 'ioredis';
import { CancelledError } from '../errors.js';
import type { GenerateRequest, GenerateResult, StepProgress } from '../protocol/generate-request.js';
import type { Logger } from '../logger.js';
import type { RunOptions, WorkerRunner, WorkerStatus } from './job-runner.js';
import { reviveError } from './revive-error.js';
import { WatchdogTimeoutError, WorkerCrashedError } from './worker-errors.js';
import {
  CANCEL_CHANNEL,
  DONE_CHANNEL,
  HEARTBEAT_PATTERN,
  HeartbeatSchema,
  QUEUE_PREFIX,
  REMOTE_PROTOCOL_VERSION,
  RemoteReturnSchema,
  cancelKey,
  decodeProgress,
  decodeResult,
  encodeValue,
  queueName,
  type RemoteJobData,
  type RemoteProgress,
  type RemoteReturn,
  type RemoteWorkerState,
} from './remote-protocol.js';

/** After a cancel, how long a remote attempt may take to confirm before the bot stops waiting for it. */
const CANCEL_GRACE_MS = 10_000;
/** On top of the job's watchdog (which the host enforces): how late the host may be before the bot gives up on it. */
const WATCHDOG_SLACK_MS = 30_000;

interface Attempt {
  /** BullMQ job id: our job id plus a suffix, so a rerun on the same worker is a new job, not a duplicate of the old. */
  id: string;
  jobId: string;
  model: string;
  resolve: (result: GenerateResult) => void;
  reject: (error: Error) => void;
  onProgress: (progress: StepProgress) => void;
  timers: NodeJS.Timeout[];
  settled: boolean;
  /** Its completion is being read (the done channel, BullMQ's event and the poll may all report it). */
  finishing: boolean;
}

/**
 * A worker on another host, as the dispatcher sees it (WorkerRunner): ready when its heartbeat says it is idle
 * and we have nothing on it, so a job goes into its queue only when it can start right away (just-in-time, one
 * per worker: the fair order and the newcomer bound hold as with local workers). A heartbeat that expires, a
 * Redis that lost the job, or an engine crash on the host reject the run with WorkerCrashedError, which sends the
 * job back to the head of the line for the next idle worker.
 */
export class RemoteWorker implements WorkerRunner {
  readonly id: string;
  readonly #queue: Queue<RemoteJobData, RemoteReturn>;
  readonly #redis: Redis;
  readonly #logger: Logger | undefined;
  #state: RemoteWorkerState | undefined;
  #hostname = '';
  #alive = false;
  #current: Attempt | undefined;
  /** The last attempt we settled: a heartbeat still calling it busy is only late. */
  #lastAttempt: string | undefined;
  #waiters: Array<() => void> = [];
  #suspended = false;

  constructor(id: string, redis: Redis, logger?: Logger) {
    this.id = id;
    this.#redis = redis;
    this.#logger = logger;
    this.#queue = new Queue(queueName(id), { connection: redis, prefix: QUEUE_PREFIX });
  }

  get ready(): boolean {
    if (!this.#alive || this.#suspended || !this.#state || this.#current) return false;
    if (this.#state.state === 'starting') return false;
    // Busy with an attempt we no longer wait for (moved away, or from before a bot restart): not free yet.
    return this.#state.state === 'idle' || this.#state.jobId === this.#lastAttempt;
  }

  get loadedModels(): readonly string[] {
    return this.#state?.models ?? [];
  }

  get hostname(): string {
    return this.#hostname;
  }

  get executionProvider(): string | undefined {
    return this.#state?.executionProvider;
  }

  whenReady(): Promise<void> {
    if (this.ready) return Promise.resolve();
    return new Promise((resolve) => this.#waiters.push(resolve));
  }

  status(): WorkerStatus {
    const state = this.#current || (this.#alive && this.#state?.state === 'busy' && !this.ready) ? 'busy' : this.ready ? 'idle' : 'starting';
    return {
      id: this.id,
      state,
      jobId: this.#current?.jobId,
      models: [...this.loadedModels],
      host: this.#alive ? this.#hostname : `${this.#hostname} (offline)`,
      ...(this.#state?.deviceId === undefined ? {} : { deviceId: this.#state.deviceId }),
    };
  }

  run(jobId: string, request: GenerateRequest, options: RunOptions): Promise<GenerateResult> {
    if (!this.ready) return Promise.reject(new WorkerCrashedError(`Remote worker ${this.id} is not ready for job ${jobId}`, null, null));
    if (options.signal.aborted) return Promise.reject(new CancelledError());
    return new Promise<GenerateResult>((resolve, reject) => {
      const attempt: Attempt = {
        id: `${jobId}.${randomBytes(4).toString('hex')}`,
        jobId,
        model: request.model,
        resolve,
        reject,
        onProgress: options.onProgress,
        timers: [],
        settled: false,
        finishing: false,
      };
      this.#current = attempt;
      attempt.timers.push(
        setTimeout(
          () =>
            this.#settle(
              attempt,
              new WatchdogTimeoutError(`Job ${jobId} ran past its watchdog time of ${options.watchdogMs} ms on ${this.id}`, options.watchdogMs),
            ),
          options.watchdogMs + WATCHDOG_SLACK_MS,
        ),
      );
      options.signal.addEventListener(
        'abort',
        () => {
          if (attempt.settled) return;
          // The key covers an attempt not started yet; the message reaches one that runs.
          void this.#redis
            .multi()
            .set(cancelKey(attempt.id), '1', 'PX', 60_000)
            .publish(CANCEL_CHANNEL, attempt.id)
            .exec()
            .catch(() => undefined);
          attempt.timers.push(setTimeout(() => this.#settle(attempt, new CancelledError()), CANCEL_GRACE_MS));
        },
        { once: true },
      );
      const data: RemoteJobData = { payload: encodeValue({ request, watchdogMs: options.watchdogMs }) };
      this.#queue
        .add('generate', data, {
          jobId: attempt.id,
          attempts: 1,
          removeOnComplete: { age: 3600, count: 1000 },
          removeOnFail: { age: 3600, count: 1000 },
        })
        .catch((error: unknown) =>
          this.#settle(
            attempt,
            new WorkerCrashedError(`Could not hand job ${jobId} to remote worker ${this.id}: ${(error as Error).message}`, null, null, {
              cause: error,
            }),
          ),
        );
    });
  }

  /** A heartbeat listed this worker. */
  heard(state: RemoteWorkerState, hostname: string): void {
    this.#state = state;
    this.#hostname = hostname;
    this.#alive = true;
    this.#suspended = false;
    this.#releaseIfReady();
  }

  /** Redis is unreachable for now: no new job goes here; the running one, if any, is still waited for. */
  suspend(): void {
    this.#suspended = true;
  }

  /** Its host's heartbeat expired (host gone, frozen or cut off from Redis): whatever ran there is moved. */
  lost(reason: string): void {
    if (!this.#alive) return;
    this.#alive = false;
    this.#logger?.warn({ workerId: this.id, host: this.#hostname, reason }, 'remote worker went away');
    if (this.#current)
      this.#settle(
        this.#current,
        new WorkerCrashedError(`Remote worker ${this.id} went away (${reason}) during job ${this.#current.jobId}`, null, null),
      );
  }

  onProgress(attemptId: string, data: unknown): void {
    const attempt = this.#current;
    if (!attempt || attempt.id !== attemptId || attempt.settled || typeof data !== 'object' || data === null) return;
    attempt.onProgress(decodeProgress(data as RemoteProgress));
  }

  /** BullMQ says the attempt completed (event or poll); a late or duplicate one for an attempt we left is ignored. */
  onCompleted(attemptId: string, returnvalue: unknown): void {
    const attempt = this.#current;
    if (!attempt || attempt.id !== attemptId || attempt.settled || attempt.finishing) return;
    attempt.finishing = true;
    void this.#finish(attempt, returnvalue);
  }

  onFailed(attemptId: string, reason: string): void {
    const attempt = this.#current;
    if (!attempt || attempt.id !== attemptId || attempt.settled) return;
    this.#settle(attempt, new WorkerCrashedError(`Remote worker ${this.id} lost job ${attempt.jobId}: ${reason}`, null, null));
  }

  /**
   * Checks the running attempt against Redis: events can be missed across a reconnect, and a Redis that restarted
   * without persistence has lost the job altogether.
   */
  async check(): Promise<void> {
    const attempt = this.#current;
    if (!attempt || attempt.settled) return;
    const job = await this.#queue.getJob(attempt.id);
    if (attempt.settled) return;
    if (!job) return this.#settle(attempt, new WorkerCrashedError(`Job ${attempt.jobId} is no longer in Redis (restarted?)`, null, null));
    const state = await job.getState();
    if (state === 'completed') this.onCompleted(attempt.id, job.returnvalue);
    else if (state === 'failed') this.onFailed(attempt.id, job.failedReason);
  }

  async close(): Promise<void> {
    await this.#queue.close();
  }

  async #finish(attempt: Attempt, returnvalue: unknown): Promise<void> {
    const parsed = RemoteReturnSchema.safeParse(typeof returnvalue === 'string' ? safeParse(returnvalue) : returnvalue);
    if (!parsed.success)
      return this.#settle(
        attempt,
        new WorkerCrashedError(`Remote worker ${this.id} returned an unreadable result for job ${attempt.jobId}`, null, null),
      );
    const value = parsed.data;
    if (!value.ok) {
      const error =
        value.kind === 'crashed'
          ? new WorkerCrashedError(`Remote worker ${this.id}: ${value.error.message}`, null, null)
          : value.kind === 'watchdog'
            ? new WatchdogTimeoutError(value.error.message, 0)
            : reviveError(value.error);
      return this.#settle(attempt, error);
    }
    try {
      const stored = await this.#redis.getdelBuffer(value.resultKey);
      if (stored === null) throw new Error('the images expired before the bot read them');
      const result = decodeResult(stored);
      this.#settle(attempt, undefined, result);
    } catch (error) {
      this.#settle(
        attempt,
        new WorkerCrashedError(`Could not read job ${attempt.jobId}'s images from Redis: ${(error as Error).message}`, null, null),
      );
    }
  }

  #settle(attempt: Attempt, error: Error | undefined, result?: GenerateResult): void {
    if (attempt.settled) return;
    attempt.settled = true;
    for (const timer of attempt.timers) clearTimeout(timer);
    if (this.#current === attempt) this.#current = undefined;
    this.#lastAttempt = attempt.id;
    if (result && this.#state) {
      // Until the next heartbeat: the model is now loaded there.
      this.#state = { ...this.#state, models: [attempt.model, ...this.#state.models.filter((model) => model !== attempt.model)] };
    }
    // An attempt given up on (host lost, cancel unanswered) may still be waiting in the worker's queue: removed,
    // so a host that comes back does not spend its time on it. An active one is locked and stays; its result is ignored.
    if (error) void this.#queue.remove(attempt.id).catch(() => undefined);
    if (error) attempt.reject(error);
    else attempt.resolve(result!);
    this.#releaseIfReady();
  }

  #releaseIfReady(): void {
    if (!this.ready) return;
    const waiters = this.#waiters;
    this.#waiters = [];
    for (const waiter of waiters) waiter();
  }
}

export interface RemoteWorkersOptions {
  redisUrl: string;
  /** How often heartbeats are read and running attempts checked. @default 1_000 */
  pollMs?: number;
  /** Redis unreachable this long: every remote worker counts as gone and its job moves (as a heartbeat expiring). @default 10_000 */
  lostAfterMs?: number;
  logger?: Logger;
}

export interface RemoteWorkersEvents {
  /** A worker announced itself for the first time: hand it to the JobService. */
  worker: [worker: RemoteWorker];
}

/**
 * The bot's view of the remote workers: reads the hosts' heartbeats, creates a RemoteWorker per announced worker,
 * marks one lost when its heartbeat expires, and relays each queue's progress and completion events.
 */
export class RemoteWorkers extends EventEmitter<RemoteWorkersEvents> {
  readonly #options: Required<Omit<RemoteWorkersOptions, 'logger'>> & Pick<RemoteWorkersOptions, 'logger'>;
  readonly #redis: Redis;
  readonly #subscriber: Redis;
  readonly #workers = new Map<string, RemoteWorker>();
  readonly #events = new Map<string, QueueEvents>();
  #timer: NodeJS.Timeout | undefined;
  #polling: Promise<void> | undefined;
  #stopped = false;
  /** When the polls started failing (Redis unreachable); undefined while they succeed. */
  #unreachableSince: number | undefined;

  constructor(options: RemoteWorkersOptions) {
    super();
    this.#options = { pollMs: 1_000, lostAfterMs: 10_000, ...options };
    // Commands fail (rather than wait forever) while Redis is down, so a poll can tell and the bot never hangs on it.
    this.#redis = new Redis(options.redisUrl, { maxRetriesPerRequest: 1 });
    this.#subscriber = new Redis(options.redisUrl, { maxRetriesPerRequest: null });
    for (const connection of [this.#redis, this.#subscriber]) {
      connection.on('error', (error) => this.#options.logger?.warn({ err: error }, 'Redis connection error; reconnecting'));
    }
  }

  get workers(): RemoteWorker[] {
    return [...this.#workers.values()];
  }

  status(): WorkerStatus[] {
    return this.workers.map((worker) => worker.status());
  }

  /** The provider of the first remote worker that reports one. */
  get executionProvider(): string | undefined {
    for (const worker of this.#workers.values()) if (worker.executionProvider) return worker.executionProvider;
    return undefined;
  }

  /** Reads the heartbeats once (so workers already up are known), then keeps polling. */
  async start(): Promise<void> {
    // Not awaited: with Redis down the bot still starts (local workers serve); ioredis subscribes once connected.
    this.#subscriber.subscribe(DONE_CHANNEL).catch(() => undefined);
    this.#subscriber.on('message', (_channel, text: string) => {
      const message = safeParse(text) as { attempt?: unknown; value?: unknown } | undefined;
      if (typeof message?.attempt !== 'string') return;
      // Each worker ignores attempts that are not its current one.
      for (const worker of this.#workers.values()) worker.onCompleted(message.attempt, message.value);
    });
    await this.poll();
    const tick = () => {
      if (this.#stopped) return;
      this.#polling = this.poll().finally(() => {
        this.#timer = setTimeout(tick, this.#options.pollMs);
      });
    };
    this.#timer = setTimeout(tick, this.#options.pollMs);
  }

  /** One round: heartbeats in, new workers announced, lost ones marked, running attempts checked. */
  async poll(): Promise<void> {
    let beats: unknown[];
    try {
      const keys: string[] = [];
      let cursor = '0';
      do {
        const [next, batch] = await this.#redis.scan(cursor, 'MATCH', HEARTBEAT_PATTERN, 'COUNT', 1000);
        cursor = next;
        keys.push(...batch);
      } while (cursor !== '0');
      beats = keys.length === 0 ? [] : (await this.#redis.mget(keys)).map((text) => (text === null ? undefined : safeParse(text)));
    } catch (error) {
      // Redis is down: no new job goes to a remote worker meanwhile, but one that runs may finish once Redis is
      // back. Past lostAfterMs the hosts count as gone, as when their heartbeats expire.
      const now = Date.now();
      this.#unreachableSince ??= now;
      const lost = now - this.#unreachableSince >= this.#options.lostAfterMs;
      this.#options.logger?.warn({ err: error }, 'Redis unreachable: remote workers take no new jobs until it is back');
      for (const worker of this.#workers.values()) {
        if (lost) worker.lost('Redis unreachable');
        else worker.suspend();
      }
      return;
    }
    this.#unreachableSince = undefined;
    const heard = new Set<string>();
    for (const raw of beats) {
      const parsed = HeartbeatSchema.safeParse(raw);
      if (!parsed.success) continue;
      const beat = parsed.data;
      if (beat.version !== REMOTE_PROTOCOL_VERSION) {
        this.#options.logger?.warn(
          { hostId: beat.hostId, version: beat.version, expected: REMOTE_PROTOCOL_VERSION },
          'a worker host speaks another remote protocol version; update it to the bot’s version',
        );
        continue;
      }
      for (const state of beat.workers) {
        heard.add(state.id);
        let worker = this.#workers.get(state.id);
        if (!worker) {
          worker = this.#add(state.id);
          worker.heard(state, beat.hostname);
          this.#options.logger?.info({ workerId: state.id, host: beat.hostname }, 'remote worker joined');
          this.emit('worker', worker);
        } else worker.heard(state, beat.hostname);
      }
    }
    for (const worker of this.#workers.values()) {
      if (!heard.has(worker.id)) worker.lost('heartbeat expired');
    }
    await Promise.all(this.workers.map((worker) => worker.check().catch(() => undefined)));
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    clearTimeout(this.#timer);
    await this.#polling;
    await Promise.allSettled([...this.#events.values()].map((events) => events.close()));
    await Promise.allSettled(this.workers.map((worker) => worker.close()));
    this.#subscriber.disconnect();
    this.#redis.disconnect();
  }

  #add(id: string): RemoteWorker {
    const worker = new RemoteWorker(id, this.#redis, this.#options.logger?.child({ workerId: id }));
    this.#workers.set(id, worker);
    const events = new QueueEvents(queueName(id), {
      connection: { ...connectionOf(this.#options.redisUrl), maxRetriesPerRequest: null },
      prefix: QUEUE_PREFIX,
    });
    events.on('error', (error) => this.#options.logger?.debug({ err: error, workerId: id }, 'queue events error'));
    events.on('progress', ({ jobId, data }) => worker.onProgress(jobId, data));
    events.on('completed', ({ jobId, returnvalue }) => worker.onCompleted(jobId, returnvalue));
    events.on('failed', ({ jobId, failedReason }) => worker.onFailed(jobId, failedReason));
    this.#events.set(id, events);
    return worker;
  }
}

/** ioredis connection options from a redis:// URL (QueueEvents opens its own blocking connection from them). */
function connectionOf(url: string): { host: string; port: number; username?: string; password?: string; db?: number; tls?: object } {
  const parsed = new URL(url);
  const db = parsed.pathname.length > 1 ? Number(parsed.pathname.slice(1)) : undefined;
  return {
    host: parsed.hostname,
    port: parsed.port ? Number(parsed.port) : 6379,
    ...(parsed.username ? { username: decodeURIComponent(parsed.username) } : {}),
    ...(parsed.password ? { password: decodeURIComponent(parsed.password) } : {}),
    ...(db === undefined || Number.isNaN(db) ? {} : { db }),
    ...(parsed.protocol === 'rediss:' ? { tls: {} } : {}),
  };
}

function safeParse(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}
