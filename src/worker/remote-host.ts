import os from 'node:os';
import { Worker as QueueWorker, type Job as QueueJob } from 'bullmq';
import { Redis } from 'ioredis';
import type { GenerateRequest, GenerateResult } from '../protocol/generate-request.js';
import { serializeError } from '../protocol/serialized-error.js';
import type { Logger } from '../logger.js';
import type { PoolWorker } from './worker-pool.js';
import { WatchdogTimeoutError, WorkerCrashedError } from './worker-errors.js';
import {
  CANCEL_CHANNEL,
  DONE_CHANNEL,
  QUEUE_PREFIX,
  REMOTE_PROTOCOL_VERSION,
  cancelKey,
  decodeValue,
  encodeProgress,
  encodeResult,
  heartbeatKey,
  queueName,
  resultKey,
  type Heartbeat,
  type RemoteJobData,
  type RemoteReturn,
} from './remote-protocol.js';

export interface RemoteHostOptions {
  redisUrl: string;
  /** WORKER_ID: names this host's heartbeat key. */
  hostId: string;
  /** The local workers this host serves, each through its own queue (`imagine:gpu:<id>`). Their ids must be unique across hosts. */
  workers: readonly PoolWorker[];
  /** How often the heartbeat is written. @default 2_000 */
  heartbeatMs?: number;
  /** How long a heartbeat lives: the bot moves this host's jobs elsewhere once it is gone. @default 10_000 */
  heartbeatTtlMs?: number;
  /** How long finished images wait in Redis for the bot. @default 600_000 */
  resultTtlMs?: number;
  /** BullMQ's job lock; a host that stops renewing it (frozen, cut off) has its job marked stalled. @default 30_000 */
  lockDurationMs?: number;
  hostname?: string;
  logger?: Logger;
}

/**
 * The worker-host side of remote workers (`npm run worker`): serves one BullMQ queue per local worker with
 * concurrency 1, runs each job on that worker's engine process (WorkerHost, as the bot does locally) and writes a
 * heartbeat listing its workers, their state and loaded models. It never retries a job itself: the bot keeps the
 * order and the record, and decides where a job whose attempt failed runs next.
 */
export class RemoteWorkerHost {
  readonly #options: Required<Omit<RemoteHostOptions, 'logger'>> & Pick<RemoteHostOptions, 'logger'>;
  readonly #redis: Redis;
  readonly #subscriber: Redis;
  readonly #consumers: QueueWorker[] = [];
  /** Running attempts by BullMQ job id, so a cancel can reach them. */
  readonly #running = new Map<string, AbortController>();
  #beating: NodeJS.Timeout | undefined;
  #stopped = false;

