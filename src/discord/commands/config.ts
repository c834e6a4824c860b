import { MessageFlags, PermissionFlagsBits, type AutocompleteInteraction, type ChannelType, type ChatInputCommandInteraction } from 'discord.js';
import {
  CONFIG_CHANNEL_TYPES,
  CONFIG_OPTIONS,
  CONFIG_SUBCOMMANDS,
  LIST_ACTIONS,
  LORA_ACTIONS,
  MIB,
  UNSETTABLE_DEFAULTS,
} from '../../../commands/config.js';
import { GuildSettingsSchema, describeSettingsIssues, type GuildSettings } from '../../config/guild-settings.js';
import type { BotContext } from '../bot-context.js';
import type { CommandHandler } from '../command-registry.js';
import { REQUEST_DEFAULTS } from '../../protocol/generate-request.js';
import { parseSizeSpec, sizeForRatio } from '../options/size.js';
import { escapeMarkdown } from '../delivery/render/job-message.js';

/** The settings as an admin reads them. */
export function describeSettings(settings: GuildSettings): string {
  const d = settings.defaults;
  const l = settings.limits;
  const unset = "model's default";
  return [
    "**Defaults** (unset = the model's own)",
    `model: ${d.model ?? unset} · steps: ${d.steps ?? unset} · cfg: ${d.cfg ?? unset} · sampler: ${d.sampler ?? unset}`,
    `size: ${d.width ? `${d.width}x${d.height}` : unset} · count: ${d.count ?? 1} · negative: ${d.negativePrompt ? escapeMarkdown(d.negativePrompt) : '(none)'}`,
    '**Limits**',
    `max steps: ${l.maxSteps} · max pixels: ${l.maxPixels} · max count: ${l.maxCount}`,
    `per member: ${l.userQueued} queued · cooldown: ${l.userCooldownSeconds} s · per server: ${l.guildQueued} queued · uploads: up to ${Math.round((l.maxUploadBytes / MIB) * 10) / 10} MiB`,
    `**Channels**: ${settings.allowedChannels.length === 0 ? 'all' : settings.allowedChannels.map((id) => `<#${id}>`).join(', ')}`,
    `**Banned words**: ${settings.bannedWords.length === 0 ? '(none)' : settings.bannedWords.map((w) => `\`${w}\``).join(', ')}`,
    `**Previews**: ${settings.preview.enabled ? `on, every ${settings.preview.everySteps} steps` : 'off'}`,
    `**Translate Chinese prompts**: ${settings.translate ? 'on' : 'off'}`,
    `**LoRAs**: ${settings.loras.mode === 'all' ? 'all installed' : settings.loras.mode === 'none' ? 'none' : settings.loras.allowed.map((n) => `\`${n}\``).join(', ') || '(empty list: none)'}`,
  ].join('\n');
}

export type Change = { ok: true; next: unknown; summary: string } | { ok: false; message: string };

// Discord only sends the choices of commands/config.ts, but a raw interaction can carry any string; an unknown value
// must be refused, not read as the nearest action or key, or the answer says "saved" for a change never made.
const isOneOf = <T extends string>(values: readonly T[], value: string): value is T => (values as readonly string[]).includes(value);
const listOr = (values: readonly string[]) => `${values.slice(0, -1).join(', ')} or ${values.at(-1)}`;

function applyList(
  list: readonly string[],
  action: string,
  items: readonly string[],
  what: string,
): { ok: true; list: string[] } | { ok: false; message: string } {
  if (!isOneOf(LIST_ACTIONS, action)) return { ok: false, message: `Unknown action \`${action}\`; use ${listOr(LIST_ACTIONS)}.` };
  if (action === 'clear') return { ok: true, list: [] };
  if (items.length === 0) return { ok: false, message: `Name the ${what} to ${action}.` };
  if (action === 'add') return { ok: true, list: [...new Set([...list, ...items])] };
  return { ok: true, list: list.filter((entry) => !items.includes(entry)) };
}

/**
 * Reads the subcommand's options into a candidate settings object; the schema decides whether it is valid. Exported
 * (and narrowed to what it reads) so the tests can drive it without Discord.
 */
