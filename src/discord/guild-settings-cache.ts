import type { GuildSettings } from '../config/guild-settings.js';

/** What the handlers need of the guild settings store (GuildSettingsRepository fits). */
export interface GuildSettingsSource {
  get(guildId: string): GuildSettings;
  set(guildId: string, settings: unknown): GuildSettings;
  reset(guildId: string): void;
}

function deepFreeze<T>(value: T): T {
  if (value && typeof value === 'object' && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const child of Object.values(value)) deepFreeze(child);
  }
  return value;
}

/**
 * Guild settings held in memory, so /imagine and the image buttons validate against them synchronously without a
 * SQLite read and a schema parse per interaction (the path to the acknowledgement; DESIGN.md). This process is the
 * only writer (/config goes through `set` and `reset` here), so the cache is exact. Entries are frozen: handlers
 * share one object per guild and must copy to change it, as /config does.
 */
export class GuildSettingsCache implements GuildSettingsSource {
  readonly #source: GuildSettingsSource;
  readonly #cache = new Map<string, GuildSettings>();
  readonly #maxEntries: number;

  constructor(source: GuildSettingsSource, options: { maxEntries?: number } = {}) {
    this.#source = source;
    this.#maxEntries = options.maxEntries ?? 10_000;
  }

  get(guildId: string): GuildSettings {
    const cached = this.#cache.get(guildId);
    if (cached) return cached;
    return this.#remember(guildId, this.#source.get(guildId));
  }

  set(guildId: string, settings: unknown): GuildSettings {
    this.#cache.delete(guildId);
    return this.#remember(guildId, this.#source.set(guildId, settings));
  }

  reset(guildId: string): void {
    this.#cache.delete(guildId);
    this.#source.reset(guildId);
  }

  #remember(guildId: string, settings: GuildSettings): GuildSettings {
    // Bounded: a bot in very many guilds keeps the most recently loaded ones (Map keeps insertion order).
    if (this.#cache.size >= this.#maxEntries) this.#cache.delete(this.#cache.keys().next().value!);
    this.#cache.set(guildId, deepFreeze(settings));
    return settings;
  }
}
