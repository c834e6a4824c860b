import { Routes, type REST, type RawFile, type RESTPatchAPIWebhookWithTokenMessageJSONBody } from 'discord.js';
import type { Logger } from '../../logger.js';
import { truncateText, type MessageState } from './render/job-message.js';
import { discordCode, safeError } from '../safe-error.js';

/** Discord's interaction token lifetime. */
export const INTERACTION_TOKEN_TTL_MS = 15 * 60_000;
/** Switch to the bot token this long before the interaction token expires, so no edit races the deadline. */
export const TOKEN_SAFETY_MS = 60_000;

const INVALID_WEBHOOK_TOKEN = 50027;
const UNKNOWN_WEBHOOK = 10015;
const UNKNOWN_MESSAGE = 10008;

export interface JobMessageRef {
  jobId: string;
  userId: string;
  channelId: string;
  interactionToken: string | null;
  /** Epoch ms the interaction was created (its token's 15 minutes count from here). */
  interactionCreatedAt: number | null;
  messageId: string | null;
  /**
   * A job made from a message (no interaction token): the message its own message replies to. Its first state, even
   * an intermediate one, is posted as that reply with the bot token; later states edit it.
   */
  replyToMessageId?: string | null;
}

export interface JobMessageTargetOptions {
  rest: REST;
  applicationId: string;
  logger?: Logger;
  /** @default 15 minutes */
  tokenTtlMs?: number;
  /** @default 60 s */
  tokenSafetyMs?: number;
  /** Called when the message id becomes known or changes (a fallback post), so it can be stored. */
  onMessageId?: (messageId: string) => void;
  /** Resolves once the interaction was acknowledged; edits wait for it. */
  acknowledged?: Promise<unknown>;
}

/**
 * Where a job's message lives and how to edit it. While the interaction token is fresh it edits the original
 * response through the webhook route; from 14 minutes on (or on 50027 Invalid Webhook Token) it edits the same
 * message with the bot token through the channel route, which Discord allows for non-ephemeral replies. When the
 * message is gone (deleted, or never created because the bot stopped first), the final state is posted as a new
 * channel message that replies to the original when it can and mentions the owner.
 */
export class JobMessageTarget {
  readonly #ref: JobMessageRef;
  readonly #options: JobMessageTargetOptions;
  #tokenDead = false;
  #messageGone = false;
  /** The images currently attached (keys and attachment ids), so an unchanged preview is kept by id, not uploaded again. */
  #attached: { keys: string[]; ids: string[] } | undefined;

  constructor(ref: JobMessageRef, options: JobMessageTargetOptions) {
    this.#ref = { ...ref };
    this.#options = options;
  }

  get messageId(): string | null {
    return this.#ref.messageId;
  }

  /** The rate-limit scope the next edit falls in: the interaction webhook, or the channel. */
  get bucketKey(): string {
    return this.#tokenUsable() ? `webhook:${this.#ref.jobId}` : `channel:${this.#ref.channelId}`;
  }

  #tokenUsable(): boolean {
    const { interactionToken, interactionCreatedAt } = this.#ref;
    if (this.#tokenDead || interactionToken === null || interactionCreatedAt === null) return false;
    const ttl = this.#options.tokenTtlMs ?? INTERACTION_TOKEN_TTL_MS;
    const safety = this.#options.tokenSafetyMs ?? TOKEN_SAFETY_MS;
    return Date.now() - interactionCreatedAt < ttl - safety;
  }

