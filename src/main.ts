import { readdirSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import dotenv from 'dotenv';
import { engineOptionsFromEnv, localWorkersFromEnv, parseEnv, type Env } from './config/env.js';
import { ImagineBot, type ImagineBotOptions } from './discord/bot.js';
import { safeError } from './discord/safe-error.js';
import { createLogger, type Logger } from './logger.js';
import { ModelCatalog } from './model-folder/model-catalog.js';
import { findDepthModelFile } from './model-folder/depth-model.js';
import { LoraCatalog } from './model-folder/lora-catalog.js';
import { isModelLoadFailure } from './queue/job-failure.js';
import { JobService } from './queue/job-service.js';
import { Store } from './store/store.js';
import { WorkerPool } from './worker/worker-pool.js';
import { RemoteWorkers } from './worker/remote-worker.js';

export interface RunningApp {
  bot: ImagineBot;
  jobs: JobService;
  /** The local workers (WORKERS / EXECUTION_DEVICE_IDS); may be empty. */
  pool: WorkerPool;
  /** The remote workers (REDIS_URL), announced by their hosts' heartbeats; undefined without Redis. */
  remote: RemoteWorkers | undefined;
  store: Store;
  logger: Logger;
  /** Stops taking jobs, delivers what is in flight, stops the workers, disconnects, closes the store. */
  stop(): Promise<void>;
}

export interface StartOverrides extends Pick<ImagineBotOptions, 'edits' | 'tokenTtlMs' | 'tokenSafetyMs' | 'maxQueuedTotal'> {
  logger?: Logger;
  /** Niceness added to the worker process (0: same priority as the bot). @default 10 */
  workerNice?: number;
}

/** How often the bot reads MODELS_DIR again for added, removed or fixed models. */
const CATALOG_REFRESH_MS = 60_000;

/** How much lower than the bot the worker process runs (nice). */
export const WORKER_NICE = 10;

/**
 * Lowers the worker's priority. On Linux niceness belongs to each thread, so every thread the worker has is
 * changed (threads started later, such as onnxruntime's pool, inherit it from their creator).
 */
function lowerPriority(pid: number | undefined, nice: number, logger: Logger): void {
  if (pid === undefined) return;
  const priority = Math.min(19, os.getPriority() + nice);
  let threads = [pid];
  try {
    if (process.platform === 'linux') threads = readdirSync(`/proc/${pid}/task`).map(Number);
  } catch {
    // Gone already, or no /proc: the process alone.
  }
  try {
    for (const tid of threads) os.setPriority(tid, priority);
  } catch (error) {
    // Not fatal: some platforms or sandboxes refuse; the bot only loses its head start.
    logger.debug({ err: safeError(error) }, 'could not lower the worker priority');
  }
}

/** The composition root: env → store → worker pool → job service → Discord client → login. */
export async function start(env: Env, overrides: StartOverrides = {}): Promise<RunningApp> {
  const logger = overrides.logger ?? createLogger({ level: env.LOG_LEVEL });
  const store = Store.open(env.DATA_DIR, { logger });
  const pool = new WorkerPool({
    workers: localWorkersFromEnv(env),
    engine: { ...engineOptionsFromEnv(env), modelsDir: path.resolve(env.MODELS_DIR) },
    logger: logger.child({ component: 'worker-host' }),
  });
  // The bot is the latency-critical process (every interaction acknowledged within 3 s, the edit pacing, the
  // gateway heartbeat); inference is throughput work. Where they share CPU cores (CPU inference, a small host),
  // the kernel should favour the bot: each worker runs at a lower priority, set again after every (re)start.
  const workerNice = overrides.workerNice ?? WORKER_NICE;
  if (workerNice > 0) pool.on('ready', (_worker, info) => lowerPriority(info.pid, workerNice, logger));
  // With REDIS_URL this bot is the coordinator: its queue and store stay the source of order and record, and
  // remote workers join the dispatcher as their hosts announce them. A lost host or Redis restart is no more the
  // job's fault than a crash, hence one more retry.
  const remote = env.REDIS_URL ? new RemoteWorkers({ redisUrl: env.REDIS_URL, logger: logger.child({ component: 'remote' }) }) : undefined;
  const jobs = new JobService({ store, workers: pool.workers, logger: logger.child({ component: 'jobs' }), maxRetries: remote ? 2 : 1 });
  remote?.on('worker', (worker) => jobs.addWorker(worker));
  // The bot reads MODELS_DIR itself, so /imagine knows every model's name, defaults and size before the worker is up;
  // it reads it again when a worker (re)starts and every minute, and sets aside a model that failed to load.
  const catalog = new ModelCatalog(env.MODELS_DIR, logger.child({ component: 'models' }));
  await catalog.refresh();
  pool.on('ready', () => void catalog.refresh());
  const loraCatalog = new LoraCatalog(env.LORAS_DIR, logger.child({ component: 'loras' }));
  await loraCatalog.refresh();
  const rescan = setInterval(() => void Promise.all([catalog.refresh(), loraCatalog.refresh()]), CATALOG_REFRESH_MS);
  rescan.unref();
  jobs.on('failed', (job, error) => {
    if (isModelLoadFailure(error)) void catalog.markBroken(job.request.model, error.message);
  });
  const bot = new ImagineBot({
    token: env.DISCORD_TOKEN,
    apiBase: env.DISCORD_API_BASE,
    devGuildId: env.DEV_GUILD_ID,
    store,
    jobs,
    models: () => catalog.list(),
    loras: () => loraCatalog.list(),
    brokenReason: (model) => catalog.brokenReason(model),
    depthInstalled: () => findDepthModelFile(env.MODELS_DIR) !== undefined,
    executionProvider: () => pool.executionProvider ?? remote?.executionProvider,
    workers: () => [...pool.status(), ...(remote?.status() ?? [])],
    logger: logger.child({ component: 'discord' }),
    defaultModel: env.DEFAULT_MODEL,
    ...overrides,
  });
  let stopping: Promise<void> | undefined;
  const stop = () =>
    (stopping ??= (async () => {
      clearInterval(rescan);
      await jobs.stop();
      await remote?.stop();
      await bot.stop();
      await pool.stop();
      store.close();
    })());
  try {
    // The workers load while the bot logs in; jobs wait for them in the dispatcher.
    if (pool.size === 0 && !remote) logger.warn('WORKERS=0: no local worker runs on this bot, so jobs wait in the queue');
    if (pool.size === 0 && remote) logger.info('WORKERS=0: jobs run on remote workers only (npm run worker on each host)');
    const workerReady = pool.workers.map((worker) =>
      worker.start().then(
        (info) => logger.info({ workerId: worker.id, models: info.models.map((m) => m.name), provider: info.executionProvider }, 'worker ready'),
        (error: unknown) => logger.error({ workerId: worker.id, err: safeError(error) }, 'worker failed to start; retrying in the background'),
      ),
    );
    await bot.start();
    // Hosts already up are known before the restored jobs are dispatched.
    await remote?.start();
    jobs.start();
    bot.deliverUndelivered();
    void workerReady;
  } catch (error) {
    await stop().catch(() => undefined);
    throw error;
  }
  return { bot, jobs, pool, remote, store, logger, stop };
}

async function main(): Promise<void> {
  dotenv.config({ quiet: true });
  const parsed = parseEnv(process.env);
  if (!parsed.ok) {
    process.stderr.write(`imagine-bot: invalid configuration\n${parsed.issues.map((issue) => `  - ${issue}`).join('\n')}\nSee .env.example.\n`);
    process.exit(1);
  }
  let app: RunningApp;
  try {
    app = await start(parsed.env);
  } catch (error) {
    process.stderr.write(`imagine-bot: could not start: ${(error as Error).message}\n`);
    process.exit(1);
  }
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.once(signal, () => {
      app.logger.info({ signal }, 'shutting down');
      app.stop().then(
        () => process.exit(0),
        (error: unknown) => {
          app.logger.error({ err: safeError(error) }, 'shutdown failed');
          process.exit(1);
        },
      );
    });
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(path.resolve(process.argv[1])).href) void main();
