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
import { GuildSettingsSchema, LANGUAGE_SETTINGS, describeSettingsIssues, type GuildSettings } from '../../config/guild-settings.js';
import { resolveLocale, type Locale } from '../../i18n/locales.js';
import { t, translator, type Translator } from '../../i18n/translate.js';
import { describeUserError } from '../../i18n/user-error.js';
import { memberLocale, publicLocale } from '../locale.js';
import type { BotContext } from '../bot-context.js';
import type { CommandHandler } from '../command-registry.js';
import { REQUEST_DEFAULTS } from '../../protocol/generate-request.js';
import { parseSizeSpec, sizeForRatio } from '../options/size.js';
import { escapeMarkdown } from '../delivery/render/job-message.js';

/** The settings as an admin reads them, in `locale`; `guildLocale` tells what `auto` language means now. */
export function describeSettings(settings: GuildSettings, locale: Locale = 'en', guildLocale?: string | null): string {
  const tr = translator(locale);
  const d = settings.defaults;
  const l = settings.limits;
  const unset = tr('config.show.unset');
  const none = tr('config.show.none');
  const shown = (value: string | number | undefined) => (value === undefined ? unset : String(value));
  return [
    tr('config.show.defaultsTitle'),
    tr('config.show.defaults1', { model: shown(d.model), steps: shown(d.steps), cfg: shown(d.cfg), sampler: shown(d.sampler) }),
    tr('config.show.defaults2', {
      size: d.width ? `${d.width}x${d.height}` : unset,
      count: d.count ?? 1,
      negative: d.negativePrompt ? escapeMarkdown(d.negativePrompt) : none,
    }),
    tr('config.show.limitsTitle'),
    tr('config.show.limits1', { maxSteps: l.maxSteps, maxPixels: l.maxPixels, maxCount: l.maxCount }),
    tr('config.show.limits2', {
      userQueued: l.userQueued,
      cooldown: l.userCooldownSeconds,
      guildQueued: l.guildQueued,
      uploadMib: Math.round((l.maxUploadBytes / MIB) * 10) / 10,
    }),
    tr('config.show.channels', {
      channels: settings.allowedChannels.length === 0 ? undefined : settings.allowedChannels.map((id) => `<#${id}>`).join(', '),
    }),
    tr('config.show.bannedWords', { words: settings.bannedWords.length === 0 ? undefined : settings.bannedWords.map((w) => `\`${w}\``).join(', ') }),
    tr('config.show.preview', { every: settings.preview.enabled ? settings.preview.everySteps : undefined }),
    tr('config.show.translate', { on: settings.translate }),
    tr('config.show.loras', { mode: settings.loras.mode, list: settings.loras.allowed.map((n) => `\`${n}\``).join(', ') }),
    tr('config.show.language', {
      auto: settings.language === 'auto',
      effective: t(publicLocale(settings, guildLocale), 'locale.name'),
    }),
  ].join('\n');
}

export type Change = { ok: true; next: unknown; summary: string } | { ok: false; message: string };

// Discord only sends the choices of commands/config.ts, but a raw interaction can carry any string; an unknown value
// must be refused, not read as the nearest action or key, or the answer says "saved" for a change never made.
const isOneOf = <T extends string>(values: readonly T[], value: string): value is T => (values as readonly string[]).includes(value);
const listOr = (tr: Translator, values: readonly string[]) => tr('config.or', { list: values.slice(0, -1).join(', '), last: String(values.at(-1)) });

function applyList(
  tr: Translator,
  list: readonly string[],
  action: string,
  items: readonly string[],
  what: 'channel' | 'words' | 'loras',
): { ok: true; list: string[] } | { ok: false; message: string } {
  if (!isOneOf(LIST_ACTIONS, action)) return { ok: false, message: tr('config.error.unknownAction', { action, actions: listOr(tr, LIST_ACTIONS) }) };
  if (action === 'clear') return { ok: true, list: [] };
  if (items.length === 0) return { ok: false, message: tr('config.error.nameWhat', { what, action }) };
  if (action === 'add') return { ok: true, list: [...new Set([...list, ...items])] };
  return { ok: true, list: list.filter((entry) => !items.includes(entry)) };
}

