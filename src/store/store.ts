import { accessSync, chmodSync, closeSync, constants, existsSync, mkdirSync, openSync, statSync } from 'node:fs';
import path from 'node:path';
import BetterSqlite3, { type Database } from 'better-sqlite3';
import type { Logger } from '../logger.js';
import { GuildSettingsRepository, type SettingsSchema } from './guild-settings-repository.js';
import { ImageFiles } from './image-files.js';
import { JobRepository } from './job-repository.js';
import { LATEST_VERSION, currentVersion, migrate } from './migrations.js';
import { StoreError } from './store-error.js';

export const DATABASE_FILE = 'imagine-bot.sqlite';

/**
 * DATA_DIR holds prompts, images and (briefly) interaction tokens: only the bot's user may read it. The
 * database and its -wal and -shm files are 0600 (SQLite gives -wal and -shm the mode of the database file).
 */
const PRIVATE_DIR_MODE = 0o700;
const PRIVATE_FILE_MODE = 0o600;

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

  private constructor(
    db: Database,
    readonly dataDir: string,
    logger: Logger | undefined,
  ) {
    this.#db = db;
    this.#logger = logger;
    this.databasePath = db.name;
    this.jobs = new JobRepository(db, dataDir);
    this.images = new ImageFiles(dataDir);
  }

  /**
   * Opens (or creates) the store in `dataDir` and brings the schema up to date.
   * @throws StoreError when the folder is not writable, the file is not a SQLite database (corrupt, or some
   * other file), or the database comes from a newer version of the bot.
   */
  static open(dataDir: string, options: StoreOpenOptions = {}): Store {
    const dir = path.resolve(dataDir);
    let created: string | undefined;
    try {
      created = mkdirSync(dir, { recursive: true, mode: PRIVATE_DIR_MODE });
      accessSync(dir, constants.W_OK);
    } catch (error) {
      throw new StoreError(`DATA_DIR ${dir} cannot be created or written to. Point DATA_DIR at a writable folder.`, dir, { cause: error });
    }
    // A folder someone else set up (a mount, a shared path) is theirs to change: say what to do, don't chmod it.
    if (created === undefined) warnIfShared(dir, options.logger);
    const file = path.join(dir, DATABASE_FILE);
    let db: Database | undefined;
    try {
      // Created here, empty (SQLite takes an empty file as a new database), so it is never readable by others.
      if (!existsSync(file)) closeSync(openSync(file, 'a', PRIVATE_FILE_MODE));
      db = new BetterSqlite3(file);
      // The first statement reads the header, which is where a corrupt or foreign file shows.
      db.pragma('journal_mode = WAL');
      // Files an older version created with the default mode (0644) are tightened; -wal and -shm exist by now.
      for (const suffix of ['', '-wal', '-shm']) restrict(`${file}${suffix}`, options.logger);
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
    try {
      const cleared = store.jobs.clearExpiredTokens(Date.now());
      if (cleared > 0) options.logger?.debug({ cleared }, 'cleared expired interaction tokens');
    } catch (error) {
      // A full disk must not stop the bot from starting; the next start clears them.
      options.logger?.warn({ err: error }, 'could not clear expired interaction tokens');
    }
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

function warnIfShared(dir: string, logger: Logger | undefined): void {
  if (process.platform === 'win32') return;
  const mode = statSync(dir).mode & 0o777;
  if ((mode & 0o077) === 0) return;
  logger?.warn(
    { dir, mode: `0${mode.toString(8)}` },
    `DATA_DIR ${dir} can be read by other users (mode 0${mode.toString(8)}); it holds prompts and images. ` +
      `Run \`chmod 700 ${dir}\` so only the bot's user can.`,
  );
}

/** Makes the bot's own file private; a file it cannot chmod (owned by another user) is reported, not fatal. */
function restrict(file: string, logger: Logger | undefined): void {
  try {
    if (existsSync(file)) chmodSync(file, PRIVATE_FILE_MODE);
  } catch (error) {
    logger?.warn({ file, err: error }, `could not make ${file} private; run \`chmod 600 ${file}\` as its owner`);
  }
}

function currentVersionOrZero(db: Database): number {
  const table = db.prepare(`SELECT name FROM sqlite_master WHERE type = 'table' AND name = 'schema_migrations'`).get();
  return table ? currentVersion(db) : 0;
}
