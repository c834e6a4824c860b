import type { ButtonInteraction, ChatInputCommandInteraction, ModalSubmitInteraction } from 'discord.js';
import { Identifiers, newReferenceId, UserError } from '../errors.js';
import { text, t, type LocalizedText } from '../i18n/translate.js';
import { describeUserError, userError } from '../i18n/user-error.js';
import type { Locale } from '../i18n/locales.js';
import { publicLocale } from './locale.js';
import type { GuildSettings } from '../config/guild-settings.js';
import type { JobRequest } from '../protocol/generate-request.js';
import type { Job, JobKind, NewJob, QueueLimits } from '../queue/job.js';
import type { BotContext } from './bot-context.js';
import { err, ok, type Result } from './result.js';
import { safeError } from './safe-error.js';

/** The refusal when a button's job, or the stored image it works on, is gone (pruned, or deleted by hand). */
export const noLongerStored = (what: 'source' | 'image' | 'imageN', n?: number) =>
  userError(Identifiers.NotFound, text('error.noLongerStored', { what, n }));

/**
 * The in-memory checks every new job passes before anything is sent or stored: the member's cooldown, then this
 * server's queue caps (jobs accepted but not yet submitted count too). Gives the caps the store must apply again.
 */
function admission(context: BotContext, settings: GuildSettings, guildId: string, userId: string): Result<QueueLimits, UserError> {
  const cooldown = context.cooldowns.check(guildId, userId, settings.limits.userCooldownSeconds);
  if (!cooldown.ok) return cooldown;
  const limits: QueueLimits = {
    maxQueuedPerUser: settings.limits.userQueued,
    maxQueuedPerGuild: settings.limits.guildQueued,
    maxQueuedTotal: context.maxQueuedTotal,
  };
  const refused = context.jobs.refusal({ guildId, userId }, limits, [...context.pending]);
  return refused ? err(refused) : ok(limits);
}

/**
 * The shared tail of /imagine and the image buttons, in the order of DESIGN.md's request path: cooldown and queue
 * caps, checked in memory (a refused job gets an ephemeral answer and leaves no "thinking…" message behind); then
 * the deferred acknowledgement, sent before anything else happens; then, on a later turn of the event loop, the job
 * is written to the store and queued. Under a burst of commands the acknowledgements of every interaction that
 * arrived together go out before any of their store writes, queue bookkeeping and message edits.
 *
 * Jobs accepted but not yet submitted count against the caps (`context.pending`), so two commands in one burst
 * cannot both take the last slot.
 */
export function submitJob(
  context: BotContext,
  interaction: ChatInputCommandInteraction | ButtonInteraction | ModalSubmitInteraction,
  settings: GuildSettings,
  input: {
    kind: JobKind;
    request: JobRequest;
    /**
     * Work that must wait for the acknowledgement (downloading an upload, drawing a mask): run after it, before the
     * store write, and returns the request to store in place of `request`. A UserError it throws becomes the reply.
     */
    prepare?: () => Promise<JobRequest>;
    parentJobId?: string;
    notes?: readonly LocalizedText[];
    /** Called with the job once it is in the store and queued. */
    onQueued?: (job: Job) => void;
    /** Called when an accepted job is not queued after all (unacknowledged, or refused by the store or the queue). */
    onDropped?: () => void;
  },
): Result<void, UserError> {
  const guildId = interaction.guildId!;
  const userId = interaction.user.id;
  const admitted = admission(context, settings, guildId, userId);
  if (!admitted.ok) return admitted;
  const limits = admitted.value;
  context.cooldowns.record(guildId, userId);

  const acknowledged = interaction.deferReply();
  context.acks.track(acknowledged);
  const slot = { guildId, userId };
  context.pending.add(slot);
  let jobId: string | undefined;
  let unacknowledged = false;
  acknowledged.catch((error: unknown) => {
    // Without an acknowledgement there is no message to show the result in; don't spend the GPU on it.
    unacknowledged = true;
    context.logger.error({ interactionId: interaction.id, jobId, err: safeError(error) }, 'could not acknowledge; dropping the job');
    if (jobId === undefined) return;
    try {
      context.jobs.cancel(jobId, { userId, canManageGuild: true });
    } catch {
      // Already finished or gone: nothing to cancel.
    }
  });

  // The job's public message speaks the server's language (or /config language), fixed for the job's life.
  const locale = publicLocale(settings, interaction.guildLocale);
  const newJob: Omit<NewJob, 'request'> = {
    kind: input.kind,
    locale,
    parentJobId: input.parentJobId ?? null,
    guildId,
    channelId: interaction.channelId!,
    userId,
    interactionId: interaction.id,
    interactionToken: interaction.token,
    interactionCreatedAt: interaction.createdTimestamp,
  };
  const submit = async () => {
    let request = input.request;
    if (input.prepare) {
      // The slot stays pending while the upload downloads, so the caps still count this job.
      try {
        await acknowledged.catch(() => undefined);
        if (!unacknowledged) request = await input.prepare();
      } catch (error) {
        context.pending.delete(slot);
        input.onDropped?.();
        void refuseAfterAcknowledging(context, interaction, acknowledged, error, locale);
        return;
      }
    }
    context.pending.delete(slot);
    if (unacknowledged) {
      input.onDropped?.();
      return;
    }
    try {
      const job = context.jobs.submit({ ...newJob, request }, limits);
      jobId = job.id;
      input.onQueued?.(job);
      context.reporter.attach(job, acknowledged, input.notes);
    } catch (error) {
      // With a job id the job is queued after all (only the reporter failed); it is not dropped.
      if (jobId === undefined) input.onDropped?.();
      void refuseAfterAcknowledging(context, interaction, acknowledged, error, locale);
    }
  };
  setImmediate(() => void submit());
  return ok(undefined);
}

