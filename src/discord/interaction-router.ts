import { MessageFlags, type Interaction } from 'discord.js';
import { newReferenceId } from '../errors.js';
import { t } from '../i18n/translate.js';
import { memberLocale } from './locale.js';
import type { Logger } from '../logger.js';
import type { CommandRegistry } from './command-registry.js';
import type { ComponentHandler } from './components/component-handler.js';
import { safeError } from './safe-error.js';

/**
 * The one catch per interaction: routes commands, autocomplete and buttons; anything unexpected is logged with a
 * reference id and the user sees only that id (followUp when already acknowledged, reply otherwise).
 */
export function createInteractionRouter(registry: CommandRegistry, components: readonly ComponentHandler[], logger: Logger) {
  return async function route(interaction: Interaction): Promise<void> {
    try {
      if (interaction.isChatInputCommand() || interaction.isMessageContextMenuCommand()) {
        const handler = registry.get(interaction.commandName);
        if (!handler) throw new Error(`No handler for /${interaction.commandName}`);
        await handler.execute(interaction);
      } else if (interaction.isAutocomplete()) {
        await registry.get(interaction.commandName)?.autocomplete?.(interaction);
      } else if (interaction.isButton()) {
        const handler = components.find((c) => c.matches(interaction.customId));
        if (!handler) {
          await interaction.reply({
            content: t(memberLocale(interaction), 'error.staleButton'),
            flags: MessageFlags.Ephemeral,
          });
          return;
        }
        await handler.handle(interaction);
      } else if (interaction.isModalSubmit()) {
        const handler = components.find((c) => c.matchesModal?.(interaction.customId));
        if (!handler?.handleModal) {
          await interaction.reply({
            content: t(memberLocale(interaction), 'error.staleForm'),
            flags: MessageFlags.Ephemeral,
          });
          return;
        }
        await handler.handleModal(interaction);
      }
    } catch (error) {
      const ref = newReferenceId();
      logger.error({ ref, interactionId: interaction.id, guildId: interaction.guildId, err: safeError(error) }, 'interaction failed');
      if (!interaction.isRepliable()) return;
      const payload = { content: t(memberLocale(interaction), 'error.internal', { ref }), flags: MessageFlags.Ephemeral } as const;
      try {
        if (interaction.deferred || interaction.replied) await interaction.followUp(payload);
        else await interaction.reply(payload);
      } catch (replyError) {
        logger.warn({ ref, err: safeError(replyError) }, 'could not tell the user about the failure');
      }
    }
  };
}
