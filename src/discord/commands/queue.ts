import { MessageFlags, type ChatInputCommandInteraction } from 'discord.js';
import type { BotContext } from '../bot-context.js';
import type { CommandHandler } from '../command-registry.js';
import { escapeMarkdown, truncateText } from '../delivery/render/job-message.js';
import { formatEta } from '../delivery/render/progress-bar.js';

const SHOWN = 15;

function short(prompt: string): string {
  return escapeMarkdown(prompt.length > 60 ? `${truncateText(prompt, 60)}…` : prompt);
}

/** /queue: this guild's running and queued jobs with positions and ETAs, plus where the caller's own jobs are. */
export function queueCommand(context: BotContext): CommandHandler {
  return {
    name: 'queue',
    async execute(interaction: ChatInputCommandInteraction) {
      const listings = context.jobs.list(interaction.guildId!);
      const lines: string[] = [];
      if (listings.length === 0) {
        lines.push('The queue is empty. Start one with /imagine.');
      } else {
        for (const { job, position, etaMs } of listings.slice(0, SHOWN)) {
          const eta = formatEta(etaMs);
          const where = position === null ? '▶️ running' : `#${position}`;
          const when = eta ? (position === null ? ` · done in ${eta}` : ` · starts in ${eta}`) : '';
          lines.push(`${where} · <@${job.userId}> · ${short(job.request.prompt)}${when}`);
        }
        if (listings.length > SHOWN) lines.push(`…and ${listings.length - SHOWN} more.`);
        const mine = listings.filter((l) => l.job.userId === interaction.user.id);
        lines.push(
          mine.length === 0
            ? 'You have no images waiting here.'
            : `Yours: ${mine.map((l) => (l.position === null ? 'running' : `#${l.position}`)).join(', ')}`,
        );
      }
      await interaction.reply({ content: lines.join('\n'), flags: MessageFlags.Ephemeral, allowedMentions: { parse: [] } });
    },
  };
}
