import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { GuildSettingsSchema } from '../../src/config/guild-settings.js';
import { AckGate } from '../../src/discord/delivery/ack-gate.js';
import type { BotContext } from '../../src/discord/bot-context.js';
import { CooldownTracker } from '../../src/discord/preconditions/cooldown-tracker.js';
import { submitFromMessage, submitJob } from '../../src/discord/submit-job.js';
import { Identifiers, UserError } from '../../src/errors.js';
import { createLogger } from '../../src/logger.js';
import type { JobRequest } from '../../src/protocol/generate-request.js';
import type { JobRunner } from '../../src/worker/job-runner.js';
import { JobService } from '../../src/queue/job-service.js';
import { Store } from '../../src/store/store.js';
import { smallRequest } from '../fixtures/requests.js';

/** A worker that takes jobs and never finishes them: queued and running jobs stay put. */
const idleRunner: JobRunner = { ready: true, whenReady: async () => undefined, run: () => new Promise(() => undefined) };

const cleanups: (() => void)[] = [];
afterEach(() => {
  for (const cleanup of cleanups.splice(0)) cleanup();
});

function setup() {
  const dir = mkdtempSync(path.join(tmpdir(), 'imagine-submit-'));
  const store = Store.open(dir);
  const jobs = new JobService({ store, runner: idleRunner });
  jobs.start();
  cleanups.push(() => {
    void jobs.stop();
    store.close();
    rmSync(dir, { recursive: true, force: true });
  });
  const events: string[] = [];
  const attached: string[] = [];
  const context = {
    jobs,
    cooldowns: new CooldownTracker(),
    acks: new AckGate(),
    pending: new Set(),
    reporter: { attach: (job: { id: string }) => attached.push(job.id) },
    logger: createLogger({ level: 'silent' }),
    maxQueuedTotal: 200,
  } as unknown as BotContext;
  let n = 0;
  const interaction = (userId: string) => {
    const id = `90000000000000000${n++}`;
    return {
      id,
      token: `token-${id}`,
      guildId: '100000000000000001',
      channelId: '100000000000000002',
      createdTimestamp: Date.now(),
      user: { id: userId },
      deferReply: () => {
        events.push(`defer ${id}`);
        return Promise.resolve();
      },
      followUp: (payload: { content: string }) => {
        events.push(`followUp ${id}: ${payload.content}`);
        return Promise.resolve();
      },
      editReply: (payload: { content: string; allowedMentions?: unknown }) => {
        events.push(`editReply ${id}: ${payload.content} ${JSON.stringify(payload.allowedMentions)}`);
        return Promise.resolve();
      },
      deleteReply: () => {
        events.push(`deleteReply ${id}`);
        return Promise.resolve();
      },
    } as any;
  };
  jobs.on('queued', (job) => events.push(`queued ${job.interactionId}`));
  return { jobs, store, context, events, attached, interaction };
}

const nextTurn = () => new Promise((resolve) => setImmediate(resolve));

