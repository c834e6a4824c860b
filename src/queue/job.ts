import type { GeneratedImage, JobRequest, StepProgress } from '../protocol/generate-request.js';
import type { Job, JobKind } from '../store/job-record.js';

export { FINAL_STATES, JOB_KINDS, JOB_STATES, type Job, type JobFailure, type JobKind, type JobOutput, type JobState } from '../store/job-record.js';

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
  /** A job made from a message: its first message is posted as a reply to this one (see Job.replyToMessageId). @default null */
  replyToMessageId?: string | null;
  /** The language of the job's public message (Job.locale). @default null (English) */
  locale?: string | null;
  request: JobRequest;
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
  /** ms until start (queued) or until done (running); null when no rate has been measured yet or no worker runs. */
  etaMs: number | null;
  /** The worker a running job is on (undefined while queued, or while a crashed job waits for its retry). */
  workerId?: string;
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
