/**
 * `npm run worker`: a worker host for a bot with REDIS_URL (docs/scaling.md). Starts this host's engine processes
 * (WORKERS / EXECUTION_DEVICE_IDS, as the bot would locally) and serves one Redis queue per worker. Needs no
 * Discord token: the bot keeps the queue, the store and Discord; this host only turns requests into images.
 */
import path from 'node:path';
import dotenv from 'dotenv';
import { engineOptionsFromEnv, localWorkersFromEnv, parseRemoteWorkerEnv } from '../config/env.js';
import { createLogger } from '../logger.js';
import { RemoteWorkerHost } from './remote-host.js';
import { WorkerPool } from './worker-pool.js';

async function main(): Promise<void> {
  dotenv.config({ quiet: true });
  const parsed = parseRemoteWorkerEnv(process.env);
  if (!parsed.ok) {
    process.stderr.write(
      `imagine-worker: invalid configuration\n${parsed.issues.map((issue) => `  - ${issue}`).join('\n')}\nSee .env.example and docs/scaling.md.\n`,
    );
    process.exit(1);
  }
  const env = parsed.env;
  const logger = createLogger({ level: env.LOG_LEVEL });
  const specs = localWorkersFromEnv({
    WORKERS: Math.max(1, env.WORKERS),
    EXECUTION_DEVICE_IDS: env.EXECUTION_DEVICE_IDS,
    EXECUTION_DEVICE_ID: env.EXECUTION_DEVICE_ID,
  });
  // Worker ids name queues shared by every host: one worker keeps the host's name, several get it as a prefix.
  const workers = specs.map((spec) => ({ ...spec, id: specs.length === 1 ? env.WORKER_ID : `${env.WORKER_ID}-${spec.id}` }));
  const pool = new WorkerPool({
    workers,
    engine: { ...engineOptionsFromEnv(env), modelsDir: path.resolve(env.MODELS_DIR) },
    logger: logger.child({ component: 'worker-host' }),
  });
  const host = new RemoteWorkerHost({
    redisUrl: env.REDIS_URL,
    hostId: env.WORKER_ID,
    workers: pool.workers,
    logger: logger.child({ component: 'remote' }),
  });
  void pool.start();
  await host.start();
  logger.info({ hostId: env.WORKER_ID, workers: workers.map((worker) => worker.id) }, 'serving remote workers');
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.once(signal, () => {
      logger.info({ signal }, 'shutting down; the bot moves a running job elsewhere');
      void host
        .stop()
        .then(() => pool.stop())
        .finally(() => process.exit(0));
    });
  }
}

void main().catch((error: unknown) => {
  process.stderr.write(`imagine-worker: could not start: ${(error as Error).message}\n`);
  process.exit(1);
});
