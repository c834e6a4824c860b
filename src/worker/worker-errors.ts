import type { SerializedError } from '../protocol/serialized-error.js';

/** A message that does not match the protocol, in either direction. The worker is restarted. */
export class ProtocolError extends Error {
  override readonly name = 'ProtocolError';
  constructor(
    message: string,
    /** The offending message, for the logs. */
    readonly raw: unknown,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** The worker process died (exit, signal, out of memory) while a job was on it. */
export class WorkerCrashedError extends Error {
  override readonly name = 'WorkerCrashedError';
  constructor(
    message: string,
    readonly exitCode: number | null,
    readonly signal: NodeJS.Signals | null,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** The worker did not become ready: it answered init-failed, exited, or did not answer within the start timeout. */
export class WorkerStartError extends Error {
  override readonly name = 'WorkerStartError';
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
  }
}

/** A job ran past its watchdog time; the worker was killed. */
export class WatchdogTimeoutError extends Error {
  override readonly name = 'WatchdogTimeoutError';
  constructor(
    message: string,
    readonly watchdogMs: number,
  ) {
    super(message);
  }
}

/** An internal error thrown inside the worker, revived on the bot side with its original name and stack. */
export class RemoteError extends Error {
  override readonly name = 'RemoteError';
  constructor(readonly remote: SerializedError) {
    super(`${remote.name}: ${remote.message}`);
    if (remote.stack) this.stack = `${this.name}: ${this.message}\n--- in the worker ---\n${remote.stack}`;
  }
}
