import type { Database, Statement } from 'better-sqlite3';
import type { Logger } from '../logger.js';

/**
 * Anything that turns unknown input into settings or throws: a zod schema fits. The schema lives with the
 * Discord layer (src/config/guild-settings.ts); the store only needs `parse`, so it does not import it.
 */
export interface SettingsSchema<T> {
  parse(input: unknown): T;
}

/** Per-guild settings as JSON, validated on the way in and on the way out. */
export class GuildSettingsRepository<T> {
  readonly #schema: SettingsSchema<T>;
  readonly #logger: Logger | undefined;
  readonly #get: Statement;
  readonly #set: Statement;
  readonly #delete: Statement;

  constructor(db: Database, schema: SettingsSchema<T>, logger?: Logger) {
    this.#schema = schema;
    this.#logger = logger;
    this.#get = db.prepare('SELECT settings FROM guild_settings WHERE guild_id = ?');
    this.#set = db.prepare(`INSERT INTO guild_settings (guild_id, settings, updated_at) VALUES (?, ?, ?)
      ON CONFLICT (guild_id) DO UPDATE SET settings = excluded.settings, updated_at = excluded.updated_at`);
    this.#delete = db.prepare('DELETE FROM guild_settings WHERE guild_id = ?');
  }

  /**
   * The guild's settings; a guild never configured gets `schema.parse({})` (the schema's defaults). Stored
   * settings the schema no longer accepts (a bound tightened in an update) fall back to the defaults, logged.
   */
  get(guildId: string): T {
    const row = this.#get.get(guildId) as { settings: string } | undefined;
    if (!row) return this.#schema.parse({});
    try {
      return this.#schema.parse(JSON.parse(row.settings));
    } catch (error) {
      this.#logger?.warn({ guildId, err: error }, 'stored guild settings no longer valid; using defaults');
      return this.#schema.parse({});
    }
  }

  /** Validates, then stores. Throws whatever the schema throws for invalid settings. */
  set(guildId: string, settings: unknown): T {
    const parsed = this.#schema.parse(settings);
    this.#set.run(guildId, JSON.stringify(parsed), Date.now());
    return parsed;
  }

  /** Back to defaults. */
  reset(guildId: string): void {
    this.#delete.run(guildId);
  }
}