export function change(
  interaction: Pick<ChatInputCommandInteraction, 'options' | 'guildId'>,
  current: GuildSettings,
  context: Pick<BotContext, 'models' | 'loras'>,
): Change {
  const o = interaction.options;
  const sub = o.getSubcommand(true);
  switch (sub) {
    case CONFIG_SUBCOMMANDS.defaults: {
      const defaults: Record<string, unknown> = { ...current.defaults };
      const unset = o.getString(CONFIG_OPTIONS.unset);
      if (unset !== null && !isOneOf(UNSETTABLE_DEFAULTS, unset)) {
        return { ok: false, message: `Unknown default \`${unset}\` to unset; use one of: ${UNSETTABLE_DEFAULTS.join(', ')}.` };
      }
      if (unset === 'all') for (const key of Object.keys(defaults)) delete defaults[key];
      else if (unset === 'size') {
        delete defaults.width;
        delete defaults.height;
      } else if (unset === 'negative') delete defaults.negativePrompt;
      else if (unset) delete defaults[unset];
      const model = o.getString(CONFIG_OPTIONS.model);
      if (model !== null) {
        const known = context.models().map((m) => m.name);
        // Installed models only, whether or not the worker is up: a path saved here would reach the worker.
        if (!known.includes(model)) {
          return {
            ok: false,
            message: `Unknown model \`${model.replace(/[`\r\n]/g, '').slice(0, 100)}\`; choose one of: ${known.join(', ') || 'none installed'}.`,
          };
        }
        defaults.model = model;
      }
      const steps = o.getInteger(CONFIG_OPTIONS.steps);
      if (steps !== null) defaults.steps = steps;
      const cfg = o.getNumber(CONFIG_OPTIONS.cfg);
      if (cfg !== null) defaults.cfg = cfg;
      const sampler = o.getString(CONFIG_OPTIONS.sampler);
      if (sampler !== null) defaults.sampler = sampler;
      const count = o.getInteger(CONFIG_OPTIONS.count);
      if (count !== null) defaults.count = count;
      const negative = o.getString(CONFIG_OPTIONS.negative);
      if (negative !== null) defaults.negativePrompt = negative;
      const size = o.getString(CONFIG_OPTIONS.size);
      if (size !== null) {
        const spec = parseSizeSpec(size);
        if (!spec.ok) return { ok: false, message: spec.error.message };
        const { width, height } =
          spec.value.kind === 'exact' ? spec.value : sizeForRatio(spec.value.ratio, REQUEST_DEFAULTS.width * REQUEST_DEFAULTS.height);
        defaults.width = width;
        defaults.height = height;
      }
      return { ok: true, next: { ...current, defaults }, summary: 'Defaults saved.' };
    }
    case CONFIG_SUBCOMMANDS.limits: {
      const limits: Record<string, unknown> = { ...current.limits };
      const pairs: [string, string][] = [
        [CONFIG_OPTIONS.maxSteps, 'maxSteps'],
        [CONFIG_OPTIONS.maxPixels, 'maxPixels'],
        [CONFIG_OPTIONS.maxCount, 'maxCount'],
        [CONFIG_OPTIONS.userQueue, 'userQueued'],
        [CONFIG_OPTIONS.userCooldown, 'userCooldownSeconds'],
        [CONFIG_OPTIONS.guildQueue, 'guildQueued'],
      ];
      for (const [option, key] of pairs) {
        const value = o.getInteger(option);
        if (value !== null) limits[key] = value;
      }
      const upload = o.getInteger(CONFIG_OPTIONS.maxUpload);
      if (upload !== null) limits.maxUploadBytes = upload * MIB;
      return { ok: true, next: { ...current, limits }, summary: 'Limits saved.' };
    }
    case CONFIG_SUBCOMMANDS.channels: {
      const given = o.get(CONFIG_OPTIONS.channel);
      const channel = o.getChannel(CONFIG_OPTIONS.channel);
      // Discord resolves only channels of the server the command runs in; an id it did not resolve, or a cached
      // channel of another server, is not one /imagine could ever be used in here.
      const guildOf = channel && 'guildId' in channel ? channel.guildId : undefined;
      if ((given && !channel) || (guildOf !== undefined && guildOf !== interaction.guildId)) {
        return { ok: false, message: 'That channel is not in this server; pick one from the list Discord offers.' };
      }
      if (channel && !(CONFIG_CHANNEL_TYPES as readonly ChannelType[]).includes(channel.type)) {
        return { ok: false, message: `Pick a text channel or thread; <#${channel.id}> is not one.` };
      }
      const result = applyList(current.allowedChannels, o.getString(CONFIG_OPTIONS.action, true), channel ? [channel.id] : [], 'channel');
      if (!result.ok) return result;
      return { ok: true, next: { ...current, allowedChannels: result.list }, summary: 'Channels saved.' };
    }
    case CONFIG_SUBCOMMANDS.bannedWords: {
      const words = (o.getString(CONFIG_OPTIONS.words) ?? '')
        .split(',')
        .map((w) => w.trim().toLowerCase())
        .filter(Boolean);
      const result = applyList(current.bannedWords, o.getString(CONFIG_OPTIONS.action, true), words, 'words');
      if (!result.ok) return result;
      return { ok: true, next: { ...current, bannedWords: result.list }, summary: 'Banned words saved.' };
    }
    case CONFIG_SUBCOMMANDS.preview: {
      const enabled = o.getBoolean(CONFIG_OPTIONS.enabled);
      const every = o.getInteger(CONFIG_OPTIONS.every);
      const preview = { ...current.preview, ...(enabled === null ? {} : { enabled }), ...(every === null ? {} : { everySteps: every }) };
      return { ok: true, next: { ...current, preview }, summary: 'Preview settings saved.' };
    }
    case CONFIG_SUBCOMMANDS.translate: {
      const translate = o.getBoolean(CONFIG_OPTIONS.enabled, true);
      return {
        ok: true,
        next: { ...current, translate },
        summary: translate ? 'Chinese prompts will be translated.' : 'Prompts will be used as typed.',
      };
    }
    case CONFIG_SUBCOMMANDS.loras: {
      const action = o.getString(CONFIG_OPTIONS.action, true);
      if (!isOneOf(LORA_ACTIONS, action)) return { ok: false, message: `Unknown action \`${action}\`; use ${listOr(LORA_ACTIONS)}.` };
      if (action === 'all' || action === 'none')
        return { ok: true, next: { ...current, loras: { mode: action, allowed: current.loras.allowed } }, summary: 'LoRA settings saved.' };
      const names = (o.getString(CONFIG_OPTIONS.names) ?? '')
        .split(',')
        .map((n) => n.trim())
        .filter(Boolean);
      // Installed LoRAs only, as for models: a typo saved here would allow nothing and say nothing.
      const installed = context.loras?.().map((l) => l.name);
      const unknown = action === 'add' && installed ? names.filter((n) => !installed.includes(n)) : [];
      if (unknown.length)
        return {
          ok: false,
          message: `Unknown LoRA ${unknown.map((n) => `\`${n.replace(/[`\r\n]/g, '').slice(0, 100)}\``).join(', ')}; installed: ${installed!.join(', ') || 'none'}.`,
        };
      const result = applyList(current.loras.allowed, action, names, 'LoRAs');
      if (!result.ok) return result;
      // Editing the list turns the list on: "add x" means "x is allowed", not "x is allowed once you switch to list".
      return { ok: true, next: { ...current, loras: { mode: 'list', allowed: result.list } }, summary: 'LoRA list saved.' };
    }
    default:
      return { ok: false, message: `Unknown subcommand \`${sub}\`; use ${listOr(Object.values(CONFIG_SUBCOMMANDS))}.` };
  }
}

