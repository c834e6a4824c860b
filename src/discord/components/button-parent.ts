import type { ButtonInteraction, ModalSubmitInteraction } from 'discord.js';
import { Identifiers, type UserError } from '../../errors.js';
import { text } from '../../i18n/translate.js';
import { userError } from '../../i18n/user-error.js';
import type { Job } from '../../queue/job.js';
import type { BotContext } from '../bot-context.js';
import { err, ok, type Result } from '../result.js';
import { noLongerStored } from '../submit-job.js';

/**
 * The finished job a button (or the form it opened) works from. Job ids travel in custom ids, so a button crafted
 * with another server's job id must not reuse its prompt or images, nor escape this server's settings by being
 * checked against the other's. Every result button (🔄 V U, Zoom Out, pan, Vary, 🎛) checks its parent here.
 */
export function finishedParent(context: BotContext, interaction: ButtonInteraction | ModalSubmitInteraction, jobId: string): Result<Job, UserError> {
  const parent = context.jobs.get(jobId);
  if (!parent) return err(noLongerStored('image'));
  if (parent.guildId !== interaction.guildId) return err(userError(Identifiers.NotAllowed, text('error.otherServer')));
  if (parent.state !== 'done') return err(userError(Identifiers.NotFound, text('error.notFinished')));
  return ok(parent);
}
