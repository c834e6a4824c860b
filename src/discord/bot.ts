import { Events, RateLimitError, Routes, type Client } from 'discord.js';
import { commandDefinitions } from '../../commands/command-definitions.js';
import { GuildSettingsSchema, type GuildSettings } from '../config/guild-settings.js';
import type { ModelSummary } from '../protocol/generate-request.js';
import type { Logger } from '../logger.js';
import type { JobService } from '../queue/job-service.js';
import type { Store } from '../store/store.js';
import type { BotContext } from './bot-context.js';
import { createClient } from './client.js';
import { CommandRegistry } from './command-registry.js';
import { configCommand } from './commands/config.js';
import { editCommand } from './commands/edit.js';
import { helpCommand } from './commands/help.js';
import { imagineCommand } from './commands/imagine.js';
import { imagineThisCommand } from './commands/imagine-this.js';
import { queueCommand } from './commands/queue.js';
import { cancelButton } from './components/cancel-button.js';
import { controlButton } from './components/control-button.js';
import { editButtons } from './components/edit-buttons.js';
import { imageButtons } from './components/image-buttons.js';
import { AckGate } from './delivery/ack-gate.js';
import { EditScheduler, type EditSchedulerOptions } from './delivery/edit-scheduler.js';
import { GuildSettingsCache } from './guild-settings-cache.js';
import { createInteractionRouter } from './interaction-router.js';
import { JobReporter } from './delivery/job-reporter.js';
import type { WorkerStatus } from '../worker/job-runner.js';
import { replyRefineHandler } from './messages/reply-refine.js';
import { CooldownTracker } from './preconditions/cooldown-tracker.js';
import { safeError } from './safe-error.js';
import type { LoraSummary } from '../model-folder/lora-catalog.js';

const COMMANDS_HASH_KEY = 'discord.commandsHash';

export interface ImagineBotOptions {
  token: string;
  /** DISCORD_API_BASE. */
  apiBase?: string;
  /** DEV_GUILD_ID: register to this guild (instant) instead of globally. */
  devGuildId?: string;
  store: Store;
  jobs: JobService;
  models: () => readonly ModelSummary[];
  /** Installed LoRAs (LoraCatalog): `<lora:…>` tags are checked against them before queueing. */
  loras?: () => readonly LoraSummary[];
  /** Why an installed model is set aside (it failed to load), if it is. */
  brokenReason?: (model: string) => string | undefined;
  /** Whether the depth preprocessor's model is installed: `preprocess: depth` is refused before queueing otherwise. */
  depthInstalled?: () => boolean;
  /** The execution provider the worker really runs on (after any CPU fallback); undefined before its first ready. */
  executionProvider?: () => string | undefined;
  /** The local workers, for /queue and /help (WorkerPool.status). */
  workers: () => readonly WorkerStatus[];
  logger: Logger;
  defaultModel?: string;
  /** @default 200 */
  maxQueuedTotal?: number;
  /** Edit pacing; tests and the benchmark shorten it. */
  edits?: Partial<Omit<EditSchedulerOptions, 'retryAfterMs' | 'onError'>>;
  /** Interaction token lifetime and switch-over margin; tests shorten them. */
  tokenTtlMs?: number;
  tokenSafetyMs?: number;
}

/** The Discord side of the bot: client, commands, buttons, job messages. main.ts composes it with the rest. */
export class ImagineBot {
  readonly client: Client;
  readonly scheduler: EditScheduler;
  readonly registry: CommandRegistry;
  #reporter: JobReporter | undefined;
  readonly #options: ImagineBotOptions;
  readonly #cooldowns = new CooldownTracker();
  readonly #acks = new AckGate();

