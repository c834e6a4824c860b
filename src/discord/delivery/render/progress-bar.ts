import type { Locale } from '../../../i18n/locales.js';
import { t } from '../../../i18n/translate.js';

/** `███████░░░░░░░░` for k of n, `width` cells. Monospace-safe block characters render the same on every client. */
export function progressBar(done: number, total: number, width = 16): string {
  const ratio = total <= 0 ? 0 : Math.min(1, Math.max(0, done / total));
  const filled = Math.round(ratio * width);
  return '█'.repeat(filled) + '░'.repeat(width - filled);
}

/** "~45 s", "~3 min", "~1 h 5 min" (约 45 秒 …); undefined when nothing has been measured yet. */
export function formatEta(ms: number | null, locale: Locale = 'en'): string | undefined {
  if (ms === null || !Number.isFinite(ms)) return undefined;
  const seconds = Math.max(1, Math.round(ms / 1000));
  if (seconds < 90) return t(locale, 'eta.seconds', { seconds });
  const minutes = Math.round(seconds / 60);
  if (minutes < 60) return t(locale, 'eta.minutes', { minutes });
  return t(locale, 'eta.hours', { hours: Math.floor(minutes / 60), minutes: minutes % 60 });
}
