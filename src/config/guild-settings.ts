import { z } from 'zod';
import { REQUEST_BOUNDS } from '../protocol/generate-request.js';
import { SAMPLER_NAMES } from '../protocol/samplers.js';
import { LOCALES, type Locale } from '../i18n/locales.js';
import { isMessageKey, say, text, type LocalizedText } from '../i18n/translate.js';

/** `/config language`: the server's own language in Discord (`auto`), or one the bot speaks. */
export const LANGUAGE_SETTINGS = ['auto', ...LOCALES] as const;
export type LanguageSetting = 'auto' | Locale;

/**
 * Absolute bounds: the request's own (REQUEST_BOUNDS, beside the request type) and the server-side ones. The guild
 * settings schema below, the /config option ranges (commands/config.ts), the /imagine option ranges
 * (commands/imagine.ts) and the /imagine parser all read them from here, so a value that /config accepts is always
 * a value /imagine can run, and the other way round.
 */
export const BOUNDS = {
  ...REQUEST_BOUNDS,
  userQueued: { min: 1, max: 50 },
  guildQueued: { min: 1, max: 1000 },
  cooldownSeconds: { min: 0, max: 3600 },
  previewEvery: { min: 1, max: 50 },
  allowedChannels: 25,
  bannedWords: 100,
  loras: 100,
  loraNameChars: 100,
  bannedWordChars: 50,
  /** Bytes of one uploaded picture (/imagine image, /edit); Discord itself delivers at most 25 MiB without Nitro boosts. */
  uploadBytes: { min: 64 * 1024, max: 25 * 1024 * 1024 },
} as const;

const int = (range: { min: number; max: number }) => z.number().int().min(range.min).max(range.max);
const side = int(BOUNDS.side).multipleOf(BOUNDS.side.multiple);
const snowflake = z.string().regex(/^\d{17,20}$/);

/**
 * What a guild may set as defaults. Every field is optional: unset falls back to the model's own defaults
 * (imagine-bot.json), then to the built-in ones (see `resolveBuiltInDefaults` in imagine-options.ts).
 */
export const GuildDefaultsSchema = z
  .object({
    model: z.string().min(1).max(100).optional(),
    steps: int(BOUNDS.steps).optional(),
    cfg: z.number().min(BOUNDS.cfg.min).max(BOUNDS.cfg.max).optional(),
    sampler: z.enum(SAMPLER_NAMES).optional(),
    width: side.optional(),
    height: side.optional(),
    negativePrompt: z.string().max(BOUNDS.negativeChars).optional(),
    count: int(BOUNDS.count).optional(),
  })
  .strict();

export const GuildLimitsSchema = z
  .object({
    /** @default 50 */
    maxSteps: int(BOUNDS.steps).default(50),
    /** Pixels of one image. @default 1048576 (1024×1024) */
    maxPixels: int(BOUNDS.pixels).default(1024 * 1024),
    /** @default 4 */
    maxCount: int(BOUNDS.count).default(4),
    /** Jobs one user may have queued or running in this guild. @default 3 */
    userQueued: int(BOUNDS.userQueued).default(3),
    /** Seconds between two jobs of one user; 0 turns the cooldown off. @default 0 */
    userCooldownSeconds: int(BOUNDS.cooldownSeconds).default(0),
    /** Jobs the whole guild may have queued or running. @default 20 */
    guildQueued: int(BOUNDS.guildQueued).default(20),
    /** Bytes of one uploaded picture; larger ones are refused before they are downloaded. @default 8388608 (8 MiB) */
    maxUploadBytes: int(BOUNDS.uploadBytes).default(8 * 1024 * 1024),
  })
  .strict();

/**
 * The one schema behind /config: what the store accepts, the defaults a new guild gets, and the bounds /imagine
 * checks. Parsing `{}` gives the settings of a guild that never ran /config.
 */
