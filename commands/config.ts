import { ChannelType, InteractionContextType, PermissionFlagsBits, SlashCommandBuilder } from 'discord.js';
import { BOUNDS } from '../src/config/guild-settings.js';
import { SAMPLER_NAMES } from '../src/protocol/samplers.js';

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
export const data = new SlashCommandBuilder()
  .setName('config')
  .setDescription('Show or change how /imagine works in this server')
  .setContexts(InteractionContextType.Guild)
  .setDefaultMemberPermissions(PermissionFlagsBits.ManageGuild)
  .addSubcommand((s) => s.setName(CONFIG_SUBCOMMANDS.show).setDescription('Show the current settings'))
  .addSubcommand((s) =>
    s
      .setName(CONFIG_SUBCOMMANDS.defaults)
      .setDescription('Set what /imagine uses when an option is not given')
      .addStringOption((o) => o.setName(CONFIG_OPTIONS.model).setDescription('Default model').setAutocomplete(true).setMaxLength(100))
      .addIntegerOption((o) =>
        o.setName(CONFIG_OPTIONS.steps).setDescription('Default steps').setMinValue(BOUNDS.steps.min).setMaxValue(BOUNDS.steps.max),
      )
      .addNumberOption((o) =>
        o.setName(CONFIG_OPTIONS.cfg).setDescription('Default guidance scale').setMinValue(BOUNDS.cfg.min).setMaxValue(BOUNDS.cfg.max),
      )
      .addStringOption((o) =>
        o
          .setName(CONFIG_OPTIONS.sampler)
          .setDescription('Default sampler')
          .addChoices(...SAMPLER_NAMES.map((name) => ({ name, value: name }))),
      )
      .addStringOption((o) => o.setName(CONFIG_OPTIONS.size).setDescription('Default size, WxH such as 512x512').setMaxLength(20))
      .addStringOption((o) => o.setName(CONFIG_OPTIONS.negative).setDescription('Default negative prompt').setMaxLength(BOUNDS.negativeChars))
      .addIntegerOption((o) =>
        o.setName(CONFIG_OPTIONS.count).setDescription('Default image count').setMinValue(BOUNDS.count.min).setMaxValue(BOUNDS.count.max),
      )
      .addStringOption((o) =>
        o
          .setName(CONFIG_OPTIONS.unset)
          .setDescription("Clear one default (back to the model's own) or all of them")
          .addChoices(...UNSETTABLE_DEFAULTS.map((name) => ({ name, value: name }))),
      ),
  )
  .addSubcommand((s) =>
    s
      .setName(CONFIG_SUBCOMMANDS.limits)
      .setDescription('Set the limits every /imagine must stay within')
      .addIntegerOption((o) =>
        o.setName(CONFIG_OPTIONS.maxSteps).setDescription('Most steps a job may use').setMinValue(BOUNDS.steps.min).setMaxValue(BOUNDS.steps.max),
      )
      .addIntegerOption((o) =>
        o
          .setName(CONFIG_OPTIONS.maxPixels)
          .setDescription('Most pixels per image (width × height)')
          .setMinValue(BOUNDS.pixels.min)
          .setMaxValue(BOUNDS.pixels.max),
      )
      .addIntegerOption((o) =>
        o.setName(CONFIG_OPTIONS.maxCount).setDescription('Most images per job').setMinValue(BOUNDS.count.min).setMaxValue(BOUNDS.count.max),
      )
      .addIntegerOption((o) =>
        o
          .setName(CONFIG_OPTIONS.userQueue)
          .setDescription('Jobs one member may have waiting or running')
          .setMinValue(BOUNDS.userQueued.min)
          .setMaxValue(BOUNDS.userQueued.max),
      )
      .addIntegerOption((o) =>
        o
          .setName(CONFIG_OPTIONS.userCooldown)
          .setDescription('Seconds between two jobs of one member (0 = off)')
          .setMinValue(BOUNDS.cooldownSeconds.min)
          .setMaxValue(BOUNDS.cooldownSeconds.max),
      )
      .addIntegerOption((o) =>
        o
          .setName(CONFIG_OPTIONS.guildQueue)
          .setDescription('Jobs this server may have waiting or running')
          .setMinValue(BOUNDS.guildQueued.min)
          .setMaxValue(BOUNDS.guildQueued.max),
      )
      .addIntegerOption((o) =>
        o
          .setName(CONFIG_OPTIONS.maxUpload)
          .setDescription('Largest picture members may upload to /imagine and /edit, in MiB')
          .setMinValue(1)
          .setMaxValue(BOUNDS.uploadBytes.max / MIB),
      ),
  )
  .addSubcommand((s) =>
    s
      .setName(CONFIG_SUBCOMMANDS.channels)
      .setDescription('Limit /imagine to some channels (none listed = everywhere)')
      .addStringOption((o) =>
        o
          .setName(CONFIG_OPTIONS.action)
          .setDescription('What to do')
          .setRequired(true)
          .addChoices(...LIST_ACTIONS.map((name) => ({ name, value: name }))),
      )
      .addChannelOption((o) =>
        o
          .setName(CONFIG_OPTIONS.channel)
          .setDescription('The channel to add or remove')
          .addChannelTypes(...CONFIG_CHANNEL_TYPES),
      ),
  )
  .addSubcommand((s) =>
    s
      .setName(CONFIG_SUBCOMMANDS.bannedWords)
      .setDescription('Words refused in prompts')
      .addStringOption((o) =>
        o
          .setName(CONFIG_OPTIONS.action)
          .setDescription('What to do')
          .setRequired(true)
          .addChoices(...LIST_ACTIONS.map((name) => ({ name, value: name }))),
      )
      .addStringOption((o) => o.setName(CONFIG_OPTIONS.words).setDescription('Comma-separated words or phrases').setMaxLength(1000)),
  )
  .addSubcommand((s) =>
    s
      .setName(CONFIG_SUBCOMMANDS.preview)
      .setDescription('Live previews while an image is generated')
      .addBooleanOption((o) => o.setName(CONFIG_OPTIONS.enabled).setDescription('Show previews'))
      .addIntegerOption((o) =>
        o
          .setName(CONFIG_OPTIONS.every)
          .setDescription('A preview every this many steps')
          .setMinValue(BOUNDS.previewEvery.min)
          .setMaxValue(BOUNDS.previewEvery.max),
      ),
  )
  .addSubcommand((s) =>
    s
      .setName(CONFIG_SUBCOMMANDS.translate)
      .setDescription('Translate Chinese prompts to English for models that read English only')
      .addBooleanOption((o) => o.setName(CONFIG_OPTIONS.enabled).setDescription('Translate (on) or keep prompts as typed (off)').setRequired(true)),
  )
  .addSubcommand((s) =>
    s
      .setName(CONFIG_SUBCOMMANDS.loras)
      .setDescription('Which installed LoRAs <lora:name:weight> may use here')
      .addStringOption((o) =>
        o
          .setName(CONFIG_OPTIONS.action)
          .setDescription('all, none, or edit the allowed list')
          .setRequired(true)
          .addChoices(...LORA_ACTIONS.map((name) => ({ name, value: name }))),
      )
      .addStringOption((o) => o.setName(CONFIG_OPTIONS.names).setDescription('Comma-separated LoRA names (see /help loras)').setMaxLength(1000)),
  )
  .addSubcommand((s) => s.setName(CONFIG_SUBCOMMANDS.reset).setDescription('Back to the bot defaults'));
