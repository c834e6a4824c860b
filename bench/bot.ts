/**
 * `npm run bench:bot`: 200 /imagine across 20 guilds against our fake Discord (test/e2e/fake-discord), with the
 * real worker process and a tiny generated model. Prints acknowledgement latency (interaction dispatched by the
 * fake → callback received by the fake), REST calls and edits per job, 429s, the bot's event-loop delay and the wall
 * time for all results. Numbers, not a pass/fail test.
 *
 * Options (environment variables):
 *   BENCH_RATE=N          send the commands as a Poisson process at N per second (exponential inter-arrival times
 *                         from a seeded PRNG, timed in the fake's process) instead of all at once. Unset: a burst,
 *                         10 per event-loop turn of the fake. A burst measures throughput (the last command waits
 *                         for the 199 before it); a sustained rate measures the latency a user sees.
 *   BENCH_SEED=1          PRNG seed of the arrival times under BENCH_RATE (same seed, same schedule).
 *   BENCH_JOBS=200        number of /imagine commands.
 *   BENCH_FAKE=process    where the fake runs: its own process (default) or `inprocess` (the bot's process, the old
 *                         arrangement, kept for comparison).
 *   BENCH_PAUSE_WORKER=1  stop the worker process (SIGSTOP) until every command is acknowledged.
 *   BENCH_ACKS_ONLY=1     stop once every command is acknowledged (no finals, no REST/edit counts).
 *   BENCH_CPU_PROFILE=F   write a CPU profile of the bot's process from the first command until every command was
 *                         acknowledged to file F (open it in Chrome DevTools).
 *
 * Why the fake has its own process: in the bot's process its HTTP server accepts the bot's connections, parses every
 * request (multipart preview PNGs included) and records the acknowledgement only when the shared event loop gets to
 * it, so the number measured the fake as much as the bot.
 */
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { Session } from 'node:inspector/promises';
import path from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { parseEnv } from '../src/config/env.js';
import { createLogger } from '../src/logger.js';
import { start } from '../src/main.js';
import { dispatchOnSchedule, summarizeLateness, type Arrivals, type ScheduleLateness } from '../test/e2e/fake-discord/arrivals.js';
import { FakeDiscord, type FakeGuild } from '../test/e2e/fake-discord/fake-discord.js';
import { RemoteFakeDiscord, type RemoteBurstCommand, type RemoteReport } from '../test/e2e/fake-discord/remote-fake-discord.js';
import { snowflake } from '../test/e2e/fake-discord/snowflake.js';
import { makeTempDir, writeTinyModel } from '../test/fixtures/tiny-models.js';

const GUILDS = 20;
const JOBS = Number(process.env.BENCH_JOBS ?? 200);
const MODE = process.env.BENCH_FAKE === 'inprocess' ? 'inprocess' : 'process';
const RATE = process.env.BENCH_RATE ? Number(process.env.BENCH_RATE) : undefined;
if (RATE !== undefined && !(RATE > 0)) throw new Error(`BENCH_RATE must be a number of commands per second > 0, got '${process.env.BENCH_RATE}'`);
const SEED = Number(process.env.BENCH_SEED ?? 1);
const ARRIVALS: Arrivals = RATE === undefined ? { kind: 'burst', perTurn: 10 } : { kind: 'rate', perSecond: RATE, seed: SEED };
const TOKEN = 'MTIzNDU2Nzg5MDEyMzQ1Njc4OQ.GbEnCh.bench-token-not-real_0123456789abcdef';
const now = () => performance.timeOrigin + performance.now();

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)];
}

/** The two ways to run the fake, behind what the benchmark needs of it. Times are epoch ms. */
interface BenchFake {
  readonly apiBase: string;
  dispatch(commands: RemoteBurstCommand[], arrivals: Arrivals): Promise<{ ids: string[]; lateness: ScheduleLateness }>;
  acked(): Promise<void>;
  finals(): Promise<void>;
  report(): Promise<RemoteReport>;
  stop(): Promise<void>;
}

const isFinal = (filename: string) => filename.endsWith('.png') && filename !== 'preview.png';

