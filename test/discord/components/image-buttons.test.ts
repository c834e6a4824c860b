import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { MessageFlags } from 'discord.js';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { GuildSettingsSchema, type GuildSettings } from '../../../src/config/guild-settings.js';
import { CancelledError } from '../../../src/errors.js';
import type { BotContext } from '../../../src/discord/bot-context.js';
import { imageButtons, requestFromButton } from '../../../src/discord/components/image-buttons.js';
import { AckGate } from '../../../src/discord/delivery/ack-gate.js';
import { CooldownTracker } from '../../../src/discord/preconditions/cooldown-tracker.js';
import { createLogger } from '../../../src/logger.js';
import type { ModelSummary } from '../../../src/protocol/generate-request.js';
import { JobService } from '../../../src/queue/job-service.js';
import type { Job } from '../../../src/queue/job.js';
import { Store } from '../../../src/store/store.js';
import { fakeJob } from '../../fixtures/jobs.js';
import type { JobRunner } from '../../../src/worker/job-runner.js';

// The variation subseed and the seed of an image variation are random; pin them so the requests can be compared whole.
vi.mock('node:crypto', async (importOriginal) => ({ ...(await importOriginal<typeof import('node:crypto')>()), randomInt: () => 424242 }));

const GUILD = '100000000000000001';
const CHANNEL = '100000000000000002';
const ALICE = '200000000000000001';
const BOB = '200000000000000002';
const PARENT = 'parentJob01';

const model = (name: string, hasVaeEncoder: boolean): ModelSummary => ({
  name,
  family: 'sd15',
  hasVaeEncoder,
  hasPreviewDecoder: false,
  defaults: {},
});
const MODELS = [model('sd15', true), model('no-encoder', false)];

const cleanups: (() => void)[] = [];
afterEach(() => {
  for (const cleanup of cleanups.splice(0)) cleanup();
});

