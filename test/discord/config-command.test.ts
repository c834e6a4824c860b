import {
  ApplicationCommandOptionType,
  ChannelType,
  CommandInteractionOptionResolver,
  MessageFlags,
  PermissionFlagsBits,
  PermissionsBitField,
  type ChatInputCommandInteraction,
  type CommandInteractionOption,
} from 'discord.js';
import { describe, expect, it } from 'vitest';
import { GuildSettingsSchema, type GuildSettings } from '../../src/config/guild-settings.js';
import type { BotContext } from '../../src/discord/bot-context.js';
import { change, configCommand, describeSettings, type Change } from '../../src/discord/commands/config.js';
import type { GuildSettingsSource } from '../../src/discord/guild-settings-cache.js';
import type { ModelSummary } from '../../src/protocol/generate-request.js';
import { createLogger } from '../../src/logger.js';

const GUILD = '100000000000000001';
const OTHER_GUILD = '100000000000000009';
const CHANNEL = '100000000000000002';
const CHANNEL_2 = '100000000000000003';
const ADMIN = '200000000000000001';

const T = ApplicationCommandOptionType;
const MODELS = [{ name: 'tiny' }, { name: 'emoji' }] as ModelSummary[];

type Option = CommandInteractionOption;
const str = (name: string, value: string): Option => ({ name, type: T.String, value });
const int = (name: string, value: number): Option => ({ name, type: T.Integer, value });
const num = (name: string, value: number): Option => ({ name, type: T.Number, value });
const bool = (name: string, value: boolean): Option => ({ name, type: T.Boolean, value });
/** A channel option as discord.js hands it over: the id, and the channel from `resolved` when Discord sent one. */
const channel = (id: string, resolved?: { type: ChannelType; guildId?: string }): Option =>
  ({ name: 'channel', type: T.Channel, value: id, ...(resolved ? { channel: { id, ...resolved } } : {}) }) as Option;

/** discord.js's own resolver (its constructor is private in the typings), so option types are checked as in the bot. */
function resolver(sub: string, options: Option[]): ChatInputCommandInteraction['options'] {
  const Resolver = CommandInteractionOptionResolver as unknown as new (
    client: unknown,
    options: Option[],
    resolved: unknown,
  ) => ChatInputCommandInteraction['options'];
  return new Resolver(null, [{ name: sub, type: T.Subcommand, options }], {});
}

const base = (): GuildSettings => GuildSettingsSchema.parse({});
const settingsWith = (patch: Record<string, unknown>): GuildSettings => GuildSettingsSchema.parse({ ...base(), ...patch });

function run(sub: string, options: Option[] = [], current: GuildSettings = base(), models: readonly ModelSummary[] = MODELS): Change {
  return change({ options: resolver(sub, options), guildId: GUILD }, current, { models: () => models });
}

function next(result: Change): GuildSettings {
  if (!result.ok) throw new Error(`expected a change, got: ${result.message}`);
  return result.next as GuildSettings;
}

function message(result: Change): string {
  if (result.ok) throw new Error('expected a refusal');
  return result.message;
}

