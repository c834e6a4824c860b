import { EventEmitter } from 'node:events';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { WebSocketServer, type WebSocket } from 'ws';
import { snowflake } from './snowflake.js';

/** A request the bot made, as the fake understood it. */
export interface RecordedRequest {
  method: string;
  path: string;
  /** The route with ids replaced, e.g. `PATCH /webhooks/:app/:token/messages/:message`. */
  route: string;
  /** Authorization header was `Bot <token>`. */
  botAuth: boolean;
  json: any;
  files: { field: string; name: string; data: Buffer; contentType: string }[];
  status: number;
  at: number;
}

export interface FakeAttachment {
  id: string;
  filename: string;
  size: number;
  url: string;
  proxy_url: string;
  content_type: string;
  data: Buffer;
}

export interface FakeMessage {
  id: string;
  channel_id: string;
  guild_id?: string;
  content: string;
  embeds: any[];
  components: any[];
  attachments: FakeAttachment[];
  flags: number;
  /** Interaction whose reply this is, if any. */
  interactionId?: string;
  message_reference?: { message_id: string };
  /** A member's (or another bot's) message, posted with `postUserMessage`; unset for the bot's own. */
  author?: FakeUser & { bot?: boolean };
  /** How many times it was edited. */
  edits: number;
  createdAt: number;
}

export interface FakeUser {
  id: string;
  username: string;
  /** The member's Discord language, sent as the interaction's `locale`. @default 'en-US' */
  locale?: string;
}

export interface FakeGuild {
  id: string;
  name: string;
  channels: string[];
  ownerId: string;
  /** The server's language: GUILD_CREATE's `preferred_locale` and interactions' `guild_locale`. @default 'en-US' */
  locale?: string;
}

export interface InteractionRecord {
  id: string;
  token: string;
  createdAt: number;
  acknowledged: boolean;
  /** Response type of the callback (4 reply, 5 deferred, 6 deferred update, 7 update, 8 autocomplete). */
  callbackType?: number;
  callbackData?: any;
  ackAt?: number;
  dispatchedAt: number;
  guildId?: string;
  channelId: string;
  /** For components: the message the button was on. */
  sourceMessageId?: string;
  expired: boolean;
  /** Discord did not deliver it: the member lacks the command's default_member_permissions. */
  blocked?: boolean;
}

interface RateLimitRule {
  method: string;
  route: RegExp;
  remaining: number;
  retryAfterSeconds: number;
}

export interface FakeDiscordOptions {
  /** The token the bot must send on bot routes. */
  botToken: string;
  /** Webhook (interaction) tokens stop working this long after the interaction. @default 15 minutes */
  tokenLifetimeMs?: number;
  guilds?: FakeGuild[];
}

/** Manage Server. */
export const MANAGE_GUILD = 1n << 5n;
const MEMBER_PERMISSIONS = (1n << 10n) | (1n << 11n) | (1n << 31n); // view, send, use application commands
const ADMIN_PERMISSIONS = MEMBER_PERMISSIONS | MANAGE_GUILD;

/**
 * Our own stand-in for Discord on 127.0.0.1: REST under /api/v10, GET /gateway/bot and a JSON WebSocket gateway.
 * It keeps messages in memory, parses multipart uploads, expires interaction tokens, injects 429s, and lets a
 * test send interactions and wait for what the bot does with them.
 */
export class FakeDiscord extends EventEmitter {
  readonly applicationId = snowflake();
  readonly botUser: FakeUser = { id: this.applicationId, username: 'imagine-bot' };
  readonly requests: RecordedRequest[] = [];
  readonly messages = new Map<string, FakeMessage>();
  readonly interactions = new Map<string, InteractionRecord>();
  readonly commands = new Map<string, any[]>();
  readonly guilds: FakeGuild[];
  /** The intents bitfield of the bot's last IDENTIFY. */
  identifiedIntents: number | undefined;
  tokenLifetimeMs: number;
  readonly #botToken: string;
  readonly #server: Server;
  readonly #wss: WebSocketServer;
  readonly #sockets = new Set<WebSocket>();
  readonly #rateLimits: RateLimitRule[] = [];
  /** Files users uploaded with commands (`upload`), served from the CDN route like Discord's attachment URLs. */
  readonly #uploads = new Map<string, { data: Buffer; contentType: string }>();
  #sequence = 0;
  #port = 0;