  /** Sends one state. Throws rate limits and unexpected errors to the edit scheduler; handles expiry itself. */
  async send(state: MessageState, final: boolean): Promise<void> {
    await this.#options.acknowledged;
    const { rest, applicationId } = this.#options;
    const { body, files } = this.#payload(state);
    if (this.#tokenUsable()) {
      try {
        const message = (await rest.patch(Routes.webhookMessage(applicationId, this.#ref.interactionToken!, '@original'), {
          body,
          files,
          auth: false,
        })) as RawMessage;
        this.#remember(message, state);
        return;
      } catch (error) {
        const code = discordCode(error);
        if (code === INVALID_WEBHOOK_TOKEN || code === UNKNOWN_WEBHOOK) {
          this.#tokenDead = true;
          this.#options.logger?.info({ jobId: this.#ref.jobId }, 'interaction token expired; editing with the bot token');
        } else if (code === UNKNOWN_MESSAGE) {
          this.#messageGone = true;
        } else {
          throw error;
        }
      }
    }
    if (this.#ref.messageId !== null && !this.#messageGone) {
      try {
        const message = (await rest.patch(Routes.channelMessage(this.#ref.channelId, this.#ref.messageId), { body, files })) as RawMessage;
        this.#remember(message, state);
        return;
      } catch (error) {
        if (discordCode(error) !== UNKNOWN_MESSAGE) throw error;
        this.#messageGone = true;
        this.#options.logger?.info({ jobId: this.#ref.jobId, err: safeError(error) }, 'job message is gone');
      }
    }
    const replyToMessage = this.#ref.replyToMessageId ?? null;
    // A job made from a message has no other way to show itself: its first state becomes the reply (no ping; the
    // member just wrote the message it answers).
    if (replyToMessage !== null && this.#ref.messageId === null) {
      const first = {
        ...body,
        allowed_mentions: { parse: [], replied_user: false },
        message_reference: { message_id: replyToMessage, fail_if_not_exists: false },
      };
      const message = (await rest.post(Routes.channelMessages(this.#ref.channelId), { body: first, files })) as RawMessage;
      this.#remember(message, state);
      return;
    }
    // No message to edit. Intermediate states are not worth a new message; the final always is.
    if (!final) return;
    const replyTo = this.#messageGone ? replyToMessage : this.#ref.messageId;
    const post = {
      ...body,
      content: truncateText(`<@${this.#ref.userId}> ${body.content ?? ''}`, 2000),
      allowed_mentions: { parse: [], users: [this.#ref.userId] },
      ...(replyTo ? { message_reference: { message_id: replyTo, fail_if_not_exists: false } } : {}),
    };
    const message = (await rest.post(Routes.channelMessages(this.#ref.channelId), { body: post, files })) as RawMessage;
    this.#messageGone = false;
    this.#remember(message, state);
  }

  #payload(state: MessageState): { body: RESTPatchAPIWebhookWithTokenMessageJSONBody; files: RawFile[] | undefined } {
    const body: RESTPatchAPIWebhookWithTokenMessageJSONBody = {
      content: state.content,
      components: state.components,
      // Edits never ping; the owner is mentioned in text only.
      allowed_mentions: { parse: [] },
    };
    const images = state.image ? [state.image, ...(state.extraImages ?? [])] : [];
    if (images.length === 0) {
      body.attachments = [];
      return { body, files: undefined };
    }
    // The same images as the message already shows (an unchanged preview, a resent final): kept by id, not uploaded.
    const attached = this.#attached;
    if (attached && attached.keys.length === images.length && images.every((image, i) => attached.keys[i] === image.key)) {
      body.attachments = attached.ids.map((id) => ({ id }));
      return { body, files: undefined };
    }
    body.attachments = images.map((image, i) => ({ id: i, filename: image.name }));
    return { body, files: images.map((image) => ({ name: image.name, data: Buffer.from(image.png), contentType: 'image/png' })) };
  }

  #remember(message: RawMessage, state: MessageState): void {
    const images = state.image ? [state.image, ...(state.extraImages ?? [])] : [];
    const ids = (message.attachments ?? []).map((a) => a.id);
    this.#attached = images.length > 0 && ids.length === images.length ? { keys: images.map((image) => image.key), ids } : undefined;
    if (message.id && message.id !== this.#ref.messageId) {
      this.#ref.messageId = message.id;
      this.#options.onMessageId?.(message.id);
    }
  }
}

interface RawMessage {
  id: string;
  attachments?: { id: string }[];
}