describe('/config change: defaults', () => {
  it('sets each default from its option', () => {
    const result = run('defaults', [
      str('model', 'emoji'),
      int('steps', 30),
      num('cfg', 4.5),
      str('sampler', 'ddim'),
      int('count', 2),
      str('negative', 'blurry, text'),
      str('size', '640x384'),
    ]);
    expect(result).toMatchObject({ ok: true, summary: 'Defaults saved.' });
    expect(next(result).defaults).toEqual({
      model: 'emoji',
      steps: 30,
      cfg: 4.5,
      sampler: 'ddim',
      count: 2,
      negativePrompt: 'blurry, text',
      width: 640,
      height: 384,
    });
    expect(next(result).limits).toEqual(base().limits);
  });

  it('reads a size as WxH (× too) or as a ratio or preset fitted to 512x512 pixels', () => {
    expect(next(run('defaults', [str('size', '512×768')])).defaults).toEqual({ width: 512, height: 768 });
    expect(next(run('defaults', [str('size', '16:9')])).defaults).toEqual({ width: 680, height: 384 });
    expect(next(run('defaults', [str('size', 'portrait')])).defaults).toEqual({ width: 416, height: 624 });
    expect(message(run('defaults', [str('size', 'huge')]))).toBe(
      'Size `huge` is not one I understand. Use a ratio such as 16:9, a preset (square, portrait, landscape, wide, tall) or WxH such as 512x768.',
    );
    expect(message(run('defaults', [str('size', '9:1')]))).toBe('Aspect ratio `9:1` is out of range; use a ratio between 1:4 and 4:1, e.g. 16:9.');
  });

  it('accepts only an installed model, and names the installed ones', () => {
    expect(message(run('defaults', [str('model', 'sdxl')]))).toBe('Unknown model `sdxl`; choose one of: tiny, emoji.');
    // The bot reads MODELS_DIR itself, so there is always a list: with none installed, nothing can be saved, and a
    // server path is never stored as a model.
    expect(message(run('defaults', [str('model', 'sdxl')], base(), []))).toBe('Unknown model `sdxl`; choose one of: none installed.');
    expect(message(run('defaults', [str('model', '/etc')]))).toBe('Unknown model `/etc`; choose one of: tiny, emoji.');
  });

  it('unsets each default, size as both sides and all of them at once', () => {
    const full = settingsWith({
      defaults: { model: 'tiny', steps: 30, cfg: 5, sampler: 'euler', width: 640, height: 384, negativePrompt: 'ugly', count: 2 },
    });
    const without = (unset: string) => next(run('defaults', [str('unset', unset)], full)).defaults;
    const { model, steps, cfg, sampler, width, height, negativePrompt, count } = full.defaults;
    expect(without('model')).toEqual({ steps, cfg, sampler, width, height, negativePrompt, count });
    expect(without('steps')).toEqual({ model, cfg, sampler, width, height, negativePrompt, count });
    expect(without('cfg')).toEqual({ model, steps, sampler, width, height, negativePrompt, count });
    expect(without('sampler')).toEqual({ model, steps, cfg, width, height, negativePrompt, count });
    expect(without('size')).toEqual({ model, steps, cfg, sampler, negativePrompt, count });
    expect(without('negative')).toEqual({ model, steps, cfg, sampler, width, height, count });
    expect(without('count')).toEqual({ model, steps, cfg, sampler, width, height, negativePrompt });
    expect(without('all')).toEqual({});
    // Unset first, then the options given with it: `unset:all steps:8` leaves only steps.
    expect(next(run('defaults', [str('unset', 'all'), int('steps', 8)], full)).defaults).toEqual({ steps: 8 });
  });

  it('refuses an unset key it does not know, naming the valid ones (a raw interaction is not held to the choices)', () => {
    const full = settingsWith({ defaults: { steps: 30, width: 640, height: 384 } });
    expect(message(run('defaults', [str('unset', 'bogus')], full))).toBe(
      'Unknown default `bogus` to unset; use one of: model, steps, cfg, sampler, size, negative, count, all.',
    );
    // A schema key that is not a choice would clear half a size.
    expect(message(run('defaults', [str('unset', 'width')], full))).toMatch(/^Unknown default `width` to unset/);
  });
});

describe('/config change: limits, preview', () => {
  it('maps every limit option to its setting and keeps the others', () => {
    const result = run('limits', [
      int('max_steps', 80),
      int('max_pixels', 512 * 512),
      int('max_count', 2),
      int('user_queue', 5),
      int('user_cooldown', 30),
      int('guild_queue', 100),
      int('max_upload_mib', 3),
    ]);
    expect(result).toMatchObject({ ok: true, summary: 'Limits saved.' });
    expect(next(result).limits).toEqual({
      maxSteps: 80,
      maxPixels: 262144,
      maxCount: 2,
      userQueued: 5,
      userCooldownSeconds: 30,
      guildQueued: 100,
      maxUploadBytes: 3 * 1024 * 1024,
    });
    expect(next(run('limits', [int('user_cooldown', 0)])).limits).toEqual({ ...base().limits, userCooldownSeconds: 0 });
    expect(next(run('limits', [int('max_steps', 10)])).limits).toEqual({ ...base().limits, maxSteps: 10 });
  });

  it('turns previews on or off and sets their interval, separately or together', () => {
    expect(next(run('preview', [bool('enabled', false)])).preview).toEqual({ enabled: false, everySteps: 2 });
    expect(next(run('preview', [int('every', 5)])).preview).toEqual({ enabled: true, everySteps: 5 });
    const off = settingsWith({ preview: { enabled: false, everySteps: 7 } });
    expect(next(run('preview', [bool('enabled', true), int('every', 3)], off)).preview).toEqual({ enabled: true, everySteps: 3 });
    expect(run('preview', [int('every', 3)])).toMatchObject({ ok: true, summary: 'Preview settings saved.' });
  });

  it('turns prompt translation off and on (on by default) and shows it', () => {
    expect(base().translate).toBe(true);
    const off = run('translate', [bool('enabled', false)]);
    expect(off).toMatchObject({ ok: true, summary: 'Prompts will be used as typed.' });
    expect(next(off).translate).toBe(false);
    expect(next(run('translate', [bool('enabled', true)], settingsWith({ translate: false }))).translate).toBe(true);
    expect(describeSettings(GuildSettingsSchema.parse(next(off)))).toContain('**Translate Chinese prompts**: off');
  });
});

