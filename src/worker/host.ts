import { fork, type ChildProcess } from 'node:child_process';
import { EventEmitter } from 'node:events';
import { fileURLToPath } from 'node:url';
import { CancelledError } from '../errors.js';
import type { EngineOptions } from '../protocol/engine-options.js';
import {
  checkGenerateRequest,
  type GenerateRequest,
  type GenerateResult,
  type ModelSummary,
  type StepProgress,
} from '../protocol/generate-request.js';
import type { Logger } from '../logger.js';
import { BotMessageSchema, PROTOCOL_VERSION, WorkerMessageSchema, type BotMessage, type WorkerMessage } from '../protocol/messages.js';
import type { JobRunner, RunOptions } from './job-runner.js';
import { reviveError } from './revive-error.js';
import { ProtocolError, WatchdogTimeoutError, WorkerCrashedError, WorkerStartError } from './worker-errors.js';

/** What the worker reported in its `ready` message. */
export interface WorkerInfo {
  pid: number;
  models: ModelSummary[];
  samplers: string[];
  executionProvider: string;
}

export interface WorkerHostOptions {
  /** Passed to the worker's engine in `init` (models folder, provider, memory budget…). */
  engine: EngineOptions;
  /** The worker entry file. @default src/worker/main.ts */
  entry?: string | URL;
  /** Node flags for the child; the project runs from TypeScript source, hence tsx. @default ['--import', 'tsx'] */
  execArgv?: string[];
  /**
   * The worker's whole environment, used as given (tests pass fixture settings this way).
   * @default workerEnv(process.env): the allowlisted variables only, never DISCORD_TOKEN or HF_TOKEN
   */
  env?: NodeJS.ProcessEnv;
  /** How long a worker may take from fork to `ready` (loading, listing models). @default 120_000 */
  startTimeoutMs?: number;
  /** After a cancel, how long the job may take to stop before the worker is killed. @default 10_000 */
  cancelGraceMs?: number;
  /** After `shutdown`, how long the worker may take to exit before it is killed. @default 5_000 */
  shutdownGraceMs?: number;
  /** Respawn delay: `initialMs`, doubling per consecutive failure up to `maxMs`. @default { initialMs: 500, maxMs: 30_000 } */
  backoff?: { initialMs: number; maxMs: number };
  /** A worker that stayed up this long resets the backoff. @default 60_000 */
  stableMs?: number;
  logger?: Logger;
}

export interface WorkerHostEvents {
  ready: [info: WorkerInfo];
  exit: [code: number | null, signal: NodeJS.Signals | null];
  'start-failed': [error: Error];
}

interface CurrentJob {
  jobId: string;
  resolve: (result: GenerateResult) => void;
  reject: (error: Error) => void;
  onProgress: (progress: StepProgress) => void;
  timers: NodeJS.Timeout[];
  /** Why the host is killing the worker; the job rejects with it once the process is gone. */
  killReason?: Error;
}

type State = 'idle' | 'starting' | 'ready' | 'busy' | 'backoff' | 'stopping' | 'stopped';

const DEFAULT_ENTRY = new URL('./main.js', import.meta.url);

/**
 * What the worker may inherit: what Node, onnxruntime and the GPU libraries read. The bot's environment holds
 * DISCORD_TOKEN (and often HF_TOKEN); the engine gets its settings in the init message, so the process that
 * parses untrusted prompts and images and runs native code never sees a secret. NODE_OPTIONS stays out too:
 * the worker's Node flags are `execArgv`.
 */
const WORKER_ENV_NAMES = new Set([
  'PATH',
  'HOME',
  'TMPDIR',
  'TMP',
  'TEMP',
  'LANG',
  'TZ',
  'NODE_ENV',
  'LD_LIBRARY_PATH',
  'DYLD_LIBRARY_PATH',
  // Windows: Node and DirectML need the system folders.
  'SYSTEMROOT',
  'WINDIR',
  'PATHEXT',
  'USERPROFILE',
]);
const WORKER_ENV_PREFIXES = ['LC_', 'CUDA_', 'CUDNN_', 'ORT_', 'OMP_', 'ONNX', 'VK_'];