  constructor(options: ImagineBotOptions) {
    this.#options = options;
    const { logger } = options;
    this.client = createClient({ apiBase: options.apiBase });
    this.scheduler = new EditScheduler({
      ...options.edits,
      retryAfterMs: (error) => (error instanceof RateLimitError ? Math.max(error.retryAfter, error.sublimitTimeout) : undefined),
      onError: (key, error, final) =>
        logger.warn({ jobId: key, final, err: safeError(error) }, final ? 'final message edit failed; retrying' : 'preview edit dropped'),
    });
    const settings = new GuildSettingsCache(options.store.guildSettings<GuildSettings>(GuildSettingsSchema));
    // The reporter needs the application id, known after login; handlers reach it through the context lazily.
    const self = this;
    const context: BotContext = {
      jobs: options.jobs,
      settings,
      models: options.models,
      ...(options.loras ? { loras: options.loras } : {}),
      ...(options.depthInstalled ? { depthInstalled: options.depthInstalled } : {}),
      brokenReason: options.brokenReason ?? (() => undefined),
      executionProvider: options.executionProvider ?? (() => undefined),
      workers: options.workers,
      get reporter() {
        if (!self.#reporter) throw new Error('ImagineBot used before start()');
        return self.#reporter;
      },
      cooldowns: this.#cooldowns,
      acks: this.#acks,
      pending: new Set(),
      logger,
      defaultModel: options.defaultModel,
      maxQueuedTotal: options.maxQueuedTotal ?? 200,
      images: options.store.images,
    };
    this.registry = new CommandRegistry(commandDefinitions, [
      imagineCommand(context),
      editCommand(context),
      configCommand(context),
      queueCommand(context),
      helpCommand(context),
      imagineThisCommand(context),
    ]);
    const route = createInteractionRouter(
      this.registry,
      [imageButtons(context), editButtons(context), controlButton(context), cancelButton(context)],
      logger,
    );
    this.client.on(Events.InteractionCreate, (interaction) => void route(interaction));
    // Replies to a result that mention the bot refine it; the handler catches its own errors.
    const onMessage = replyRefineHandler(context, () => this.client.user?.id);
    this.client.on(Events.MessageCreate, (message) => void onMessage(message));
    this.client.on(Events.Error, (error) => logger.error({ err: safeError(error) }, 'discord client error'));
    this.client.on(Events.ShardDisconnect, (event, shardId) => logger.warn({ shardId, code: event.code }, 'gateway disconnected'));
  }

  get reporter(): JobReporter | undefined {
    return this.#reporter;
  }

  /** Logs in, registers commands when they changed, and starts reporting job events. */
  async start(): Promise<void> {
    const { logger } = this.#options;
    const ready = new Promise<void>((resolve) => this.client.once(Events.ClientReady, () => resolve()));
    try {
      await this.client.login(this.#options.token);
    } catch (error) {
      // discord.js's messages never contain the token, but keep only what is useful.
      throw new Error(`Discord login failed: ${(error as Error).message}. Check DISCORD_TOKEN (and DISCORD_API_BASE if set).`, {
        cause: safeError(error),
      });
    }
    await ready;
    const applicationId = this.client.application!.id;
    logger.info({ user: this.client.user?.tag, applicationId, guilds: this.client.guilds.cache.size }, 'logged in to Discord');
    this.#reporter = new JobReporter({
      jobs: this.#options.jobs,
      scheduler: this.scheduler,
      acks: this.#acks,
      rest: this.client.rest,
      applicationId,
      logger,
      tokenTtlMs: this.#options.tokenTtlMs,
      tokenSafetyMs: this.#options.tokenSafetyMs,
      controlNets: (model) => this.#options.models().find((m) => m.name === model)?.controlNets ?? [],
    });
    await this.registerCommands(applicationId);
  }

  /** PUTs the command list only when its hash differs from the one stored after the last registration. */
  async registerCommands(applicationId: string): Promise<boolean> {
    const { store, devGuildId, logger } = this.#options;
    const scope = devGuildId ? `guild:${devGuildId}` : 'global';
    const hash = this.registry.hash(`${applicationId}:${scope}`);
    if (store.getMeta<string>(COMMANDS_HASH_KEY) === hash) {
      logger.debug({ scope }, 'slash commands unchanged; not registering');
      return false;
    }
    const route = devGuildId ? Routes.applicationGuildCommands(applicationId, devGuildId) : Routes.applicationCommands(applicationId);
    await this.client.rest.put(route, { body: this.registry.toJSON() });
    store.setMeta(COMMANDS_HASH_KEY, hash);
    logger.info({ scope, commands: this.registry.definitions.map((d) => d.name) }, 'registered slash commands');
    return true;
  }

  /** Posts results that finished while the bot was down (call after JobService.start). */
  deliverUndelivered(): number {
    return this.#reporter?.deliverUndelivered() ?? 0;
  }

  /** Waits for final messages in flight, then disconnects. */
  async stop(options: { drainMs?: number } = {}): Promise<void> {
    const reporter = this.#reporter;
    if (reporter) {
      const drainMs = options.drainMs ?? 10_000;
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([reporter.drain(), new Promise((resolve) => (timer = setTimeout(resolve, drainMs)))]);
      clearTimeout(timer);
      reporter.close();
    }
    this.scheduler.close();
    await this.client.destroy();
  }
}