describe('/config change: channels', () => {
  const text = { type: ChannelType.GuildText, guildId: GUILD };

  it('adds without duplicates, removes and clears', () => {
    const added = run('channels', [str('action', 'add'), channel(CHANNEL, text)]);
    expect(added).toMatchObject({ ok: true, summary: 'Channels saved.' });
    expect(next(added).allowedChannels).toEqual([CHANNEL]);
    const two = settingsWith({ allowedChannels: [CHANNEL, CHANNEL_2] });
    expect(next(run('channels', [str('action', 'add'), channel(CHANNEL, text)], two)).allowedChannels).toEqual([CHANNEL, CHANNEL_2]);
    expect(next(run('channels', [str('action', 'remove'), channel(CHANNEL, text)], two)).allowedChannels).toEqual([CHANNEL_2]);
    expect(next(run('channels', [str('action', 'clear')], two)).allowedChannels).toEqual([]);
    // A thread and a voice channel's text chat count as places /imagine can run.
    expect(
      next(run('channels', [str('action', 'add'), channel(CHANNEL, { type: ChannelType.PublicThread, guildId: GUILD })])).allowedChannels,
    ).toEqual([CHANNEL]);
    expect(next(run('channels', [str('action', 'add'), channel(CHANNEL, { type: ChannelType.GuildVoice, guildId: GUILD })])).allowedChannels).toEqual(
      [CHANNEL],
    );
  });

  it('asks for the channel when add or remove has none', () => {
    expect(message(run('channels', [str('action', 'add')]))).toBe('Name the channel to add.');
    expect(message(run('channels', [str('action', 'remove')]))).toBe('Name the channel to remove.');
  });

  it('says a channel Discord did not resolve, or one of another server, is not in this server', () => {
    expect(message(run('channels', [str('action', 'add'), channel('999999999999999999')]))).toBe(
      'That channel is not in this server; pick one from the list Discord offers.',
    );
    expect(message(run('channels', [str('action', 'add'), channel(CHANNEL, { type: ChannelType.GuildText, guildId: OTHER_GUILD })]))).toBe(
      'That channel is not in this server; pick one from the list Discord offers.',
    );
  });

  it('asks for a text channel or thread when given a category or a forum', () => {
    for (const type of [ChannelType.GuildCategory, ChannelType.GuildForum, ChannelType.GuildStageVoice]) {
      expect(message(run('channels', [str('action', 'add'), channel(CHANNEL, { type, guildId: GUILD })]))).toBe(
        `Pick a text channel or thread; <#${CHANNEL}> is not one.`,
      );
    }
  });

  it('refuses an unknown action, naming add, remove and clear', () => {
    const two = settingsWith({ allowedChannels: [CHANNEL, CHANNEL_2] });
    expect(message(run('channels', [str('action', 'explode'), channel(CHANNEL, text)], two))).toBe(
      'Unknown action `explode`; use add, remove or clear.',
    );
  });
});