  constructor(options: FakeDiscordOptions) {
    super();
    this.setMaxListeners(0);
    this.#botToken = options.botToken;
    this.tokenLifetimeMs = options.tokenLifetimeMs ?? 15 * 60_000;
    this.guilds = options.guilds ?? [{ id: snowflake(), name: 'Test Guild', channels: [snowflake(), snowflake()], ownerId: snowflake() }];
    this.#server = createServer((req, res) => void this.#handle(req, res));
    this.#wss = new WebSocketServer({ server: this.#server, path: '/gateway' });
    this.#wss.on('connection', (socket) => this.#onConnection(socket));
  }

  async start(): Promise<void> {
    await new Promise<void>((resolve) => this.#server.listen(0, '127.0.0.1', resolve));
    this.#port = (this.#server.address() as AddressInfo).port;
  }

  /** The value for DISCORD_API_BASE. */
  get apiBase(): string {
    return `http://127.0.0.1:${this.#port}/api`;
  }

  get gatewayConnections(): number {
    return this.#sockets.size;
  }

  async stop(): Promise<void> {
    for (const socket of this.#sockets) socket.terminate();
    await new Promise<void>((resolve) => this.#wss.close(() => resolve()));
    this.#server.closeAllConnections();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }

  /** The next `count` requests whose method matches and whose route or path matches `route` answer 429 with `retryAfterSeconds`. */
  rateLimit(method: string, route: RegExp, count: number, retryAfterSeconds: number): void {
    this.#rateLimits.push({ method: method.toUpperCase(), route, remaining: count, retryAfterSeconds });
  }

  /** Makes an interaction token invalid now, as Discord does 15 minutes after the interaction. */
  expireToken(token: string): void {
    for (const record of this.interactions.values()) if (record.token === token) record.expired = true;
  }

  // ---------------------------------------------------------------- interactions

  /**
   * A file a user attaches to a command: served at its `url` from 127.0.0.1 as Discord's CDN would. Pass the returned
   * object's `id` as the value of an attachment option (type 11); `sendCommand` resolves it as Discord does.
   * `contentType` and the dimensions are what Discord claims (it reads them from the file; tests may make them lie).
   */
  upload(data: Buffer, filename: string, claims: { contentType?: string; width?: number; height?: number; size?: number } = {}): any {
    const id = snowflake();
    const contentType = claims.contentType ?? 'image/png';
    this.#uploads.set(id, { data, contentType });
    const url = `http://127.0.0.1:${this.#port}/attachments/${id}/${filename}`;
    const attachment = {
      id,
      filename,
      size: claims.size ?? data.length,
      url,
      proxy_url: url,
      content_type: contentType,
      ...(claims.width ? { width: claims.width, height: claims.height } : {}),
    };
    this.#uploadJson.set(id, attachment);
    return attachment;
  }

  readonly #uploadJson = new Map<string, any>();

  /** Dispatches a slash command; returns its id and token. */
  sendCommand(input: { name: string; options?: any[]; user?: FakeUser; admin?: boolean; guild?: FakeGuild; channelId?: string }): InteractionRecord {
    const guild = input.guild ?? this.guilds[0];
    const channelId = input.channelId ?? guild.channels[0];
    const commandId = this.#commandId(input.name, guild.id);
    // Discord enforces default_member_permissions itself: the command is hidden and never reaches the bot.
    const registered = (this.commands.get(guild.id) ?? this.commands.get('global') ?? []).find((c) => c.name === input.name);
    const required = registered?.default_member_permissions ? BigInt(registered.default_member_permissions) : 0n;
    const held = input.admin ? ADMIN_PERMISSIONS : MEMBER_PERMISSIONS;
    if ((held & required) !== required) {
      return {
        id: snowflake(),
        token: '',
        createdAt: Date.now(),
        acknowledged: false,
        dispatchedAt: performance.now(),
        channelId,
        expired: false,
        blocked: true,
      };
    }
    // Channel and attachment options arrive with their object in `resolved`, as on Discord.
    const channels: Record<string, unknown> = {};
    const attachments: Record<string, unknown> = {};
    const collect = (options: any[]) => {
      for (const option of options) {
        if (option.type === 7) channels[option.value] = { id: option.value, type: 0, name: 'channel', permissions: ADMIN_PERMISSIONS.toString() };
        if (option.type === 11) attachments[option.value] = this.#uploadJson.get(option.value);
        if (Array.isArray(option.options)) collect(option.options);
      }
    };
    collect(input.options ?? []);
    const resolvedParts = {
      ...(Object.keys(channels).length > 0 ? { channels } : {}),
      ...(Object.keys(attachments).length > 0 ? { attachments } : {}),
    };
    const resolved = Object.keys(resolvedParts).length > 0 ? { resolved: resolvedParts } : {};
    return this.#dispatchInteraction(
      { type: 2, data: { id: commandId, name: input.name, type: 1, options: input.options ?? [], guild_id: guild.id, ...resolved } },
      guild,
      channelId,
      input.user,
      input.admin,
    );
  }

  /** Dispatches an autocomplete request for `focused` among `options`. */
  sendAutocomplete(input: { name: string; options: any[]; user?: FakeUser; guild?: FakeGuild }): InteractionRecord {
    const guild = input.guild ?? this.guilds[0];
    return this.#dispatchInteraction(
      { type: 4, data: { id: this.#commandId(input.name, guild.id), name: input.name, type: 1, options: input.options, guild_id: guild.id } },
      guild,
      guild.channels[0],
      input.user,
      false,
    );
  }

  /** Clicks a button on a message the bot posted. */
  clickButton(input: { messageId: string; customId: string; user?: FakeUser; admin?: boolean }): InteractionRecord {
    const message = this.messages.get(input.messageId);
    if (!message) throw new Error(`no message ${input.messageId}`);
    const guild = this.guilds.find((g) => g.id === message.guild_id) ?? this.guilds[0];
    const record = this.#dispatchInteraction(
      { type: 3, data: { custom_id: input.customId, component_type: 2 }, message: this.#messageJson(message) },
      guild,
      message.channel_id,
      input.user,
      input.admin,
    );
    record.sourceMessageId = message.id;
    return record;
  }

  /**
   * A member writes a message in a channel (a reply when `replyTo` is set). It is kept like the bot's messages and
   * dispatched as MESSAGE_CREATE, with `<@id>` mentions in `content` listed in `mentions` as Discord does.
   */
  postUserMessage(input: { content: string; user?: FakeUser; bot?: boolean; guild?: FakeGuild; channelId?: string; replyTo?: string }): FakeMessage {
    const guild = input.guild ?? this.guilds[0];
    const channelId = input.channelId ?? (input.replyTo ? this.messages.get(input.replyTo)?.channel_id : undefined) ?? guild.channels[0];
    const user = input.user ?? { id: snowflake(), username: 'member' };
    const message = this.#createMessage(
      channelId,
      guild.id,
      { content: input.content, ...(input.replyTo ? { message_reference: { message_id: input.replyTo } } : {}) },
      [],
    );
    message.author = { ...user, bot: input.bot ?? false };
    const referenced = input.replyTo ? this.messages.get(input.replyTo) : undefined;
    this.#dispatch('MESSAGE_CREATE', {
      ...this.#messageJson(message),
      ...(referenced ? { referenced_message: this.#messageJson(referenced) } : {}),
      member: { roles: [], joined_at: new Date().toISOString(), deaf: false, mute: false, flags: 0, nick: null, avatar: null },
    });
    return message;
  }

  /** Runs a message command (right-click a message → Apps) on `targetMessageId`. */
  sendMessageCommand(input: { name: string; targetMessageId: string; user?: FakeUser; admin?: boolean }): InteractionRecord {
    const target = this.messages.get(input.targetMessageId);
    if (!target) throw new Error(`no message ${input.targetMessageId}`);
    const guild = this.guilds.find((g) => g.id === target.guild_id) ?? this.guilds[0];
    return this.#dispatchInteraction(
      {
        type: 2,
        data: {
          id: this.#commandId(input.name, guild.id),
          name: input.name,
          type: 3,
          target_id: target.id,
          guild_id: guild.id,
          resolved: { messages: { [target.id]: this.#messageJson(target) } },
        },
      },
      guild,
      target.channel_id,
      input.user,
      input.admin,
    );
  }

  /** Submits the modal (form) a button opened, with its text fields; as on Discord, it carries the button's message. */
  submitModal(input: { messageId: string; customId: string; fields: Record<string, string>; user?: FakeUser }): InteractionRecord {
    const message = this.messages.get(input.messageId);
    if (!message) throw new Error(`no message ${input.messageId}`);
    const guild = this.guilds.find((g) => g.id === message.guild_id) ?? this.guilds[0];
    const components = Object.entries(input.fields).map(([custom_id, value]) => ({ type: 1, components: [{ type: 4, custom_id, value }] }));
    const record = this.#dispatchInteraction(
      { type: 5, data: { custom_id: input.customId, components }, message: this.#messageJson(message) },
      guild,
      message.channel_id,
      input.user,
      false,
    );
    record.sourceMessageId = message.id;
    return record;
  }

  #commandId(name: string, guildId: string): string {
    const list = this.commands.get(guildId) ?? this.commands.get('global') ?? [];
    return list.find((c) => c.name === name)?.id ?? snowflake();
  }

  #dispatchInteraction(
    partial: any,
    guild: FakeGuild,
    channelId: string,
    user: FakeUser = { id: snowflake(), username: 'member' },
    admin = false,
  ): InteractionRecord {
    const id = snowflake();
    const token = `tok_${id}_${Math.random().toString(36).slice(2)}`;
    const record: InteractionRecord = {
      id,
      token,
      createdAt: Date.now(),
      acknowledged: false,
      dispatchedAt: performance.now(),
      guildId: guild.id,
      channelId,
      expired: false,
    };
    this.interactions.set(id, record);
    const permissions = (admin ? ADMIN_PERMISSIONS : MEMBER_PERMISSIONS).toString();
    this.#dispatch('INTERACTION_CREATE', {
      id,
      application_id: this.applicationId,
      token,
      version: 1,
      guild_id: guild.id,
      guild: { id: guild.id, locale: guild.locale ?? 'en-US', features: [] },
      channel_id: channelId,
      channel: { id: channelId, type: 0, guild_id: guild.id, name: 'general', permissions: ADMIN_PERMISSIONS.toString() },
      member: {
        user: { id: user.id, username: user.username, discriminator: '0', global_name: user.username, avatar: null },
        roles: [],
        permissions,
        joined_at: new Date().toISOString(),
        deaf: false,
        mute: false,
        flags: 0,
        nick: null,
        avatar: null,
      },
      app_permissions: ADMIN_PERMISSIONS.toString(),
      locale: user.locale ?? 'en-US',
      guild_locale: guild.locale ?? 'en-US',
      entitlements: [],
      authorizing_integration_owners: { '0': guild.id },
      context: 0,
      attachment_size_limit: 10 * 1024 * 1024,
      ...partial,
    });
    return record;
  }