/**
 * The store or the queue refused a job that passed the checks (the bot began shutting down in between, or a bug):
 * the "thinking…" reply becomes the reason. It is edited rather than followed up and deleted, because a deferred
 * reply's follow-up hangs off that reply: deleting it took the reason away with it. The deferred reply is public
 * (job messages are), so the reason is only ever a UserError's message or a reference, never the error itself.
 */
async function refuseAfterAcknowledging(
  context: BotContext,
  interaction: ChatInputCommandInteraction | ButtonInteraction | ModalSubmitInteraction,
  acknowledged: Promise<unknown>,
  error: unknown,
  locale: Locale,
): Promise<void> {
  let content: string;
  if (error instanceof UserError) {
    content = describeUserError(locale, error);
  } else {
    const ref = newReferenceId();
    context.logger.error({ ref, interactionId: interaction.id, err: safeError(error) }, 'could not queue the job');
    content = t(locale, 'error.internal', { ref });
  }
  try {
    await acknowledged;
    await interaction.editReply({ content, allowedMentions: { parse: [] } });
  } catch (replyError) {
    context.logger.warn({ interactionId: interaction.id, err: safeError(replyError) }, 'could not tell the user the job was refused');
  }
}

/** Where a job made from a message comes from: whose it is, and the message its own message replies to. */
export interface MessageOrigin {
  guildId: string;
  channelId: string;
  userId: string;
  /** The message the job's message replies to (the target of "Imagine this", or the member's reply). */
  replyToMessageId: string;
  /** The "Imagine this" interaction, when there was one; its token is not kept (its reply is private). */
  interactionId?: string;
  /** The language of the job's public message (publicLocale). */
  locale: Locale;
}

/**
 * The tail of the two ways to make a job from a message ("Imagine this", a reply to a result): the same cooldown and
 * queue caps as /imagine, then the job is stored and queued at once. There is no deferred acknowledgement to send
 * first, so nothing waits for the next turn. The job has no interaction token: the reporter posts its first state
 * as a reply to `replyToMessageId` with the bot token and edits that message from then on, after a restart too.
 */
export function submitFromMessage(
  context: BotContext,
  origin: MessageOrigin,
  settings: GuildSettings,
  input: { kind: JobKind; request: JobRequest; parentJobId?: string; notes?: readonly LocalizedText[] },
): Result<Job, UserError> {
  const { guildId, userId } = origin;
  const admitted = admission(context, settings, guildId, userId);
  if (!admitted.ok) return admitted;
  const limits = admitted.value;
  let job: Job;
  try {
    job = context.jobs.submit(
      {
        kind: input.kind,
        parentJobId: input.parentJobId ?? null,
        guildId,
        channelId: origin.channelId,
        userId,
        interactionId: origin.interactionId ?? null,
        replyToMessageId: origin.replyToMessageId,
        locale: origin.locale,
        request: input.request,
      },
      limits,
    );
  } catch (error) {
    if (error instanceof UserError) return err(error);
    throw error;
  }
  context.cooldowns.record(guildId, userId);
  context.reporter.attach(job, Promise.resolve(), input.notes);
  return ok(job);
}