/**
 * /config. Discord hides it from members without Manage Server (default member permissions set in
 * commands/config.ts), but server admins may grant it to other roles in Integrations, and the settings (limits,
 * banned words, channels) are the admins' to set: so Manage Server is checked here too, for every subcommand. `show`
 * included: banned words are a moderation list members should not read. Outside a server (a DM, or a user-installed
 * command) there is no guild to save under, so nothing runs.
 */
export function configCommand(context: BotContext): CommandHandler {
  return {
    name: 'config',
    async execute(interaction: ChatInputCommandInteraction) {
      const reply = (content: string) => interaction.reply({ content, flags: MessageFlags.Ephemeral, allowedMentions: { parse: [] } });
      const guildId = interaction.guildId;
      if (guildId === null || !interaction.inGuild()) return void (await reply('Use /config inside a server.'));
      if (!interaction.memberPermissions?.has(PermissionFlagsBits.ManageGuild)) {
        return void (await reply('You need the Manage Server permission to change /config.'));
      }
      const sub = interaction.options.getSubcommand(true);
      const current = context.settings.get(guildId);
      if (sub === CONFIG_SUBCOMMANDS.show) return void (await reply(describeSettings(current)));
      if (sub === CONFIG_SUBCOMMANDS.reset) {
        context.settings.reset(guildId);
        context.logger.info({ guildId, by: interaction.user.id }, 'guild settings reset');
        return void (await reply(`Settings reset.\n${describeSettings(context.settings.get(guildId))}`));
      }
      const result = change(interaction, current, context);
      if (!result.ok) return void (await reply(result.message));
      const parsed = GuildSettingsSchema.safeParse(result.next);
      if (!parsed.success) return void (await reply(`Not saved: ${describeSettingsIssues(parsed.error)}`));
      const saved = context.settings.set(guildId, parsed.data);
      context.logger.info({ guildId, by: interaction.user.id, subcommand: sub }, 'guild settings changed');
      await reply(`${result.summary}\n${describeSettings(saved)}`);
    },
    async autocomplete(interaction: AutocompleteInteraction) {
      const typed = String(interaction.options.getFocused()).toLowerCase();
      const choices = context.models().map((m) => ({ name: m.name, value: m.name }));
      await interaction.respond(choices.filter((c) => c.name.toLowerCase().includes(typed)).slice(0, 25));
    },
  };
}
