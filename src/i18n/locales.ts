/**
 * The languages the bot speaks. Adding one (zh-TW, ja…) is one catalogue file typed as `Catalogue` (a missing key is
 * a compile error) and one line in CATALOGUES below; its code must be a Discord locale (discord.com/developers/docs/
 * reference#locales) so the same code serves command localizations and `interaction.locale`.
 */
import { en, type Catalogue } from './en.js';
import { zhCN } from './zh-CN.js';

export const CATALOGUES = {
  en,
  'zh-CN': zhCN,
} as const satisfies Record<string, Catalogue>;

export type Locale = keyof typeof CATALOGUES;
export const LOCALES = Object.keys(CATALOGUES) as Locale[];
/** What an unknown locale, or a key a catalogue somehow lacks at run time, falls back to. */
export const FALLBACK_LOCALE: Locale = 'en';

export function isLocale(value: unknown): value is Locale {
  return typeof value === 'string' && Object.hasOwn(CATALOGUES, value);
}

/**
 * The catalogue for a Discord locale (`interaction.locale`, `guildLocale`, `guild.preferredLocale`): the exact code
 * when the bot speaks it (`zh-CN`), English for every other (`en-US`, `en-GB`, and the ones not translated yet).
 */
export function resolveLocale(discordLocale: string | null | undefined): Locale {
  if (isLocale(discordLocale)) return discordLocale;
  return FALLBACK_LOCALE;
}
