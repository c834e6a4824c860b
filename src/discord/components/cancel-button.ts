import { PermissionFlagsBits, type ButtonInteraction } from 'discord.js';
import { UserError } from '../../errors.js';
import type { BotContext } from '../bot-context.js';
import { jobButtonIds } from '../custom-id-codec.js';
import { replyUserError } from '../reply-user-error.js';
import type { ComponentHandler } from './component-handler.js';

/** ✖️ on a queued or running job: its owner or a member with Manage Server in that guild. */
export function cancelButton(context: BotContext): ComponentHandler {
  return {
    matches: (customId) => jobButtonIds.decode(customId) !== undefined,
    async handle(interaction: ButtonInteraction) {
      const { jobId } = jobButtonIds.decode(interaction.customId)!;
      try {
        context.jobs.cancel(jobId, {
          userId: interaction.user.id,
          canManageGuild: interaction.memberPermissions?.has(PermissionFlagsBits.ManageGuild) ?? false,
          guildId: interaction.guildId ?? undefined,
        });
      } catch (error) {
        if (error instanceof UserError) return replyUserError(interaction, error, context.logger);
        throw error;
      }
      // The message itself changes when the job's 'cancelled' event arrives; the click only needs acknowledging.
      await interaction.deferUpdate();
    },
  };
}
