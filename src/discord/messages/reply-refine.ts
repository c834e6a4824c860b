import type { Message } from 'discord.js';
import { newReferenceId, UserError } from '../../errors.js';
import { resolveLocale, type Locale } from '../../i18n/locales.js';
import { t, text, type LocalizedText, type PlainKey } from '../../i18n/translate.js';
import { describeUserError } from '../../i18n/user-error.js';
import { publicLocale } from '../locale.js';
import type { Job } from '../../queue/job.js';
import type { BotContext } from '../bot-context.js';
import { previewEveryOf, toJobRequest } from '../commands/imagine.js';
import { escapeMarkdown, truncateText } from '../delivery/render/job-message.js';
import { parseImagineOptions } from '../options/imagine-options.js';
import { buildRefineInput, stripBotMention, type RefineInput } from '../options/refine-reply.js';
import { checkAllowedChannel } from '../preconditions/allowed-channel.js';
import { safeError } from '../safe-error.js';
import { submitFromMessage } from '../submit-job.js';

/** What a reply can be: not for the bot (ignored), or a result the bot should refine. */
export type ReplyTarget = { kind: 'ignore' } | { kind: 'refine'; original: Job; reply: string };

/**
 * Whether a message is a reply to one of the bot's results that addresses the bot. Everything else is ignored
 * without an answer: messages of bots (the bot's own too), messages outside guilds, messages that are not replies,
 * replies that do not mention the bot in their text, and replies to a message that is not a job's.
 */
export function replyTarget(
  message: Pick<Message, 'content' | 'guildId' | 'system'> & { author: { bot: boolean }; reference: { messageId?: string } | null },
  botId: string | undefined,
  findJob: (messageId: string) => Job | undefined,
): ReplyTarget {
  if (message.author.bot || message.system || message.guildId === null || botId === undefined) return { kind: 'ignore' };
  const referenced = message.reference?.messageId;
  if (referenced === undefined) return { kind: 'ignore' };
  const reply = stripBotMention(message.content, botId);
  if (reply === undefined) return { kind: 'ignore' };
  const original = findJob(referenced);
  if (!original || original.guildId !== message.guildId) return { kind: 'ignore' };
  return { kind: 'refine', original, reply };
}

const shown = (text: string) => escapeMarkdown(text.length > 120 ? `${truncateText(text, 120)}…` : text);

/** The queue message's line on what was combined, so the member sees what the new image is drawn from. */
export function refineNote(original: Job, refined: RefineInput): LocalizedText {
  const { seed } = refined;
  const prompt = shown(original.request.prompt);
  if (refined.replace) return text('job.note.refineReplace', { original: prompt, seed });
  if (refined.addition === '') return text('job.note.refineSettings', { original: prompt, seed });
  return text('job.note.refineAdd', { original: prompt, addition: shown(refined.addition), seed });
}

/**
 * Messages that mention the bot, replying to one of its results: "make it blue, at night" runs a new job of the
 * member who wrote it, with the original prompt plus the reply (or the reply alone with `--replace`) and the same
 * seed, through the same checks, caps and queue as /imagine; the job's message replies to the reply. A reply the
 * checks refuse gets a short reply saying why. Messages that mention the bot carry their text without the
 * privileged Message Content intent, so GuildMessages is all this needs.
 */
export function replyRefineHandler(context: BotContext, botId: () => string | undefined) {
  return async function onMessage(message: Message): Promise<void> {
    const target = replyTarget(message, botId(), (id) => context.jobs.getByMessageId(id));
    if (target.kind === 'ignore') return;
    const { original, reply } = target;
    // The answer is a public reply in the channel: the server's language, as the job's message would be.
    let locale: Locale = resolveLocale(message.guild?.preferredLocale);
    const answer = async (error: UserError | PlainKey) => {
      const content = error instanceof UserError ? describeUserError(locale, error) : t(locale, error);
      try {
        await message.reply({ content, allowedMentions: { parse: [], repliedUser: false } });
      } catch (replyError) {
        context.logger.warn({ messageId: message.id, guildId: message.guildId, err: safeError(replyError) }, 'could not answer a reply to a result');
      }
    };
    try {
      const guildId = message.guildId!;
      const settings = context.settings.get(guildId);
      locale = publicLocale(settings, message.guild?.preferredLocale);
      if (original.state !== 'done') {
        return await answer(original.state === 'queued' || original.state === 'running' ? 'refine.notFinished' : 'refine.notMade');
      }
      const channel = checkAllowedChannel(settings, message.channelId);
      if (!channel.ok) return await answer(channel.error);
      const built = buildRefineInput(original, reply);
      if (!built.ok) return await answer(built.error);
      const parsed = parseImagineOptions(built.value.input, {
        settings,
        models: context.models(),
        brokenReason: context.brokenReason,
        defaultModel: context.defaultModel,
        loras: context.loras?.(),
      });
      if (!parsed.ok) return await answer(parsed.error);
      const submitted = submitFromMessage(
        context,
        { guildId, channelId: message.channelId, userId: message.author.id, replyToMessageId: message.id, locale },
        settings,
        {
          kind: 'refine',
          parentJobId: original.id,
          request: toJobRequest(parsed.value, previewEveryOf(settings), settings.translate),
          notes: [refineNote(original, built.value), ...parsed.value.notes],
        },
      );
      if (!submitted.ok) return await answer(submitted.error);
      context.logger.debug({ jobId: submitted.value.id, parentJobId: original.id, guildId }, 'refine job queued from a reply');
    } catch (error) {
      const ref = newReferenceId();
      context.logger.error({ ref, messageId: message.id, guildId: message.guildId, err: safeError(error) }, 'reply to a result failed');
      try {
        await message.reply({ content: t(locale, 'error.internal', { ref }), allowedMentions: { parse: [], repliedUser: false } });
      } catch (replyError) {
        context.logger.warn({ messageId: message.id, err: safeError(replyError) }, 'could not answer a reply to a result');
      }
    }
  };
}
