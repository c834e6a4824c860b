/**
 * The bot built by main.ts with REDIS_URL and WORKERS=0, against the fake Discord: a worker host process (the real
 * engine over the same tiny models) joins through a real redis-server, runs /imagine and the image is delivered;
 * /queue and /help show the remote worker with its machine.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RedisFixture, hasRedisServer } from '../fixtures/redis-server.js';
import { ephemeralOf, finalMessageOf, startHarness, type Harness } from './bot-harness.js';
import type { FakeUser } from './fake-discord/fake-discord.js';

const alice: FakeUser = { id: '200000000000000011', username: 'alice' };
const opt = (name: string, value: string | number) => ({ name, type: typeof value === 'number' ? 4 : 3, value });
const HOST_ENTRY = fileURLToPath(new URL('../fixtures/workers/remote-host.ts', import.meta.url));

// test/worker/remote-workers.test.ts says loudly when redis-server is missing (and fails on CI).
describe.skipIf(!hasRedisServer)('REDIS_URL with WORKERS=0', () => {
  const redis = new RedisFixture();
  let h: Harness;
  let host: ChildProcess | undefined;

  beforeAll(async () => {
    await redis.start();
    h = await startHarness({}, { env: { WORKERS: '0', REDIS_URL: redis.url } });
    host = spawn(process.execPath, ['--import', 'tsx', HOST_ENTRY], {
      env: { ...process.env, REDIS_URL: redis.url, HOST_ID: 'box', WORKER_IDS: 'box-gpu0', FIXTURE: 'engine', MODELS_DIR: h.modelsDir },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let out = '';
    await new Promise<void>((resolve, reject) => {
      host!.stdout!.on('data', (chunk: Buffer) => {
        out += chunk.toString();
        if (out.includes('serving')) resolve();
      });
      host!.once('exit', (code) => reject(new Error(`the worker host exited with ${code}`)));
    });
  });
  afterAll(async () => {
    await h?.close();
    if (host && host.exitCode === null) {
      host.kill('SIGTERM');
      await once(host, 'exit');
    }
    await redis.dispose();
  });

  it('delivers an image made on the remote host, and /queue and /help show the remote worker and its machine', async () => {
    const interaction = h.fake.sendCommand({ name: 'imagine', user: alice, options: [opt('prompt', 'a lighthouse far away')] });
    const message = await finalMessageOf(h.fake, interaction.id);
    expect(message.attachments.some((attachment) => attachment.filename.endsWith('.png'))).toBe(true);
    const queue = h.fake.sendCommand({ name: 'queue', user: alice });
    expect(await ephemeralOf(h.fake, queue.id)).toMatch(/Workers: `box-gpu0` on `host-box` idle \(tiny\)$/);
    const help = h.fake.sendCommand({ name: 'help', user: alice });
    expect(await ephemeralOf(h.fake, help.id)).toMatch(/images run on \*\*cpu\*\* with 1 worker/);
  });
});