function tempDir(): string {
  const dir = mkdtempSync(path.join(tmpdir(), 'imagine-buttons-'));
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

function settingsWith(change: (settings: GuildSettings) => void = () => undefined): GuildSettings {
  const settings = GuildSettingsSchema.parse({});
  change(settings);
  return GuildSettingsSchema.parse(settings);
}

/** A finished two-image txt2img job of Alice's whose PNGs exist under `dataDir`. */
function parentJob(dataDir: string, overrides: Partial<Job> = {}): Job {
  const id = overrides.id ?? PARENT;
  const outputs = [0, 1].map((n) => {
    const file = path.join(dataDir, 'outputs', id, `${n}.png`);
    mkdirSync(path.dirname(file), { recursive: true });
    writeFileSync(file, 'not really a png');
    return { path: file, seed: 1000 + n, width: 512, height: 768, parameters: '' };
  });
  return fakeJob({
    id,
    guildId: GUILD,
    channelId: CHANNEL,
    userId: ALICE,
    messageId: '300000000000000001',
    request: {
      model: 'sd15',
      prompt: 'a red heart',
      negativePrompt: 'blurry',
      steps: 8,
      cfg: 7,
      sampler: 'euler_a',
      width: 512,
      height: 768,
      count: 2,
      seed: 1000,
      mode: { kind: 'txt2img' },
      previewEvery: 0,
    },
    state: 'done',
    attempts: 1,
    startedAt: 0,
    finishedAt: 0,
    seeds: [1000, 1001],
    outputs,
    ...overrides,
  });
}

/** The parent's request as a button reuses it: everything kept, previews as the guild sets them (every 2 steps). */
const kept = { model: 'sd15', prompt: 'a red heart', negativePrompt: 'blurry', steps: 8, cfg: 7, sampler: 'euler_a', previewEvery: 2 } as const;
const ref = (n: number) => ({ ref: `outputs/${PARENT}/${n}.png` });

function refusalOf(result: ReturnType<typeof requestFromButton>): string {
  if (result.ok) throw new Error(`expected a refusal, got ${JSON.stringify(result.value)}`);
  return result.error.message;
}

describe('requestFromButton', () => {
  it('rerolls an edit from the same stored inputs, and refuses when one of them was removed', () => {
    const image = { ref: 'inputs/upload1/image.png' };
    const mask = { ref: 'inputs/mask1/image.png' };
    const mode = {
      kind: 'inpaint' as const,
      image,
      mask,
      strength: 0.75,
      maskBlur: 4,
      fill: 'original' as const,
      area: 'whole' as const,
      padding: 32,
    };
    const parent = parentJob(tempDir(), { kind: 'edit', request: { ...parentJob(tempDir()).request, count: 1, mode } });
    const stored = new Set([image.ref, mask.ref]);
    const rerolled = requestFromButton(parent, 'reroll', settingsWith(), MODELS, (ref) => stored.has(ref));
    expect(rerolled.ok && rerolled.value.request.mode).toEqual(mode);
    stored.delete(mask.ref);
    expect(refusalOf(requestFromButton(parent, 'reroll', settingsWith(), MODELS, (ref) => stored.has(ref)))).toMatch(
      /A picture this image was made from is no longer stored on the bot/,
    );
  });

  it('rerolls with the same request and mode, without the seed', () => {
    const result = requestFromButton(parentJob(tempDir()), 'reroll', settingsWith(), MODELS);
    expect(result).toEqual({
      ok: true,
      value: { kind: 'reroll', request: { ...kept, width: 512, height: 768, count: 2, mode: { kind: 'txt2img' } } },
    });
    if (result.ok) expect('seed' in result.value.request).toBe(false);
  });

  it('varies image n of a txt2img job from its seed: one image of its size, variation mode', () => {
    const result = requestFromButton(parentJob(tempDir()), 'v2', settingsWith(), MODELS);
    expect(result).toEqual({
      ok: true,
      value: {
        kind: 'variation',
        request: { ...kept, seed: 1001, count: 1, width: 512, height: 768, mode: { kind: 'variation', subseed: 424242, strength: 0.3 } },
      },
    });
  });

  it('varies an img2img or upscaled image from its stored PNG (img2img mode, a new seed)', () => {
    for (const mode of [
      { kind: 'img2img', image: { ref: 'outputs/someone/0.png' }, strength: 0.75 },
      { kind: 'upscale', image: { ref: 'outputs/someone/0.png' }, strength: 0.3 },
    ] as const) {
      const parent = parentJob(tempDir());
      const result = requestFromButton(
        { ...parent, kind: mode.kind === 'upscale' ? 'upscale' : 'imagine', request: { ...parent.request, mode } },
        'v1',
        settingsWith(),
        MODELS,
      );
      expect(result).toEqual({
        ok: true,
        value: {
          kind: 'variation',
          request: { ...kept, seed: 424242, count: 1, width: 512, height: 768, mode: { kind: 'img2img', image: ref(0), strength: 0.45 } },
        },
      });
    }
  });

  it('upscales image n 2x from its stored PNG with its seed', () => {
    const settings = settingsWith((s) => (s.limits.maxPixels = 2048 * 2048));
    const result = requestFromButton(parentJob(tempDir()), 'u2', settings, MODELS);
    expect(result).toEqual({
      ok: true,
      value: {
        kind: 'upscale',
        request: { ...kept, seed: 1001, count: 1, width: 1024, height: 1536, mode: { kind: 'upscale', image: ref(1), strength: 0.3 } },
      },
    });
  });

  it('refuses an upscale over the max pixels, naming the size and the limit', () => {
    expect(refusalOf(requestFromButton(parentJob(tempDir()), 'u1', settingsWith(), MODELS))).toBe(
      'Upscaling makes 1024x1536 (1572864 pixels); this server allows 1048576 per image. Ask an admin to raise max pixels in /config limits.',
    );
  });

  it('says an image that is gone is no longer stored', () => {
    const dir = tempDir();
    const parent = parentJob(dir);
    const gone = "Image 2 of that job is no longer stored on the bot, so this button can't use it. Run /imagine again.";
    expect(refusalOf(requestFromButton({ ...parent, outputs: parent.outputs.slice(0, 1) }, 'v2', settingsWith(), MODELS))).toBe(gone);
    rmSync(parent.outputs[1].path);
    expect(refusalOf(requestFromButton(parent, 'u2', settingsWith(), MODELS))).toBe(gone);
  });

  describe('checks the guild’s current settings, like a new /imagine', () => {
    it('refuses a prompt with a word banned since', () => {
      const settings = settingsWith((s) => {
        s.bannedWords = ['heart'];
        s.limits.maxPixels = 2048 * 2048;
      });
      for (const action of ['reroll', 'v1', 'u1'] as const) {
        expect(refusalOf(requestFromButton(parentJob(tempDir()), action, settings, MODELS))).toBe(
          "This server does not allow `heart` in prompts, and this image's prompt has it; run /imagine with a new prompt.",
        );
      }
    });

    it('refuses a negative prompt with a banned word', () => {
      const settings = settingsWith((s) => (s.bannedWords = ['blurry']));
      expect(refusalOf(requestFromButton(parentJob(tempDir()), 'reroll', settings, MODELS))).toBe(
        "This server does not allow `blurry` in prompts, and this image's negative prompt has it; run /imagine with a new negative prompt.",
      );
    });

    it('refuses steps over a max steps lowered since, naming the limit', () => {
      const settings = settingsWith((s) => (s.limits.maxSteps = 4));
      for (const action of ['reroll', 'v1'] as const) {
        expect(refusalOf(requestFromButton(parentJob(tempDir()), action, settings, MODELS))).toBe(
          'This image used 8 steps; this server now allows 4 (an admin lowered max steps in /config limits). Run /imagine with 4 steps or fewer.',
        );
      }
    });

    it('refuses rerolling more images than the max count; V and U make one image and pass', () => {
      const settings = settingsWith((s) => (s.limits.maxCount = 1));
      expect(refusalOf(requestFromButton(parentJob(tempDir()), 'reroll', settings, MODELS))).toBe(
        'This job made 2 images; this server now allows 1 per job (an admin lowered max count in /config limits). Use V or U on one image, or run /imagine with a count of 1 or fewer.',
      );
      expect(requestFromButton(parentJob(tempDir()), 'v1', settings, MODELS).ok).toBe(true);
    });

    it('refuses a size over a max pixels lowered since', () => {
      const settings = settingsWith((s) => (s.limits.maxPixels = 512 * 512));
      expect(refusalOf(requestFromButton(parentJob(tempDir()), 'v1', settings, MODELS))).toBe(
        'This image is 512x768 (393216 pixels); this server now allows 262144 per image (an admin lowered max pixels in /config limits). Run /imagine with a smaller size.',
      );
    });

    it('refuses a model that is no longer installed (the bot reads MODELS_DIR itself, so the list is always known)', () => {
      const parent = parentJob(tempDir());
      expect(refusalOf(requestFromButton(parent, 'reroll', settingsWith(), [model('other', true)]))).toBe(
        'The model `sd15` of this image is no longer installed; run /imagine with another model; choose one of: `other`.',
      );
      expect(refusalOf(requestFromButton(parent, 'reroll', settingsWith(), []))).toBe(
        'The model `sd15` of this image is no longer installed; run /imagine with another model; choose one of: none installed.',
      );
    });

    it('refuses V on an image-based job when the model has no vae_encoder; U and V on txt2img work without it', () => {
      const parent = parentJob(tempDir());
      const upscaled: Job = {
        ...parent,
        kind: 'upscale',
        request: { ...parent.request, model: 'no-encoder', mode: { kind: 'upscale', image: { ref: 'outputs/x/0.png' }, strength: 0.3 } },
      };
      expect(refusalOf(requestFromButton(upscaled, 'v1', settingsWith(), MODELS))).toBe(
        "The model `no-encoder` has no vae_encoder, so it can't vary an upscaled or img2img image. Use 🔄, or V on an image made from text.",
      );
      expect(
        requestFromButton(
          upscaled,
          'u1',
          settingsWith((s) => (s.limits.maxPixels = 2048 * 2048)),
          MODELS,
        ).ok,
      ).toBe(true);
      expect(requestFromButton({ ...parent, request: { ...parent.request, model: 'no-encoder' } }, 'v1', settingsWith(), MODELS).ok).toBe(true);
    });
  });
});

describe('imageButtons', () => {
  function setup(settings: GuildSettings = settingsWith((s) => (s.limits.maxPixels = 2048 * 2048))) {
    const dir = tempDir();
    const store = Store.open(dir);
    // Takes jobs and holds them until they are cancelled: a U job stays in flight as long as the test wants.
    const runner: JobRunner = {
      ready: true,
      whenReady: async () => undefined,
      run: (_jobId, _request, { signal }) =>
        new Promise((_resolve, reject) => {
          if (signal.aborted) reject(new CancelledError());
          signal.addEventListener('abort', () => reject(new CancelledError()));
        }),
    };
    const jobs = new JobService({ store, runner });
    jobs.start();
    cleanups.push(() => {
      void jobs.stop();
      store.close();
    });
    const parent = store.jobs.insert(parentJob(dir));
    const context = {
      jobs,
      settings: { get: () => settings },
      models: () => MODELS,
      cooldowns: new CooldownTracker(),
      acks: new AckGate(),
      pending: new Set(),
      reporter: { attach: () => undefined },
      logger: createLogger({ level: 'silent' }),
      maxQueuedTotal: 200,
    } as unknown as BotContext;
    const handler = imageButtons(context);
    const events: string[] = [];
    let n = 0;
    const click = async (customId: string, options: { userId?: string; guildId?: string } = {}) => {
      const id = `90000000000000000${n++}`;
      const interaction = {
        id,
        customId,
        token: `token-${id}`,
        guildId: options.guildId ?? GUILD,
        channelId: CHANNEL,
        createdTimestamp: Date.now(),
        user: { id: options.userId ?? BOB },
        deferred: false,
        replied: false,
        deferReply: () => {
          events.push(`defer ${id}`);
          return Promise.resolve();
        },
        reply: (payload: { content: string; flags?: number }) => {
          events.push(`reply ${id}${payload.flags === MessageFlags.Ephemeral ? ' (ephemeral)' : ''}: ${payload.content}`);
          return Promise.resolve();
        },
      } as any;
      await handler.handle(interaction);
      await new Promise((resolve) => setImmediate(resolve));
      return id;
    };
    const queued = () => jobs.list().map((listing) => listing.job);
    return { jobs, parent, click, events, queued };
  }

  it('refuses a job of another server, privately, and queues nothing', async () => {
    const { click, events, queued } = setup();
    const id = await click(`img:u1:${PARENT}`, { guildId: '100000000000000009' });
    expect(events).toEqual([`reply ${id} (ephemeral): That image belongs to another server.`]);
    expect(queued()).toEqual([]);
  });

  it('refuses a reroll whose prompt has a word banned since, privately, and queues nothing', async () => {
    const { click, events, queued } = setup(settingsWith((s) => (s.bannedWords = ['heart'])));
    const id = await click(`img:reroll:${PARENT}`);
    expect(events).toEqual([
      `reply ${id} (ephemeral): This server does not allow \`heart\` in prompts, and this image's prompt has it; run /imagine with a new prompt.`,
    ]);
    expect(queued()).toEqual([]);
  });

  it('makes one job of U pressed twice; the second press is pointed at the first, until it finishes', async () => {
    const { jobs, click, events, queued } = setup();
    const first = await click(`img:u1:${PARENT}`);
    const second = await click(`img:u1:${PARENT}`, { userId: ALICE });
    expect(queued()).toHaveLength(1);
    const job = queued()[0];
    expect(events).toEqual([
      `defer ${first}`,
      `reply ${second} (ephemeral): That is already queued: it is running now. Wait for it, or use another button.`,
    ]);

    // Another button of the same message is another job.
    const other = await click(`img:u2:${PARENT}`, { userId: ALICE });
    expect(events.at(-1)).toBe(`defer ${other}`);
    expect(queued()).toHaveLength(2);

    jobs.setMessageId(queued()[1].id, '300000000000000009');
    const third = await click(`img:u2:${PARENT}`);
    expect(events.at(-1)).toBe(
      `reply ${third} (ephemeral): That is already queued: https://discord.com/channels/${GUILD}/${CHANNEL}/300000000000000009. Wait for it, or use another button.`,
    );

    jobs.cancel(job.id, { userId: BOB, canManageGuild: false });
    await vi.waitFor(() => expect(jobs.get(job.id)?.state).toBe('cancelled'));
    const again = await click(`img:u1:${PARENT}`, { userId: ALICE });
    expect(events.at(-1)).toBe(`defer ${again}`);
  });

  it('releases the button when the submission is refused', async () => {
    const { click, events } = setup(
      settingsWith((s) => {
        s.limits.maxPixels = 2048 * 2048;
        s.limits.userCooldownSeconds = 60;
      }),
    );
    await click(`img:reroll:${PARENT}`);
    const refused = await click(`img:u1:${PARENT}`);
    expect(events.at(-1)).toMatch(new RegExp(`^reply ${refused} \\(ephemeral\\): .*(wait|cooldown)`, 'i'));
    // Alice has no cooldown: her press is not turned away as a duplicate of Bob's refused one.
    const alice = await click(`img:u1:${PARENT}`, { userId: ALICE });
    expect(events.at(-1)).toBe(`defer ${alice}`);
  });
});