async function inProcessFake(guilds: FakeGuild[]): Promise<BenchFake> {
  const fake = new FakeDiscord({ botToken: TOKEN, guilds });
  await fake.start();
  const toEpoch = (at: number | undefined) => (at === undefined ? undefined : performance.timeOrigin + at);
  let ids: string[] = [];
  return {
    apiBase: fake.apiBase,
    async dispatch(commands, arrivals) {
      ids = [];
      const lateness = await dispatchOnSchedule(commands.length, arrivals, (i) => {
        const { guildIndex, ...command } = commands[i];
        ids.push(fake.sendCommand({ ...command, guild: guilds[guildIndex] }).id);
      });
      return { ids, lateness: summarizeLateness(lateness) };
    },
    acked: () =>
      fake.waitFor(() => ids.every((id) => fake.interactions.get(id)?.ackAt !== undefined) || undefined, 600_000, 'all acks').then(() => undefined),
    finals: () =>
      fake
        .waitFor(() => ids.every((id) => fake.replyOf(id)?.attachments.some((a) => isFinal(a.filename))) || undefined, 600_000, 'all finals')
        .then(() => undefined),
    async report() {
      return {
        interactions: ids.map((id) => {
          const r = fake.interactions.get(id)!;
          return { id, dispatchedAt: toEpoch(r.dispatchedAt)!, ackAt: toEpoch(r.ackAt), callbackType: r.callbackType };
        }),
        requests: fake.requests.map((r) => ({ route: r.route, status: r.status, at: toEpoch(r.at)! })),
      };
    },
    stop: () => fake.stop(),
  };
}

async function processFake(guilds: FakeGuild[]): Promise<BenchFake> {
  const fake = new RemoteFakeDiscord();
  await fake.start(TOKEN, guilds);
  return fake;
}

const root = await makeTempDir('imagine-bot-bench-');
const modelsDir = path.join(root, 'models');
await mkdir(modelsDir, { recursive: true });
await writeTinyModel(path.join(modelsDir, 'tiny'), { manifest: { defaults: { width: 64, height: 64, steps: 8, sampler: 'euler' } } });
const guilds: FakeGuild[] = Array.from({ length: GUILDS }, (_, i) => ({
  id: snowflake(),
  name: `guild ${i}`,
  channels: [snowflake()],
  ownerId: snowflake(),
}));
const fake = MODE === 'inprocess' ? await inProcessFake(guilds) : await processFake(guilds);
const env = parseEnv({
  DISCORD_TOKEN: TOKEN,
  DISCORD_API_BASE: fake.apiBase,
  MODELS_DIR: modelsDir,
  DATA_DIR: path.join(root, 'data'),
  LOG_LEVEL: 'silent',
});
if (!env.ok) throw new Error(env.issues.join('\n'));
// Production edit pacing (1 s base interval): the edits-per-job number is what a real deployment would send.
const app = await start(env.env, { logger: createLogger({ level: 'silent' }), maxQueuedTotal: JOBS });
await app.pool.whenReady();
const requestsBefore = (await fake.report()).requests.length;
const seen = new Map<string, number>();
// When the bot saw each interaction: separates gateway delivery from the acknowledgement round trip.
app.bot.client.on('interactionCreate', (i) => {
  seen.set(i.id, now());
});

// BENCH_PAUSE_WORKER=1 stops the worker process (SIGSTOP) until every command is acknowledged: on a 2-core machine
// onnxruntime's threads otherwise take the cores from the bot, and the number then measures CPU contention.
const workerPids = app.pool.workers.flatMap((worker) => (worker.pid === undefined ? [] : [worker.pid]));
const pauseWorker = process.env.BENCH_PAUSE_WORKER === '1' && workerPids.length > 0;
if (pauseWorker) for (const pid of workerPids) process.kill(pid, 'SIGSTOP');
const loopDelay = monitorEventLoopDelay({ resolution: 10 });
loopDelay.enable();
const profiler = process.env.BENCH_CPU_PROFILE ? new Session() : undefined;
if (profiler) {
  profiler.connect();
  await profiler.post('Profiler.enable');
  await profiler.post('Profiler.setSamplingInterval', { interval: 200 });
  await profiler.post('Profiler.start');
}
const cpuBefore = process.cpuUsage();
const started = now();
const commands: RemoteBurstCommand[] = Array.from({ length: JOBS }, (_, i) => ({
  name: 'imagine',
  guildIndex: i % GUILDS,
  user: { id: snowflake(), username: `user${i}` },
  options: [{ name: 'prompt', type: 3, value: `bench prompt ${i} --seed ${i}` }],
}));
const { lateness } = await fake.dispatch(commands, ARRIVALS);
await fake.acked();
const burstCpu = process.cpuUsage(cpuBefore);
const ackedAt = now();
if (profiler) {
  const { profile } = await profiler.post('Profiler.stop');
  await writeFile(process.env.BENCH_CPU_PROFILE!, JSON.stringify(profile));
  profiler.disconnect();
}
const burstLoopDelay = { p50: loopDelay.percentile(50) / 1e6, p99: loopDelay.percentile(99) / 1e6, max: loopDelay.max / 1e6 };
if (pauseWorker) for (const pid of workerPids) process.kill(pid, 'SIGCONT');

