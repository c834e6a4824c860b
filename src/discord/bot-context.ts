import type { ModelSummary } from '../protocol/generate-request.js';
import type { LoraSummary } from '../model-folder/lora-catalog.js';
import type { Logger } from '../logger.js';
import type { JobService } from '../queue/job-service.js';
import type { ImageFiles } from '../store/image-files.js';
import type { AckGate } from './delivery/ack-gate.js';
import type { GuildSettingsSource } from './guild-settings-cache.js';
import type { JobReporter } from './delivery/job-reporter.js';
import type { CooldownTracker } from './preconditions/cooldown-tracker.js';
import type { WorkerStatus } from '../worker/job-runner.js';

/** Everything the command and button handlers share; built once in bot.ts. */
export interface BotContext {
  jobs: JobService;
  /** In memory (GuildSettingsCache): read on every /imagine before the acknowledgement. */
  settings: GuildSettingsSource;
  /** The installed models users may pick, read from MODELS_DIR by the bot itself (ModelCatalog). */
  models: () => readonly ModelSummary[];
  /** The installed LoRAs (LORAS_DIR, read by the bot: LoraCatalog); absent in setups without LoRA support. */
  loras?: () => readonly LoraSummary[];
  /** Why an installed model is set aside (it failed to load), if it is. */
  brokenReason: (model: string) => string | undefined;
  /** The provider the worker runs on ('cpu', 'cuda', …); undefined until its first `ready`. */
  executionProvider: () => string | undefined;
  /** The local workers and what each is doing; empty when the bot runs none (WORKERS=0). */
  workers: () => readonly WorkerStatus[];
  reporter: JobReporter;
  cooldowns: CooldownTracker;
  /** Jobs acknowledged but not yet submitted (submit-job.ts); they count against the caps. */
  pending: Set<{ guildId: string; userId: string }>;
  /** Acknowledgements in flight; message edits wait for them. */
  acks: AckGate;
  logger: Logger;
  /** DEFAULT_MODEL. */
  defaultModel?: string;
  /** Jobs across all guilds before the queue counts as full. */
  maxQueuedTotal: number;
  /** Stored pictures: uploads and the masks the bot draws go to DATA_DIR/inputs; 🔄 checks a job's inputs still exist. */
  images: Pick<ImageFiles, 'writeInput' | 'has'>;
  /** Whether ControlNet's depth preprocessor model is installed (MODELS_DIR/depth-anything-v2-small); unknown when absent. */
  depthInstalled?: () => boolean;
  /** How uploads are downloaded (tests replace it); the global fetch by default. */
  fetch?: typeof fetch;
}
