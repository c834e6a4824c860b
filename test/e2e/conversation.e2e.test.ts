import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { customIds, ephemeralOf, finalMessageOf, startHarness, type Harness } from './bot-harness.js';
import type { FakeDiscord, FakeMessage, FakeUser } from './fake-discord/fake-discord.js';

const alice: FakeUser = { id: '210000000000000001', username: 'alice' };
const bob: FakeUser = { id: '210000000000000002', username: 'bob' };
const carol: FakeUser = { id: '210000000000000003', username: 'carol' };
const admin: FakeUser = { id: '210000000000000004', username: 'admin' };

const opt = (name: string, value: string | number, type = typeof value === 'number' ? 4 : 3) => ({ name, type, value });

/** The bot's message replying to `messageId`, once it carries a PNG and image buttons (a finished job). */
function finalReplyTo(fake: FakeDiscord, messageId: string): Promise<FakeMessage> {
  return fake.waitFor(
    () =>
      fake
        .repliesTo(messageId)
        .find((m) => !m.author && m.attachments.some((a) => a.filename.endsWith('.png')) && customIds(m).some((id) => id.startsWith('img:'))),
    90_000,
    `final reply to message ${messageId}`,
  );
}

/** The bot's text reply to `messageId` (a refusal). */
function answerTo(fake: FakeDiscord, messageId: string): Promise<string> {
  return fake.waitFor(() => fake.repliesTo(messageId).find((m) => !m.author)?.content, 30_000, `answer to message ${messageId}`);
}