const ms = (n: number) => `${n.toFixed(1)} ms`;
const loop = (d: typeof burstLoopDelay) => `p50 ${ms(d.p50)} p99 ${ms(d.p99)} max ${ms(d.max)}`;
const acked = await fake.report();
const lag = acked.interactions.map((i) => seen.get(i.id)! - i.dispatchedAt).sort((a, b) => a - b);
const acks = acked.interactions.map((i) => i.ackAt! - i.dispatchedAt).sort((a, b) => a - b);
const arrivalText = RATE === undefined ? 'all at once (burst, 10 per event-loop turn of the fake)' : `Poisson arrivals at ${RATE}/s (seed ${SEED})`;
console.log(
  `bench:bot  ${JOBS} /imagine across ${GUILDS} guilds, ${arrivalText}, tiny model 64x64, 8 steps, previews every 2 steps, worker ${pauseWorker ? 'paused until all acked' : 'running'}, ` +
    `fake Discord ${MODE === 'process' ? 'in its own process' : 'in the bot process'}`,
);
if (RATE !== undefined) {
  const firstAt = Math.min(...acked.interactions.map((i) => i.dispatchedAt));
  const lastAt = Math.max(...acked.interactions.map((i) => i.dispatchedAt));
  const span = (lastAt - firstAt) / 1000;
  console.log(
    `arrivals      ${(span > 0 ? (JOBS - 1) / span : Infinity).toFixed(1)}/s achieved over ${span.toFixed(1)} s, dispatch lateness vs schedule p50 ${ms(lateness.p50)} p99 ${ms(lateness.p99)} max ${ms(lateness.max)}`,
  );
}
console.log(`gateway delivery p50 ${ms(percentile(lag, 50))}   p99 ${ms(percentile(lag, 99))}`);
console.log(
  `ack latency   p50 ${ms(percentile(acks, 50))}   p99 ${ms(percentile(acks, 99))}   max ${ms(acks[acks.length - 1])}   (target p99 < 100 ms)`,
);
console.log(
  `bot process until all acked: ${(ackedAt - started).toFixed(0)} ms wall, CPU ${((burstCpu.user + burstCpu.system) / 1000).toFixed(0)} ms, event-loop delay ${loop(burstLoopDelay)}`,
);

if (process.env.BENCH_ACKS_ONLY !== '1') {
  loopDelay.reset();
  await fake.finals();
  const wallMs = now() - started;
  const runLoopDelay = { p50: loopDelay.percentile(50) / 1e6, p99: loopDelay.percentile(99) / 1e6, max: loopDelay.max / 1e6 };
  const report = await fake.report();
  const rest = report.requests.slice(requestsBefore);
  const edits = rest.filter((r) => /^PATCH \/(webhooks|channels)/.test(r.route));
  const callbacks = rest.filter((r) => r.route.startsWith('POST /interactions'));
  console.log(`bot event-loop delay from all acked to all finals: ${loop(runLoopDelay)}`);
  console.log(
    `REST calls    ${(rest.length / JOBS).toFixed(2)} per job   (${callbacks.length} acks, ${edits.length} edits, ${rest.length - callbacks.length - edits.length} other)`,
  );
  console.log(`edits         ${(edits.length / JOBS).toFixed(2)} per job   429s: ${rest.filter((r) => r.status === 429).length}`);
  console.log(`edit scheduler ${JSON.stringify(app.bot.scheduler.stats)}`);
  console.log(`wall          ${(wallMs / 1000).toFixed(1)} s for all ${JOBS} results (from handing the commands to the fake)`);
}
loopDelay.disable();

await app.stop();
await fake.stop();
await rm(root, { recursive: true, force: true });
