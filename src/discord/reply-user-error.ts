import { MessageFlags, type RepliableInteraction } from 'discord.js';
import type { UserError } from '../errors.js';
import { describeUserError } from '../i18n/user-error.js';
import type { Logger } from '../logger.js';
import { memberLocale } from './locale.js';

/** Answers a fixable problem privately, in the member's language, as the first response (nothing was queued, nothing to defer). */
export async function replyUserError(interaction: RepliableInteraction, error: UserError, logger?: Logger): Promise<void> {
  logger?.debug({ interactionId: interaction.id, guildId: interaction.guildId, identifier: error.identifier }, 'user error');
  const content = describeUserError(memberLocale(interaction), error);
  const payload = { content, flags: MessageFlags.Ephemeral, allowedMentions: { parse: [] } } as const;
  if (interaction.deferred || interaction.replied) await interaction.followUp(payload);
  else await interaction.reply(payload);
}
