import { mkdir, rm } from 'node:fs/promises';
import path from 'node:path';
import { Writable } from 'node:stream';
import { parseEnv } from '../../src/config/env.js';
import { createLogger } from '../../src/logger.js';
import { start, type RunningApp, type StartOverrides } from '../../src/main.js';
import { makeTempDir, writeTinyModel } from '../fixtures/tiny-models.js';
import { FakeDiscord, type FakeGuild, type FakeMessage } from './fake-discord/fake-discord.js';

/** Shaped like a bot token, made up. */
export const BOT_TOKEN = 'MTIzNDU2Nzg5MDEyMzQ1Njc4OQ.GfAkEd.fake-token-for-tests-only_0123456789';

/**
 * Two tiny models: `tiny` (milliseconds per image) and `slow` (extra convolution layers at 256x256, about a
 * tenth of a second per step), so queued, running and preview states are observable.
 */
export async function writeModels(root: string): Promise<string> {
  const modelsDir = path.join(root, 'models');
  await mkdir(modelsDir, { recursive: true });
  await writeTinyModel(path.join(modelsDir, 'tiny'), { manifest: { defaults: { width: 64, height: 64, steps: 4, sampler: 'euler' } } });
  await writeTinyModel(path.join(modelsDir, 'slow'), {
    heavyLayers: 4,
    heavyWidth: 48,
    manifest: { defaults: { width: 256, height: 256, steps: 8, sampler: 'euler' } },
  });
  return modelsDir;
}

export interface Harness {
  fake: FakeDiscord;
  app: RunningApp;
  logs: string[];
  root: string;
  dataDir: string;
  modelsDir: string;
  /** Starts another app on the same data (a restart). */
  restart(): Promise<RunningApp>;
  close(): Promise<void>;
}

export interface HarnessOptions {
  /** Use this models folder (e.g. the bundled models/) instead of writing the two tiny test models. */
  modelsDir?: string;
  /** DEFAULT_MODEL. @default 'tiny' */
  defaultModel?: string;
  /** Return as soon as the bot is logged in, without waiting for the worker (a user's first seconds). @default true */
  waitForWorker?: boolean;
  /** More environment keys (WORKERS, EXECUTION_DEVICE_IDS…). */
  env?: Record<string, string>;
  /** The servers the bot is in (their language, say); one English test guild by default. */
  guilds?: FakeGuild[];
}

export async function startHarness(overrides: StartOverrides = {}, harnessOptions: HarnessOptions = {}): Promise<Harness> {
  const root = await makeTempDir('imagine-bot-e2e-');
  const modelsDir = harnessOptions.modelsDir ?? (await writeModels(root));
  const dataDir = path.join(root, 'data');
  const fake = new FakeDiscord({ botToken: BOT_TOKEN, guilds: harnessOptions.guilds });
  await fake.start();
  const logs: string[] = [];
  const destination = new Writable({
    write(chunk, _encoding, done) {
      logs.push(chunk.toString());
      done();
    },
  });
  const env = parseEnv({
    DISCORD_TOKEN: BOT_TOKEN,
    DISCORD_API_BASE: fake.apiBase,
    MODELS_DIR: modelsDir,
    DATA_DIR: dataDir,
    DEFAULT_MODEL: harnessOptions.defaultModel ?? 'tiny',
    LOG_LEVEL: 'debug',
    ...harnessOptions.env,
  });
  if (!env.ok) throw new Error(env.issues.join('\n'));
  const options: StartOverrides = {
    edits: { baseIntervalMs: 0, finalRetryMs: 100 },
    ...overrides,
    logger: createLogger({ level: 'debug', destination }),
  };
  const harness: Harness = {
    fake,
    logs,
    root,
    dataDir,
    modelsDir,
    app: await start(env.env, options),
    async restart() {
      await harness.app.stop();
      harness.app = await start(env.env, options);
      return harness.app;
    },
    async close() {
      // The client goes first: a live discord.js client keeps trying to resume against a stopped fake.
      await harness.app.stop();
      await fake.stop();
      await rm(root, { recursive: true, force: true });
    },
  };
  if (harnessOptions.waitForWorker ?? true) await harness.app.pool.whenReady();
  return harness;
}

/** The final message of an interaction: the reply once it carries a PNG and image buttons. */
export function finalMessageOf(fake: FakeDiscord, interactionId: string): Promise<FakeMessage> {
  return fake.waitFor(
    () => {
      const message = fake.replyOf(interactionId);
      if (!message) return undefined;
      const hasButtons = message.components.some((row) => row.components.some((c: any) => String(c.custom_id).startsWith('img:')));
      return hasButtons && message.attachments.some((a) => a.filename.endsWith('.png')) ? message : undefined;
    },
    90_000,
    `final message of interaction ${interactionId}`,
  );
}

/** The ephemeral answer (type 4, flag 64) an interaction got. */
export function ephemeralOf(fake: FakeDiscord, interactionId: string): Promise<string> {
  return fake.waitFor(
    () => {
      const callback = fake.callbackOf(interactionId);
      if (callback?.type === 4 && (callback.data.flags & 64) === 64) return callback.data.content as string;
      return undefined;
    },
    30_000,
    () => `ephemeral reply to ${interactionId} (got ${JSON.stringify(fake.callbackOf(interactionId))})`,
  );
}

export function customIds(message: FakeMessage): string[] {
  return message.components.flatMap((row) => row.components.map((c: any) => c.custom_id as string));
}
