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
