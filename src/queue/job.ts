import type { GeneratedImage, GenerateRequest, GenerateTimings, StepProgress } from '../inference/types.js';

/** What made a job: the slash command or one of the buttons under a finished image. */
export const JOB_KINDS = ['imagine', 'reroll', 'variation', 'upscale'] as const;
export type JobKind = (typeof JOB_KINDS)[number];

/**
 * queued → running → done | failed | cancelled. A running job goes back to queued only when the bot restarts
 * (it was interrupted, not finished). done/failed/cancelled are final.
 */
export const JOB_STATES = ['queued', 'running', 'done', 'failed', 'cancelled'] as const;
export type JobState = (typeof JOB_STATES)[number];
export const FINAL_STATES: ReadonlySet<JobState> = new Set(['done', 'failed', 'cancelled']);

/** What the Discord layer hands to `JobService.submit`. */
export interface NewJob {
  kind: JobKind;
  /** The job whose button made this one (reroll, variation, upscale). @default null */
  parentJobId?: string | null;
  guildId: string;
  channelId: string;
  userId: string;
  /** @default null */
  interactionId?: string | null;
  /**
   * The interaction's webhook token, so the reply can be edited after a restart. Valid 15 minutes after
   * `interactionCreatedAt`. Stored, never logged (pino redacts `interactionToken`).
   * @default null
   */
  interactionToken?: string | null;
  /** Epoch ms when Discord created the interaction (snowflake time). @default null */
  interactionCreatedAt?: number | null;
  /** The reply or channel message that shows this job, once known (see `JobService.setMessageId`). @default null */
  messageId?: string | null;
  request: GenerateRequest;
}

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
  request: GenerateRequest;
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

/** Where a queued job stands. */
export interface QueuePosition {
  /** 1 = starts next. */
  position: number;
  /** Estimated ms until it starts; null until a job has been measured. */
  etaMs: number | null;
}

/** A row of `JobService.list`. */
export interface JobListing {
  job: Job;
  /** null for the running job. */
  position: number | null;
  /** ms until start (queued) or until done (running); null when no rate has been measured yet. */
  etaMs: number | null;
}

/** Queue caps, from the guild settings. Counted over queued and running jobs. */
export interface QueueLimits {
  maxQueuedPerUser: number;
  maxQueuedPerGuild: number;
  maxQueuedTotal: number;
}

/** Who asks to cancel. Owners may always cancel; others need Manage Server in that guild. */
export interface CancelRequest {
  userId: string;
  /** The member has Manage Server in `guildId`. */
  canManageGuild: boolean;
  /**
   * The guild the request comes from; Manage Server only counts there. Leave out when unknown (then
   * `canManageGuild` is trusted for the job's guild).
   */
  guildId?: string;
}

/**
 * Events the Discord layer listens to. Every listener gets a snapshot of the job after the change.
 * `failed` gets the revived error: a `UserError` (show its message) or an internal error (show `job.error.ref`).
 */
export interface JobEvents {
  queued: [job: Job, position: QueuePosition];
  position: [job: Job, position: QueuePosition];
  started: [job: Job];
  progress: [job: Job, progress: StepProgress];
  done: [job: Job, images: GeneratedImage[]];
  failed: [job: Job, error: Error];
  cancelled: [job: Job];
}
export type JobEventName = keyof JobEvents;
