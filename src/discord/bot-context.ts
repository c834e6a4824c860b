import type { GuildSettings } from '../config/guild-settings.js';
import type { ModelSummary } from '../inference/types.js';
import type { Logger } from '../logger.js';
import type { JobService } from '../queue/job-service.js';
import type { GuildSettingsRepository } from '../store/guild-settings-repository.js';
import type { JobReporter } from './job-reporter.js';
import type { CooldownTracker } from './preconditions/cooldown-tracker.js';

/** Everything the command and button handlers share; built once in bot.ts. */
export interface BotContext {
  jobs: JobService;
  settings: GuildSettingsRepository<GuildSettings>;
  /** The worker's models (empty until its first `ready`). */
  models: () => readonly ModelSummary[];
  reporter: JobReporter;
  cooldowns: CooldownTracker;
  logger: Logger;
  /** DEFAULT_MODEL. */
  defaultModel?: string;
  /** Jobs across all guilds before the queue counts as full. */
  maxQueuedTotal: number;
}
