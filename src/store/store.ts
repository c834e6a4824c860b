import { accessSync, constants, mkdirSync } from 'node:fs';
import path from 'node:path';
import BetterSqlite3, { type Database } from 'better-sqlite3';
import type { Logger } from '../logger.js';
import { GuildSettingsRepository, type SettingsSchema } from './guild-settings-repository.js';
import { ImageFiles } from './image-files.js';
import { JobRepository } from './job-repository.js';
import { LATEST_VERSION, currentVersion, migrate } from './migrations.js';
import { StoreError } from './store-error.js';

export const DATABASE_FILE = 'imagine-bot.sqlite';

export interface StoreOpenOptions {
  logger?: Logger;
  /**
   * Caps the database file at this many pages (SQLite's max_page_count, raised to the current size if lower), so
   * writes that need more space fail with SQLITE_FULL. For tests of a full disk; leave unset in the bot.
   */
  maxPageCount?: number;
}

/**
 * The bot's durable state in DATA_DIR: imagine-bot.sqlite (WAL) and outputs/. One Store per process; it is
 * synchronous (better-sqlite3), and every write is a short statement, so it does not stall the event loop.
 */
export class Store {
  readonly jobs: JobRepository;
  readonly images: ImageFiles;
  readonly databasePath: string;
  readonly #db: Database;
  readonly #logger: Logger | undefined;

  private constructor(db: Database, readonly dataDir: string, logger: Logger | undefined) {
    this.#db = db;
    this.#logger = logger;
    this.databasePath = db.name;
    this.jobs = new JobRepository(db, dataDir);
    this.images = new ImageFiles(path.join(dataDir, 'outputs'));
  }

  /**
   * Opens (or creates) the store in `dataDir` and brings the schema up to date.
   * @throws StoreError when the folder is not writable, the file is not a SQLite database (corrupt, or some
   * other file), or the database comes from a newer version of the bot.
   */
  static open(dataDir: string, options: StoreOpenOptions = {}): Store {
    const dir = path.resolve(dataDir);
    try {
      mkdirSync(dir, { recursive: true });
      accessSync(dir, constants.W_OK);
    } catch (error) {
      throw new StoreError(
        `DATA_DIR ${dir} cannot be created or written to. Point DATA_DIR at a writable folder.`,
        dir,
        { cause: error },
      );
    }
    const file = path.join(dir, DATABASE_FILE);
    let db: Database | undefined;
    try {
      db = new BetterSqlite3(file);
      // The first statement reads the header, which is where a corrupt or foreign file shows.
      db.pragma('journal_mode = WAL');
      // NORMAL is durable in WAL mode against process crashes (kill -9); only an OS crash can lose the last commit.
      db.pragma('synchronous = NORMAL');
      db.pragma('foreign_keys = ON');
      db.pragma('busy_timeout = 5000');
      const integrity = db.pragma('quick_check', { simple: true });
      if (integrity !== 'ok') throw new Error(`quick_check: ${String(integrity)}`);
    } catch (error) {
      db?.close();
      throw new StoreError(
        `${file} is not a usable SQLite database (${(error as Error).message}). It may be corrupt or not a ` +
          `database at all. Stop the bot, move the file aside (keep it for recovery) and start again to create a ` +
          `fresh one.`,
        file,
        { cause: error },
      );
    }
    const version = currentVersionOrZero(db);
    if (version > LATEST_VERSION) {
      db.close();
      throw new StoreError(
        `${file} has schema version ${version}, but this bot knows versions up to ${LATEST_VERSION}. ` +
          `It was written by a newer imagine-bot; update the bot or use another DATA_DIR.`,
        file,
      );
    }
    const applied = migrate(db);
    if (applied.length > 0) {
      options.logger?.info({ file, applied, created: version === 0 }, version === 0 ? 'created database' : 'migrated database');
    }
    if (options.maxPageCount !== undefined) {
      const pages = options.maxPageCount;
      if (!(Number.isInteger(pages) && pages > 0)) {
        db.close();
        throw new TypeError(`Expected \`maxPageCount\` to be a positive integer, got \`${pages}\` (${typeof pages})`);
      }
      db.pragma(`max_page_count = ${pages}`);
    }
    const store = new Store(db, dir, options.logger);
    const cleared = store.jobs.clearExpiredTokens(Date.now());
    if (cleared > 0) options.logger?.debug({ cleared }, 'cleared expired interaction tokens');
    return store;
  }

  /** A settings repository validated by `schema` (src/config/guild-settings.ts passes its zod schema). */
  guildSettings<T>(schema: SettingsSchema<T>): GuildSettingsRepository<T> {
    return new GuildSettingsRepository(this.#db, schema, this.#logger);
  }

  /** A small JSON value (such as the measured cost rate), or undefined. */
  getMeta<T>(key: string): T | undefined {
    const row = this.#db.prepare('SELECT value FROM meta WHERE key = ?').get(key) as { value: string } | undefined;
    return row === undefined ? undefined : (JSON.parse(row.value) as T);
  }

  setMeta(key: string, value: unknown): void {
    this.#db
      .prepare('INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value')
      .run(key, JSON.stringify(value));
  }

  /** Schema version the database is at. */
  get schemaVersion(): number {
    return currentVersion(this.#db);
  }

  close(): void {
    if (this.#db.open) this.#db.close();
  }
}

function currentVersionOrZero(db: Database): number {
  const table = db
    .prepare(`SELECT name FROM sqlite_master WHERE type = 'table' AND name = 'schema_migrations'`)
    .get();
  return table ? currentVersion(db) : 0;
}
