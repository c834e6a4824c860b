import path from 'node:path';
import type { Database, Statement } from 'better-sqlite3';
import type { GenerateTimings, JobRequest } from '../protocol/generate-request.js';
import type { Job, JobFailure, JobKind, JobOutput, JobState } from './job-record.js';

/** A job as first written: everything but what the store assigns (seq) and what happens later. */
export type JobInsert = Omit<Job, 'seq'>;

/** What a finished generation commits, in one transaction with state = done. */
export interface JobCompletion {
  outputs: JobOutput[];
  seeds: number[];
  warnings: string[];
  timings: GenerateTimings;
  finishedAt: number;
}

interface JobRow {
  id: string;
  seq: number;
  kind: string;
  parent_job_id: string | null;
  guild_id: string;
  channel_id: string;
  user_id: string;
  interaction_id: string | null;
  interaction_token: string | null;
  interaction_created_at: number | null;
  message_id: string | null;
  reply_to_message_id: string | null;
  locale: string | null;
  request: string;
  cost: number;
  state: string;
  attempts: number;
  created_at: number;
  started_at: number | null;
  finished_at: number | null;
  seeds: string;
  outputs: string;
  warnings: string;
  timings: string | null;
  error: string | null;
  cancelled_by: string | null;
  delivered_at: number | null;
}

const UNFINISHED = `state IN ('queued', 'running')`;

/**
 * How long a stored interaction token is worth keeping: Discord interaction tokens work for 15 minutes (the
 * Discord layer's INTERACTION_TOKEN_TTL_MS in src/discord/job-message-target.ts; the store does not import it).
 * After that the token is useless to the bot but still a secret at rest, so the store clears it.
 */
export const INTERACTION_TOKEN_LIFETIME_MS = 15 * 60_000;

/**
 * Jobs table. Every state change is guarded by the state it expects, so a late or duplicate write (a result
 * arriving after a cancel, a restored job committed twice) changes nothing and reports `false`.
 */
export class JobRepository {
  readonly #db: Database;
  readonly #dataDir: string;
  readonly #statements: Record<string, Statement>;

