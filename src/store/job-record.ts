/**
 * A job as the store keeps it: the durable record every other layer reads. The queue (src/queue) decides the order
 * and the state changes; the store only writes them, so these types live here and the store imports nothing above it.
 */
import type { GenerateTimings, JobRequest } from '../protocol/generate-request.js';

/** What made a job: the slash commands (or "Imagine this" on a message), one of the buttons under a finished image, or a reply to one (refine). */
export const JOB_KINDS = [
  'imagine',
  'reroll',
  'variation',
  'upscale',
  'refine',
  'edit',
  'zoom',
  'pan',
  'vary-subtle',
  'vary-strong',
  'vary-region',
  /** 🎛 Use as control: a finished image guides a new job through ControlNet (issue #15). */
  'control',
] as const;
export type JobKind = (typeof JOB_KINDS)[number];

/**
 * queued → running → done | failed | cancelled. A running job goes back to queued only when the bot restarts
 * (it was interrupted, not finished). done/failed/cancelled are final.
 */
export const JOB_STATES = ['queued', 'running', 'done', 'failed', 'cancelled'] as const;
export type JobState = (typeof JOB_STATES)[number];
export const FINAL_STATES: ReadonlySet<JobState> = new Set(['done', 'failed', 'cancelled']);

/** One image a finished job wrote under DATA_DIR/outputs/<jobId>/<n>.png. */
export interface JobOutput {
  /** Absolute path of the PNG. */
  path: string;
  seed: number;
  width: number;
  height: number;
  /** A1111 parameters text, as embedded in the PNG. */
  parameters: string;
}

/** Why a job failed, in a form that survives the store. */
export interface JobFailure {
  name: string;
  message: string;
  /** Set for user-fixable errors (`UserError.identifier`). */
  identifier?: string;
  /** True when `message` is written for the user (UserError); otherwise show a generic message and `ref`. */
  userFacing: boolean;
  /**
   * `message` as a catalogue key and parameters (src/i18n), when it has one: the Discord layer says it in the job's
   * language. Without one a user-facing message is shown in English inside a localised frame.
   */
  text?: { key: string; params?: unknown };
  /** Short id that ties the user's "something went wrong" to the log line. */
  ref: string;
}

export interface Job {
  /** Short url-safe id (11 chars), fits custom ids `<feature>:<action>:<jobId>`. */
  id: string;
  /** Submission order; restored jobs are re-queued by it. */
  seq: number;
  kind: JobKind;
  parentJobId: string | null;
  guildId: string;
  channelId: string;
  userId: string;
  interactionId: string | null;
  interactionToken: string | null;
  interactionCreatedAt: number | null;
  messageId: string | null;
  /**
   * For a job made from a message (no interaction token): the message its first message replies to, posted with the
   * bot token. null for jobs made by an interaction's own reply.
   */
  replyToMessageId: string | null;
  /**
   * The language of the job's public message (queue, progress, result, failure) as a catalogue code (`en`, `zh-CN`),
   * fixed when the job is made, so updates after a restart and the buttons' refusals speak as the job began. null
   * (or absent, for jobs stored before #16): English.
   */
  locale?: string | null;
  /** Input images by reference (DATA_DIR-relative); the bytes are read just before dispatch. */
  request: JobRequest;
  /** steps × width × height × count; the unit of fairness and of ETAs. */
  cost: number;
  state: JobState;
  /** Times the job was handed to a worker (a worker crash allows one retry). */
  attempts: number;
  createdAt: number;
  startedAt: number | null;
  finishedAt: number | null;
  /** One per image, filled when done. */
  seeds: number[];
  outputs: JobOutput[];
  warnings: string[];
  timings: GenerateTimings | null;
  error: JobFailure | null;
  /** Who cancelled it (the owner or a moderator). */
  cancelledBy: string | null;
  /** When the Discord layer confirmed it posted the final state (`JobService.markDelivered`). */
  deliveredAt: number | null;
}
