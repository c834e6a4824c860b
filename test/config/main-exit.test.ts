import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

// Runs the real entry point with a clean environment (no .env: the cwd is an empty temp folder).
const cwd = mkdtempSync(path.join(os.tmpdir(), 'imagine-bot-main-'));
const entry = path.resolve('src/main.ts');
const tsx = path.resolve('node_modules/.bin/tsx');

function run(env: Record<string, string>) {
  return spawnSync(tsx, [entry], { cwd, env: { PATH: process.env.PATH ?? '', ...env }, encoding: 'utf8', timeout: 60_000 });
}

describe('npm start with a bad environment', () => {
  afterAll(() => rmSync(cwd, { recursive: true, force: true }));

  it('exits 1 with a clear message when DISCORD_TOKEN is missing', () => {
    const result = run({});
    expect(result.status).toBe(1);
    expect(result.stderr).toMatch(/DISCORD_TOKEN is missing: set it to the bot token/);
  });

  it('exits 1 on a malformed token without printing it', () => {
    const result = run({ DISCORD_TOKEN: 'not-a-token-secretvalue' });
    expect(result.status).toBe(1);
    expect(result.stderr).toMatch(/DISCORD_TOKEN does not look like a bot token/);
    expect(result.stderr + result.stdout).not.toContain('secretvalue');
  });
});
