import type { ButtonInteraction, ChatInputCommandInteraction } from 'discord.js';
import { UserError } from '../errors.js';
import type { GuildSettings } from '../config/guild-settings.js';
import type { GenerateRequest } from '../inference/types.js';
import type { Job, JobKind } from '../queue/job.js';
import type { BotContext } from './bot-context.js';
import { err, ok, type Result } from './result.js';
import { safeError } from './safe-error.js';

/**
 * The shared tail of /imagine and the image buttons: cooldown, queue caps (JobService), then the deferred
 * acknowledgement. Caps are checked before acknowledging so a refused job gets an ephemeral answer and leaves no
 * "thinking…" message behind; submitting is a synchronous SQLite insert, well inside the 3 s window.
 */
export function submitJob(
  context: BotContext,
  interaction: ChatInputCommandInteraction | ButtonInteraction,
  settings: GuildSettings,
  input: { kind: JobKind; request: GenerateRequest; parentJobId?: string; notes?: readonly string[] },
): Result<Job, UserError> {
  const guildId = interaction.guildId!;
  const userId = interaction.user.id;
  const cooldown = context.cooldowns.check(guildId, userId, settings.limits.userCooldownSeconds);
  if (!cooldown.ok) return cooldown;
  let job: Job;
  try {
    job = context.jobs.submit(
      {
        kind: input.kind,
        parentJobId: input.parentJobId ?? null,
        guildId,
        channelId: interaction.channelId!,
        userId,
        interactionId: interaction.id,
        interactionToken: interaction.token,
        interactionCreatedAt: interaction.createdTimestamp,
        request: input.request,
      },
      { maxQueuedPerUser: settings.limits.userQueued, maxQueuedPerGuild: settings.limits.guildQueued, maxQueuedTotal: context.maxQueuedTotal },
    );
  } catch (error) {
    if (error instanceof UserError) return err(error);
    throw error;
  }
  context.cooldowns.record(guildId, userId);
  const acknowledged = interaction.deferReply();
  context.reporter.attach(job, acknowledged, input.notes);
  acknowledged.catch((error: unknown) => {
    // Without an acknowledgement there is no message to show the result in; don't spend the GPU on it.
    context.logger.error({ interactionId: interaction.id, jobId: job.id, err: safeError(error) }, 'could not acknowledge; cancelling the job');
    try {
      context.jobs.cancel(job.id, { userId, canManageGuild: true });
    } catch {
      // Already finished or gone: nothing to cancel.
    }
  });
  return ok(job);
}
