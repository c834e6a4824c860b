import { UserError, type Identifier } from '../errors.js';
import type { Locale } from './locales.js';
import { isMessageKey, say, t, type LocalizedText } from './translate.js';

/** A UserError whose message is a catalogue entry: English in `message`, the key and parameters for other locales. */
export function userError(identifier: Identifier, text: LocalizedText, context: Record<string, unknown> = {}): UserError {
  return new UserError(identifier, say('en', text), context, text);
}

/** The catalogue text a UserError carries, when it carries a known one. */
export function textOf(error: Pick<UserError, 'text'>): LocalizedText | undefined {
  const text = error.text;
  return text && isMessageKey(text.key) ? (text as LocalizedText) : undefined;
}

/**
 * What a member reads for a UserError: its catalogue text in `locale`, or, for errors made below the Discord layer
 * without one (the request contract's bounds, the engine), the English message in a localised frame.
 */
export function describeUserError(locale: Locale, error: Pick<UserError, 'message' | 'text'>): string {
  const text = textOf(error);
  if (text) return say(locale, text);
  return t(locale, 'frame.refused', { detail: error.message });
}