  // ---------------------------------------------------------------- waiting

  /** Resolves with the first value `check` returns (re-checked on every request); rejects after `timeoutMs`. */
  waitFor<T>(check: () => T | undefined | false, timeoutMs = 30_000, what: string | (() => string) = 'condition'): Promise<T> {
    return new Promise((resolve, reject) => {
      const tryNow = () => {
        const value = check();
        if (value !== undefined && value !== false) {
          cleanup();
          resolve(value);
        }
      };
      const timer = setTimeout(() => {
        cleanup();
        reject(new Error(`FakeDiscord: timed out waiting for ${typeof what === 'function' ? what() : what}`));
      }, timeoutMs);
      const cleanup = () => {
        clearTimeout(timer);
        this.off('request', tryNow);
      };
      this.on('request', tryNow);
      tryNow();
    });
  }

  /** The message that answers interaction `id` (its original response), once one exists. */
  replyOf(interactionId: string): FakeMessage | undefined {
    for (const message of this.messages.values()) if (message.interactionId === interactionId) return message;
    return undefined;
  }

  /** Messages posted in reply (message_reference) to `messageId`. */
  repliesTo(messageId: string): FakeMessage[] {
    return [...this.messages.values()].filter((m) => m.message_reference?.message_id === messageId);
  }