  constructor(db: Database, dataDir: string) {
    this.#db = db;
    this.#dataDir = dataDir;
    this.#statements = {
      insert: db.prepare(`INSERT INTO jobs (id, seq, kind, parent_job_id, guild_id, channel_id, user_id,
        interaction_id, interaction_token, interaction_created_at, message_id, request, cost, state, attempts,
        created_at, started_at, finished_at, seeds, outputs, warnings, timings, error, cancelled_by, delivered_at,
        reply_to_message_id, locale)
        VALUES (@id, (SELECT COALESCE(MAX(seq), 0) + 1 FROM jobs), @kind, @parent_job_id, @guild_id, @channel_id,
        @user_id, @interaction_id, @interaction_token, @interaction_created_at, @message_id, @request, @cost, @state,
        @attempts, @created_at, @started_at, @finished_at, @seeds, @outputs, @warnings, @timings, @error,
        @cancelled_by, @delivered_at, @reply_to_message_id, @locale)`),
      seq: db.prepare('SELECT seq FROM jobs WHERE id = ?'),
      get: db.prepare('SELECT * FROM jobs WHERE id = ?'),
      byMessage: db.prepare('SELECT * FROM jobs WHERE message_id = ? ORDER BY seq DESC LIMIT 1'),
      unfinished: db.prepare(`SELECT * FROM jobs WHERE ${UNFINISHED} ORDER BY seq`),
      undelivered: db.prepare('SELECT * FROM jobs WHERE delivered_at IS NULL AND finished_at IS NOT NULL ORDER BY finished_at'),
      byGuild: db.prepare('SELECT * FROM jobs WHERE guild_id = ? ORDER BY seq DESC LIMIT ?'),
      start: db.prepare(`UPDATE jobs SET state = 'running', started_at = ?, attempts = attempts + 1 WHERE id = ? AND ${UNFINISHED}`),
      requeue: db.prepare(`UPDATE jobs SET state = 'queued', started_at = NULL WHERE id = ? AND state = 'running'`),
      complete: db.prepare(`UPDATE jobs SET state = 'done', outputs = ?, seeds = ?, warnings = ?, timings = ?,
        finished_at = ? WHERE id = ? AND ${UNFINISHED}`),
      fail: db.prepare(`UPDATE jobs SET state = 'failed', error = ?, finished_at = ? WHERE id = ? AND ${UNFINISHED}`),
      cancel: db.prepare(`UPDATE jobs SET state = 'cancelled', cancelled_by = ?, finished_at = ? WHERE id = ? AND ${UNFINISHED}`),
      setMessageId: db.prepare('UPDATE jobs SET message_id = ? WHERE id = ?'),
      // Once the final message is posted the token has no further use; keep no secret that is not needed.
      markDelivered: db.prepare('UPDATE jobs SET delivered_at = ?, interaction_token = NULL WHERE id = ? AND delivered_at IS NULL'),
      // Without a creation time the Discord layer never uses a token, so those go too.
      clearExpiredTokens: db.prepare(`UPDATE jobs SET interaction_token = NULL
        WHERE interaction_token IS NOT NULL AND (interaction_created_at IS NULL OR interaction_created_at <= ?)`),
    };
  }

  /**
   * Writes a new job; returns it with its seq.
   * @throws SqliteError when the job was not stored (SQLITE_FULL on a full disk, SQLITE_IOERR, SQLITE_BUSY).
   */
  insert(job: JobInsert): Job {
    // Not `INSERT … RETURNING` read with `.get()`: `.get()` stops at the returned row and ignores the outcome of
    // the autocommit that follows, so an insert whose COMMIT failed (full disk, I/O error) looked stored. `.run()`
    // and the explicit transaction's COMMIT both throw.
    return this.#db.transaction(() => {
      const { changes } = this.#statements.insert.run(this.#toRow(job));
      if (changes !== 1) throw new Error(`Expected the insert of job ${job.id} to change 1 row, changed ${changes}`);
      const row = this.#statements.seq.get(job.id) as { seq: number };
      return { ...job, locale: job.locale ?? null, seq: row.seq };
    })();
  }

  get(id: string): Job | undefined {
    const row = this.#statements.get.get(id) as JobRow | undefined;
    return row && this.#fromRow(row);
  }

  /** The job whose message is `messageId` (its result, once done), if any. */
  getByMessageId(messageId: string): Job | undefined {
    const row = this.#statements.byMessage.get(messageId) as JobRow | undefined;
    return row && this.#fromRow(row);
  }

  /** Queued and running jobs in submission order: what a restart must resume. */
  listUnfinished(): Job[] {
    return (this.#statements.unfinished.all() as JobRow[]).map((row) => this.#fromRow(row));
  }

  /** Finished jobs whose final state the Discord layer has not confirmed posting, oldest first. */
  listUndelivered(): Job[] {
    return (this.#statements.undelivered.all() as JobRow[]).map((row) => this.#fromRow(row));
  }

  /** A guild's most recent jobs, newest first. */
  listByGuild(guildId: string, limit = 50): Job[] {
    return (this.#statements.byGuild.all(guildId, limit) as JobRow[]).map((row) => this.#fromRow(row));
  }

  /** queued → running, counting the attempt. */
  markRunning(id: string, startedAt: number): boolean {
    return this.#statements.start.run(startedAt, id).changes === 1;
  }

  /** running → queued, for jobs interrupted by a restart. */
  requeue(id: string): boolean {
    return this.#statements.requeue.run(id).changes === 1;
  }

  /**
   * Commits the result and the done state together. The image files must already be on disk: a crash before
   * this commit leaves the job unfinished (it reruns and rewrites them); after it, the job is never rerun.
   */
  complete(id: string, completion: JobCompletion): boolean {
    const outputs = completion.outputs.map((output) => ({
      ...output,
      path: path.relative(this.#dataDir, output.path),
    }));
    return (
      this.#statements.complete.run(
        JSON.stringify(outputs),
        JSON.stringify(completion.seeds),
        JSON.stringify(completion.warnings),
        JSON.stringify(completion.timings),
        completion.finishedAt,
        id,
      ).changes === 1
    );
  }

  fail(id: string, error: JobFailure, finishedAt: number): boolean {
    return this.#statements.fail.run(JSON.stringify(error), finishedAt, id).changes === 1;
  }

  cancel(id: string, cancelledBy: string, finishedAt: number): boolean {
    return this.#statements.cancel.run(cancelledBy, finishedAt, id).changes === 1;
  }

  setMessageId(id: string, messageId: string): boolean {
    return this.#statements.setMessageId.run(messageId, id).changes === 1;
  }

  markDelivered(id: string, deliveredAt: number): boolean {
    return this.#statements.markDelivered.run(deliveredAt, id).changes === 1;
  }

  /** Clears the interaction tokens that expired by `now` (see INTERACTION_TOKEN_LIFETIME_MS); returns how many. */
  clearExpiredTokens(now: number): number {
    return this.#statements.clearExpiredTokens.run(now - INTERACTION_TOKEN_LIFETIME_MS).changes;
  }

  /** Runs `fn` in one SQLite transaction. */
  transaction<T>(fn: () => T): T {
    return this.#db.transaction(fn)();
  }

  #toRow(job: JobInsert): Omit<JobRow, 'seq'> {
    return {
      id: job.id,
      kind: job.kind,
      parent_job_id: job.parentJobId,
      guild_id: job.guildId,
      channel_id: job.channelId,
      user_id: job.userId,
      interaction_id: job.interactionId,
      interaction_token: job.interactionToken,
      interaction_created_at: job.interactionCreatedAt,
      message_id: job.messageId,
      reply_to_message_id: job.replyToMessageId,
      locale: job.locale ?? null,
      request: encodeRequest(job.request),
      cost: job.cost,
      state: job.state,
      attempts: job.attempts,
      created_at: job.createdAt,
      started_at: job.startedAt,
      finished_at: job.finishedAt,
      seeds: JSON.stringify(job.seeds),
      outputs: JSON.stringify(job.outputs.map((o) => ({ ...o, path: path.relative(this.#dataDir, o.path) }))),
      warnings: JSON.stringify(job.warnings),
      timings: job.timings && JSON.stringify(job.timings),
      error: job.error && JSON.stringify(job.error),
      cancelled_by: job.cancelledBy,
      delivered_at: job.deliveredAt,
    };
  }

  #fromRow(row: JobRow): Job {
    const outputs = JSON.parse(row.outputs) as JobOutput[];
    return {
      id: row.id,
      seq: row.seq,
      kind: row.kind as JobKind,
      parentJobId: row.parent_job_id,
      guildId: row.guild_id,
      channelId: row.channel_id,
      userId: row.user_id,
      interactionId: row.interaction_id,
      interactionToken: row.interaction_token,
      interactionCreatedAt: row.interaction_created_at,
      messageId: row.message_id,
      replyToMessageId: row.reply_to_message_id,
      locale: row.locale,
      request: decodeRequest(row.request),
      cost: row.cost,
      state: row.state as JobState,
      attempts: row.attempts,
      createdAt: row.created_at,
      startedAt: row.started_at,
      finishedAt: row.finished_at,
      seeds: JSON.parse(row.seeds) as number[],
      outputs: outputs.map((o) => ({ ...o, path: path.resolve(this.#dataDir, o.path) })),
      warnings: JSON.parse(row.warnings) as string[],
      timings: row.timings === null ? null : (JSON.parse(row.timings) as GenerateTimings),
      error: row.error === null ? null : (JSON.parse(row.error) as JobFailure),
      cancelledBy: row.cancelled_by,
      deliveredAt: row.delivered_at,
    };
  }
}

// Requests refer to their input images (`{ ref }`), so a row is plain JSON. Rows written before image
// references existed hold the bytes as {"$bytes": base64}; they are revived so an upgrade loses no queued job.
export function encodeRequest(request: JobRequest): string {
  return JSON.stringify(request);
}

export function decodeRequest(text: string): JobRequest {
  return JSON.parse(text, (_key, value: unknown) => {
    if (typeof value === 'object' && value !== null && '$bytes' in value && Object.keys(value).length === 1) {
      return new Uint8Array(Buffer.from((value as { $bytes: string }).$bytes, 'base64'));
    }
    return value;
  }) as JobRequest;
}
