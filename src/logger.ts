import { pino, type Logger, type LoggerOptions } from 'pino';

export type { Logger };

/**
 * Paths pino blanks out before a line is written. The interaction token lets anyone edit the bot's reply for
 * 15 minutes, so it must never reach a log, whatever object it is nested in.
 */
export const REDACTED_PATHS = [
  'interactionToken',
  '*.interactionToken',
  '*.*.interactionToken',
  'token',
  '*.token',
  'DISCORD_TOKEN',
  '*.DISCORD_TOKEN',
];

export interface CreateLoggerOptions {
  /** pino level name. @default 'info' */
  level?: string;
  /** Where lines go; tests pass a stream to read them back. @default stdout */
  destination?: pino.DestinationStream;
  /** Bound to every line, e.g. `{ component: 'worker-host' }`. */
  bindings?: Record<string, unknown>;
}

/** The one way loggers are made, so redaction can't be forgotten. */
export function createLogger(options: CreateLoggerOptions = {}): Logger {
  const config: LoggerOptions = {
    level: options.level ?? 'info',
    redact: { paths: REDACTED_PATHS, censor: '[redacted]' },
    base: options.bindings ?? {},
  };
  return options.destination ? pino(config, options.destination) : pino(config);
}
