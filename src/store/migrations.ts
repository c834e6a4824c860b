import type { Database } from 'better-sqlite3';

export interface Migration {
  version: number;
  description: string;
  sql: string;
}

/**
 * Append-only: a shipped migration never changes, a new one gets the next version. Each runs in its own
 * transaction together with its row in schema_migrations, so a crash mid-migration leaves the old schema.
 */
export const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    description: 'jobs, guild settings, meta',
    sql: `
      CREATE TABLE jobs (
        id TEXT PRIMARY KEY,
        seq INTEGER NOT NULL UNIQUE,
        kind TEXT NOT NULL,
        parent_job_id TEXT,
        guild_id TEXT NOT NULL,
        channel_id TEXT NOT NULL,
        user_id TEXT NOT NULL,
        interaction_id TEXT,
        interaction_token TEXT,
        interaction_created_at INTEGER,
        message_id TEXT,
        request TEXT NOT NULL,
        cost REAL NOT NULL,
        state TEXT NOT NULL CHECK (state IN ('queued', 'running', 'done', 'failed', 'cancelled')),
        attempts INTEGER NOT NULL DEFAULT 0,
        created_at INTEGER NOT NULL,
        started_at INTEGER,
        finished_at INTEGER,
        seeds TEXT NOT NULL DEFAULT '[]',
        outputs TEXT NOT NULL DEFAULT '[]',
        warnings TEXT NOT NULL DEFAULT '[]',
        timings TEXT,
        error TEXT,
        cancelled_by TEXT,
        delivered_at INTEGER
      );
      CREATE INDEX jobs_unfinished ON jobs (state, seq) WHERE state IN ('queued', 'running');
      CREATE INDEX jobs_undelivered ON jobs (finished_at) WHERE delivered_at IS NULL AND finished_at IS NOT NULL;
      CREATE INDEX jobs_guild ON jobs (guild_id, seq);
      CREATE TABLE guild_settings (
        guild_id TEXT PRIMARY KEY,
        settings TEXT NOT NULL,
        updated_at INTEGER NOT NULL
      );
      CREATE TABLE meta (
        key TEXT PRIMARY KEY,
        value TEXT NOT NULL
      );
    `,
  },
  {
    version: 2,
    description: 'jobs made from a message: the message to reply to; lookup by message id',
    // A job made from a message (the "Imagine this" command, a reply to a result) has no interaction token: its first
    // message is posted as a reply to this message, also after a restart. Replies to a result find its job by the
    // result's message id.
    sql: `
      ALTER TABLE jobs ADD COLUMN reply_to_message_id TEXT;
      CREATE INDEX jobs_message ON jobs (message_id) WHERE message_id IS NOT NULL;
    `,
  },
  {
    version: 3,
    description: 'jobs: the language of their public message',
    // Kept per job rather than read from the guild at render time: a job queued in Chinese finishes in Chinese after
    // a restart or a /config language change, and every message of one job speaks one language.
    sql: `ALTER TABLE jobs ADD COLUMN locale TEXT;`,
  },
];

/** Applies every migration newer than the database. Returns the versions applied. */
export function migrate(db: Database, migrations: readonly Migration[] = MIGRATIONS): number[] {
  db.exec(`CREATE TABLE IF NOT EXISTS schema_migrations (
    version INTEGER PRIMARY KEY,
    description TEXT NOT NULL,
    applied_at INTEGER NOT NULL
  )`);
  const current = currentVersion(db);
  const applied: number[] = [];
  const record = db.prepare('INSERT INTO schema_migrations (version, description, applied_at) VALUES (?, ?, ?)');
  for (const migration of [...migrations].sort((a, b) => a.version - b.version)) {
    if (migration.version <= current) continue;
    db.transaction(() => {
      db.exec(migration.sql);
      record.run(migration.version, migration.description, Date.now());
    })();
    applied.push(migration.version);
  }
  return applied;
}

export function currentVersion(db: Database): number {
  const row = db.prepare('SELECT MAX(version) AS version FROM schema_migrations').get() as { version: number | null };
  return row.version ?? 0;
}

export const LATEST_VERSION = Math.max(...MIGRATIONS.map((m) => m.version));
