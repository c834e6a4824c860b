import { describe, expect, it } from 'vitest';
import { en } from '../../src/i18n/en.js';
import { CATALOGUES, LOCALES, resolveLocale } from '../../src/i18n/locales.js';
import { isMessageKey, say, t, text, translator } from '../../src/i18n/translate.js';
import { describeUserError, userError } from '../../src/i18n/user-error.js';
import { Identifiers, UserError } from '../../src/errors.js';

type Message = string | ((params: Record<string, unknown>) => string);
const entries = (locale: string) => Object.entries(CATALOGUES[locale as keyof typeof CATALOGUES] as unknown as Record<string, Message>);
const others = LOCALES.filter((l) => l !== 'en');

/**
 * Renders a message with a distinct marker for every parameter it reads and returns the markers that reach the
 * text. Parameters used as switches (plural, a literal union looked up in a table) render no marker in any locale;
 * parameters that are shown must be shown by every locale, or a translation would drop a number or a name.
 */
function shownParameters(message: Message): string[] {
  if (typeof message === 'string') return [];
  const params = new Proxy({} as Record<string, unknown>, { get: (_target, name) => (typeof name === 'string' ? `⟦${name}⟧` : undefined) });
  const rendered = message(params);
  return [...rendered.matchAll(/⟦(\w+)⟧/g)].map((m) => m[1]).sort();
}

describe('message catalogues', () => {
  it('registers English and Simplified Chinese', () => {
    expect(LOCALES).toEqual(expect.arrayContaining(['en', 'zh-CN']));
  });

  for (const locale of others) {
    it(`${locale} has exactly the English keys (checked at run time, so an \`as any\` entry cannot hide a gap)`, () => {
      const keys = entries(locale).map(([key]) => key);
      expect(keys.filter((k) => !(k in en))).toEqual([]);
      expect(Object.keys(en).filter((k) => !keys.includes(k))).toEqual([]);
    });

    it(`${locale} messages are of the same kind (text or function) and show the same placeholders as English`, () => {
      const mismatched: string[] = [];
      const catalogue = Object.fromEntries(entries(locale));
      for (const [key, english] of entries('en')) {
        const translated = catalogue[key];
        if (typeof translated !== typeof english) {
          mismatched.push(`${key}: ${typeof english} in en, ${typeof translated} in ${locale}`);
          continue;
        }
        const a = shownParameters(english).join(',');
        const b = shownParameters(translated).join(',');
        if (a !== b) mismatched.push(`${key}: en shows {${a}}, ${locale} shows {${b}}`);
      }
      expect(mismatched).toEqual([]);
    });

    it(`${locale} messages are translated, not English copies (bar names, brand words and the empty frames)`, () => {
      const same = entries(locale)
        .filter(([key, message]) => typeof message === 'string' && message === (en as Record<string, unknown>)[key])
        .map(([key]) => key);
      // Kept on purpose: option/command names that are technical (cfg, the English name of the language key…).
      expect(same.filter((k) => !k.startsWith('cmd.'))).toEqual([]);
    });
  }

  it("/help's text leaves room in Discord's 2,000 characters for the status line (at least 300) in every locale", () => {
    for (const locale of LOCALES) expect(t(locale, 'help.text').length, locale).toBeLessThanOrEqual(1700);
  });

  it('every message renders without throwing for placeholder values', () => {
    for (const locale of LOCALES) {
      for (const [key, message] of entries(locale)) {
        const out = shownParameters(message);
        expect(Array.isArray(out), `${locale} ${key}`).toBe(true);
      }
    }
  });
});

describe('t and translator', () => {
  it('speaks the locale asked for and falls back to English for one the bot does not speak', () => {
    expect(t('zh-CN', 'job.cancelled')).toBe('✖️ 已取消。');
    expect(t('en', 'job.cancelled')).toBe('✖️ Cancelled.');
    expect(t(resolveLocale('ja'), 'job.cancelled')).toBe('✖️ Cancelled.');
    expect(t(resolveLocale('en-GB'), 'job.queued', { position: 2 })).toBe('⏳ Queued: #2 in line');
    expect(translator(resolveLocale('zh-CN'))('job.queued', { position: 2, eta: '约 5 秒' })).toBe('⏳ 排队中：第 2 位 · 约 5 秒后开始');
    expect(resolveLocale(null)).toBe('en');
  });

  it('says a stored LocalizedText later, in any locale', () => {
    const note = text('error.cooldown', { cooldown: 30, seconds: 12 });
    expect(say('en', note)).toBe('This server has a 30 s cooldown between images; try again in 12 s.');
    expect(say('zh-CN', note)).toBe('本服务器两次画图之间有 30 秒冷却，请 12 秒后再试。');
    expect(isMessageKey('error.cooldown')).toBe(true);
    expect(isMessageKey('error.nope')).toBe(false);
    expect(isMessageKey('toString')).toBe(false);
  });
});

describe("UserErrors in the member's language", () => {
  it('a catalogue error keeps English in `message` (logs, CLI) and is said in the locale asked for', () => {
    const error = userError(Identifiers.Cooldown, text('error.cooldown', { cooldown: 10, seconds: 3 }), { seconds: 3 });
    expect(error).toBeInstanceOf(UserError);
    expect(error.identifier).toBe('cooldown');
    expect(error.message).toBe('This server has a 10 s cooldown between images; try again in 3 s.');
    expect(describeUserError('zh-CN', error)).toBe('本服务器两次画图之间有 10 秒冷却，请 3 秒后再试。');
    expect(describeUserError('en', error)).toBe(error.message);
  });

  it('an error made below the Discord layer without a key is framed: English detail, localised frame', () => {
    const error = new UserError(Identifiers.StepsOutOfRange, 'steps must be at most 150');
    expect(describeUserError('en', error)).toBe('steps must be at most 150');
    expect(describeUserError('zh-CN', error)).toBe('无法执行：steps must be at most 150');
    // A key from another version of the bot (stored, or from a remote worker) that this one lacks is framed too.
    const foreign = new UserError(Identifiers.InvalidArgument, 'English text', {}, { key: 'error.fromTheFuture' });
    expect(describeUserError('zh-CN', foreign)).toBe('无法执行：English text');
  });
});