/** The allowlisted part of `env` (see WORKER_ENV_NAMES), the default environment of the worker. */
export function workerEnv(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  const kept: NodeJS.ProcessEnv = {};
  for (const [name, value] of Object.entries(env)) {
    if (value === undefined) continue;
    // Windows names ignore case and are spelled Path, SystemRoot…
    const key = process.platform === 'win32' ? name.toUpperCase() : name;
    if (WORKER_ENV_NAMES.has(key) || WORKER_ENV_PREFIXES.some((prefix) => key.startsWith(prefix))) kept[name] = value;
  }
  return kept;
}

/**
 * The bot side of one worker process: fork, handshake, one job at a time, watchdog, cancel, and respawn with
 * backoff when the worker dies. Implements `JobRunner`, so the dispatcher never sees a process. A pool runs one
 * host per worker (worker-pool.ts); each supervises its own process and nothing else.
 *
 * A job's promise settles only once the worker has answered or its process is gone, so two processes of one host
 * never run at the same time and a retried job never overlaps its first attempt.
 */
export class WorkerHost extends EventEmitter<WorkerHostEvents> implements JobRunner {
  readonly #options: Required<Omit<WorkerHostOptions, 'logger' | 'env'>> & Pick<WorkerHostOptions, 'logger' | 'env'>;
  #state: State = 'idle';
  #child: ChildProcess | undefined;
  #info: WorkerInfo | undefined;
  #current: CurrentJob | undefined;
  #startTimer: NodeJS.Timeout | undefined;
  #startKillReason: Error | undefined;
  #backoffTimer: NodeJS.Timeout | undefined;
  #failures = 0;
  #readyAt = 0;
  #readyWaiters: Array<() => void> = [];
  #firstStart: { resolve: (info: WorkerInfo) => void; reject: (error: Error) => void } | undefined;
  #stopped: { promise: Promise<void>; resolve: () => void } | undefined;

