import { z } from 'zod';

/**
 * An error as it crosses the process boundary. Errors don't survive structured clone with their class, so the
 * worker flattens them here and the host revives them (src/worker/revive-error.ts). `identifier` is what keeps
 * a `UserError` from the engine (bad size, unknown model) user-facing on the other side.
 */
export const SerializedErrorSchema = z.object({
  name: z.string(),
  message: z.string(),
  /** `UserError.identifier` / `CancelledError.identifier`. */
  identifier: z.string().optional(),
  /** Node-style `err.code` (ENOENT, ERR_...), kept for the logs. */
  code: z.string().optional(),
  stack: z.string().optional(),
  /** `UserError.context`, when it is plain data. */
  context: z.record(z.string(), z.unknown()).optional(),
  /** One level of `cause`, flattened the same way; deeper chains are cut to keep messages small. */
  cause: z.object({ name: z.string(), message: z.string(), stack: z.string().optional() }).optional(),
});
export type SerializedError = z.infer<typeof SerializedErrorSchema>;

/** Flattens anything thrown into a `SerializedError`. Never throws. */
export function serializeError(error: unknown): SerializedError {
  if (!(error instanceof Error)) {
    return { name: 'Error', message: typeof error === 'string' ? error : safeString(error) };
  }
  const out: SerializedError = { name: error.name, message: error.message };
  if (error.stack !== undefined) out.stack = error.stack;
  const bag = error as unknown as Record<string, unknown>;
  if (typeof bag.identifier === 'string') out.identifier = bag.identifier;
  if (typeof bag.code === 'string') out.code = bag.code;
  if (isPlainRecord(bag.context)) out.context = toCloneable(bag.context);
  if (error.cause !== undefined) {
    const cause = error.cause;
    out.cause =
      cause instanceof Error
        ? { name: cause.name, message: cause.message, ...(cause.stack ? { stack: cause.stack } : {}) }
        : { name: 'Error', message: safeString(cause) };
  }
  return out;
}

function isPlainRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && Object.getPrototypeOf(value) === Object.prototype;
}

/** Context may hold anything; a JSON round trip drops what structured clone would choke on (functions, classes). */
function toCloneable(context: Record<string, unknown>): Record<string, unknown> | undefined {
  try {
    return JSON.parse(JSON.stringify(context)) as Record<string, unknown>;
  } catch {
    return undefined;
  }
}

function safeString(value: unknown): string {
  try {
    return String(value);
  } catch {
    return 'Unprintable error value';
  }
}