  /** The callback an interaction got (ephemeral replies, autocomplete choices, modal...). */
  callbackOf(interactionId: string): { type: number; data: any } | undefined {
    const record = this.interactions.get(interactionId);
    return record?.callbackType === undefined ? undefined : { type: record.callbackType, data: record.callbackData };
  }

  // ---------------------------------------------------------------- gateway

  #onConnection(socket: WebSocket): void {
    this.#sockets.add(socket);
    socket.on('close', () => this.#sockets.delete(socket));
    socket.send(JSON.stringify({ op: 10, d: { heartbeat_interval: 41_250 }, s: null, t: null }));
    socket.on('message', (raw) => {
      const packet = JSON.parse(raw.toString());
      if (packet.op === 1) socket.send(JSON.stringify({ op: 11, d: null, s: null, t: null }));
      else if (packet.op === 2) {
        this.identifiedIntents = packet.d?.intents;
        this.#identify(socket);
      } else if (packet.op === 6) this.#send(socket, 'RESUMED', {});
    });
  }

  #identify(socket: WebSocket): void {
    this.#send(socket, 'READY', {
      v: 10,
      user: { id: this.botUser.id, username: this.botUser.username, discriminator: '0', bot: true, avatar: null, global_name: null },
      guilds: this.guilds.map((g) => ({ id: g.id, unavailable: true })),
      session_id: `session_${snowflake()}`,
      resume_gateway_url: `ws://127.0.0.1:${this.#port}/gateway`,
      application: { id: this.applicationId, flags: 0 },
      private_channels: [],
    });
    for (const guild of this.guilds) {
      this.#send(socket, 'GUILD_CREATE', {
        id: guild.id,
        name: guild.name,
        icon: null,
        owner_id: guild.ownerId,
        unavailable: false,
        member_count: 2,
        large: false,
        joined_at: new Date().toISOString(),
        features: [],
        emojis: [],
        stickers: [],
        roles: [
          {
            id: guild.id,
            name: '@everyone',
            permissions: MEMBER_PERMISSIONS.toString(),
            position: 0,
            color: 0,
            hoist: false,
            managed: false,
            mentionable: false,
            flags: 0,
          },
        ],
        channels: guild.channels.map((id, position) => ({
          id,
          type: 0,
          name: `channel-${position}`,
          guild_id: guild.id,
          position,
          permission_overwrites: [],
        })),
        members: [],
        voice_states: [],
        presences: [],
        threads: [],
        stage_instances: [],
        guild_scheduled_events: [],
        soundboard_sounds: [],
        preferred_locale: guild.locale ?? 'en-US',
      });
    }
  }

  #send(socket: WebSocket, event: string, data: unknown): void {
    socket.send(JSON.stringify({ op: 0, t: event, s: ++this.#sequence, d: data }));
  }

  #dispatch(event: string, data: unknown): void {
    if (this.#sockets.size === 0) throw new Error('FakeDiscord: no bot connected to the gateway');
    for (const socket of this.#sockets) this.#send(socket, event, data);
  }

  // ---------------------------------------------------------------- REST

  async #handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const body = Buffer.concat(chunks);
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    const path = url.pathname.replace(/^\/api\/v10/, '');
    const method = (req.method ?? 'GET').toUpperCase();
    const auth = req.headers.authorization ?? '';
    const record: RecordedRequest = {
      method,
      path,
      route: `${method} ${routeOf(path)}`,
      botAuth: auth === `Bot ${this.#botToken}`,
      json: undefined,
      files: [],
      status: 0,
      at: performance.now(),
    };
    try {
      await parseBody(req, body, record);
    } catch {
      // Leave json undefined; the route answers 400.
    }
    const reply = (status: number, payload?: unknown, headers: Record<string, string> = {}) => {
      record.status = status;
      this.requests.push(record);
      // A 204 has no body and, as on Discord, no content type (discord.js would try to parse it).
      res.writeHead(status, payload === undefined ? headers : { 'content-type': 'application/json', ...headers });
      res.end(payload === undefined ? undefined : JSON.stringify(payload));
      this.emit('request', record);
    };

    // The CDN: attachment URLs (uploads and the bot's own files), no auth, raw bytes.
    if (method === 'GET' && path.startsWith('/attachments/')) {
      const [, , id] = path.split('/');
      const upload = this.#uploads.get(id) ?? [...this.messages.values()].flatMap((m) => m.attachments).find((a) => a.id === id);
      record.status = upload ? 200 : 404;
      this.requests.push(record);
      if (!upload) res.writeHead(404).end();
      else
        res
          .writeHead(200, {
            'content-type': 'contentType' in upload ? upload.contentType : upload.content_type,
            'content-length': String(upload.data.length),
          })
          .end(upload.data);
      return;
    }
    const limit = this.#rateLimits.find(
      (rule) => rule.remaining > 0 && rule.method === method && (rule.route.test(record.route) || rule.route.test(record.path)),
    );
    if (limit) {
      limit.remaining--;
      reply(
        429,
        { message: 'You are being rate limited.', retry_after: limit.retryAfterSeconds, global: false },
        {
          'retry-after': String(limit.retryAfterSeconds),
          'x-ratelimit-scope': 'user',
          'x-ratelimit-limit': '5',
          'x-ratelimit-remaining': '0',
          'x-ratelimit-reset-after': String(limit.retryAfterSeconds),
        },
      );
      return;
    }
    try {
      const [status, payload] = this.#route(method, path, record, url);
      reply(status, payload);
    } catch (error) {
      reply(500, { code: 0, message: String(error) });
    }
  }

  #route(method: string, path: string, record: RecordedRequest, url: URL): [number, unknown?] {
    const parts = path.split('/').filter(Boolean).map(decodeURIComponent);
    const needsBot = () => (record.botAuth ? undefined : ([401, { code: 0, message: '401: Unauthorized' }] as [number, unknown]));

    if (method === 'GET' && path === '/gateway/bot') {
      return [
        200,
        {
          url: `ws://127.0.0.1:${this.#port}/gateway`,
          shards: 1,
          session_start_limit: { total: 1000, remaining: 1000, reset_after: 0, max_concurrency: 1 },
        },
      ];
    }
    if (method === 'GET' && path === '/users/@me') return needsBot() ?? [200, { ...this.botUser, discriminator: '0', bot: true, avatar: null }];
    if (method === 'GET' && path === '/applications/@me')
      return needsBot() ?? [200, { id: this.applicationId, name: 'imagine-bot', flags: 0, bot_public: true }];

    if (parts[0] === 'applications' && parts[2] === 'commands' && parts.length === 3) return this.#commandsRoute(method, 'global', record);
    if (parts[0] === 'applications' && parts[2] === 'guilds' && parts[4] === 'commands' && parts.length === 5)
      return this.#commandsRoute(method, parts[3], record);

    if (parts[0] === 'interactions' && parts[3] === 'callback' && method === 'POST') return this.#callback(parts[1], parts[2], record, url);

    if (parts[0] === 'webhooks') {
      const token = parts[2];
      const interaction = [...this.interactions.values()].find((i) => i.token === token);
      if (!interaction) return [404, { code: 10015, message: 'Unknown Webhook' }];
      if (interaction.expired || Date.now() - interaction.createdAt > this.tokenLifetimeMs)
        return [401, { code: 50027, message: 'Invalid Webhook Token' }];
      if (parts.length === 3 && method === 'POST') {
        const message = this.#createMessage(interaction.channelId, interaction.guildId, record.json ?? {}, record.files);
        return [200, this.#messageJson(message)];
      }
      if (parts[3] === 'messages' && parts.length === 5) {
        const target = parts[4] === '@original' ? this.#originalOf(interaction) : this.messages.get(parts[4]);
        if (!target) return [404, { code: 10008, message: 'Unknown Message' }];
        if (method === 'PATCH') return [200, this.#messageJson(this.#editMessage(target, record.json ?? {}, record.files))];
        if (method === 'GET') return [200, this.#messageJson(target)];
        if (method === 'DELETE') {
          this.messages.delete(target.id);
          return [204];
        }
      }
    }

    if (parts[0] === 'channels' && parts[2] === 'messages') {
      const denied = needsBot();
      if (denied) return denied;
      const channelId = parts[1];
      const guild = this.guilds.find((g) => g.channels.includes(channelId));
      if (!guild) return [404, { code: 10003, message: 'Unknown Channel' }];
      if (parts.length === 3 && method === 'POST')
        return [200, this.#messageJson(this.#createMessage(channelId, guild.id, record.json ?? {}, record.files))];
      if (parts.length === 4) {
        const message = this.messages.get(parts[3]);
        if (!message || message.channel_id !== channelId) return [404, { code: 10008, message: 'Unknown Message' }];
        if (message.flags & 64) return [404, { code: 10008, message: 'Unknown Message' }];
        if (method === 'PATCH') return [200, this.#messageJson(this.#editMessage(message, record.json ?? {}, record.files))];
        if (method === 'GET') return [200, this.#messageJson(message)];
      }
    }
    return [404, { code: 0, message: `404: Not Found (${method} ${path})` }];
  }

  #commandsRoute(method: string, scope: string, record: RecordedRequest): [number, unknown?] {
    if (!record.botAuth) return [401, { code: 0, message: '401: Unauthorized' }];
    if (method === 'GET') return [200, this.commands.get(scope) ?? []];
    if (method === 'PUT') {
      const list = (record.json as any[]).map((command) => ({
        ...command,
        id: snowflake(),
        application_id: this.applicationId,
        version: snowflake(),
      }));
      this.commands.set(scope, list);
      return [200, list];
    }
    return [405, { code: 0, message: 'Method Not Allowed' }];
  }

  #callback(id: string, token: string, record: RecordedRequest, url: URL): [number, unknown?] {
    const interaction = this.interactions.get(id);
    if (!interaction || interaction.token !== token) return [404, { code: 10062, message: 'Unknown interaction' }];
    if (interaction.acknowledged) return [400, { code: 40060, message: 'Interaction has already been acknowledged.' }];
    const { type, data } = record.json ?? {};
    interaction.acknowledged = true;
    interaction.callbackType = type;
    interaction.callbackData = data;
    interaction.ackAt = performance.now();
    if (type === 4 || type === 5) {
      // The original response exists from now on ("thinking…" for a deferred one).
      const message = this.#createMessage(
        interaction.channelId,
        interaction.guildId,
        type === 4 ? (data ?? {}) : { content: '', flags: data?.flags ?? 0 },
        record.files,
      );
      message.interactionId = interaction.id;
    }
    if (type === 7 && interaction.sourceMessageId) {
      const message = this.messages.get(interaction.sourceMessageId);
      if (message) this.#editMessage(message, data ?? {}, record.files);
    }
    if (url.searchParams.get('with_response') === 'true') return [200, { interaction: { id, type: 2 } }];
    return [204];
  }

  #originalOf(interaction: InteractionRecord): FakeMessage | undefined {
    if (!interaction.acknowledged) return undefined;
    if (interaction.callbackType === 6 || interaction.callbackType === 7)
      return interaction.sourceMessageId ? this.messages.get(interaction.sourceMessageId) : undefined;
    return this.replyOf(interaction.id);
  }

  #createMessage(channelId: string, guildId: string | undefined, json: any, files: RecordedRequest['files']): FakeMessage {
    const message: FakeMessage = {
      id: snowflake(),
      channel_id: channelId,
      guild_id: guildId,
      content: '',
      embeds: [],
      components: [],
      attachments: [],
      flags: 0,
      edits: 0,
      createdAt: Date.now(),
    };
    this.messages.set(message.id, message);
    if (json.message_reference?.message_id) message.message_reference = { message_id: json.message_reference.message_id };
    this.#apply(message, json, files);
    return message;
  }

  #editMessage(message: FakeMessage, json: any, files: RecordedRequest['files']): FakeMessage {
    message.edits++;
    this.#apply(message, json, files);
    return message;
  }

  /** Discord's edit semantics: listed fields replace, `attachments` lists what to keep plus new uploads by index. */
  #apply(message: FakeMessage, json: any, files: RecordedRequest['files']): void {
    if (typeof json.content === 'string') {
      if (json.content.length > 2000) throw new Error('content over 2000 characters');
      message.content = json.content;
    }
    if (Array.isArray(json.embeds)) message.embeds = json.embeds;
    if (Array.isArray(json.components)) message.components = json.components;
    if (typeof json.flags === 'number') message.flags = json.flags;
    const uploaded = files.map((file, index) => this.#attachment(file, index));
    if (Array.isArray(json.attachments)) {
      message.attachments = json.attachments
        .map((entry: any) => message.attachments.find((a) => a.id === String(entry.id)) ?? uploaded[Number(entry.id)])
        .filter(Boolean);
    } else if (uploaded.length > 0) {
      message.attachments = [...message.attachments, ...uploaded];
    }
  }

  #attachment(file: RecordedRequest['files'][number], index: number): FakeAttachment {
    const id = snowflake();
    return {
      id,
      filename: file.name,
      size: file.data.length,
      url: `http://127.0.0.1:${this.#port}/attachments/${id}/${file.name}`,
      proxy_url: `http://127.0.0.1:${this.#port}/attachments/${id}/${file.name}`,
      content_type: file.contentType || (index >= 0 ? 'image/png' : ''),
      data: file.data,
    };
  }

  #messageJson(message: FakeMessage): any {
    const author = message.author ?? { ...this.botUser, bot: true };
    // Who `<@id>` in the text mentions: the bot, or members who wrote here.
    const mentioned = [...new Set([...message.content.matchAll(/<@!?(\d+)>/g)].map((m) => m[1]))];
    const known = (id: string) =>
      id === this.botUser.id ? { ...this.botUser, bot: true } : [...this.messages.values()].find((m) => m.author?.id === id)?.author;
    return {
      id: message.id,
      channel_id: message.channel_id,
      guild_id: message.guild_id,
      author: { id: author.id, username: author.username, discriminator: '0', bot: author.bot ?? false, avatar: null, global_name: null },
      content: message.content,
      embeds: message.embeds,
      components: message.components,
      attachments: message.attachments.map(({ data: _data, ...rest }) => rest),
      flags: message.flags,
      type: message.interactionId ? 20 : message.message_reference ? 19 : 0,
      timestamp: new Date(message.createdAt).toISOString(),
      edited_timestamp: message.edits > 0 ? new Date().toISOString() : null,
      tts: false,
      mention_everyone: false,
      mentions: message.author
        ? mentioned.map((id) => ({
            id,
            username: known(id)?.username ?? 'member',
            discriminator: '0',
            bot: known(id)?.bot ?? false,
            avatar: null,
            global_name: null,
          }))
        : [],
      mention_roles: [],
      pinned: false,
      ...(message.author ? {} : { application_id: this.applicationId }),
      ...(message.message_reference ? { message_reference: { ...message.message_reference, channel_id: message.channel_id } } : {}),
    };
  }
}

function routeOf(path: string): string {
  return path
    .replace(/^\/webhooks\/\d+\/[^/]+/, '/webhooks/:app/:token')
    .replace(/^\/interactions\/\d+\/[^/]+/, '/interactions/:id/:token')
    .replace(/\/messages\/(\d+|%40original|@original)/, '/messages/:message')
    .replace(/\/\d{15,}/g, '/:id');
}

async function parseBody(req: IncomingMessage, body: Buffer, record: RecordedRequest): Promise<void> {
  if (body.length === 0) return;
  const type = req.headers['content-type'] ?? '';
  if (type.startsWith('application/json')) {
    record.json = JSON.parse(body.toString('utf8'));
    return;
  }
  if (type.startsWith('multipart/form-data')) {
    // undici's Request parses multipart exactly as a browser would send it; no hand-written boundary parser.
    const form = await new Request('http://127.0.0.1/', { method: 'POST', headers: { 'content-type': type }, body }).formData();
    for (const [field, value] of form.entries()) {
      if (field === 'payload_json') record.json = JSON.parse(String(value));
      else if (typeof value !== 'string') {
        record.files.push({ field, name: value.name, data: Buffer.from(await value.arrayBuffer()), contentType: value.type });
      }
    }
  }
}
