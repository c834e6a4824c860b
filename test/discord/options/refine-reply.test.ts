import { describe, expect, it } from 'vitest';
import { say } from '../../../src/i18n/translate.js';
import { GuildSettingsSchema, type GuildSettings } from '../../../src/config/guild-settings.js';
import { parseImagineOptions } from '../../../src/discord/options/imagine-options.js';
import { buildRefineInput, stripBotMention } from '../../../src/discord/options/refine-reply.js';
import { refineNote, replyTarget } from '../../../src/discord/messages/reply-refine.js';
import { fakeJob } from '../../fixtures/jobs.js';
import { smallRequest } from '../../fixtures/requests.js';

const BOT = '900000000000000001';
const models = [
  { name: 'fake-model', defaults: {} },
  { name: 'other', defaults: {} },
];
const settings = (value: unknown = {}) => GuildSettingsSchema.parse(value) as GuildSettings;
const original = fakeJob({
  id: 'orig',
  state: 'done',
  messageId: 'm1',
  seeds: [1234],
  request: smallRequest({
    prompt: 'a red fox in snow',
    negativePrompt: 'blurry',
    steps: 6,
    cfg: 5,
    sampler: 'ddim',
    width: 96,
    height: 64,
    seed: undefined,
  }),
});

function refine(reply: string, guild: unknown = {}) {
  const built = buildRefineInput(original, reply);
  if (!built.ok) return { built, parsed: undefined };
  return { built, parsed: parseImagineOptions(built.value.input, { settings: settings(guild), models }) };
}

describe('stripBotMention', () => {
  it('takes both mention forms out and says when the bot is not mentioned', () => {
    expect(stripBotMention(`<@${BOT}> make it blue, at night`, BOT)).toBe('make it blue, at night');
    expect(stripBotMention(`make it <@!${BOT}>  blue`, BOT)).toBe('make it blue');
    expect(stripBotMention('make it blue', BOT)).toBeUndefined();
    expect(stripBotMention('<@900000000000000002> make it blue', BOT)).toBeUndefined();
  });
});

describe('buildRefineInput', () => {
  it('adds the reply to the original prompt and keeps the seed and every other setting', () => {
    const { built, parsed } = refine('make it blue, at night');
    expect(built.ok && built.value).toMatchObject({ replace: false, addition: 'make it blue, at night', seed: 1234 });
    expect(parsed?.ok && parsed.value).toMatchObject({
      prompt: 'a red fox in snow, make it blue, at night',
      seed: 1234,
      negativePrompt: 'blurry',
      steps: 6,
      cfg: 5,
      sampler: 'ddim',
      width: 96,
      height: 64,
      model: 'fake-model',
    });
  });

  it('uses the reply alone with --replace, still with the same seed', () => {
    const { built, parsed } = refine('--replace a blue heron at night');
    expect(built.ok && built.value.replace).toBe(true);
    expect(parsed?.ok && parsed.value).toMatchObject({ prompt: 'a blue heron at night', seed: 1234, steps: 6 });
  });

  it("lets the reply's own flags change settings, parsed as /imagine parses them", () => {
    const { parsed } = refine('at night --ar 1:1 --seed 9 --steps 3 --no text --model other');
    expect(parsed?.ok && parsed.value).toMatchObject({
      prompt: 'a red fox in snow, at night',
      seed: 9,
      steps: 3,
      model: 'other',
      negativePrompt: 'blurry, text',
    });
    expect(parsed?.ok && parsed.value.width).toBe(parsed?.ok && parsed.value.height);
    const flagsOnly = refine('--cfg 9');
    expect(flagsOnly.parsed?.ok && flagsOnly.parsed.value).toMatchObject({ prompt: 'a red fox in snow', cfg: 9, seed: 1234 });
  });

  it('refuses an empty reply or an unknown flag, saying what to write', () => {
    const empty = buildRefineInput(original, '');
    expect(!empty.ok && empty.error.message).toMatch(/Write what to change after the mention/);
    const flag = buildRefineInput(original, 'bluer --chaos 5');
    expect(!flag.ok && flag.error.message).toMatch(/Unknown flag `--chaos`/);
  });

  it("runs the server's checks on the combined prompt", () => {
    const { parsed } = refine('with gore', { bannedWords: ['gore'] });
    expect(parsed?.ok === false && parsed.error.message).toMatch(/does not allow `gore`/);
  });
});

describe('replyTarget', () => {
  const reply = (overrides: Record<string, unknown> = {}) => ({
    content: `<@${BOT}> make it blue`,
    guildId: original.guildId,
    system: false,
    author: { bot: false },
    reference: { messageId: 'm1' },
    ...overrides,
  });
  const find = (id: string) => (id === 'm1' ? original : undefined);

  it('refines a reply to a result that mentions the bot, whoever wrote it', () => {
    expect(replyTarget(reply(), BOT, find)).toEqual({ kind: 'refine', original, reply: 'make it blue' });
  });

  it('ignores replies to other messages, without a mention, from bots, or not replies at all', () => {
    expect(replyTarget(reply({ reference: { messageId: 'not-a-result' } }), BOT, find).kind).toBe('ignore');
    expect(replyTarget(reply({ content: 'make it blue' }), BOT, find).kind).toBe('ignore');
    expect(replyTarget(reply({ author: { bot: true } }), BOT, find).kind).toBe('ignore');
    expect(replyTarget(reply({ reference: null }), BOT, find).kind).toBe('ignore');
    expect(replyTarget(reply({ guildId: '1' }), BOT, find).kind).toBe('ignore');
  });
});

describe('refineNote', () => {
  it('says what was combined and that the seed is the same', () => {
    const built = buildRefineInput(original, 'make it *blue*');
    expect(built.ok && say('en', refineNote(original, built.value))).toBe('✏️ "a red fox in snow" + "make it \\*blue\\*", same seed 1234');
    const replaced = buildRefineInput(original, 'a heron --replace');
    expect(replaced.ok && say('en', refineNote(original, replaced.value))).toMatch(
      /^✏️ new prompt \(--replace\) instead of "a red fox in snow", same seed 1234$/,
    );
  });
});
