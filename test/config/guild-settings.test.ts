import { describe, expect, it } from 'vitest';
import { GuildSettingsSchema, defaultGuildSettings, describeSettingsIssues } from '../../src/config/guild-settings.js';

describe('GuildSettingsSchema', () => {
  it('gives a new guild the documented defaults', () => {
    expect(defaultGuildSettings()).toEqual({
      defaults: {},
      limits: {
        maxSteps: 50,
        maxPixels: 1024 * 1024,
        maxCount: 4,
        userQueued: 3,
        userCooldownSeconds: 0,
        guildQueued: 20,
        maxUploadBytes: 8 * 1024 * 1024,
      },
      allowedChannels: [],
      bannedWords: [],
      preview: { enabled: true, everySteps: 2 },
      translate: true,
      language: 'auto',
      loras: { mode: 'all', allowed: [] },
    });
  });

  it('returns a fresh object each time', () => {
    const a = defaultGuildSettings();
    a.bannedWords.push('x');
    expect(defaultGuildSettings().bannedWords).toEqual([]);
  });

  it('normalises banned words to trimmed lower case', () => {
    expect(GuildSettingsSchema.parse({ bannedWords: ['  Gore '] }).bannedWords).toEqual(['gore']);
  });

  it('rejects values outside the bounds and unknown keys', () => {
    expect(GuildSettingsSchema.safeParse({ limits: { maxSteps: 151 } }).success).toBe(false);
    expect(GuildSettingsSchema.safeParse({ defaults: { width: 500, height: 512 } }).success).toBe(false);
    expect(GuildSettingsSchema.safeParse({ defaults: { sampler: 'plms' } }).success).toBe(false);
    expect(GuildSettingsSchema.safeParse({ colour: 'red' }).success).toBe(false);
  });

  it('rejects defaults that break the limits, saying which to change', () => {
    const result = GuildSettingsSchema.safeParse({ defaults: { steps: 60 }, limits: { maxSteps: 40 } });
    expect(result.success).toBe(false);
    if (!result.success)
      expect(describeSettingsIssues(result.error)).toBe('The default steps (60) are over max steps (40); lower one or raise the other.');
    const size = GuildSettingsSchema.safeParse({ defaults: { width: 1024, height: 1024 }, limits: { maxPixels: 512 * 512 } });
    expect(!size.success && describeSettingsIssues(size.error)).toMatch(/default size 1024x1024 is over the max pixels limit \(262144\)/);
    const half = GuildSettingsSchema.safeParse({ defaults: { width: 512 } });
    expect(!half.success && describeSettingsIssues(half.error)).toMatch(/width and height together/);
  });
});
