/**
 * What users read when the queue refuses or fails their job. Kept apart from the queue's mechanics so the words
 * can change (and be translated) without touching dispatching.
 */
import { Identifiers, UserError, newReferenceId, type Identifier } from '../errors.js';
import type { JobFailure } from '../store/job-record.js';
import { RemoteError, WatchdogTimeoutError, WorkerCrashedError } from '../worker/worker-errors.js';
import type { LimitExceeded } from './fair-queue.js';

const LIMIT_MESSAGES: Record<LimitExceeded['limit'], (max: number) => [Identifier, string]> = {
  maxQueuedPerUser: (max) => [
    Identifiers.UserQueueFull,
    `You already have ${max} ${max === 1 ? 'image' : 'images'} queued or running here, the most this server allows per member. Wait for one to finish or cancel one.`,
  ],
  maxQueuedPerGuild: (max) => [
    Identifiers.QueueFull,
    `This server already has ${max} ${max === 1 ? 'image' : 'images'} queued or running, the most it allows. Try again when some have finished.`,
  ],
  maxQueuedTotal: (max) => [Identifiers.QueueFull, `The bot's queue is full (${max} images across all servers). Try again in a few minutes.`],
};

/** The refusal for a cap that a new job would exceed, naming the cap and its number. */
export function limitReached(exceeded: LimitExceeded): UserError {
  const [identifier, message] = LIMIT_MESSAGES[exceeded.limit](exceeded.max);
  return new UserError(identifier, message, { limit: exceeded.limit, max: exceeded.max });
}

/** The refusal when the store cannot write a new job (full disk, I/O error): nothing was queued. */
export function jobNotStored(ref: string, code: string | undefined): UserError {
  return new UserError(
    Identifiers.QueueFull,
    'The bot could not save your job (its disk may be full); nothing was queued. Try again later; if it keeps happening tell the bot owner.',
    { ref, code },
  );
}

/** The failure of a job whose images were made but whose done state could not be committed. */
export function resultNotStored(): JobFailure {
  return {
    name: 'StoreWriteError',
    message: 'The image was made, but the bot could not save it (its disk may be full). Try again later; if it keeps happening tell the bot owner.',
    userFacing: true,
    ref: newReferenceId(),
  };
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
    return {
      name,
      message: `The model \`${model ?? '?'}\` could not be loaded (a file of it is missing or broken), so it is set aside until the bot owner fixes it (ref \`${ref}\`). Pick another model.`,
      userFacing: true,
      ref,
    };
  }
  if (error instanceof UserError) {
    return { name: error.name, message: error.message, identifier: error.identifier, userFacing: true, ref };
  }
  if (error instanceof WorkerCrashedError) {
    return {
      name: error.name,
      message:
        'The image worker crashed (or went away) on every try while making this image, so it was stopped. A smaller ' +
        'size, fewer images or fewer steps may fit in memory; if it keeps happening, ask the bot owner to check the workers.',
      userFacing: true,
      ref,
    };
  }
  if (error instanceof WatchdogTimeoutError) {
    return {
      name: error.name,
      message: `This image took far longer than expected (over ${Math.round(error.watchdogMs / 1000)} s), so it was stopped.`,
      userFacing: true,
      ref,
    };
  }
  const err = error instanceof Error ? error : new Error(String(error));
  return { name: err.name, message: err.message, userFacing: false, ref };
}
