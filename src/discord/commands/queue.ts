import { MessageFlags, type ChatInputCommandInteraction } from 'discord.js';
import type { BotContext } from '../bot-context.js';
import type { CommandHandler } from '../command-registry.js';
import { escapeMarkdown, truncateText } from '../delivery/render/job-message.js';
import { formatEta } from '../delivery/render/progress-bar.js';
import type { WorkerStatus } from '../../worker/job-runner.js';
import type { Locale } from '../../i18n/locales.js';
import { translator } from '../../i18n/translate.js';
import { memberLocale } from '../locale.js';

const SHOWN = 15;
/** Discord's limit on a message's content. */
const MAX_CONTENT = 2000;
/** Warm models shown per worker (most recent first), and only up to this many workers: the line must stay short. */
const MODELS_SHOWN = 2;
const WORKERS_WITH_MODELS = 4;

function short(prompt: string): string {
  return escapeMarkdown(prompt.length > 60 ? `${truncateText(prompt, 60)}…` : prompt);
}

/**
 * The workers in one line: id, busy/idle/starting and the models each has warm (no job details: a busy worker
 * may be running another server's job). With none, what to do about it.
 */
export function workersLine(workers: readonly WorkerStatus[], locale: Locale = 'en'): string {
  const tr = translator(locale);
  if (workers.length === 0) return tr('queue.noWorkers');
  const withModels = workers.length <= WORKERS_WITH_MODELS;
  const described = workers.map((worker) => {
    const names = withModels ? worker.models.slice(0, MODELS_SHOWN).map(escapeMarkdown) : [];
    if (withModels && worker.models.length > MODELS_SHOWN) names.push(`+${worker.models.length - MODELS_SHOWN}`);
    const models = names.length > 0 ? ` (${names.join(', ')})` : '';
    // Remote workers (REDIS_URL) say which machine they are on, so an operator knows where to look.
    // In a code span like the id: host names are full of `-` and `_`, which escaping would litter with backslashes.
    const host = worker.host ? tr('queue.workerOn', { host: worker.host.replaceAll('`', '') }) : '';
    return `\`${worker.id}\`${host} ${tr(`queue.state.${worker.state}`)}${models}`;
  });
  return tr('queue.workers', { list: described.join(' · ') });
}

/** /queue: this guild's running and queued jobs with positions and ETAs, where the caller's own jobs are, and the workers. */
export function queueCommand(context: BotContext): CommandHandler {
  return {
    name: 'queue',
    async execute(interaction: ChatInputCommandInteraction) {
      const locale = memberLocale(interaction);
      const tr = translator(locale);
      const listings = context.jobs.list(interaction.guildId!);
      const workers = context.workers();
      const tail = [workersLine(workers, locale)];
      const jobLines: string[] = [];
      if (listings.length === 0) {
        jobLines.push(tr('queue.empty'));
      } else {
        for (const { job, position, etaMs, workerId } of listings.slice(0, SHOWN)) {
          const eta = formatEta(etaMs, locale);
          // With one worker "running" says it all; with several, which one.
          const where =
            position === null ? (workers.length > 1 && workerId ? tr('queue.runningOn', { worker: workerId }) : tr('queue.running')) : `#${position}`;
          const when = eta ? (position === null ? tr('queue.doneIn', { eta }) : tr('queue.startsIn', { eta })) : '';
          jobLines.push(`${where} · <@${job.userId}> · ${short(job.request.prompt)}${when}`);
        }
        const mine = listings.filter((l) => l.job.userId === interaction.user.id);
        tail.unshift(
          mine.length === 0
            ? tr('queue.none')
            : tr('queue.yours', { list: mine.map((l) => (l.position === null ? tr('queue.yoursRunning') : `#${l.position}`)).join(', ') }),
        );
      }
      // Fewer job lines rather than a reply Discord refuses (several running jobs and the workers line add up).
      const content = () => {
        const hidden = listings.length - jobLines.length;
        return [...jobLines, ...(hidden > 0 && listings.length > 0 ? [tr('queue.more', { count: hidden })] : []), ...tail].join('\n');
      };
      while (content().length > MAX_CONTENT && jobLines.length > 1) jobLines.pop();
      await interaction.reply({ content: content(), flags: MessageFlags.Ephemeral, allowedMentions: { parse: [] } });
    },
  };
}
