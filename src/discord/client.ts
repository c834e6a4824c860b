import { Client, GatewayIntentBits, type RateLimitData } from 'discord.js';

/**
 * Message edits (webhook and channel routes) reject on a rate limit instead of waiting inside discord.js, so the
 * edit scheduler sees the 429, coalesces states and paces the bucket. Everything else (acks, registration) keeps
 * discord.js's own waiting.
 */
export function isEditRoute(data: Pick<RateLimitData, 'route' | 'method'>): boolean {
  return /^\/(webhooks\/:id\/:token|channels\/:id\/messages)/.test(data.route) || /^\/webhooks\//.test(data.route);
}

export interface CreateClientOptions {
  /** REST base without the version, e.g. http://127.0.0.1:8080/api (DISCORD_API_BASE). */
  apiBase?: string;
}

/**
 * The discord.js client: Guilds (commands and buttons) and GuildMessages, for replies to results. GuildMessages is
 * not privileged, and Message Content (privileged) is not needed: a message that mentions the bot carries its text
 * anyway, and only replies that mention the bot are acted on.
 */
export function createClient(options: CreateClientOptions = {}): Client {
  return new Client({
    intents: [GatewayIntentBits.Guilds, GatewayIntentBits.GuildMessages],
    rest: {
      ...(options.apiBase ? { api: options.apiBase } : {}),
      rejectOnRateLimit: (data) => isEditRoute(data),
    },
  });
}
