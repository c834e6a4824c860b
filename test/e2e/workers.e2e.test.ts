/**
 * The bot built from WORKERS by main.ts, against the fake Discord: two real workers run two jobs at once and /queue
 * and /help show them; with WORKERS=0 a job is accepted and waits, and both commands say why and what to do.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ephemeralOf, finalMessageOf, startHarness, type Harness } from './bot-harness.js';
import type { FakeUser } from './fake-discord/fake-discord.js';

const alice: FakeUser = { id: '200000000000000011', username: 'alice' };
const bob: FakeUser = { id: '200000000000000012', username: 'bob' };
const opt = (name: string, value: string | number) => ({ name, type: typeof value === 'number' ? 4 : 3, value });

describe('WORKERS=2', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness({}, { env: { WORKERS: '2' } });
  });
  afterAll(async () => {
    await h?.close();
  });

  it('runs two jobs at once, one per worker, and /queue and /help show both workers', async () => {
    const help = h.fake.sendCommand({ name: 'help', user: alice });
    expect(await ephemeralOf(h.fake, help.id)).toMatch(/images run on \*\*cpu\*\* with 2 workers; models: /);
    const first = h.fake.sendCommand({
      name: 'imagine',
      user: alice,
      options: [opt('prompt', 'first long job'), opt('model', 'slow'), opt('steps', 30)],
    });
    const second = h.fake.sendCommand({
      name: 'imagine',
      user: bob,
      options: [opt('prompt', 'second long job'), opt('model', 'slow'), opt('steps', 30)],
    });
    await h.fake.waitFor(() => h.fake.callbackOf(first.id) && h.fake.callbackOf(second.id));
    const queue = h.fake.sendCommand({ name: 'queue', user: bob });
    const text = await ephemeralOf(h.fake, queue.id);
    // Both running, none waiting: each on its own worker.
    expect(text).toMatch(new RegExp(`▶️ running on \`w[01]\` · <@${alice.id}> · first long job`));
    expect(text).toMatch(new RegExp(`▶️ running on \`w[01]\` · <@${bob.id}> · second long job`));
    expect(text).not.toMatch(/#1 ·/);
    expect(text).toMatch(/running on `w0`[\s\S]*running on `w1`|running on `w1`[\s\S]*running on `w0`/);
    expect(text).toMatch(/\nWorkers: `w0` busy.* · `w1` busy/);
    await Promise.all([finalMessageOf(h.fake, first.id), finalMessageOf(h.fake, second.id)]);
    const after = h.fake.sendCommand({ name: 'queue', user: bob });
    expect(await ephemeralOf(h.fake, after.id)).toMatch(/Workers: `w0` idle \(slow\) · `w1` idle \(slow\)$/);
    // Every worker line of the log names its worker.
    const ready = h.logs.map((line) => JSON.parse(line)).filter((line) => line.msg === 'worker ready' && line.component === 'worker-host');
    expect(ready.map((line) => line.workerId).sort()).toEqual(['w0', 'w1']);
  });
});

describe('WORKERS=0', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness({}, { env: { WORKERS: '0' } });
  });
  afterAll(async () => {
    await h?.close();
  });

  it('accepts a job that then waits, and /queue and /help say that no worker runs and what to do', async () => {
    const interaction = h.fake.sendCommand({ name: 'imagine', user: alice, options: [opt('prompt', 'a patient cat')] });
    await h.fake.waitFor(() => h.fake.callbackOf(interaction.id));
    const queue = h.fake.sendCommand({ name: 'queue', user: alice });
    const text = await ephemeralOf(h.fake, queue.id);
    expect(text).toMatch(new RegExp(`#1 · <@${alice.id}> · a patient cat`));
    expect(text).toContain('⚠️ No image worker runs on this bot (WORKERS=0), so images wait here and none will start.');
    const help = h.fake.sendCommand({ name: 'help', user: alice });
    expect(await ephemeralOf(h.fake, help.id)).toContain('no image worker runs on this bot (WORKERS=0), so images wait in the queue.');
    expect(h.app.jobs.list().map((listing) => [listing.job.state, listing.position])).toEqual([['queued', 1]]);
  });
});
