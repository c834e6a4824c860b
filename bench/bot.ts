/**
 * `npm run bench:bot`: 200 /imagine across 20 guilds against our fake Discord (test/e2e/fake-discord), with the
 * real worker process and a tiny generated model. Prints acknowledgement latency (interaction dispatched → callback
 * received by the fake) and REST calls and edits per job. Numbers, not a pass/fail test.
 */
import { mkdir, rm } from 'node:fs/promises';
import path from 'node:path';
import { parseEnv } from '../src/config/env.js';
import { createLogger } from '../src/logger.js';
import { start } from '../src/main.js';
import { FakeDiscord, type FakeGuild, type InteractionRecord } from '../test/e2e/fake-discord/fake-discord.js';
import { snowflake } from '../test/e2e/fake-discord/snowflake.js';
import { makeTempDir, writeTinyModel } from '../test/fixtures/tiny-models.js';

const GUILDS = 20;
const JOBS = Number(process.env.BENCH_JOBS ?? 200);
const TOKEN = 'MTIzNDU2Nzg5MDEyMzQ1Njc4OQ.GbEnCh.bench-token-not-real_0123456789abcdef';

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)];
}

const root = await makeTempDir('imagine-bot-bench-');
const modelsDir = path.join(root, 'models');
await mkdir(modelsDir, { recursive: true });
await writeTinyModel(path.join(modelsDir, 'tiny'), { manifest: { defaults: { width: 64, height: 64, steps: 8, sampler: 'euler' } } });
const guilds: FakeGuild[] = Array.from({ length: GUILDS }, (_, i) => ({ id: snowflake(), name: `guild ${i}`, channels: [snowflake()], ownerId: snowflake() }));
const fake = new FakeDiscord({ botToken: TOKEN, guilds });
await fake.start();
const env = parseEnv({ DISCORD_TOKEN: TOKEN, DISCORD_API_BASE: fake.apiBase, MODELS_DIR: modelsDir, DATA_DIR: path.join(root, 'data'), LOG_LEVEL: 'silent' });
if (!env.ok) throw new Error(env.issues.join('\n'));
// Production edit pacing (1 s base interval): the edits-per-job number is what a real deployment would send.
const app = await start(env.env, { logger: createLogger({ level: 'silent' }), maxQueuedTotal: JOBS });
await app.host.whenReady();
const requestsBefore = fake.requests.length;
const seen = new Map<string, number>();
// When the bot saw each interaction: separates gateway delivery from the acknowledgement round trip.
app.bot.client.on("interactionCreate", (i) => {
  seen.set(i.id, performance.now());
});

// BENCH_PAUSE_WORKER=1 stops the worker process (SIGSTOP) until every command is acknowledged: on a 2-core machine
// onnxruntime's threads otherwise take the cores from the bot, and the number then measures CPU contention.
const pauseWorker = process.env.BENCH_PAUSE_WORKER === '1' && app.host.pid !== undefined;
if (pauseWorker) process.kill(app.host.pid!, 'SIGSTOP');
const started = performance.now();
const interactions: InteractionRecord[] = [];
for (let i = 0; i < JOBS; i++) {
  const guild = guilds[i % GUILDS];
  const user = { id: snowflake(), username: `user${i}` };
  interactions.push(fake.sendCommand({ name: 'imagine', guild, user, options: [{ name: 'prompt', type: 3, value: `bench prompt ${i} --seed ${i}` }] }));
  // Commands arrive spread out a little, as from real users, not as one synchronous burst.
  if (i % 10 === 9) await new Promise((resolve) => setImmediate(resolve));
}
if (pauseWorker) {
  await fake.waitFor(() => interactions.every((i) => i.ackAt !== undefined) || undefined, 600_000, 'all acks');
  process.kill(app.host.pid!, 'SIGCONT');
}
await fake.waitFor(
  () => interactions.every((i) => fake.replyOf(i.id)?.attachments.some((a) => a.filename.endsWith('.png'))) || undefined,
  600_000,
  'all finals',
);
const wallMs = performance.now() - started;

const lag = interactions.map((i) => seen.get(i.id)! - i.dispatchedAt).sort((a, b) => a - b);
console.log(`gateway delivery p50 ${percentile(lag, 50).toFixed(1)} ms   p99 ${percentile(lag, 99).toFixed(1)} ms`);
const acks = interactions.map((i) => i.ackAt! - i.dispatchedAt).sort((a, b) => a - b);
const rest = fake.requests.slice(requestsBefore);
const edits = rest.filter((r) => /^PATCH \/(webhooks|channels)/.test(r.route));
const callbacks = rest.filter((r) => r.route.startsWith('POST /interactions'));
console.log(`bench:bot  ${JOBS} /imagine across ${GUILDS} guilds, tiny model 64x64, 8 steps, previews every 2 steps, worker ${pauseWorker ? 'paused during the burst' : 'running'}`);
console.log(`ack latency   p50 ${percentile(acks, 50).toFixed(1)} ms   p99 ${percentile(acks, 99).toFixed(1)} ms   max ${acks[acks.length - 1].toFixed(1)} ms   (target p99 < 100 ms)`);
console.log(`REST calls    ${(rest.length / JOBS).toFixed(2)} per job   (${callbacks.length} acks, ${edits.length} edits, ${rest.length - callbacks.length - edits.length} other)`);
console.log(`edits         ${(edits.length / JOBS).toFixed(2)} per job   429s: ${rest.filter((r) => r.status === 429).length}`);
console.log(`edit scheduler ${JSON.stringify(app.bot.scheduler.stats)}`);
console.log(`wall          ${(wallMs / 1000).toFixed(1)} s for all ${JOBS} results`);

await app.stop();
await fake.stop();
await rm(root, { recursive: true, force: true });