describe('/config change: banned words', () => {
  it('adds words trimmed, lower-cased and without duplicates', () => {
    const current = settingsWith({ bannedWords: ['gore'] });
    const result = run('banned-words', [str('action', 'add'), str('words', ' Blood , GORE,,  spoiler alert , blood ')], current);
    expect(result).toMatchObject({ ok: true, summary: 'Banned words saved.' });
    expect(next(result).bannedWords).toEqual(['gore', 'blood', 'spoiler alert']);
  });

  it('removes words however they are typed, and clears them all', () => {
    const current = settingsWith({ bannedWords: ['gore', 'blood', 'spoiler alert'] });
    expect(next(run('banned-words', [str('action', 'remove'), str('words', ' GORE, Spoiler Alert ')], current)).bannedWords).toEqual(['blood']);
    expect(next(run('banned-words', [str('action', 'clear')], current)).bannedWords).toEqual([]);
    expect(next(run('banned-words', [str('action', 'clear'), str('words', 'ignored')], current)).bannedWords).toEqual([]);
  });

  it('asks for words when add or remove has none (blank entries do not count)', () => {
    expect(message(run('banned-words', [str('action', 'add')]))).toBe('Name the words to add.');
    expect(message(run('banned-words', [str('action', 'remove'), str('words', ' , ,')]))).toBe('Name the words to remove.');
  });

  it('refuses an unknown action, naming add, remove and clear', () => {
    const current = settingsWith({ bannedWords: ['gore'] });
    expect(message(run('banned-words', [str('action', 'explode'), str('words', 'gore')], current))).toBe(
      'Unknown action `explode`; use add, remove or clear.',
    );
  });
});

describe('/config change: subcommands', () => {
  it('refuses a subcommand it does not know', () => {
    expect(message(run('teleport'))).toBe(
      'Unknown subcommand `teleport`; use show, defaults, limits, channels, banned-words, preview, translate, loras, language or reset.',
    );
  });
});

/** A settings store stand-in that records every write. */
function store(initial: Record<string, GuildSettings> = {}) {
  const stored = new Map(Object.entries(initial));
  const writes: string[] = [];
  const settings: GuildSettingsSource = {
    get: (guildId) => stored.get(guildId) ?? base(),
    set(guildId, value) {
      writes.push(`set ${guildId}`);
      const parsed = GuildSettingsSchema.parse(value);
      stored.set(guildId, parsed);
      return parsed;
    },
    reset(guildId) {
      writes.push(`reset ${guildId}`);
      stored.delete(guildId);
    },
  };
  return { settings, stored, writes };
}

interface FakeOptions {
  guildId?: string | null;
  permissions?: bigint | null;
}

async function execute(sub: string, options: Option[], s: ReturnType<typeof store>, fake: FakeOptions = {}) {
  const guildId = fake.guildId === undefined ? GUILD : fake.guildId;
  const permissions = fake.permissions === undefined ? PermissionFlagsBits.ManageGuild : fake.permissions;
  const replies: { content: string; flags?: unknown }[] = [];
  const interaction = {
    guildId,
    inGuild: () => guildId !== null,
    memberPermissions: permissions === null ? null : new PermissionsBitField(permissions),
    user: { id: ADMIN },
    options: resolver(sub, options),
    reply: async (payload: { content: string; flags?: unknown }) => void replies.push(payload),
  } as unknown as ChatInputCommandInteraction;
  const context = { settings: s.settings, models: () => MODELS, logger: createLogger({ level: 'silent' }) } as unknown as BotContext;
  await configCommand(context).execute(interaction);
  expect(replies).toHaveLength(1);
  expect(replies[0].flags).toBe(MessageFlags.Ephemeral);
  return replies[0].content;
}

