import type { GenerateRequest, GenerateResult, StepProgress } from '../protocol/generate-request.js';

export interface RunOptions {
  /** Aborting it cancels the job on the worker. */
  signal: AbortSignal;
  onProgress: (progress: StepProgress) => void;
  /** Kill the worker when the job has not finished after this many ms. */
  watchdogMs: number;
}

/**
 * What the dispatcher runs jobs on: one worker process (src/worker/host.ts) today, something remote tomorrow.
 * `run` rejects with `WorkerCrashedError` when the worker died under the job (the dispatcher retries once),
 * `CancelledError` after an abort, `UserError` for bad requests, and other errors for everything else.
 */
export interface JobRunner {
  /** True when a job handed over now starts right away. */
  readonly ready: boolean;
  /** Resolves once the runner can take a job (after start or a respawn). */
  whenReady(): Promise<void>;
  run(jobId: string, request: GenerateRequest, options: RunOptions): Promise<GenerateResult>;
}

/**
 * One worker of a pool, as the dispatcher sees it: a runner with a name and the models it keeps warm. A local
 * process (LocalWorker in worker-pool.ts) is one kind; a worker on another host is meant to be another, behind
 * the same interface, so the dispatcher and the fair order do not change when it arrives.
 */
export interface WorkerRunner extends JobRunner {
  /** Stable name for logs and /queue: `w0`, `gpu1`, … */
  readonly id: string;
  /**
   * Models the worker holds loaded, most recently used first. Learnt from the jobs it completed (the engine keeps
   * models between jobs) and forgotten when its process exits; a hint for affinity, never a promise: the engine
   * may have unloaded one to stay within its memory budget.
   */
  readonly loadedModels: readonly string[];
}

/** What /queue and /help show about a worker. */
export interface WorkerStatus {
  id: string;
  /** starting: (re)starting or backing off after a crash; idle: ready for a job; busy: running one. */
  state: 'starting' | 'idle' | 'busy';
  /** The job it runs, while busy. */
  jobId: string | undefined;
  /** As `WorkerRunner.loadedModels`. */
  models: readonly string[];
  /** The GPU its engine uses, where that means something. */
  deviceId?: number;
  /** The machine a remote worker runs on (`npm run worker`); undefined for this bot's own workers. */
  host?: string;
}

/** A plain runner as the only worker of a pool (`w0`), for callers that have one runner and no pool. */
export function singleWorker(runner: JobRunner, id = 'w0'): WorkerRunner {
  return {
    id,
    loadedModels: [],
    get ready() {
      return runner.ready;
    },
    whenReady: () => runner.whenReady(),
    run: (jobId, request, options) => runner.run(jobId, request, options),
  };
}
