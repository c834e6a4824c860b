import type { GuildSettings } from '../config/guild-settings.js';
import { resolveLocale, type Locale } from '../i18n/locales.js';

/**
 * Which language to answer in. Replies only the member sees (ephemeral answers, refusals) follow the member's own
 * Discord language; what everyone in the channel reads (a job's message: queue, progress, result, failure) follows
 * the server: `/config language`, or the server's language in Discord when that is `auto`.
 */
export function memberLocale(interaction: { locale?: string | null }): Locale {
  return resolveLocale(interaction.locale);
}

export function publicLocale(settings: Pick<GuildSettings, 'language'>, guildLocale: string | null | undefined): Locale {
  return settings.language === 'auto' ? resolveLocale(guildLocale) : settings.language;
}
