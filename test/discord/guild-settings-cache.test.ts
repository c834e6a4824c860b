import { describe, expect, it } from 'vitest';
import { GuildSettingsSchema, type GuildSettings } from '../../src/config/guild-settings.js';
import { GuildSettingsCache, type GuildSettingsSource } from '../../src/discord/guild-settings-cache.js';

/** A store stand-in that counts reads. */
function source() {
  const stored = new Map<string, GuildSettings>();
  const reads: string[] = [];
  const repo: GuildSettingsSource = {
    get(guildId) {
      reads.push(guildId);
      return GuildSettingsSchema.parse(stored.get(guildId) ?? {});
    },
    set(guildId, settings) {
      const parsed = GuildSettingsSchema.parse(settings);
      stored.set(guildId, parsed);
      return GuildSettingsSchema.parse(JSON.parse(JSON.stringify(parsed)));
    },
    reset(guildId) {
      stored.delete(guildId);
    },
  };
  return { repo, reads };
}

describe('GuildSettingsCache', () => {
  it('reads a guild from the store once, then from memory', () => {
    const { repo, reads } = source();
    const cache = new GuildSettingsCache(repo);
    const first = cache.get('g1');
    expect(cache.get('g1')).toBe(first);
    expect(reads).toEqual(['g1']);
  });

  it('serves what /config saved and forgets it on reset', () => {
    const { repo } = source();
    const cache = new GuildSettingsCache(repo);
    const before = cache.get('g1');
    cache.set('g1', { ...before, limits: { ...before.limits, maxSteps: 12 } });
    expect(cache.get('g1').limits.maxSteps).toBe(12);
    cache.reset('g1');
    expect(cache.get('g1').limits.maxSteps).toBe(before.limits.maxSteps);
  });

  it('hands out frozen settings, so no handler can change another guild member’s view by accident', () => {
    const { repo } = source();
    const settings = new GuildSettingsCache(repo).get('g1');
    expect(() => {
      (settings.limits as { maxSteps: number }).maxSteps = 1;
    }).toThrow(TypeError);
  });

  it('keeps at most maxEntries guilds', () => {
    const { repo, reads } = source();
    const cache = new GuildSettingsCache(repo, { maxEntries: 2 });
    cache.get('a');
    cache.get('b');
    cache.get('c');
    cache.get('c');
    cache.get('a');
    expect(reads).toEqual(['a', 'b', 'c', 'a']);
  });
});
