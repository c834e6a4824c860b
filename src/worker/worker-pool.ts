import { EventEmitter } from 'node:events';
import type { EngineOptions } from '../protocol/engine-options.js';
import type { GenerateRequest, GenerateResult } from '../protocol/generate-request.js';
import type { Logger } from '../logger.js';
import { WorkerHost, type WorkerHostOptions, type WorkerInfo } from './host.js';
import type { RunOptions, WorkerRunner, WorkerStatus } from './job-runner.js';

/** Models remembered per worker; past this the oldest is dropped (the engine's memory budget has unloaded it long ago). */
const REMEMBERED_MODELS = 8;

/**
 * A member of the pool: a worker the dispatcher can run jobs on and the pool can start, stop and describe.
 * LocalWorker (a child process on this host) is the only kind today; a remote worker (Redis) would be another.
 */
export interface PoolWorker extends WorkerRunner {
  /** The provider it runs on ('cuda', 'cpu' after a fallback…), once it has been ready. */
  readonly executionProvider: string | undefined;
  status(): WorkerStatus;
  /** Resolves with its handshake, or rejects when its first start fails (it keeps retrying in the background). */
  start(): Promise<WorkerInfo>;
  stop(): Promise<void>;
}

/**
 * One worker process on this host: a WorkerHost (fork, handshake, watchdog, cancel, respawn with backoff, all per
 * process, so a crash restarts this worker only) plus what the dispatcher wants to know: which job it runs and
 * which models it has warm.
 */
export class LocalWorker implements PoolWorker {
  readonly id: string;
  readonly host: WorkerHost;
  readonly deviceId: number | undefined;
  #models: string[] = [];
  #jobId: string | undefined;
  #provider: string | undefined;

  constructor(id: string, host: WorkerHost, deviceId?: number) {
    this.id = id;
    this.host = host;
    this.deviceId = deviceId;
    host.on('ready', (info) => (this.#provider = info.executionProvider));
    // A new process starts with nothing loaded.
    host.on('exit', () => (this.#models = []));
  }

  get ready(): boolean {
    return this.host.ready;
  }

  get loadedModels(): readonly string[] {
    return this.#models;
  }

  get executionProvider(): string | undefined {
    return this.host.info?.executionProvider ?? this.#provider;
  }

  get pid(): number | undefined {
    return this.host.pid;
  }

  whenReady(): Promise<void> {
    return this.host.whenReady();
  }

  start(): Promise<WorkerInfo> {
    return this.host.start();
  }

  stop(): Promise<void> {
    return this.host.stop();
  }

  async run(jobId: string, request: GenerateRequest, options: RunOptions): Promise<GenerateResult> {
    this.#jobId = jobId;
    try {
      const result = await this.host.run(jobId, request, options);
      // Only a finished job proves the model is loaded (a failed one may have failed loading it).
      this.#models = [request.model, ...this.#models.filter((model) => model !== request.model)].slice(0, REMEMBERED_MODELS);
      return result;
    } finally {
      if (this.#jobId === jobId) this.#jobId = undefined;
    }
  }

  status(): WorkerStatus {
    const state = this.#jobId !== undefined ? 'busy' : this.host.ready ? 'idle' : 'starting';
    return { id: this.id, state, jobId: this.#jobId, models: [...this.#models], ...(this.deviceId === undefined ? {} : { deviceId: this.deviceId }) };
  }
}

export interface WorkerPoolOptions {
  /** One entry per worker process: its id and, where it has one, the GPU its engine uses. */
  workers: ReadonlyArray<{ id: string; deviceId?: number }>;
  /** Engine settings shared by every worker; each gets its own `deviceId` on top. */
  engine: EngineOptions;
  /** WorkerHost settings shared by every worker (entry, env, timeouts, backoff). */
  host?: Omit<WorkerHostOptions, 'engine' | 'logger'>;
  /** Each worker logs through a child with `{ workerId }`. */
  logger?: Logger;
}

export interface WorkerPoolEvents {
  /** A worker became ready (first start or after a respawn). */
  ready: [worker: LocalWorker, info: WorkerInfo];
}

/**
 * The local workers: N WorkerHosts, each supervised on its own as before. Hands its `workers` to the JobService's
 * dispatcher, and tells /queue and /help what each is doing. With no workers (WORKERS=0) jobs only queue up.
 */
export class WorkerPool extends EventEmitter<WorkerPoolEvents> {
  readonly workers: readonly LocalWorker[];

  constructor(options: WorkerPoolOptions) {
    super();
    const ids = new Set(options.workers.map((worker) => worker.id));
    if (ids.size !== options.workers.length) {
      throw new TypeError(`Expected distinct worker ids, got ${options.workers.map((worker) => worker.id).join(', ')}`);
    }
    this.workers = options.workers.map(({ id, deviceId }) => {
      const host = new WorkerHost({
        ...options.host,
        engine: deviceId === undefined ? options.engine : { ...options.engine, deviceId },
        logger: options.logger?.child({ workerId: id }),
      });
      const worker = new LocalWorker(id, host, deviceId);
      host.on('ready', (info) => this.emit('ready', worker, info));
      return worker;
    });
  }

  get size(): number {
    return this.workers.length;
  }

  /** The provider of the first worker that has been ready; undefined until one has. */
  get executionProvider(): string | undefined {
    for (const worker of this.workers) if (worker.executionProvider) return worker.executionProvider;
    return undefined;
  }

  /**
   * Starts every worker at once (each loads its engine in its own process). Resolves once each has become ready or
   * failed its first start; a failed one keeps respawning with backoff, so the result is for the log.
   */
  start(): Promise<PromiseSettledResult<WorkerInfo>[]> {
    return Promise.allSettled(this.workers.map((worker) => worker.start()));
  }

  /** Resolves once every worker is ready (tests, benchmarks); never for a pool with a worker that cannot start. */
  async whenReady(): Promise<void> {
    // A busy host is not `ready` (it takes no second job) but is up: only starting ones are waited for.
    await Promise.all(this.workers.map((worker) => (worker.status().state === 'starting' ? worker.whenReady() : undefined)));
  }

  status(): WorkerStatus[] {
    return this.workers.map((worker) => worker.status());
  }

  /** Stops every worker (shutdown message, then SIGKILL after the grace period). */
  async stop(): Promise<void> {
    await Promise.all(this.workers.map((worker) => worker.stop()));
  }
}
