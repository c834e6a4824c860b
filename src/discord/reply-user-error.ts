import { MessageFlags, type RepliableInteraction } from 'discord.js';
import type { UserError } from '../errors.js';
import type { Logger } from '../logger.js';

/** Answers a fixable problem privately, as the first response (nothing was queued, nothing to defer). */
export async function replyUserError(interaction: RepliableInteraction, error: UserError, logger?: Logger): Promise<void> {
  logger?.debug({ interactionId: interaction.id, guildId: interaction.guildId, identifier: error.identifier }, 'user error');
  const payload = { content: error.message, flags: MessageFlags.Ephemeral, allowedMentions: { parse: [] } } as const;
  if (interaction.deferred || interaction.replied) await interaction.followUp(payload);
  else await interaction.reply(payload);
}
