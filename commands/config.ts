import { ChannelType, InteractionContextType, PermissionFlagsBits, SlashCommandBuilder } from 'discord.js';
import { BOUNDS } from '../src/config/guild-settings.js';
import { LANGUAGE_SETTINGS } from '../src/config/guild-settings.js';
import { CATALOGUES } from '../src/i18n/locales.js';
import { SAMPLER_NAMES } from '../src/protocol/samplers.js';
import { choice, named } from './localize.js';

/** Uploads are set in MiB (what people think in) and stored in bytes. */
export const MIB = 1024 * 1024;

export const CONFIG_SUBCOMMANDS = {
  show: 'show',
  defaults: 'defaults',
  limits: 'limits',
  channels: 'channels',
  bannedWords: 'banned-words',
  preview: 'preview',
  translate: 'translate',
  loras: 'loras',
  language: 'language',
  reset: 'reset',
} as const;

export const CONFIG_OPTIONS = {
  model: 'model',
  steps: 'steps',
  cfg: 'cfg',
  sampler: 'sampler',
  size: 'size',
  negative: 'negative',
  count: 'count',
  unset: 'unset',
  maxSteps: 'max_steps',
  maxPixels: 'max_pixels',
  maxCount: 'max_count',
  userQueue: 'user_queue',
  userCooldown: 'user_cooldown',
  guildQueue: 'guild_queue',
  maxUpload: 'max_upload_mib',
  action: 'action',
  channel: 'channel',
  words: 'words',
  enabled: 'enabled',
  every: 'every',
  names: 'names',
  language: 'language',
} as const;

/** Defaults that `/config defaults unset:` can clear (back to the model's own). */
export const UNSETTABLE_DEFAULTS = ['model', 'steps', 'cfg', 'sampler', 'size', 'negative', 'count', 'all'] as const;
export const LIST_ACTIONS = ['add', 'remove', 'clear'] as const;
/** `/config loras`: allow every installed LoRA, none, or a list edited with add/remove/clear. */
export const LORA_ACTIONS = ['all', 'none', ...LIST_ACTIONS] as const;
/** Where /imagine can run and so what `/config channels` offers: text channels, threads and a voice channel's chat. */
export const CONFIG_CHANNEL_TYPES = [ChannelType.GuildText, ChannelType.PublicThread, ChannelType.GuildVoice] as const;

