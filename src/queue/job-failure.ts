/**
 * What users read when the queue refuses or fails their job. Kept apart from the queue's mechanics so the words
 * can change (and be translated) without touching dispatching.
 */
import { Identifiers, UserError, newReferenceId, type Identifier } from '../errors.js';
import { say, text, type LocalizedText } from '../i18n/translate.js';
import { userError } from '../i18n/user-error.js';
import type { JobFailure } from '../store/job-record.js';
import { RemoteError, WatchdogTimeoutError, WorkerCrashedError } from '../worker/worker-errors.js';
import type { LimitExceeded } from './fair-queue.js';

const LIMIT_MESSAGES: Record<LimitExceeded['limit'], (max: number) => [Identifier, LocalizedText]> = {
  maxQueuedPerUser: (max) => [Identifiers.UserQueueFull, text('error.userQueueFull', { max })],
  maxQueuedPerGuild: (max) => [Identifiers.QueueFull, text('error.guildQueueFull', { max })],
  maxQueuedTotal: (max) => [Identifiers.QueueFull, text('error.totalQueueFull', { max })],
};

/** The refusal for a cap that a new job would exceed, naming the cap and its number. */
export function limitReached(exceeded: LimitExceeded): UserError {
  const [identifier, message] = LIMIT_MESSAGES[exceeded.limit](exceeded.max);
  return userError(identifier, message, { limit: exceeded.limit, max: exceeded.max });
}

/** The refusal when the store cannot write a new job (full disk, I/O error): nothing was queued. */
export function jobNotStored(ref: string, code: string | undefined): UserError {
  return userError(Identifiers.QueueFull, text('error.jobNotStored'), { ref, code });
}

/** A failure whose message is a catalogue entry. */
function failure(name: string, message: LocalizedText, ref: string): JobFailure {
  return { name, message: say('en', message), userFacing: true, ref, text: message };
}

/** The failure of a job whose images were made but whose done state could not be committed. */
export function resultNotStored(): JobFailure {
  return failure('StoreWriteError', text('job.fail.resultNotStored'), newReferenceId());
}

/** The worker could not load the job's model (a missing, truncated or corrupt file): an operator problem. */
export function isModelLoadFailure(error: unknown): boolean {
  return error instanceof RemoteError ? error.remote.name === 'ModelLoadError' : error instanceof Error && error.name === 'ModelLoadError';
}

/**
 * Why a job failed, in the form the store keeps: user-facing text when the user can act on it, else a reference.
 * `model` is the job's model, named when it is the model's fault.
 */
export function toJobFailure(error: unknown, model?: string): JobFailure {
  const ref = newReferenceId();
  if (isModelLoadFailure(error)) {
    // The file and the reason go to the log with `ref`; users learn which model is broken, never a server path.
    const name = (error as Error).name === 'RemoteError' ? 'ModelLoadError' : (error as Error).name;
    return failure(name, text('job.fail.modelLoad', { model: model ?? '?', ref }), ref);
  }
  if (error instanceof UserError) {
    return {
      name: error.name,
      message: error.message,
      identifier: error.identifier,
      userFacing: true,
      ref,
      ...(error.text ? { text: error.text } : {}),
    };
  }
  if (error instanceof WorkerCrashedError) {
    return failure(error.name, text('job.fail.workerCrashed'), ref);
  }
  if (error instanceof WatchdogTimeoutError) {
    return failure(error.name, text('job.fail.watchdog', { seconds: Math.round(error.watchdogMs / 1000) }), ref);
  }
  const err = error instanceof Error ? error : new Error(String(error));
  return { name: err.name, message: err.message, userFacing: false, ref };
}
