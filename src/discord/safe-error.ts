import { DiscordAPIError, RateLimitError } from 'discord.js';

/** Webhook and interaction URLs carry the interaction token in their path. */
const TOKEN_IN_PATH = /\/(webhooks|interactions)\/(\d+)\/[A-Za-z0-9._-]+/g;

/** Blanks interaction tokens out of a URL or any text that may contain one. */
export function redactTokens(text: string): string {
  return text.replace(TOKEN_IN_PATH, '/$1/$2/[token]');
}

/**
 * A copy of an error that is safe to log: discord.js errors carry the request URL (with the interaction token in
 * it) and the request body; both are dropped or redacted. Everything else keeps name, message, code and stack.
 */
export function safeError(error: unknown): Record<string, unknown> {
  if (error instanceof DiscordAPIError) {
    return {
      type: 'DiscordAPIError',
      message: redactTokens(error.message),
      code: error.code,
      status: error.status,
      method: error.method,
      url: redactTokens(error.url),
    };
  }
  if (error instanceof RateLimitError) {
    return {
      type: 'RateLimitError',
      retryAfter: error.retryAfter,
      route: error.route,
      method: error.method,
      global: error.global,
      scope: error.scope,
    };
  }
  if (error instanceof Error) {
    const out: Record<string, unknown> = { type: error.name, message: redactTokens(error.message), stack: error.stack && redactTokens(error.stack) };
    const code = (error as { code?: unknown }).code;
    if (code !== undefined) out.code = code;
    if (error.cause !== undefined) out.cause = safeError(error.cause);
    return out;
  }
  return { type: typeof error, message: redactTokens(String(error)) };
}

/** Discord's JSON error code of a failed REST call, if it was one. */
export function discordCode(error: unknown): number | undefined {
  return error instanceof DiscordAPIError && typeof error.code === 'number' ? error.code : undefined;
}
