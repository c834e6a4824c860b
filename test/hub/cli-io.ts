import type { CliIo } from '../../src/cli/models.js';

/** `models:*` CLI streams that keep what was written, for the CLI tests; retries are not waited for. */
export function capturedCliIo(
  env: NodeJS.ProcessEnv,
  pullOverrides: NonNullable<CliIo['pullOverrides']> = {},
): CliIo & { out: () => string; err: () => string } {
  const out: string[] = [];
  const err: string[] = [];
  return {
    env,
    stdout: { write: (t: string) => out.push(t) },
    stderr: { write: (t: string) => err.push(t) },
    pullOverrides: { retryDelayMs: 0, ...pullOverrides },
    out: () => out.join(''),
    err: () => err.join(''),
  };
}
