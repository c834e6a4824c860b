import { Identifiers, type UserError } from '../../errors.js';
import type { LocalizedText } from '../../i18n/translate.js';
import { userError } from '../../i18n/user-error.js';

/** The usual option problem: the user typed something we cannot use; the message says what to type instead. */
export function invalid(message: LocalizedText, context: Record<string, unknown> = {}): UserError {
  return userError(Identifiers.InvalidArgument, message, context);
}