describe('working from the conversation: "Imagine this" and replies to results', () => {
  let h: Harness;
  let mention: string;
  beforeAll(async () => {
    h = await startHarness();
    mention = `<@${h.fake.botUser.id}>`;
  });
  afterAll(async () => {
    await h?.close();
  });

  it('asks for Guilds and GuildMessages only: no privileged intent', () => {
    // Guilds 1 << 0, GuildMessages 1 << 9; Message Content (1 << 15) is privileged and not needed.
    expect(h.fake.identifiedIntents).toBe((1 << 0) | (1 << 9));
  });

  it('"Imagine this" draws a message\'s text, flags included, and posts the result as a reply to it', async () => {
    const target = h.fake.postUserMessage({ content: 'a red fox in snow --seed 42', user: alice });
    const interaction = h.fake.sendMessageCommand({ name: 'Imagine this', targetMessageId: target.id, user: bob });
    expect(await ephemeralOf(h.fake, interaction.id)).toMatch(/reply to that message/);
    const final = await finalReplyTo(h.fake, target.id);
    expect(final.content).toContain('a red fox in snow');
    expect(final.content).toContain('Seed `42`');
    expect(final.content).toContain(`<@${bob.id}>`);
    // Edits of a job made from a message use the bot token (there is no interaction token to use).
    const own = h.fake.requests.filter((r) => r.path.endsWith(final.id) || r.json?.message_reference?.message_id === target.id);
    expect(own.length).toBeGreaterThan(0);
    expect(own.every((r) => r.botAuth)).toBe(true);
  });

  it('"Imagine this" refuses what /imagine refuses, privately', async () => {
    const target = h.fake.postUserMessage({ content: 'a cat --chaos 50', user: alice });
    const interaction = h.fake.sendMessageCommand({ name: 'Imagine this', targetMessageId: target.id, user: bob });
    expect(await ephemeralOf(h.fake, interaction.id)).toMatch(/Unknown flag `--chaos`/);
    // The bot's own result (from the test before) is not a prompt.
    const result = [...h.fake.messages.values()].find((m) => !m.author && m.attachments.length > 0)!;
    const onResult = h.fake.sendMessageCommand({ name: 'Imagine this', targetMessageId: result.id, user: bob });
    expect(await ephemeralOf(h.fake, onResult.id)).toMatch(/one of my images\. To change it, reply to it/);
  });

  it('refines a result from a reply that mentions the bot: original prompt + reply, same seed, as a reply to the reply', async () => {
    const first = h.fake.sendCommand({ name: 'imagine', user: alice, options: [opt('prompt', 'a lighthouse --seed 77')] });
    const result = await finalMessageOf(h.fake, first.id);
    // A slow job ahead keeps the refinement queued long enough for its queued message to be seen.
    const blocker = h.fake.sendCommand({ name: 'imagine', user: carol, options: [opt('prompt', 'blocker'), opt('model', 'slow'), opt('steps', 12)] });
    await h.fake.waitFor(() => h.app.jobs.list().some((l) => l.position === null && l.job.userId === carol.id) || undefined);

    const reply = h.fake.postUserMessage({ content: `${mention} make it blue, at night`, user: alice, replyTo: result.id });
    const queued = await h.fake.waitFor(() => h.fake.repliesTo(reply.id).find((m) => m.content.includes('⏳ Queued')));
    expect(queued.content).toContain('✏️ "a lighthouse" + "make it blue, at night", same seed 77');
    const final = await finalReplyTo(h.fake, reply.id);
    expect(final.id).toBe(queued.id);
    expect(final.content).toContain('a lighthouse, make it blue, at night');
    expect(final.content).toContain('Seed `77`');
    expect(final.content).toContain('✏️ refined');

    // Another member's reply works too, and the job is theirs; --replace uses the reply alone.
    const other = h.fake.postUserMessage({ content: `${mention} a blue heron --replace`, user: bob, replyTo: result.id });
    const replaced = await finalReplyTo(h.fake, other.id);
    expect(replaced.content).toContain('a blue heron');
    expect(replaced.content).not.toContain('lighthouse');
    expect(replaced.content).toContain('Seed `77`');
    expect(replaced.content).toContain(`<@${bob.id}>`);
    const refined = h.app.store.jobs.listByGuild(h.fake.guilds[0].id, 50).filter((job) => job.kind === 'refine');
    expect(refined.map((job) => job.userId).sort()).toEqual([alice.id, bob.id].sort());
    await finalMessageOf(h.fake, blocker.id);
  });

  it('ignores replies without a mention, replies to other messages and bots; answers a refused reply with the reason', async () => {
    const first = h.fake.sendCommand({ name: 'imagine', user: alice, options: [opt('prompt', 'a kite')] });
    const result = await finalMessageOf(h.fake, first.id);
    const guildId = h.fake.guilds[0].id;
    const before = h.app.store.jobs.listByGuild(guildId, 500).length;
    const config = (sub: string, options: object[]) =>
      ephemeralOf(h.fake, h.fake.sendCommand({ name: 'config', user: admin, admin: true, options: [{ name: sub, type: 1, options }] }).id);
    expect(await config('banned-words', [opt('action', 'add'), opt('words', 'gore')])).toMatch(/^Banned words saved/);

    const noMention = h.fake.postUserMessage({ content: 'make it green', user: bob, replyTo: result.id });
    const plain = h.fake.postUserMessage({ content: 'just chatting', user: carol });
    const notAResult = h.fake.postUserMessage({ content: `${mention} make it green`, user: bob, replyTo: plain.id });
    const fromBot = h.fake.postUserMessage({
      content: `${mention} make it green`,
      user: { id: '210000000000000099', username: 'otherbot' },
      bot: true,
      replyTo: result.id,
    });
    const refused = h.fake.postUserMessage({ content: `${mention} with GORE`, user: bob, replyTo: result.id });
    // Gateway events are handled in order: once the refusal is answered, the messages before it were handled too.
    expect(await answerTo(h.fake, refused.id)).toMatch(/does not allow `gore`/);
    for (const ignored of [noMention, notAResult, fromBot]) expect(h.fake.repliesTo(ignored.id)).toEqual([]);
    expect(h.app.store.jobs.listByGuild(guildId, 500).length).toBe(before);
    await config('reset', []);
  });

  it('delivers a refinement when the bot restarts between the reply and the result', async () => {
    const first = h.fake.sendCommand({ name: 'imagine', user: alice, options: [opt('prompt', 'a windmill --seed 5')] });
    const result = await finalMessageOf(h.fake, first.id);
    const reply = h.fake.postUserMessage({ content: `${mention} at sunset --model slow --size 256x256 --steps 30`, user: bob, replyTo: result.id });
    const shown = await h.fake.waitFor(() => h.fake.repliesTo(reply.id).find((m) => !m.author));
    const job = await vi.waitFor(() => {
      const found = h.app.store.jobs.getByMessageId(shown.id);
      expect(found).toBeDefined();
      return found!;
    });
    expect(job).toMatchObject({ kind: 'refine', replyToMessageId: reply.id, interactionToken: null, state: expect.stringMatching(/queued|running/) });

    await h.restart();
    const final = await finalReplyTo(h.fake, reply.id);
    // The message the job showed before the restart is the one that gets the result.
    expect(final.id).toBe(shown.id);
    expect(final.content).toContain('a windmill, at sunset');
    expect(final.content).toContain('Seed `5`');
    await vi.waitFor(() => expect(h.app.store.jobs.get(job.id)).toMatchObject({ state: 'done', deliveredAt: expect.any(Number) }), {
      timeout: 10_000,
    });
  });
});
