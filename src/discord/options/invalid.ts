import { Identifiers, UserError } from '../../errors.js';

/** The usual option problem: the user typed something we cannot use; the message says what to type instead. */
export function invalid(message: string, context: Record<string, unknown> = {}): UserError {
  return new UserError(Identifiers.InvalidArgument, message, context);
}