  constructor(options: WorkerHostOptions) {
    super();
    this.#options = {
      entry: DEFAULT_ENTRY,
      execArgv: ['--import', 'tsx'],
      startTimeoutMs: 120_000,
      cancelGraceMs: 10_000,
      shutdownGraceMs: 5_000,
      backoff: { initialMs: 500, maxMs: 30_000 },
      stableMs: 60_000,
      ...options,
    };
    for (const key of ['startTimeoutMs', 'cancelGraceMs', 'shutdownGraceMs', 'stableMs'] as const) {
      const value = this.#options[key];
      if (!(Number.isFinite(value) && value > 0)) {
        throw new TypeError(`Expected \`${key}\` to be a positive number, got \`${value}\` (${typeof value})`);
      }
    }
  }

  get ready(): boolean {
    return this.#state === 'ready';
  }

  /** The current worker's handshake data; undefined while none is ready. */
  get info(): WorkerInfo | undefined {
    return this.#info;
  }

  /** The worker's process id, while one is running. */
  get pid(): number | undefined {
    return this.#child?.pid;
  }

  /**
   * Forks the first worker. Resolves with its handshake, or rejects with `WorkerStartError` when it fails
   * (init-failed, exit, start timeout); the host then keeps respawning it with backoff until `stop`.
   */
  start(): Promise<WorkerInfo> {
    if (this.#state !== 'idle') throw new TypeError('Expected `start` to be called once');
    return new Promise<WorkerInfo>((resolve, reject) => {
      this.#firstStart = { resolve, reject };
      this.#spawn();
    });
  }

  whenReady(): Promise<void> {
    if (this.ready) return Promise.resolve();
    return new Promise((resolve) => this.#readyWaiters.push(resolve));
  }

  run(jobId: string, request: GenerateRequest, options: RunOptions): Promise<GenerateResult> {
    if (this.#state !== 'ready' || !this.#child) {
      return Promise.reject(new WorkerCrashedError(`No worker is ready for job ${jobId}`, null, null));
    }
    // Out-of-bounds values are the request's fault (a job stored by an older version, say): a UserError, and the
    // worker is never bothered with them.
    try {
      checkGenerateRequest(request);
    } catch (error) {
      return Promise.reject(error);
    }
    const message: BotMessage = { type: 'generate', jobId, request };
    // Check our own side too: a request that can't cross must fail here, not restart the worker.
    const checked = BotMessageSchema.safeParse(message);
    if (!checked.success) {
      return Promise.reject(new ProtocolError(`Job ${jobId} has a request the worker cannot accept: ${checked.error.message}`, request));
    }
    if (options.signal.aborted) return Promise.reject(new CancelledError());
    const child = this.#child;
    return new Promise<GenerateResult>((resolve, reject) => {
      const current: CurrentJob = { jobId, resolve, reject, onProgress: options.onProgress, timers: [] };
      this.#current = current;
      this.#state = 'busy';
      current.timers.push(
        setTimeout(() => {
          this.#kill(current, new WatchdogTimeoutError(`Job ${jobId} ran past its watchdog time of ${options.watchdogMs} ms`, options.watchdogMs));
        }, options.watchdogMs),
      );
      options.signal.addEventListener(
        'abort',
        () => {
          if (this.#current !== current) return;
          this.#send(child, { type: 'cancel', jobId });
          // A worker stuck inside one step can't see the signal; past the grace period it is killed.
          current.timers.push(setTimeout(() => this.#kill(current, new CancelledError()), this.#options.cancelGraceMs));
        },
        { once: true },
      );
      this.#send(child, message);
    });
  }

  /** Asks the worker to shut down, kills it after the grace period, and stops respawning. */
  stop(): Promise<void> {
    if (this.#stopped) return this.#stopped.promise;
    let resolve!: () => void;
    const promise = new Promise<void>((r) => (resolve = r));
    this.#stopped = { promise, resolve };
    clearTimeout(this.#backoffTimer);
    clearTimeout(this.#startTimer);
    const child = this.#child;
    this.#state = 'stopping';
    if (!child) {
      this.#state = 'stopped';
      resolve();
      return promise;
    }
    this.#send(child, { type: 'shutdown' });
    const killTimer = setTimeout(() => child.kill('SIGKILL'), this.#options.shutdownGraceMs);
    child.once('exit', () => clearTimeout(killTimer));
    return promise;
  }

  #spawn(): void {
    this.#state = 'starting';
    this.#info = undefined;
    this.#startKillReason = undefined;
    const entry = this.#options.entry;
    const child = fork(entry instanceof URL ? fileURLToPath(entry) : entry, [], {
      serialization: 'advanced',
      execArgv: this.#options.execArgv,
      env: this.#options.env ?? workerEnv(process.env),
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    this.#child = child;
    child.on('message', (raw: unknown) => this.#onMessage(child, raw));
    child.on('exit', (code, signal) => this.#onExit(child, code, signal));
    child.on('error', (error) => {
      // A failed fork emits 'error' and may never emit 'exit'.
      this.#options.logger?.error({ err: error }, 'worker process error');
      if (child.pid === undefined) this.#onExit(child, null, null);
    });
    this.#startTimer = setTimeout(() => {
      this.#startKillReason = new WorkerStartError(`The worker did not become ready within ${this.#options.startTimeoutMs} ms`);
      child.kill('SIGKILL');
    }, this.#options.startTimeoutMs);
    this.#send(child, { type: 'init', protocolVersion: PROTOCOL_VERSION, options: this.#options.engine });
  }

  #onMessage(child: ChildProcess, raw: unknown): void {
    if (child !== this.#child) return;
    const parsed = WorkerMessageSchema.safeParse(raw);
    if (!parsed.success) {
      this.#protocolError(child, raw, `invalid worker message: ${parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`);
      return;
    }
    const message = parsed.data;
    switch (message.type) {
      case 'ready':
        return this.#onReady(child, message);
      case 'init-failed': {
        if (this.#state !== 'starting') return this.#protocolError(child, raw, 'init-failed outside the handshake');
        const cause = reviveError(message.error);
        this.#startKillReason = new WorkerStartError(`The worker failed to start: ${message.error.message}`, { cause });
        // The worker exits by itself after init-failed; the exit handler reports and schedules the respawn.
        return;
      }
      case 'progress':
      case 'result':
      case 'failed': {
        const current = this.#current;
        if (!current || current.jobId !== message.jobId || current.killReason) {
          // A late message for a job we already gave up on (cancel grace, watchdog) is expected; anything else is not.
          if (current?.killReason) return;
          return this.#protocolError(child, raw, `${message.type} for job ${message.jobId}, which is not running`);
        }
        if (message.type === 'progress') {
          const { type: _type, jobId: _jobId, ...progress } = message;
          current.onProgress(progress);
          return;
        }
        this.#finishJob(current);
        if (message.type === 'result') {
          const { type: _type, jobId: _jobId, ...result } = message;
          current.resolve(result);
        } else {
          current.reject(reviveError(message.error));
        }
        return;
      }
    }
  }

  #onReady(child: ChildProcess, message: Extract<WorkerMessage, { type: 'ready' }>): void {
    if (this.#state !== 'starting') return this.#protocolError(child, message, 'ready outside the handshake');
    if (message.protocolVersion !== PROTOCOL_VERSION) {
      return this.#protocolError(child, message, `protocol version ${message.protocolVersion}, expected ${PROTOCOL_VERSION}`);
    }
    clearTimeout(this.#startTimer);
    this.#info = {
      pid: child.pid!,
      models: message.models,
      samplers: message.samplers,
      executionProvider: message.executionProvider,
    };
    this.#state = 'ready';
    this.#readyAt = Date.now();
    this.#options.logger?.info({ pid: child.pid, models: message.models.length, executionProvider: message.executionProvider }, 'worker ready');
    this.#firstStart?.resolve(this.#info);
    this.#firstStart = undefined;
    this.emit('ready', this.#info);
    this.#releaseWaiters();
  }

  #onExit(child: ChildProcess, code: number | null, signal: NodeJS.Signals | null): void {
    if (child !== this.#child) return;
    this.#child = undefined;
    this.#info = undefined;
    clearTimeout(this.#startTimer);
    const wasStarting = this.#state === 'starting';
    const current = this.#current;
    if (current) {
      this.#finishJob(current);
      current.reject(
        current.killReason ??
          new WorkerCrashedError(`The worker exited with code ${code} and signal ${signal} during job ${current.jobId}`, code, signal),
      );
    }
    this.emit('exit', code, signal);
    if (this.#stopped) {
      this.#state = 'stopped';
      this.#stopped.resolve();
      return;
    }
    if (wasStarting) {
      const error = this.#startKillReason ?? new WorkerStartError(`The worker exited with code ${code} and signal ${signal} before it was ready`);
      this.#options.logger?.error({ err: error, code, signal }, 'worker failed to start');
      this.#firstStart?.reject(error);
      this.#firstStart = undefined;
      this.emit('start-failed', error);
    } else {
      this.#options.logger?.warn({ code, signal, jobId: current?.jobId }, 'worker exited; respawning');
    }
    if (!wasStarting && Date.now() - this.#readyAt >= this.#options.stableMs) this.#failures = 0;
    const { initialMs, maxMs } = this.#options.backoff;
    const delay = Math.min(maxMs, initialMs * 2 ** this.#failures);
    this.#failures += 1;
    this.#state = 'backoff';
    this.#backoffTimer = setTimeout(() => this.#spawn(), delay);
  }

  #protocolError(child: ChildProcess, raw: unknown, reason: string): void {
    const error = new ProtocolError(`Protocol error from the worker: ${reason}`, raw);
    this.#options.logger?.error({ err: error, raw: describe(raw) }, 'protocol error; restarting the worker');
    if (this.#current) this.#kill(this.#current, error);
    else {
      if (this.#state === 'starting') this.#startKillReason = new WorkerStartError(error.message, { cause: error });
      child.kill('SIGKILL');
    }
  }

  /** Kills the worker under `current`; the job rejects with `reason` when the process is gone. */
  #kill(current: CurrentJob, reason: Error): void {
    if (this.#current !== current || current.killReason) return;
    current.killReason = reason;
    this.#options.logger?.warn({ jobId: current.jobId, reason: reason.message }, 'killing the worker');
    this.#child?.kill('SIGKILL');
  }

  #finishJob(current: CurrentJob): void {
    for (const timer of current.timers) clearTimeout(timer);
    if (this.#current === current) {
      this.#current = undefined;
      if (this.#state === 'busy') this.#state = 'ready';
    }
  }

  #send(child: ChildProcess, message: BotMessage): void {
    if (!child.connected) return;
    // A send to a worker that just died fails asynchronously; its exit handler deals with the job.
    child.send(message, (error) => {
      if (error) this.#options.logger?.debug({ err: error, type: message.type }, 'send to worker failed');
    });
  }

  #releaseWaiters(): void {
    const waiters = this.#readyWaiters;
    this.#readyWaiters = [];
    for (const waiter of waiters) waiter();
  }
}

function describe(raw: unknown): unknown {
  try {
    return JSON.parse(JSON.stringify(raw, (_key, value: unknown) => (value instanceof Uint8Array ? `<${value.byteLength} bytes>` : value)));
  } catch {
    return String(raw);
  }
}
