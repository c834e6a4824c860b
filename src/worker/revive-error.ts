import { CancelledError, Identifiers, UserError, type Identifier } from '../errors.js';
import type { SerializedError } from '../protocol/serialized-error.js';
import { RemoteError } from './worker-errors.js';

const KNOWN_IDENTIFIERS: ReadonlySet<string> = new Set(Object.values(Identifiers));

/**
 * Turns an error from the worker back into the class the bot acts on: a `UserError` keeps its identifier and
 * message (shown to the user), a cancellation becomes `CancelledError`, anything else is an internal `RemoteError`.
 */
export function reviveError(error: SerializedError): Error {
  if (error.name === 'CancelledError' || error.identifier === Identifiers.Cancelled) {
    return new CancelledError(error.message);
  }
  if (error.name === 'UserError' && error.identifier !== undefined && KNOWN_IDENTIFIERS.has(error.identifier)) {
    return new UserError(error.identifier as Identifier, error.message, error.context ?? {});
  }
  return new RemoteError(error);
}