describe('submitJob', () => {
  it('acknowledges first and writes the job to the store on a later turn of the event loop', async () => {
    const { jobs, context, events, attached, interaction } = setup();
    const settings = GuildSettingsSchema.parse({});
    const result = submitJob(context, interaction('200000000000000001'), settings, { kind: 'imagine', request: smallRequest() });
    expect(result.ok).toBe(true);
    expect(events).toEqual(['defer 900000000000000000']);
    expect(jobs.list()).toHaveLength(0);
    await nextTurn();
    expect(jobs.list()).toHaveLength(1);
    expect(attached).toEqual([jobs.list()[0].job.id]);
  });

  it("stores the language of the job's public message: the server's, or /config language's", async () => {
    const { jobs, store, context, interaction } = setup();
    const chinese = { ...interaction('200000000000000001'), guildLocale: 'zh-CN', locale: 'en-US' };
    expect(submitJob(context, chinese, GuildSettingsSchema.parse({}), { kind: 'imagine', request: smallRequest() }).ok).toBe(true);
    const overridden = { ...interaction('200000000000000002'), guildLocale: 'zh-CN' };
    expect(submitJob(context, overridden, GuildSettingsSchema.parse({ language: 'en' }), { kind: 'imagine', request: smallRequest() }).ok).toBe(true);
    await nextTurn();
    const stored = jobs.list().map(({ job }) => store.jobs.get(job.id)!.locale);
    expect(stored).toEqual(['zh-CN', 'en']);
  });

  it('counts accepted jobs not yet stored against the caps: one burst cannot overrun a member’s limit', async () => {
    const { jobs, context, events, interaction } = setup();
    const base = GuildSettingsSchema.parse({});
    const settings = GuildSettingsSchema.parse({ ...base, limits: { ...base.limits, userQueued: 2 } });
    const results = [0, 1, 2].map(() =>
      submitJob(context, interaction('200000000000000001'), settings, { kind: 'imagine', request: smallRequest() }),
    );
    expect(results.map((r) => r.ok)).toEqual([true, true, false]);
    const refused = results[2];
    if (refused.ok) throw new Error('expected a refusal');
    expect(refused.error.message).toMatch(/already have 2 images/);
    // The refused one was never acknowledged (the caller answers it ephemerally) and nothing of it is queued.
    expect(events.filter((e) => e.startsWith('defer'))).toHaveLength(2);
    await nextTurn();
    expect(jobs.list()).toHaveLength(2);
    expect(context.pending.size).toBe(0);
  });

  it('turns the "thinking…" reply into the reason when the queue refuses after the acknowledgement', async () => {
    const { jobs, context, events, interaction } = setup();
    const settings = GuildSettingsSchema.parse({});
    const result = submitJob(context, interaction('200000000000000001'), settings, { kind: 'imagine', request: smallRequest() });
    expect(result.ok).toBe(true);
    await jobs.stop();
    await nextTurn();
    await vi.waitFor(() => expect(events.length).toBeGreaterThan(1));
    await nextTurn();
    // One message the member can read, pinging nobody; no follow-up, and the reply is not deleted.
    expect(events).toEqual(['defer 900000000000000000', 'editReply 900000000000000000: The bot is restarting; try again in a minute. {"parse":[]}']);
    expect(jobs.list()).toHaveLength(0);
  });

  it('runs `prepare` after the acknowledgement, holding the cap slot, and stores the request it returns', async () => {
    const { jobs, context, events, interaction } = setup();
    const settings = GuildSettingsSchema.parse({});
    let release!: () => void;
    const downloaded = new Promise<void>((resolve) => (release = resolve));
    const prepared: JobRequest = { ...smallRequest(), width: 80, height: 64, mode: { kind: 'txt2img' } };
    const result = submitJob(context, interaction('200000000000000001'), settings, {
      kind: 'imagine',
      request: smallRequest(),
      prepare: async () => {
        events.push('prepare');
        await downloaded;
        return prepared;
      },
    });
    expect(result.ok).toBe(true);
    expect(events).toEqual(['defer 900000000000000000']);
    await vi.waitFor(() => expect(events).toContain('prepare'));
    // Still downloading: counted against the caps, nothing stored yet.
    expect(context.pending.size).toBe(1);
    expect(jobs.list()).toHaveLength(0);
    release();
    await vi.waitFor(() => expect(jobs.list()).toHaveLength(1));
    expect(jobs.list()[0].job.request).toMatchObject({ width: 80, height: 64 });
    expect(context.pending.size).toBe(0);
  });

  it('edits the reply into the reason when `prepare` refuses (a bad upload), and queues nothing', async () => {
    const { jobs, context, events, interaction } = setup();
    const settings = GuildSettingsSchema.parse({});
    const dropped = vi.fn();
    submitJob(context, interaction('200000000000000001'), settings, {
      kind: 'imagine',
      request: smallRequest(),
      prepare: async () => {
        throw new UserError(Identifiers.InvalidArgument, 'The image is not a PNG, JPEG or WebP picture. Upload one of those.');
      },
      onDropped: dropped,
    });
    await vi.waitFor(() => expect(events).toHaveLength(2));
    expect(events[1]).toBe('editReply 900000000000000000: The image is not a PNG, JPEG or WebP picture. Upload one of those. {"parse":[]}');
    expect(dropped).toHaveBeenCalledOnce();
    expect(jobs.list()).toHaveLength(0);
    expect(context.pending.size).toBe(0);
  });

  it('shows only a reference, never the error, when the refusal is not written for the member', async () => {
    const { context, events, interaction } = setup();
    const settings = GuildSettingsSchema.parse({});
    context.jobs.submit = () => {
      throw new Error('SQLITE_BUSY: /srv/secret/path/jobs.db is locked');
    };
    const result = submitJob(context, interaction('200000000000000001'), settings, { kind: 'imagine', request: smallRequest() });
    expect(result.ok).toBe(true);
    await nextTurn();
    await vi.waitFor(() => expect(events.length).toBeGreaterThan(1));
    await nextTurn();
    expect(events).toHaveLength(2);
    expect(events[1]).toMatch(/^editReply 900000000000000000: Something went wrong \(ref `[^`]+`\)\. \{"parse":\[\]\}$/);
    expect(events[1]).not.toMatch(/SQLITE|secret/);
  });

  it('tells the caller the job once it is queued', async () => {
    const { jobs, context, interaction } = setup();
    const settings = GuildSettingsSchema.parse({});
    const seen: string[] = [];
    const hooks = { onQueued: (job: { id: string }) => seen.push(`queued ${job.id}`), onDropped: () => seen.push('dropped') };
    expect(submitJob(context, interaction('200000000000000001'), settings, { kind: 'imagine', request: smallRequest(), ...hooks }).ok).toBe(true);
    expect(seen).toEqual([]);
    await nextTurn();
    expect(seen).toEqual([`queued ${jobs.list()[0].job.id}`]);
  });

  it('tells the caller the job was dropped when the queue refuses it after the acknowledgement', async () => {
    const { jobs, context, interaction } = setup();
    const seen: string[] = [];
    const hooks = { onQueued: () => seen.push('queued'), onDropped: () => seen.push('dropped') };
    expect(
      submitJob(context, interaction('200000000000000001'), GuildSettingsSchema.parse({}), { kind: 'imagine', request: smallRequest(), ...hooks }).ok,
    ).toBe(true);
    await jobs.stop();
    await nextTurn();
    expect(seen).toEqual(['dropped']);
  });

  it('tells the caller the job was dropped when the acknowledgement failed before it was stored', async () => {
    const { jobs, context, interaction } = setup();
    const seen: string[] = [];
    const failing = { ...interaction('200000000000000001'), deferReply: () => Promise.reject(new Error('Unknown interaction')) };
    const hooks = { onQueued: () => seen.push('queued'), onDropped: () => seen.push('dropped') };
    expect(submitJob(context, failing, GuildSettingsSchema.parse({}), { kind: 'imagine', request: smallRequest(), ...hooks }).ok).toBe(true);
    await nextTurn();
    expect(seen).toEqual(['dropped']);
    expect(jobs.list()).toHaveLength(0);
  });
});

describe('submitFromMessage', () => {
  const origin = (userId: string, replyToMessageId: string) => ({
    guildId: '100000000000000001',
    channelId: '100000000000000002',
    userId,
    replyToMessageId,
    locale: 'en' as const,
  });

  it('stores and queues at once with the message to reply to and no interaction token, under the same caps and cooldown', () => {
    const { context, store, attached } = setup();
    const settings = GuildSettingsSchema.parse({ limits: { userQueued: 1 } });
    const submitted = submitFromMessage(context, origin('u1', 'reply1'), settings, {
      kind: 'refine',
      parentJobId: 'parent',
      request: smallRequest({ previewEvery: 0 }),
    });
    expect(submitted.ok).toBe(true);
    const job = submitted.ok ? store.jobs.get(submitted.value.id) : undefined;
    expect(job).toMatchObject({ kind: 'refine', parentJobId: 'parent', replyToMessageId: 'reply1', interactionToken: null, state: 'queued' });
    expect(attached).toEqual([job!.id]);
    const capped = submitFromMessage(context, origin('u1', 'reply2'), settings, { kind: 'refine', request: smallRequest() });
    expect(!capped.ok && capped.error.message).toMatch(/You already have 1 image queued or running here/);
    const cooling = submitFromMessage(context, origin('u1', 'reply3'), GuildSettingsSchema.parse({ limits: { userCooldownSeconds: 60 } }), {
      kind: 'refine',
      request: smallRequest(),
    });
    expect(!cooling.ok && cooling.error.message).toMatch(/cooldown between images/);
  });
});
