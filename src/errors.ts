import { randomBytes } from 'node:crypto';

/**
 * Stable identifiers for errors a user can fix. They travel across IPC and into logs, so they are strings,
 * never numbers (readable in logs), and they never change meaning once shipped.
 */
export const Identifiers = {
  InvalidArgument: 'invalidArgument',
  InvalidSize: 'invalidSize',
  StepsOutOfRange: 'stepsOutOfRange',
  UnknownSampler: 'unknownSampler',
  UnknownModel: 'unknownModel',
  InvalidModel: 'invalidModel',
  UnreadableImage: 'unreadableImage',
  PromptTooLong: 'promptTooLong',
  Cancelled: 'cancelled',
  QueueFull: 'queueFull',
  UserQueueFull: 'userQueueFull',
  Cooldown: 'cooldown',
  NotAllowed: 'notAllowed',
  NotFound: 'notFound',
  ProviderUnavailable: 'providerUnavailable',
} as const;
export type Identifier = (typeof Identifiers)[keyof typeof Identifiers];

/**
 * An error the user can fix: a bad option, a prompt that is too long, a full queue. Its message says what to
 * change. Shown to the user as is, logged at debug level.
 */
export class UserError extends Error {
  override readonly name = 'UserError';
  constructor(
    readonly identifier: Identifier,
    message: string,
    readonly context: Record<string, unknown> = {},
    /**
     * The message as a catalogue key and its parameters (src/i18n), so the Discord layer can say it in the member's
     * language; `message` is its English text (logs, the CLI). Errors made below the Discord layer without one are
     * shown in English inside a localised frame.
     */
    readonly text?: { key: string; params?: unknown },
  ) {
    super(message);
  }
}

/** A model folder that cannot be used: the message names the file and what is wrong with it. */
export class ModelLoadError extends Error {
  override readonly name = 'ModelLoadError';
  constructor(
    message: string,
    readonly path: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** Something went wrong inside inference that the user cannot fix (a failed session.run, a shape mismatch). */
export class InferenceError extends Error {
  override readonly name = 'InferenceError';
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
  }
}

/** Thrown when a job's AbortSignal fires; the pipeline checks it between steps. */
export class CancelledError extends Error {
  override readonly name = 'CancelledError';
  readonly identifier = Identifiers.Cancelled;
  constructor(message = 'The job was cancelled.') {
    super(message);
  }
}

/** A short id that ties a user-visible "something went wrong" message to a log line. */
export function newReferenceId(): string {
  return randomBytes(4).toString('hex');
}
