import { MessageFlags, type MessageContextMenuCommandInteraction } from 'discord.js';
import { t, text } from '../../i18n/translate.js';
import { memberLocale, publicLocale } from '../locale.js';
import { IMAGINE_THIS } from '../../../commands/imagine-this.js';
import type { BotContext } from '../bot-context.js';
import type { CommandHandler } from '../command-registry.js';
import { parseImagineOptions } from '../options/imagine-options.js';
import { invalid } from '../options/invalid.js';
import { stripBotMention } from '../options/refine-reply.js';
import { checkAllowedChannel } from '../preconditions/allowed-channel.js';
import { replyUserError } from '../reply-user-error.js';
import { submitFromMessage } from '../submit-job.js';
import { previewEveryOf, toJobRequest } from './imagine.js';

/**
 * "Imagine this" (right-click a message → Apps): the message's text is the prompt, flags and all, checked as /imagine
 * checks it. Problems are answered privately; an accepted job is shown as a reply to the message itself (posted with
 * the bot token, so it reads as part of the conversation), and the member gets a private note where to look.
 * Interaction payloads carry the target message's text whatever the intents, so no privileged intent is needed.
 */
export function imagineThisCommand(context: BotContext): CommandHandler<MessageContextMenuCommandInteraction> {
  return {
    name: IMAGINE_THIS,
    async execute(interaction: MessageContextMenuCommandInteraction) {
      const settings = context.settings.get(interaction.guildId!);
      const channel = checkAllowedChannel(settings, interaction.channelId);
      if (!channel.ok) return replyUserError(interaction, channel.error, context.logger);
      const target = interaction.targetMessage;
      // A message that talks to the bot ("@bot a red fox") means the words after the mention.
      const botId = interaction.client.user.id;
      // A result's text is its caption (prompt, seed, settings), not a description to draw again.
      if (target.author.id === botId) {
        return replyUserError(interaction, invalid(text('imagineThis.ownImage')), context.logger);
      }
      const words = stripBotMention(target.content, botId) ?? target.content;
      if (words.trim() === '') {
        return replyUserError(interaction, invalid(text('imagineThis.noText')), context.logger);
      }
      const parsed = parseImagineOptions(
        { prompt: words },
        { settings, models: context.models(), brokenReason: context.brokenReason, defaultModel: context.defaultModel, loras: context.loras?.() },
      );
      if (!parsed.ok) return replyUserError(interaction, parsed.error, context.logger);
      const submitted = submitFromMessage(
        context,
        {
          guildId: interaction.guildId!,
          channelId: interaction.channelId,
          userId: interaction.user.id,
          replyToMessageId: target.id,
          interactionId: interaction.id,
          locale: publicLocale(settings, interaction.guildLocale),
        },
        settings,
        { kind: 'imagine', request: toJobRequest(parsed.value, previewEveryOf(settings), settings.translate), notes: parsed.value.notes },
      );
      if (!submitted.ok) return replyUserError(interaction, submitted.error, context.logger);
      await interaction.reply({ content: t(memberLocale(interaction), 'imagineThis.queued'), flags: MessageFlags.Ephemeral });
    },
  };
}
