import type { Catalogue } from './en.js';
import { CATALOGUES, FALLBACK_LOCALE, type Locale } from './locales.js';

/** Every message the bot can say. */
export type MessageKey = keyof Catalogue;
/** The parameters a message takes (undefined for a plain string). */
export type ParamsOf<K extends MessageKey> = Catalogue[K] extends (params: infer P) => string ? P : undefined;
/** `t`'s trailing argument: the parameters when the message takes some, nothing otherwise. */
export type ParamsArgs<K extends MessageKey> = Catalogue[K] extends (params: infer P) => string ? [params: P] : [];

/** A message to say later in a locale not known yet (a job's failure, a queue note): its key and parameters. */
export interface LocalizedText<K extends MessageKey = MessageKey> {
  key: K;
  params?: ParamsOf<K>;
}

type Message = string | ((params: never) => string);

function lookup(locale: Locale, key: string): Message | undefined {
  const catalogue = CATALOGUES[locale] as unknown as Record<string, Message>;
  return Object.hasOwn(catalogue, key) ? catalogue[key] : undefined;
}

/** Whether `key` is a message of the catalogue (keys arriving from the store or another process). */
export function isMessageKey(key: unknown): key is MessageKey {
  return typeof key === 'string' && lookup(FALLBACK_LOCALE, key) !== undefined;
}

/** The message `key` in `locale`, falling back to English when that locale lacks it. */
export function t<K extends MessageKey>(locale: Locale, key: K, ...args: ParamsArgs<K>): string {
  return format(locale, key, args[0]);
}

/** A message whose key and parameters were checked when they were made (LocalizedText), said in `locale`. */
export function say(locale: Locale, text: LocalizedText): string {
  return format(locale, text.key, text.params);
}

function format(locale: Locale, key: string, params: unknown): string {
  const message = lookup(locale, key) ?? lookup(FALLBACK_LOCALE, key);
  if (message === undefined) throw new TypeError(`Unknown message key ${key}`);
  return typeof message === 'string' ? message : (message as (p: unknown) => string)(params ?? {});
}

/** `t` bound to one locale: `const tr = translator(locale); tr('queue.empty')`. */
export type Translator = <K extends MessageKey>(key: K, ...args: ParamsArgs<K>) => string;

export function translator(locale: Locale): Translator {
  return (key, ...args) => format(locale, key, args[0]);
}

/** Builds a LocalizedText with its parameters type-checked against the catalogue. */
export function text<K extends MessageKey>(key: K, ...args: ParamsArgs<K>): LocalizedText<K> {
  return args.length > 0 ? { key, params: args[0] as ParamsOf<K> } : { key };
}

/** The messages that take no parameters. */
export type PlainKey = { [K in MessageKey]: Catalogue[K] extends string ? K : never }[MessageKey];
