import { MessageFlags, type ChatInputCommandInteraction } from 'discord.js';
import type { BotContext } from '../bot-context.js';
import type { CommandHandler } from '../command-registry.js';
import type { WorkerStatus } from '../../worker/job-runner.js';
import type { GuildSettings } from '../../config/guild-settings.js';
import type { LoraSummary } from '../../model-folder/lora-catalog.js';
import { loraAllowed } from '../options/lora-checks.js';
import type { Locale } from '../../i18n/locales.js';
import { t, translator } from '../../i18n/translate.js';
import { memberLocale } from '../locale.js';

/** Discord's message limit. */
const DISCORD_MESSAGE_CHARS = 2000;
/** Discord's message limit, less room for the closing line. */
const MAX_CHARS = 1900;

/** `/help topic:loras`: the LoRAs usable here with their trigger words, as much as fits in one message. */
export function lorasHelp(loras: readonly LoraSummary[], settings?: GuildSettings, locale: Locale = 'en'): string {
  const tr = translator(locale);
  const usable = settings ? loras.filter((l) => loraAllowed(settings, l.name)) : loras;
  if (usable.length === 0) return loras.length === 0 ? tr('help.lorasNone') : tr('help.lorasNoneAllowed');
  const lines = [tr('help.lorasTitle')];
  let shown = 0;
  for (const l of usable) {
    const line = `\`${l.name}\`${l.triggerWords.length ? ` — ${l.triggerWords.map((w) => w.replace(/[`\r\n]/g, '')).join(', ')}` : ''}${l.baseModel ? ` _(${l.baseModel.replace(/[_*`\r\n]/g, ' ')})_` : ''}`;
    if (lines.join('\n').length + line.length > MAX_CHARS) break;
    lines.push(line);
    shown++;
  }
  if (shown < usable.length) lines.push(tr('help.more', { count: usable.length - shown }));
  return lines.join('\n');
}

/** What /help says, in the member's language. */
export function helpText(locale: Locale): string {
  return t(locale, 'help.text');
}

/**
 * One line on what the bot runs on and with how many workers, so operators and users can see a GPU setup really
 * took, and why nothing moves when no worker runs.
 */
export function statusLine(
  provider: string | undefined,
  models: readonly string[],
  defaultModel?: string,
  workers: readonly Pick<WorkerStatus, 'state'>[] = [{ state: provider ? 'idle' : 'starting' }],
  locale: Locale = 'en',
  /** The most characters the line may take: a bot with many models lists as many as fit, then "+N more". */
  maxChars = MAX_CHARS,
): string {
  const tr = translator(locale);
  if (workers.length === 0) return tr('help.noWorkers');
  const up = workers.filter((worker) => worker.state !== 'starting').length;
  if (!provider || up === 0) return workers.length === 1 ? tr('help.starting') : tr('help.startingMany', { count: workers.length });
  const ready = up === workers.length ? undefined : up;
  const line = (names: string) => tr('help.status', { provider, count: workers.length, ready, models: names });
  const named = models.map((m) => (m === defaultModel ? tr('help.defaultModel', { model: m }) : m));
  // The default model first when the list must be cut, so the one used without choosing is always named.
  const ordered = [...named.filter((_, i) => models[i] === defaultModel), ...named.filter((_, i) => models[i] !== defaultModel)];
  const full = line(named.join(', '));
  if (full.length <= maxChars) return full;
  for (let shown = ordered.length - 1; shown >= 0; shown--) {
    const cut = line([...ordered.slice(0, shown), tr('help.moreModels', { count: ordered.length - shown })].join(', '));
    if (cut.length <= maxChars || shown === 0) return cut;
  }
  return full;
}

export function helpCommand(
  context: Pick<BotContext, 'executionProvider' | 'models' | 'defaultModel' | 'workers' | 'loras'> & Partial<Pick<BotContext, 'settings'>>,
): CommandHandler {
  return {
    name: 'help',
    async execute(interaction: ChatInputCommandInteraction) {
      const locale = memberLocale(interaction);
      if (interaction.options.getString('topic') === 'loras') {
        const settings = interaction.guildId && context.settings ? context.settings.get(interaction.guildId) : undefined;
        return void (await interaction.reply({
          content: lorasHelp(context.loras?.() ?? [], settings, locale),
          flags: MessageFlags.Ephemeral,
          allowedMentions: { parse: [] },
        }));
      }
      const help = helpText(locale);
      const status = statusLine(
        context.executionProvider(),
        context.models().map((m) => m.name),
        context.defaultModel,
        context.workers(),
        locale,
        DISCORD_MESSAGE_CHARS - help.length - 1,
      );
      await interaction.reply({ content: `${help}\n${status}`, flags: MessageFlags.Ephemeral });
    },
  };
}
