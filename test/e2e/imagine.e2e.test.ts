import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readPngText } from '../../src/protocol/png-text.js';
import { BOT_TOKEN, customIds, ephemeralOf, finalMessageOf, startHarness, type Harness } from './bot-harness.js';
import type { FakeUser } from './fake-discord/fake-discord.js';

const PNG_SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
const alice: FakeUser = { id: '200000000000000001', username: 'alice' };
const bob: FakeUser = { id: '200000000000000002', username: 'bob' };
const admin: FakeUser = { id: '200000000000000003', username: 'admin' };

const opt = (
  name: string,
  value: string | number | boolean,
  type = typeof value === 'number' ? (Number.isInteger(value) ? 4 : 10) : typeof value === 'boolean' ? 5 : 3,
) => ({ name, type, value });

describe('the bot against a fake Discord, with the real worker and tiny models', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness();
  });
  afterAll(async () => {
    await h?.close();
  });

  it('registers its five slash commands and the "Imagine this" message command, /config behind Manage Server', () => {
    const commands = h.fake.commands.get('global') ?? [];
    expect(commands.map((c) => c.name).sort()).toEqual(['Imagine this', 'config', 'edit', 'help', 'imagine', 'queue']);
    expect(commands.find((c) => c.name === 'Imagine this').type).toBe(3);
    expect(commands.find((c) => c.name === 'config').default_member_permissions).toBe('32');
  });

  it('runs /imagine: deferred ack, preview edits with an image, final PNG with parameters, seed and buttons', async () => {
    const interaction = h.fake.sendCommand({ name: 'imagine', user: alice, options: [opt('prompt', 'a red fox --seed 42'), opt('model', 'slow')] });
    const final = await finalMessageOf(h.fake, interaction.id);
    expect(h.fake.callbackOf(interaction.id)?.type).toBe(5);
    const edits = h.fake.requests.filter((r) => r.route.startsWith('PATCH /webhooks/:app/:token/messages') && r.path.includes(interaction.token));
    expect(edits.some((r) => r.files.some((f) => f.name === 'preview.png' && f.data.subarray(0, 8).equals(PNG_SIGNATURE)))).toBe(true);
    expect(edits.some((r) => /step \d+\/8/.test(r.json?.content ?? ''))).toBe(true);
    expect(final.content).toContain('Seed `42`');
    expect(final.content).toContain('a red fox');
    const png = final.attachments[0].data;
    expect(png.subarray(0, 8).equals(PNG_SIGNATURE)).toBe(true);
    expect(readPngText(png).get('parameters')).toMatch(/^a red fox\n[\s\S]*Seed: 42/);
    expect(customIds(final).map((id) => id.split(':').slice(0, 2).join(':'))).toEqual([
      'img:reroll',
      'img:u1',
      'img:v1',
      'edit:zoom2',
      'edit:zoom15',
      'edit:subtle',
      'edit:strong',
      'edit:region',
      'edit:panleft',
      'edit:panright',
      'edit:panup',
      'edit:pandown',
    ]);
  });

  it('draws a long weighted prompt with BREAK in chunks and keeps the prompt as typed in the PNG parameters', async () => {
    // Well over 77 tokens ("w12" is three tokens), with a weight, a de-emphasis, nesting and BREAK.
    const prompt = `${Array.from({ length: 60 }, (_, i) => `w${i}`).join(' ')}, (golden hour:1.3), [blurry] BREAK a lighthouse on a cliff, ((dramatic sky))`;
    const interaction = h.fake.sendCommand({ name: 'imagine', user: alice, options: [opt('prompt', `${prompt} --seed 3`)] });
    const final = await finalMessageOf(h.fake, interaction.id);
    const parameters = readPngText(final.attachments[0].data).get('parameters')!;
    expect(parameters.split('\n')[0]).toBe(prompt);
    expect(parameters).toMatch(/\nSteps: \d+, .*Seed: 3,/);
    expect(final.content).not.toMatch(/ignored|token window/);
  });

  it('makes a 2x2 grid for count 4 with four V and four U buttons', async () => {
    const interaction = h.fake.sendCommand({ name: 'imagine', user: alice, options: [opt('prompt', 'four cats --count 4 --seed 7')] });
    const final = await finalMessageOf(h.fake, interaction.id);
    const meta = await sharp(final.attachments[0].data).metadata();
    expect([meta.width, meta.height]).toEqual([128, 128]);
    expect(final.content).toContain('Seeds `7, 8, 9, 10`');
    expect(customIds(final).filter((id) => /^img:[uv]\d:/.test(id))).toHaveLength(8);
  });

  it('makes every button work: reroll, variation and upscale as new jobs of the presser', async () => {
    const first = h.fake.sendCommand({ name: 'imagine', user: alice, options: [opt('prompt', 'a lighthouse --seed 5')] });
    const original = await finalMessageOf(h.fake, first.id);
    const ids = customIds(original);

    const reroll = h.fake.clickButton({ messageId: original.id, customId: ids.find((id) => id.startsWith('img:reroll:'))!, user: bob });
    const rerolled = await finalMessageOf(h.fake, reroll.id);
    expect(h.fake.callbackOf(reroll.id)?.type).toBe(5);
    expect(rerolled.content).toContain('🔄 reroll');
    expect(rerolled.content).toContain(`<@${bob.id}>`);
    expect(rerolled.content).not.toContain('Seed `5`');

    const variation = h.fake.clickButton({ messageId: original.id, customId: ids.find((id) => id.startsWith('img:v1:'))!, user: bob });
    const varied = await finalMessageOf(h.fake, variation.id);
    expect(varied.content).toContain('variation');
    expect(varied.content).toContain('Seed `5`');
    expect(varied.attachments[0].data.equals(original.attachments[0].data)).toBe(false);

    const upscale = h.fake.clickButton({ messageId: original.id, customId: ids.find((id) => id.startsWith('img:u1:'))!, user: bob });
    const upscaled = await finalMessageOf(h.fake, upscale.id);
    const meta = await sharp(upscaled.attachments[0].data).metadata();
    expect([meta.width, meta.height]).toEqual([128, 128]);
    expect(upscaled.content).toContain('upscale 2x');

    const jobs = h.app.store.jobs.listByGuild(h.fake.guilds[0].id, 200);
    const children = jobs.filter((job) => job.userId === bob.id);
    expect(children.map((job) => job.kind).sort()).toEqual(['reroll', 'upscale', 'variation']);
  });

  it('answers a button whose job is gone, and an unknown button, ephemerally', async () => {
    const first = h.fake.sendCommand({ name: 'imagine', user: alice, options: [opt('prompt', 'a kite')] });
    const original = await finalMessageOf(h.fake, first.id);
    const missing = h.fake.clickButton({ messageId: original.id, customId: 'img:v1:doesnotexist', user: bob });
    expect(await ephemeralOf(h.fake, missing.id)).toMatch(/no longer stored on the bot.*Run \/imagine again/);
    const old = h.fake.clickButton({ messageId: original.id, customId: 'legacy-button-1', user: bob });
    expect(await ephemeralOf(h.fake, old.id)).toMatch(/older version of the bot/);
  });

  it('cancels only for the owner or Manage Server, and the message says so', async () => {
    const running = h.fake.sendCommand({
      name: 'imagine',
      user: alice,
      options: [opt('prompt', 'slow one'), opt('model', 'slow'), opt('steps', 40)],
    });
    const queued = h.fake.sendCommand({ name: 'imagine', user: alice, options: [opt('prompt', 'queued one'), opt('model', 'slow')] });
    const message = await h.fake.waitFor(() => {
      const m = h.fake.replyOf(queued.id);
      return m && customIds(m).some((id) => id.startsWith('job:cancel:')) ? m : undefined;
    });
    const cancelId = customIds(message).find((id) => id.startsWith('job:cancel:'))!;
    const refused = h.fake.clickButton({ messageId: message.id, customId: cancelId, user: bob });
    expect(await ephemeralOf(h.fake, refused.id)).toMatch(/Only the member who asked for this image, or someone with Manage Server/);
    const accepted = h.fake.clickButton({ messageId: message.id, customId: cancelId, user: alice });
    await h.fake.waitFor(() => h.fake.replyOf(queued.id)?.content.includes('✖️ Cancelled') || undefined);
    expect(h.fake.callbackOf(accepted.id)?.type).toBe(6);
    const runningMessage = await h.fake.waitFor(() => {
      const m = h.fake.replyOf(running.id);
      return m && customIds(m).some((id) => id.startsWith('job:cancel:')) ? m : undefined;
    });
    h.fake.clickButton({ messageId: runningMessage.id, customId: customIds(runningMessage)[0], user: admin, admin: true });
    await h.fake.waitFor(() => h.fake.replyOf(running.id)?.content.includes(`Cancelled by <@${admin.id}>`) || undefined);
    expect(h.app.jobs.list(h.fake.guilds[0].id)).toEqual([]);
  });

  it('keeps /config from members without Manage Server and applies an admin change to the next job', async () => {
    const blocked = h.fake.sendCommand({ name: 'config', user: bob, options: [{ name: 'defaults', type: 1, options: [opt('steps', 3)] }] });
    expect(blocked.blocked).toBe(true);
    const change = h.fake.sendCommand({
      name: 'config',
      user: admin,
      admin: true,
      options: [{ name: 'defaults', type: 1, options: [opt('steps', 3), opt('negative', 'blurry')] }],
    });
    expect(await ephemeralOf(h.fake, change.id)).toMatch(/^Defaults saved\.[\s\S]*steps: 3/);
    const next = h.fake.sendCommand({ name: 'imagine', user: alice, options: [opt('prompt', 'after config')] });
    const final = await finalMessageOf(h.fake, next.id);
    expect(final.content).toContain('· 3 steps ·');
    expect(final.content).toContain('Negative: blurry');
    const invalid = h.fake.sendCommand({
      name: 'config',
      user: admin,
      admin: true,
      options: [{ name: 'limits', type: 1, options: [opt('max_steps', 2)] }],
    });
    expect(await ephemeralOf(h.fake, invalid.id)).toMatch(/Not saved: The default steps \(3\) are over max steps \(2\)/);
    const reset = h.fake.sendCommand({ name: 'config', user: admin, admin: true, options: [{ name: 'reset', type: 1, options: [] }] });
    expect(await ephemeralOf(h.fake, reset.id)).toMatch(/Settings reset/);
  });

  it('refuses bad input ephemerally, saying what to change, and queues nothing', async () => {
    const guildId = h.fake.guilds[0].id;
    const before = h.app.store.jobs.listByGuild(guildId, 500).length;
    const ask = async (prompt: string, extra: object[] = [], user = alice, channelId?: string) => {
      const interaction = h.fake.sendCommand({ name: 'imagine', user, channelId, options: [opt('prompt', prompt), ...extra] });
      return ephemeralOf(h.fake, interaction.id).catch((error: Error) => {
        throw new Error(`/imagine ${prompt}: ${error.message}`);
      });
    };
    expect(await ask('a cat --chaos 50')).toMatch(/Unknown flag `--chaos`/);
    expect(await ask('a cat --steps 500')).toMatch(/`--steps` is 500; use 1 to 50/);
    expect(await ask('a,'.repeat(330))).toMatch(/at least 660 tokens and the most is 8 chunks of 75 \(600 tokens\)/);
    expect(await ask('a cat', [opt('size', '500x500')])).toMatch(/multiple of 8/);
    const config = (sub: string, options: object[]) =>
      ephemeralOf(h.fake, h.fake.sendCommand({ name: 'config', user: admin, admin: true, options: [{ name: sub, type: 1, options }] }).id);
    expect(await config('banned-words', [opt('action', 'add'), opt('words', 'gore')])).toMatch(/^Banned words saved/);
    expect(await ask('some GORE here')).toMatch(/does not allow `gore`/);
    expect(await config('channels', [opt('action', 'add'), { name: 'channel', type: 7, value: h.fake.guilds[0].channels[0] }])).toMatch(
      /^Channels saved/,
    );
    expect(await ask('a cat', [], alice, h.fake.guilds[0].channels[1])).toMatch(new RegExp(`Use <#${h.fake.guilds[0].channels[0]}>`));
    expect(await config('limits', [opt('user_queue', 1), opt('user_cooldown', 600)])).toMatch(/^Limits saved/);
    // Long enough (50 slow steps) to still be queued or running when the cap is checked.
    // A member with no earlier jobs, so the cooldown below starts with this one.
    const carol: FakeUser = { id: '200000000000000004', username: 'carol' };
    const accepted = h.fake.sendCommand({ name: 'imagine', user: carol, options: [opt('prompt', 'first'), opt('model', 'slow'), opt('steps', 50)] });
    await h.fake.waitFor(() => h.fake.callbackOf(accepted.id));
    expect(await ask('second', [], carol)).toMatch(/cooldown between images; try again in \d+ s/);
    await config('limits', [opt('user_cooldown', 0)]);
    expect(await ask('third', [], carol)).toMatch(/You already have 1 image queued or running here/);
    await finalMessageOf(h.fake, accepted.id);
    await config('reset', []);
    expect(h.app.store.jobs.listByGuild(guildId, 500).length).toBe(before + 1);
  });

  it('shows /queue and /help', async () => {
    const help = h.fake.sendCommand({ name: 'help', user: bob });
    const helpText = await ephemeralOf(h.fake, help.id);
    expect(helpText).toMatch(/\/imagine/);
    expect(helpText).toMatch(/`\(word:1\.3\)` stronger, `\[word\]` weaker.*`BREAK` starts a new 75-token chunk/);
    expect(helpText.length).toBeLessThanOrEqual(2000);
    // The status line shows the provider the worker really runs on (reported in its ready message).
    expect(helpText).toMatch(/images run on \*\*cpu\*\* with 1 worker; models: .*tiny/);
    const slow = h.fake.sendCommand({ name: 'imagine', user: alice, options: [opt('prompt', 'long job'), opt('model', 'slow'), opt('steps', 30)] });
    const waiting = h.fake.sendCommand({ name: 'imagine', user: bob, options: [opt('prompt', 'waiting job')] });
    await h.fake.waitFor(() => h.fake.callbackOf(waiting.id));
    const queue = h.fake.sendCommand({ name: 'queue', user: bob });
    const text = await ephemeralOf(h.fake, queue.id);
    // Which of the two runs first is the fair queue's business; both are listed, one running and one waiting.
    expect(text).toMatch(new RegExp(`(▶️ running|#1) · <@${alice.id}> · long job`));
    expect(text).toMatch(new RegExp(`(▶️ running|#1) · <@${bob.id}> · waiting job`));
    expect(text).toMatch(/▶️ running ·[\s\S]*\n#1 ·/);
    expect(text).toMatch(/Yours: (#1|running)/);
    // The one worker (WORKERS defaults to 1) is running one of the two, and has run the tiny model before.
    expect(text).toMatch(/\nWorkers: `w0` busy \(.*tiny.*\)$/);
    await finalMessageOf(h.fake, waiting.id);
    await finalMessageOf(h.fake, slow.id);
  });

  it('delivers the final image through 429s on edits, honouring retry_after', async () => {
    const interaction = h.fake.sendCommand({ name: 'imagine', user: alice, options: [opt('prompt', 'rate limited'), opt('model', 'slow')] });
    // Only this job's edits are limited, so jobs of earlier tests can't use up the 429s.
    h.fake.rateLimit('PATCH', new RegExp(`/webhooks/\\d+/${interaction.token}/`), 4, 0.3);
    const final = await finalMessageOf(h.fake, interaction.id);
    const limited = h.fake.requests.filter((r) => r.status === 429 && r.path.includes(interaction.token));
    expect(limited.length).toBe(4);
    // After each 429 the next edit of that message waited at least retry_after.
    for (const hit of limited) {
      const nextEdit = h.fake.requests.find((r) => r.at > hit.at && r.path.includes(interaction.token));
      expect(nextEdit!.at - hit.at).toBeGreaterThanOrEqual(290);
    }
    expect(final.attachments[0].filename).toMatch(/\.png$/);
  });

  it('delivers the final image with the bot token after the interaction token expired', async () => {
    const interaction = h.fake.sendCommand({
      name: 'imagine',
      user: alice,
      options: [opt('prompt', 'expired token'), opt('model', 'slow'), opt('steps', 12)],
    });
    await h.fake.waitFor(() => h.fake.replyOf(interaction.id)?.edits || undefined);
    h.fake.expireToken(interaction.token);
    const final = await finalMessageOf(h.fake, interaction.id);
    const viaChannel = h.fake.requests.filter((r) => r.route === 'PATCH /channels/:id/messages/:message' && r.path.endsWith(final.id));
    expect(viaChannel.length).toBeGreaterThan(0);
    expect(viaChannel.every((r) => r.botAuth)).toBe(true);
    expect(h.fake.requests.some((r) => r.status === 401 && r.path.includes(interaction.token))).toBe(true);
  });

  it('never writes the bot token or an interaction token to the logs', () => {
    const logs = h.logs.join('');
    expect(logs.length).toBeGreaterThan(0);
    expect(logs).not.toContain(BOT_TOKEN);
    for (const record of h.fake.interactions.values()) expect(logs).not.toContain(record.token);
  });
});