/**
 * Reads the subcommand's options into a candidate settings object; the schema decides whether it is valid. Exported
 * (and narrowed to what it reads) so the tests can drive it without Discord.
 */
export function change(
  interaction: Pick<ChatInputCommandInteraction, 'options' | 'guildId'> & Partial<Pick<ChatInputCommandInteraction, 'guildLocale'>>,
  current: GuildSettings,
  context: Pick<BotContext, 'models' | 'loras'>,
  locale: Locale = 'en',
): Change {
  const tr = translator(locale);
  const o = interaction.options;
  const sub = o.getSubcommand(true);
  switch (sub) {
    case CONFIG_SUBCOMMANDS.defaults: {
      const defaults: Record<string, unknown> = { ...current.defaults };
      const unset = o.getString(CONFIG_OPTIONS.unset);
      if (unset !== null && !isOneOf(UNSETTABLE_DEFAULTS, unset)) {
        return { ok: false, message: tr('config.error.unknownDefault', { unset, defaults: UNSETTABLE_DEFAULTS.join(', ') }) };
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
            message: tr('config.error.unknownModel', { model: model.replace(/[`\r\n]/g, '').slice(0, 100), models: known.join(', ') }),
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
        if (!spec.ok) return { ok: false, message: describeUserError(locale, spec.error) };
        const { width, height } =
          spec.value.kind === 'exact' ? spec.value : sizeForRatio(spec.value.ratio, REQUEST_DEFAULTS.width * REQUEST_DEFAULTS.height);
        defaults.width = width;
        defaults.height = height;
      }
      return { ok: true, next: { ...current, defaults }, summary: tr('config.saved.defaults') };
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
      return { ok: true, next: { ...current, limits }, summary: tr('config.saved.limits') };
    }
    case CONFIG_SUBCOMMANDS.channels: {
      const given = o.get(CONFIG_OPTIONS.channel);
      const channel = o.getChannel(CONFIG_OPTIONS.channel);
      // Discord resolves only channels of the server the command runs in; an id it did not resolve, or a cached
      // channel of another server, is not one /imagine could ever be used in here.
      const guildOf = channel && 'guildId' in channel ? channel.guildId : undefined;
      if ((given && !channel) || (guildOf !== undefined && guildOf !== interaction.guildId)) {
        return { ok: false, message: tr('config.error.otherServerChannel') };
      }
      if (channel && !(CONFIG_CHANNEL_TYPES as readonly ChannelType[]).includes(channel.type)) {
        return { ok: false, message: tr('config.error.notTextChannel', { channel: channel.id }) };
      }
      const result = applyList(tr, current.allowedChannels, o.getString(CONFIG_OPTIONS.action, true), channel ? [channel.id] : [], 'channel');
      if (!result.ok) return result;
      return { ok: true, next: { ...current, allowedChannels: result.list }, summary: tr('config.saved.channels') };
    }
    case CONFIG_SUBCOMMANDS.bannedWords: {
      const words = (o.getString(CONFIG_OPTIONS.words) ?? '')
        .split(',')
        .map((w) => w.trim().toLowerCase())
        .filter(Boolean);
      const result = applyList(tr, current.bannedWords, o.getString(CONFIG_OPTIONS.action, true), words, 'words');
      if (!result.ok) return result;
      return { ok: true, next: { ...current, bannedWords: result.list }, summary: tr('config.saved.bannedWords') };
    }
    case CONFIG_SUBCOMMANDS.preview: {
      const enabled = o.getBoolean(CONFIG_OPTIONS.enabled);
      const every = o.getInteger(CONFIG_OPTIONS.every);
      const preview = { ...current.preview, ...(enabled === null ? {} : { enabled }), ...(every === null ? {} : { everySteps: every }) };
      return { ok: true, next: { ...current, preview }, summary: tr('config.saved.preview') };
    }
    case CONFIG_SUBCOMMANDS.translate: {
      const translate = o.getBoolean(CONFIG_OPTIONS.enabled, true);
      return {
        ok: true,
        next: { ...current, translate },
        summary: translate ? tr('config.saved.translateOn') : tr('config.saved.translateOff'),
      };
    }
    case CONFIG_SUBCOMMANDS.loras: {
      const action = o.getString(CONFIG_OPTIONS.action, true);
      if (!isOneOf(LORA_ACTIONS, action))
        return { ok: false, message: tr('config.error.unknownAction', { action, actions: listOr(tr, LORA_ACTIONS) }) };
      if (action === 'all' || action === 'none')
        return { ok: true, next: { ...current, loras: { mode: action, allowed: current.loras.allowed } }, summary: tr('config.saved.loras') };
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
          message: tr('config.error.unknownLora', {
            names: unknown.map((n) => `\`${n.replace(/[`\r\n]/g, '').slice(0, 100)}\``).join(', '),
            installed: installed!.join(', '),
          }),
        };
      const result = applyList(tr, current.loras.allowed, action, names, 'loras');
      if (!result.ok) return result;
      // Editing the list turns the list on: "add x" means "x is allowed", not "x is allowed once you switch to list".
      return { ok: true, next: { ...current, loras: { mode: 'list', allowed: result.list } }, summary: tr('config.saved.loraList') };
    }
    case CONFIG_SUBCOMMANDS.language: {
      const language = o.getString(CONFIG_OPTIONS.language, true);
      if (!isOneOf(LANGUAGE_SETTINGS, language)) {
        return { ok: false, message: tr('config.error.unknownLanguage', { language, languages: listOr(tr, LANGUAGE_SETTINGS) }) };
      }
      const effective = language === 'auto' ? resolveLocale(interaction.guildLocale) : language;
      return { ok: true, next: { ...current, language }, summary: tr('config.saved.language', { language: t(effective, 'locale.name') }) };
    }
    default:
      return { ok: false, message: tr('config.error.unknownSubcommand', { sub, subs: listOr(tr, Object.values(CONFIG_SUBCOMMANDS)) }) };
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
      // The admin's own language: these answers are private.
      const locale = memberLocale(interaction);
      const tr = translator(locale);
      const show = (settings: GuildSettings) => describeSettings(settings, locale, interaction.guildLocale);
      const guildId = interaction.guildId;
      if (guildId === null || !interaction.inGuild()) return void (await reply(tr('config.guildOnly')));
      if (!interaction.memberPermissions?.has(PermissionFlagsBits.ManageGuild)) {
        return void (await reply(tr('config.needManageServer')));
      }
      const sub = interaction.options.getSubcommand(true);
      const current = context.settings.get(guildId);
      if (sub === CONFIG_SUBCOMMANDS.show) return void (await reply(show(current)));
      if (sub === CONFIG_SUBCOMMANDS.reset) {
        context.settings.reset(guildId);
        context.logger.info({ guildId, by: interaction.user.id }, 'guild settings reset');
        return void (await reply(`${tr('config.reset')}\n${show(context.settings.get(guildId))}`));
      }
      const result = change(interaction, current, context, locale);
      if (!result.ok) return void (await reply(result.message));
      const parsed = GuildSettingsSchema.safeParse(result.next);
      // The schema's own sentences (zod issues) stay English, inside the localised frame.
      if (!parsed.success) return void (await reply(tr('config.notSaved', { issues: describeSettingsIssues(parsed.error, locale) })));
      const saved = context.settings.set(guildId, parsed.data);
      context.logger.info({ guildId, by: interaction.user.id, subcommand: sub }, 'guild settings changed');
      await reply(`${result.summary}\n${show(saved)}`);
    },
    async autocomplete(interaction: AutocompleteInteraction) {
      const typed = String(interaction.options.getFocused()).toLowerCase();
      const choices = context.models().map((m) => ({ name: m.name, value: m.name }));
      await interaction.respond(choices.filter((c) => c.name.toLowerCase().includes(typed)).slice(0, 25));
    },
  };
}