export const GuildSettingsSchema = z
  .object({
    defaults: GuildDefaultsSchema.default({}),
    limits: GuildLimitsSchema.default(GuildLimitsSchema.parse({})),
    /** Channels where /imagine may run; empty means every channel. @default [] */
    allowedChannels: z.array(snowflake).max(BOUNDS.allowedChannels).default([]),
    /** Lower-case words refused in prompts (whole words, case-insensitive). @default [] */
    bannedWords: z.array(z.string().trim().toLowerCase().min(1).max(BOUNDS.bannedWordChars)).max(BOUNDS.bannedWords).default([]),
    preview: z
      .object({
        /** @default true */
        enabled: z.boolean().default(true),
        /** Send a denoising preview every this many steps. @default 2 */
        everySteps: int(BOUNDS.previewEvery).default(2),
      })
      .strict()
      .default({ enabled: true, everySteps: 2 }),
    /** Translate Chinese prompts to English for models that read English only (docs/translation.md). @default true */
    translate: z.boolean().default(true),
    /**
     * The language of the public job messages (queue, progress, result, failures): `auto` follows the server's
     * language in Discord (guild_locale); replies only the member sees follow the member's own. @default 'auto'
     */
    language: z.enum(LANGUAGE_SETTINGS as unknown as [LanguageSetting, ...LanguageSetting[]]).default('auto'),
    /**
     * Which installed LoRAs `<lora:name:weight>` may use here: all of them, none, or the names listed (`/config
     * loras`). @default { mode: 'all', allowed: [] }
     */
    loras: z
      .object({
        mode: z.enum(['all', 'none', 'list']).default('all'),
        allowed: z.array(z.string().trim().min(1).max(BOUNDS.loraNameChars)).max(BOUNDS.loras).default([]),
      })
      .strict()
      .default({ mode: 'all', allowed: [] }),
  })
  .strict()
  .superRefine((settings, ctx) => {
    // Each problem carries its catalogue text (`params`), so /config says it in the admin's language.
    const issue = (path: (string | number)[], message: LocalizedText) =>
      ctx.addIssue({ code: 'custom', path, message: say('en', message), params: message });
    const { width, height } = settings.defaults;
    if ((width === undefined) !== (height === undefined)) issue(['defaults', 'width'], text('config.issue.sizeTogether'));
    if (width !== undefined && height !== undefined && width * height > settings.limits.maxPixels) {
      issue(['defaults'], text('config.issue.sizeOverMax', { width, height, max: settings.limits.maxPixels }));
    }
    const { steps, count } = settings.defaults;
    if (steps !== undefined && steps > settings.limits.maxSteps) {
      issue(['defaults', 'steps'], text('config.issue.stepsOverMax', { steps, max: settings.limits.maxSteps }));
    }
    if (count !== undefined && count > settings.limits.maxCount) {
      issue(['defaults', 'count'], text('config.issue.countOverMax', { count, max: settings.limits.maxCount }));
    }
  });

export type GuildSettings = z.infer<typeof GuildSettingsSchema>;
export type GuildDefaults = z.infer<typeof GuildDefaultsSchema>;
export type GuildLimits = z.infer<typeof GuildLimitsSchema>;

/** Settings of a guild that never ran /config. A fresh object each call: callers may mutate their copy. */
export function defaultGuildSettings(): GuildSettings {
  return GuildSettingsSchema.parse({});
}

/**
 * Turns a zod failure on guild settings into one sentence per problem, for an ephemeral /config answer: the checks
 * above in `locale`; zod's own bound messages (which /config's option ranges keep members from reaching) in English.
 */
export function describeSettingsIssues(error: z.ZodError, locale: Locale = 'en'): string {
  return error.issues
    .map((issue) => {
      const params = issue.code === 'custom' ? (issue.params as { key?: unknown } | undefined) : undefined;
      if (params && isMessageKey(params.key)) return say(locale, params as LocalizedText);
      const where = issue.path.join('.');
      return issue.code === 'custom' || where === '' ? issue.message : `${where}: ${issue.message}`;
    })
    .join('\n');
}