describe('/config handler', () => {
  it('saves a valid change and answers with the summary and the new settings', async () => {
    const s = store();
    expect(await execute('defaults', [int('steps', 3)], s)).toMatch(/^Defaults saved\.\n\*\*Defaults\*\*[\s\S]*steps: 3 /);
    expect(s.writes).toEqual([`set ${GUILD}`]);
    expect(s.stored.get(GUILD)?.defaults).toEqual({ steps: 3 });
  });

  it('refuses outside a server and saves nothing (a DM has no guild to save under)', async () => {
    const s = store();
    for (const sub of ['show', 'defaults', 'reset']) {
      expect(await execute(sub, sub === 'defaults' ? [int('steps', 3)] : [], s, { guildId: null, permissions: null })).toBe(
        'Use /config inside a server.',
      );
    }
    expect(s.writes).toEqual([]);
  });

  it('refuses every subcommand, show included, to members without Manage Server, whatever Integrations allows', async () => {
    const s = store({ [GUILD]: settingsWith({ bannedWords: ['secret'] }) });
    const refusal = 'You need the Manage Server permission to change /config.';
    const member = PermissionFlagsBits.SendMessages | PermissionFlagsBits.UseApplicationCommands;
    expect(await execute('show', [], s, { permissions: member })).toBe(refusal);
    expect(await execute('defaults', [int('steps', 3)], s, { permissions: member })).toBe(refusal);
    expect(await execute('banned-words', [str('action', 'clear')], s, { permissions: member })).toBe(refusal);
    expect(await execute('reset', [], s, { permissions: member })).toBe(refusal);
    expect(await execute('reset', [], s, { permissions: null })).toBe(refusal);
    expect(s.writes).toEqual([]);
    expect(s.stored.get(GUILD)?.bannedWords).toEqual(['secret']);
  });

  it('lets Administrator through, as Discord does', async () => {
    const s = store();
    expect(await execute('show', [], s, { permissions: PermissionFlagsBits.Administrator })).toMatch(/^\*\*Defaults\*\*/);
  });

  it('saves nothing for an unknown unset key, action or subcommand', async () => {
    const s = store({ [GUILD]: settingsWith({ defaults: { steps: 30 }, bannedWords: ['gore'], allowedChannels: [CHANNEL] }) });
    expect(await execute('defaults', [str('unset', 'bogus')], s)).toMatch(/^Unknown default `bogus` to unset; use one of: model, steps/);
    expect(await execute('banned-words', [str('action', 'explode'), str('words', 'gore')], s)).toBe(
      'Unknown action `explode`; use add, remove or clear.',
    );
    expect(await execute('channels', [str('action', 'explode')], s)).toBe('Unknown action `explode`; use add, remove or clear.');
    expect(await execute('teleport', [], s)).toMatch(/^Unknown subcommand `teleport`/);
    expect(s.writes).toEqual([]);
  });

  it('saves nothing when the result breaks the schema, and says what to change', async () => {
    const s = store({ [GUILD]: settingsWith({ defaults: { steps: 30 } }) });
    expect(await execute('limits', [int('max_steps', 20)], s)).toBe(
      'Not saved: The default steps (30) are over max steps (20); lower one or raise the other.',
    );
    expect(await execute('defaults', [int('count', 4)], store({ [GUILD]: settingsWith({ limits: { ...base().limits, maxCount: 2 } }) }))).toBe(
      'Not saved: The default count (4) is over max count (2); lower one or raise the other.',
    );
    expect(await execute('defaults', [str('size', '500x500')], s)).toMatch(/^Not saved: defaults\.width: .*multiple of 8/);
    expect(s.writes).toEqual([]);
  });

  it('resets to the bot defaults', async () => {
    const s = store({ [GUILD]: settingsWith({ bannedWords: ['gore'] }) });
    expect(await execute('reset', [], s)).toMatch(/^Settings reset\.\n[\s\S]*\*\*Banned words\*\*: \(none\)/);
    expect(s.writes).toEqual([`reset ${GUILD}`]);
  });
});

describe('/config change: loras', () => {
  const loras = [
    { name: 'style', triggerWords: [] },
    { name: 'ink', triggerWords: [] },
  ];
  const runLoras = (options: Option[], current: GuildSettings = base()) =>
    change({ options: resolver('loras', options), guildId: GUILD }, current, { models: () => MODELS, loras: () => loras });

  it('allows all, none, or a list edited with add/remove/clear (editing turns the list on)', () => {
    expect(next(runLoras([str('action', 'none')])).loras).toEqual({ mode: 'none', allowed: [] });
    const added = next(runLoras([str('action', 'add'), str('names', 'style, ink')]));
    expect(added.loras).toEqual({ mode: 'list', allowed: ['style', 'ink'] });
    expect(next(runLoras([str('action', 'remove'), str('names', 'ink')], added)).loras).toEqual({ mode: 'list', allowed: ['style'] });
    expect(next(runLoras([str('action', 'all')], added)).loras).toEqual({ mode: 'all', allowed: ['style', 'ink'] });
    expect(next(runLoras([str('action', 'clear')], added)).loras).toEqual({ mode: 'list', allowed: [] });
  });

  it('refuses a name that is not installed, and an unknown action', () => {
    expect(message(runLoras([str('action', 'add'), str('names', 'stlye')]))).toBe('Unknown LoRA `stlye`; installed: style, ink.');
    expect(message(runLoras([str('action', 'maybe')]))).toBe('Unknown action `maybe`; use all, none, add, remove or clear.');
  });
});
