import type { ChatInputCommandInteraction } from 'discord.js';
import { describe, expect, it } from 'vitest';
import type { BotContext } from '../../src/discord/bot-context.js';
import { statusLine } from '../../src/discord/commands/help.js';
import { queueCommand, workersLine } from '../../src/discord/commands/queue.js';
import type { JobListing } from '../../src/queue/job.js';
import type { WorkerStatus } from '../../src/worker/job-runner.js';
import { smallRequest } from '../fixtures/requests.js';

/** Runs /queue against listings and workers; returns what it replied. */
async function queueReply(listings: JobListing[], workers: WorkerStatus[]): Promise<string> {
  let content = '';
  const context = { jobs: { list: () => listings }, workers: () => workers } as unknown as BotContext;
  const interaction = {
    guildId: 'g1',
    user: { id: 'u0' },
    reply: async (options: { content: string }) => {
      content = options.content;
    },
  } as unknown as ChatInputCommandInteraction;
  await queueCommand(context).execute(interaction);
  return content;
}

const listing = (i: number, running: boolean, workerId?: string): JobListing =>
  ({
    job: { id: `j${i}`, userId: 'u0', request: smallRequest({ prompt: `prompt number ${i} `.padEnd(80, 'x') }) },
    position: running ? null : i,
    etaMs: 90_000,
    workerId,
  }) as unknown as JobListing;

describe('worker status lines', () => {
  it('lists each worker with its state and warm models, and counts them in /help', () => {
    const workers = [
      { id: 'gpu0', state: 'busy' as const, jobId: 'j1', models: ['anime', 'photo'] },
      { id: 'gpu1', state: 'idle' as const, jobId: undefined, models: [] },
      { id: 'gpu2', state: 'starting' as const, jobId: undefined, models: [] },
    ];
    expect(workersLine(workers)).toBe('Workers: `gpu0` busy (anime, photo) · `gpu1` idle · `gpu2` starting');
    // Two most recent models each, so sixteen workers still fit in one message.
    expect(workersLine([{ ...workers[0]!, models: ['a_b', 'c', 'd', 'e'] }])).toBe('Workers: `gpu0` busy (a\\_b, c, +2)');
    // Past four workers, ids and states only.
    const sixteen = Array.from({ length: 16 }, (_, i) => ({
      id: `gpu${i}`,
      state: 'busy' as const,
      jobId: 'j',
      models: Array.from({ length: 8 }, (_, m) => `a-long-model-name-${m}`),
    }));
    expect(workersLine(sixteen)).toBe(`Workers: ${sixteen.map((w) => `\`${w.id}\` busy`).join(' · ')}`);
    // A remote worker (REDIS_URL) names its machine.
    expect(workersLine([{ id: 'box1', state: 'idle', jobId: undefined, models: ['anime'], host: 'gpu_box' }])).toBe(
      'Workers: `box1` on `gpu_box` idle (anime)',
    );
    expect(statusLine('cuda', ['anime', 'photo'], 'anime', workers)).toBe(
      '_Status: images run on **cuda** with 3 workers, 2 ready, the others starting; models: anime (default), photo._',
    );
    expect(statusLine('cuda', ['anime'], undefined, workers.slice(0, 2))).toBe('_Status: images run on **cuda** with 2 workers; models: anime._');
    expect(statusLine('cpu', ['tiny'], 'tiny', [workers[1]!])).toBe('_Status: images run on **cpu** with 1 worker; models: tiny (default)._');
    expect(statusLine(undefined, ['tiny'], 'tiny', [workers[2]!, workers[2]!])).toBe('_Status: the 2 workers are starting._');
  });

  it('names as many models as fit in the room /help leaves, the default first, then how many more', () => {
    const models = Array.from({ length: 200 }, (_, i) => `model-${String(i).padStart(3, '0')}-with-a-long-name`);
    const line = statusLine('cuda', models, 'model-150-with-a-long-name', [{ state: 'idle' }], 'en', 300);
    expect(line.length).toBeLessThanOrEqual(300);
    expect(line).toMatch(
      /^_Status: images run on \*\*cuda\*\* with 1 worker; models: model-150-with-a-long-name \(default\), model-000-with-a-long-name, /,
    );
    const shown = line.match(/model-\d{3}/g)!.length;
    expect(line).toMatch(new RegExp(`, \\+${200 - shown} more\\._$`));
    expect(statusLine('cuda', models.slice(0, 2), undefined, [{ state: 'idle' }], 'en', 300)).not.toMatch(/more/);
  });
});

describe('/queue with several workers', () => {
  it('says which worker runs each job, only when there are several', async () => {
    const idle = { state: 'idle' as const, jobId: undefined, models: [] };
    const two = await queueReply(
      [listing(0, true, 'w1'), listing(1, false)],
      [
        { id: 'w0', ...idle },
        { id: 'w1', ...idle, state: 'busy', jobId: 'j0' },
      ],
    );
    expect(two.split('\n')[0]).toMatch(/^▶️ running on `w1` · <@u0> · prompt number 0 /);
    expect(two.split('\n').at(-1)).toBe('Workers: `w0` idle · `w1` busy');
    const one = await queueReply([listing(0, true, 'w0')], [{ id: 'w0', ...idle, state: 'busy', jobId: 'j0' }]);
    expect(one.split('\n')[0]).toMatch(/^▶️ running · <@u0>/);
  });

  it('drops job lines, never the workers line, to stay within 2,000 characters', async () => {
    const workers = Array.from({ length: 16 }, (_, i) => ({ id: `gpu${i}`, state: 'busy' as const, jobId: `j${i}`, models: ['m'] }));
    const listings = [
      ...Array.from({ length: 16 }, (_, i) => listing(i, true, `gpu${i}`)),
      ...Array.from({ length: 20 }, (_, i) => listing(16 + i, false)),
    ];
    const reply = await queueReply(listings, workers);
    expect(reply.length).toBeLessThanOrEqual(2000);
    const lines = reply.split('\n');
    expect(lines.at(-1)).toBe(workersLine(workers));
    expect(lines.at(-2)).toMatch(/^Yours: running, running/);
    const shown = lines.filter((line) => line.startsWith('▶️') || line.startsWith('#')).length;
    expect(shown).toBeLessThan(15);
    expect(lines.at(-3)).toBe(`…and ${36 - shown} more.`);
  });
});