  constructor(options: RemoteHostOptions) {
    this.#options = {
      heartbeatMs: 2_000,
      heartbeatTtlMs: 10_000,
      resultTtlMs: 600_000,
      lockDurationMs: 30_000,
      hostname: os.hostname(),
      ...options,
    };
    // BullMQ needs maxRetriesPerRequest: null on the connections it blocks on; ioredis reconnects after a Redis restart.
    this.#redis = new Redis(options.redisUrl, { maxRetriesPerRequest: null });
    this.#subscriber = this.#redis.duplicate();
    for (const connection of [this.#redis, this.#subscriber]) {
      connection.on('error', (error) => this.#options.logger?.warn({ err: error }, 'Redis connection error; reconnecting'));
    }
  }

  get workers(): readonly PoolWorker[] {
    return this.#options.workers;
  }

  /** Starts serving the queues and heartbeating. The engine processes are started by the caller (WorkerPool.start). */
  async start(): Promise<void> {
    await this.#subscriber.subscribe(CANCEL_CHANNEL);
    this.#subscriber.on('message', (_channel, attempt: string) => this.#running.get(attempt)?.abort());
    for (const worker of this.#options.workers) {
      const consumer = new QueueWorker<RemoteJobData, RemoteReturn>(queueName(worker.id), (job) => this.#process(worker, job), {
        connection: this.#redis,
        prefix: QUEUE_PREFIX,
        concurrency: 1,
        lockDuration: this.#options.lockDurationMs,
        // A stalled job (this host froze or lost Redis) is failed, never rerun here: the bot has already moved it.
        maxStalledCount: 0,
      });
      consumer.on('error', (error) => this.#options.logger?.warn({ err: error, workerId: worker.id }, 'queue consumer error'));
      this.#consumers.push(consumer);
    }
    await this.beat();
    this.#beating = setInterval(() => void this.beat().catch(() => undefined), this.#options.heartbeatMs);
  }

  /** Writes the heartbeat now (the timer's beat; after a job it goes out with the done message). */
  async beat(): Promise<void> {
    if (this.#stopped) return;
    await this.#redis.set(heartbeatKey(this.#options.hostId), this.#heartbeat(), 'PX', this.#options.heartbeatTtlMs);
  }

  /** The heartbeat as written: this host's workers, their state and loaded models. */
  #heartbeat(): string {
    const heartbeat: Heartbeat = {
      version: REMOTE_PROTOCOL_VERSION,
      hostId: this.#options.hostId,
      hostname: this.#options.hostname,
      workers: this.#options.workers.map((worker) => {
        const status = worker.status();
        return {
          id: worker.id,
          state: status.state,
          ...(status.jobId === undefined ? {} : { jobId: status.jobId }),
          models: [...status.models],
          ...(worker.executionProvider === undefined ? {} : { executionProvider: worker.executionProvider }),
          ...(status.deviceId === undefined ? {} : { deviceId: status.deviceId }),
        };
      }),
    };
    return JSON.stringify(heartbeat);
  }

  /** Stops taking jobs (a running one is cancelled; the bot moves it), removes the heartbeat, closes Redis. */
  async stop(): Promise<void> {
    if (this.#stopped) return;
    this.#stopped = true;
    clearInterval(this.#beating);
    for (const controller of this.#running.values()) controller.abort();
    await Promise.allSettled(this.#consumers.map((consumer) => consumer.close()));
    await this.#redis.del(heartbeatKey(this.#options.hostId)).catch(() => undefined);
    this.#subscriber.disconnect();
    this.#redis.disconnect();
  }

  async #process(worker: PoolWorker, job: QueueJob<RemoteJobData, RemoteReturn>): Promise<RemoteReturn> {
    const attempt = job.id!;
    let value: RemoteReturn;
    let images: Buffer | undefined;
    try {
      const result = await this.#attempt(worker, job);
      value = { ok: true, resultKey: resultKey(attempt) };
      images = encodeResult(result);
    } catch (error) {
      const kind = error instanceof WorkerCrashedError ? 'crashed' : error instanceof WatchdogTimeoutError ? 'watchdog' : 'error';
      if (kind !== 'error')
        this.#options.logger?.warn({ err: error, workerId: worker.id, attempt }, 'engine process lost a job; the bot runs it elsewhere');
      value = { ok: false, kind, error: serializeError(error) };
    }
    try {
      await this.#deliver(attempt, value, images);
    } catch (error) {
      // Redis went away: the bot finds the job lost (or reads this return value) and runs it again elsewhere.
      value = {
        ok: false,
        kind: 'crashed',
        error: serializeError(new Error(`Could not deliver the result through Redis: ${(error as Error).message}`)),
      };
    }
    // Also BullMQ's return value: a bot that missed the done message reads it from the job (event or poll).
    return value;
  }

  /**
   * Ends an attempt in one round trip, as one transaction: the images stored under their key (with their TTL),
   * the heartbeat showing the worker free again, and the done message the bot waits on, so the bot never hears of
   * images that were not stored. The bot reads the images (and deletes them) when the message arrives.
   */
  async #deliver(attempt: string, value: RemoteReturn, images: Buffer | undefined): Promise<void> {
    const transaction = this.#redis.multi();
    if (images) transaction.set(resultKey(attempt), images, 'PX', this.#options.resultTtlMs);
    if (!this.#stopped) transaction.set(heartbeatKey(this.#options.hostId), this.#heartbeat(), 'PX', this.#options.heartbeatTtlMs);
    transaction.publish(DONE_CHANNEL, JSON.stringify({ attempt, value }));
    const replies = await transaction.exec();
    const failed = replies?.find(([error]) => error)?.[0];
    if (!replies || failed) throw failed ?? new Error('the transaction was discarded');
  }

  async #attempt(worker: PoolWorker, job: QueueJob<RemoteJobData, RemoteReturn>): Promise<GenerateResult> {
    const attempt = job.id!;
    const controller = new AbortController();
    this.#running.set(attempt, controller);
    try {
      // Between the bot's look at our heartbeat and now the engine may have crashed: wait for its respawn.
      await worker.whenReady();
      const { request, watchdogMs } = decodeValue<{ request: GenerateRequest; watchdogMs: number }>(job.data.payload);
      // Sent to the engine first: the check below is off the job's path.
      const running = worker.run(attempt, request, {
        signal: controller.signal,
        watchdogMs,
        onProgress: (progress) => void job.updateProgress(encodeProgress(progress) as unknown as object).catch(() => undefined),
      });
      // A cancel published before this attempt was in `#running` left its key (the engine stops at its next step).
      void this.#redis.exists(cancelKey(attempt)).then(
        (found) => found === 1 && controller.abort(),
        () => undefined,
      );
      return await running;
    } finally {
      this.#running.delete(attempt);
    }
  }
}