// Manage Server by default and guild-only, so Discord hides it from other members. Server admins can grant it to any
// role or member in Integrations, though, and that would hand the server's limits and banned words to them: the
// handler (src/discord/commands/config.ts) checks Manage Server itself and refuses everyone else.
export const data = named(new SlashCommandBuilder(), 'config', 'cmd.config.name', 'cmd.config.description')
  .setContexts(InteractionContextType.Guild)
  .setDefaultMemberPermissions(PermissionFlagsBits.ManageGuild)
  .addSubcommand((s) => named(s, CONFIG_SUBCOMMANDS.show, 'cmd.config.show.name', 'cmd.config.show.description'))
  .addSubcommand((s) =>
    named(s, CONFIG_SUBCOMMANDS.defaults, 'cmd.config.defaults.name', 'cmd.config.defaults.description')
      .addStringOption((o) =>
        named(o, CONFIG_OPTIONS.model, 'cmd.imagine.model.name', 'cmd.config.defaults.model.description').setAutocomplete(true).setMaxLength(100),
      )
      .addIntegerOption((o) =>
        named(o, CONFIG_OPTIONS.steps, 'cmd.imagine.steps.name', 'cmd.config.defaults.steps.description')
          .setMinValue(BOUNDS.steps.min)
          .setMaxValue(BOUNDS.steps.max),
      )
      .addNumberOption((o) =>
        named(o, CONFIG_OPTIONS.cfg, 'cmd.imagine.cfg.name', 'cmd.config.defaults.cfg.description')
          .setMinValue(BOUNDS.cfg.min)
          .setMaxValue(BOUNDS.cfg.max),
      )
      .addStringOption((o) =>
        named(o, CONFIG_OPTIONS.sampler, 'cmd.imagine.sampler.name', 'cmd.config.defaults.sampler.description').addChoices(
          ...SAMPLER_NAMES.map((name) => ({ name, value: name })),
        ),
      )
      .addStringOption((o) => named(o, CONFIG_OPTIONS.size, 'cmd.imagine.size.name', 'cmd.config.defaults.size.description').setMaxLength(20))
      .addStringOption((o) =>
        named(o, CONFIG_OPTIONS.negative, 'cmd.imagine.negative.name', 'cmd.config.defaults.negative.description').setMaxLength(BOUNDS.negativeChars),
      )
      .addIntegerOption((o) =>
        named(o, CONFIG_OPTIONS.count, 'cmd.imagine.count.name', 'cmd.config.defaults.count.description')
          .setMinValue(BOUNDS.count.min)
          .setMaxValue(BOUNDS.count.max),
      )
      .addStringOption((o) =>
        named(o, CONFIG_OPTIONS.unset, 'cmd.config.defaults.unset.name', 'cmd.config.defaults.unset.description').addChoices(
          ...UNSETTABLE_DEFAULTS.map((name) => choice(name, `cmd.config.unset.${name}`)),
        ),
      ),
  )
  .addSubcommand((s) =>
    named(s, CONFIG_SUBCOMMANDS.limits, 'cmd.config.limits.name', 'cmd.config.limits.description')
      .addIntegerOption((o) =>
        named(o, CONFIG_OPTIONS.maxSteps, 'cmd.config.limits.max_steps.name', 'cmd.config.limits.max_steps.description')
          .setMinValue(BOUNDS.steps.min)
          .setMaxValue(BOUNDS.steps.max),
      )
      .addIntegerOption((o) =>
        named(o, CONFIG_OPTIONS.maxPixels, 'cmd.config.limits.max_pixels.name', 'cmd.config.limits.max_pixels.description')
          .setMinValue(BOUNDS.pixels.min)
          .setMaxValue(BOUNDS.pixels.max),
      )
      .addIntegerOption((o) =>
        named(o, CONFIG_OPTIONS.maxCount, 'cmd.config.limits.max_count.name', 'cmd.config.limits.max_count.description')
          .setMinValue(BOUNDS.count.min)
          .setMaxValue(BOUNDS.count.max),
      )
      .addIntegerOption((o) =>
        named(o, CONFIG_OPTIONS.userQueue, 'cmd.config.limits.user_queue.name', 'cmd.config.limits.user_queue.description')
          .setMinValue(BOUNDS.userQueued.min)
          .setMaxValue(BOUNDS.userQueued.max),
      )
      .addIntegerOption((o) =>
        named(o, CONFIG_OPTIONS.userCooldown, 'cmd.config.limits.user_cooldown.name', 'cmd.config.limits.user_cooldown.description')
          .setMinValue(BOUNDS.cooldownSeconds.min)
          .setMaxValue(BOUNDS.cooldownSeconds.max),
      )
      .addIntegerOption((o) =>
        named(o, CONFIG_OPTIONS.guildQueue, 'cmd.config.limits.guild_queue.name', 'cmd.config.limits.guild_queue.description')
          .setMinValue(BOUNDS.guildQueued.min)
          .setMaxValue(BOUNDS.guildQueued.max),
      )
      .addIntegerOption((o) =>
        named(o, CONFIG_OPTIONS.maxUpload, 'cmd.config.limits.max_upload_mib.name', 'cmd.config.limits.max_upload_mib.description')
          .setMinValue(1)
          .setMaxValue(BOUNDS.uploadBytes.max / MIB),
      ),
  )
  .addSubcommand((s) =>
    named(s, CONFIG_SUBCOMMANDS.channels, 'cmd.config.channels.name', 'cmd.config.channels.description')
      .addStringOption((o) =>
        named(o, CONFIG_OPTIONS.action, 'cmd.config.action.name', 'cmd.config.action.description')
          .setRequired(true)
          .addChoices(...LIST_ACTIONS.map((name) => choice(name, `cmd.config.action.${name}`))),
      )
      .addChannelOption((o) =>
        named(o, CONFIG_OPTIONS.channel, 'cmd.config.channels.channel.name', 'cmd.config.channels.channel.description').addChannelTypes(
          ...CONFIG_CHANNEL_TYPES,
        ),
      ),
  )
  .addSubcommand((s) =>
    named(s, CONFIG_SUBCOMMANDS.bannedWords, 'cmd.config.banned_words.name', 'cmd.config.banned_words.description')
      .addStringOption((o) =>
        named(o, CONFIG_OPTIONS.action, 'cmd.config.action.name', 'cmd.config.action.description')
          .setRequired(true)
          .addChoices(...LIST_ACTIONS.map((name) => choice(name, `cmd.config.action.${name}`))),
      )
      .addStringOption((o) =>
        named(o, CONFIG_OPTIONS.words, 'cmd.config.banned_words.words.name', 'cmd.config.banned_words.words.description').setMaxLength(1000),
      ),
  )
  .addSubcommand((s) =>
    named(s, CONFIG_SUBCOMMANDS.preview, 'cmd.config.preview.name', 'cmd.config.preview.description')
      .addBooleanOption((o) => named(o, CONFIG_OPTIONS.enabled, 'cmd.config.enabled.name', 'cmd.config.preview.enabled.description'))
      .addIntegerOption((o) =>
        named(o, CONFIG_OPTIONS.every, 'cmd.config.preview.every.name', 'cmd.config.preview.every.description')
          .setMinValue(BOUNDS.previewEvery.min)
          .setMaxValue(BOUNDS.previewEvery.max),
      ),
  )
  .addSubcommand((s) =>
    named(s, CONFIG_SUBCOMMANDS.translate, 'cmd.config.translate.name', 'cmd.config.translate.description').addBooleanOption((o) =>
      named(o, CONFIG_OPTIONS.enabled, 'cmd.config.enabled.name', 'cmd.config.translate.enabled.description').setRequired(true),
    ),
  )
  .addSubcommand((s) =>
    named(s, CONFIG_SUBCOMMANDS.loras, 'cmd.config.loras.name', 'cmd.config.loras.description')
      .addStringOption((o) =>
        named(o, CONFIG_OPTIONS.action, 'cmd.config.action.name', 'cmd.config.loras.action.description')
          .setRequired(true)
          .addChoices(...LORA_ACTIONS.map((name) => choice(name, `cmd.config.action.${name}`))),
      )
      .addStringOption((o) => named(o, CONFIG_OPTIONS.names, 'cmd.config.loras.names.name', 'cmd.config.loras.names.description').setMaxLength(1000)),
  )
  .addSubcommand((s) =>
    named(s, CONFIG_SUBCOMMANDS.language, 'cmd.config.language.name', 'cmd.config.language.description').addStringOption((o) =>
      named(o, CONFIG_OPTIONS.language, 'cmd.config.language.name', 'cmd.config.language.language.description')
        .setRequired(true)
        // Each language by its own name (as language pickers do), so a member finds theirs whatever Discord shows.
        .addChoices(
          ...LANGUAGE_SETTINGS.map((value) =>
            value === 'auto' ? choice(value, 'cmd.config.language.auto') : { name: CATALOGUES[value]['locale.name'], value },
          ),
        ),
    ),
  )
  .addSubcommand((s) => named(s, CONFIG_SUBCOMMANDS.reset, 'cmd.config.reset.name', 'cmd.config.reset.description'));
