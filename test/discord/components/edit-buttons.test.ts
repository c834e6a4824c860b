import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { GuildSettingsSchema, type GuildSettings } from '../../../src/config/guild-settings.js';
import { panCanvas, parseRegion, requestFromEditButton } from '../../../src/discord/components/edit-buttons.js';
import type { ModelSummary } from '../../../src/protocol/generate-request.js';
import type { Job } from '../../../src/queue/job.js';
import { fakeJob } from '../../fixtures/jobs.js';

// The seed of every edit is random; pin it so requests can be compared whole.
vi.mock('node:crypto', async (importOriginal) => ({ ...(await importOriginal<typeof import('node:crypto')>()), randomInt: () => 424242 }));

const PARENT = 'parentJob01';
const model = (name: string, extra: Partial<ModelSummary> = {}): ModelSummary => ({
  name,
  family: 'sd15',
  hasVaeEncoder: true,
  hasPreviewDecoder: false,
  defaults: {},
  ...extra,
});
const MODELS = [
  model('sd15'),
  model('tuned', { variation: { subtle: 0.2, strong: 0.6 } }),
  model('no-encoder', { hasVaeEncoder: false }),
  model('fixed', { fixedSize: [256, 256] }),
];

const cleanups: (() => void)[] = [];
afterEach(() => {
  for (const cleanup of cleanups.splice(0)) cleanup();
});

function settingsWith(change: (settings: GuildSettings) => void = () => undefined): GuildSettings {
  const settings = GuildSettingsSchema.parse({});
  change(settings);
  return GuildSettingsSchema.parse(settings);
}

/** A finished single-image job whose PNG exists (unless `write` is false). */
function parentJob(overrides: Partial<Job['request']> = {}, options: { write?: boolean; outputs?: number } = {}): Job {
  const dir = mkdtempSync(path.join(tmpdir(), 'imagine-edit-buttons-'));
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  const outputs = Array.from({ length: options.outputs ?? 1 }, (_, n) => {
    const file = path.join(dir, 'outputs', PARENT, `${n}.png`);
    if (options.write ?? true) {
      mkdirSync(path.dirname(file), { recursive: true });
      writeFileSync(file, 'png');
    }
    return { path: file, seed: 1000 + n, width: 512, height: 768, parameters: '' };
  });
  return fakeJob({
    id: PARENT,
    state: 'done',
    request: {
      model: 'sd15',
      prompt: 'a red heart',
      negativePrompt: 'blurry',
      steps: 8,
      cfg: 7,
      sampler: 'euler_a',
      width: 512,
      height: 768,
      count: outputs.length,
      seed: 1000,
      mode: { kind: 'txt2img' },
      previewEvery: 0,
      ...overrides,
    },
    seeds: outputs.map((o) => o.seed),
    outputs,
  });
}

const kept = {
  model: 'sd15',
  prompt: 'a red heart',
  negativePrompt: 'blurry',
  steps: 8,
  cfg: 7,
  sampler: 'euler_a',
  previewEvery: 2,
  seed: 424242,
  count: 1,
  width: 512,
  height: 768,
} as const;
const image = { ref: `outputs/${PARENT}/0.png` };

const refusal = (result: ReturnType<typeof requestFromEditButton>) => {
  if (result.ok) throw new Error(`expected a refusal, got ${JSON.stringify(result.value)}`);
  return result.error.message;
};

describe('requestFromEditButton', () => {
  it('Zoom Out 2x and 1.5x: an outpaint of the stored image on a canvas of its size, new seed', () => {
    const settings = settingsWith();
    expect(requestFromEditButton(parentJob(), 'zoom2', settings, MODELS)).toEqual({
      ok: true,
      value: { kind: 'zoom', request: { ...kept, mode: { kind: 'outpaint', image, strength: 1, zoom: 2 } } },
    });
    const zoom15 = requestFromEditButton(parentJob(), 'zoom15', settings, MODELS);
    expect(zoom15.ok && zoom15.value.request.mode).toEqual({ kind: 'outpaint', image, strength: 1, zoom: 1.5 });
  });

  it('pans in each direction, and refuses at the click when the grown canvas is over max pixels', () => {
    const settings = settingsWith();
    for (const [action, pan] of [
      ['panleft', 'left'],
      ['panright', 'right'],
      ['panup', 'up'],
      ['pandown', 'down'],
    ] as const) {
      expect(requestFromEditButton(parentJob(), action, settings, MODELS)).toEqual({
        ok: true,
        value: { kind: 'pan', request: { ...kept, mode: { kind: 'outpaint', image, strength: 1, pan } } },
      });
    }
    expect(panCanvas(512, 768, 'left')).toEqual({ width: 768, height: 768 });
    expect(panCanvas(512, 768, 'up')).toEqual({ width: 512, height: 1152 });
    // 512x768 fits 512*768; left makes 768x768 = 589824 pixels.
    const tight = settingsWith((s) => (s.limits.maxPixels = 512 * 768));
    expect(refusal(requestFromEditButton(parentJob(), 'panleft', tight, MODELS))).toBe(
      'Panning left makes the picture 768x768 (589824 pixels); this server allows 393216 per image. Use Zoom Out instead, or ask an admin to raise max pixels in /config limits.',
    );
    expect(requestFromEditButton(parentJob(), 'zoom2', tight, MODELS).ok).toBe(true);
    expect(refusal(requestFromEditButton(parentJob({ model: 'fixed' }), 'panup', settings, MODELS))).toMatch(/only draws one size, so it cannot pan/);
  });

  it('Vary (Subtle) and (Strong): img2img of the image at the model strengths, the defaults when it sets none', () => {
    const settings = settingsWith();
    expect(requestFromEditButton(parentJob(), 'subtle', settings, MODELS)).toEqual({
      ok: true,
      value: { kind: 'vary-subtle', request: { ...kept, mode: { kind: 'img2img', image, strength: 0.35 } } },
    });
    expect(requestFromEditButton(parentJob(), 'strong', settings, MODELS)).toEqual({
      ok: true,
      value: { kind: 'vary-strong', request: { ...kept, mode: { kind: 'img2img', image, strength: 0.75 } } },
    });
    const tuned = requestFromEditButton(parentJob({ model: 'tuned' }), 'subtle', settings, MODELS);
    expect(tuned.ok && tuned.value.request.mode).toEqual({ kind: 'img2img', image, strength: 0.2 });
  });

  it('Vary (Region): an inpaint of the image with the default inpaint options; the mask is drawn after the ack', () => {
    const result = requestFromEditButton(parentJob(), 'region', settingsWith(), MODELS, { x: 10, y: 20, w: 30, h: 40 });
    expect(result).toEqual({
      ok: true,
      value: {
        kind: 'vary-region',
        region: { x: 10, y: 20, w: 30, h: 40 },
        request: {
          ...kept,
          mode: { kind: 'inpaint', image, mask: image, strength: 0.75, maskBlur: 4, fill: 'original', area: 'whole', padding: 32 },
        },
      },
    });
  });

  it('refuses a removed image, a grid, a model without an encoder and settings changed since', () => {
    const settings = settingsWith();
    expect(refusal(requestFromEditButton(parentJob({}, { write: false }), 'zoom2', settings, MODELS))).toMatch(/no longer stored on the bot/);
    expect(refusal(requestFromEditButton(parentJob({ count: 2 }, { outputs: 2 }), 'subtle', settings, MODELS))).toMatch(/single image. Press U/);
    expect(refusal(requestFromEditButton(parentJob({ model: 'no-encoder' }), 'strong', settings, MODELS))).toMatch(
      /has no vae_encoder, so it can't edit pictures/,
    );
    expect(refusal(requestFromEditButton(parentJob({ model: 'gone' }), 'strong', settings, MODELS))).toMatch(/no longer installed/);
    const banned = settingsWith((s) => (s.bannedWords = ['heart']));
    expect(refusal(requestFromEditButton(parentJob(), 'zoom2', banned, MODELS))).toMatch(/does not allow `heart`/);
    const fewSteps = settingsWith((s) => (s.limits.maxSteps = 4));
    expect(refusal(requestFromEditButton(parentJob(), 'panleft', fewSteps, MODELS))).toMatch(/used 8 steps/);
  });
});

describe('parseRegion', () => {
  it('takes names, a few spellings, and boxes in percent', () => {
    expect(parseRegion(' Left ')).toEqual({ ok: true, value: 'left' });
    expect(parseRegion('center')).toEqual({ ok: true, value: 'centre' });
    expect(parseRegion('bottom half')).toEqual({ ok: true, value: 'bottom' });
    expect(parseRegion('10,20,30,40')).toEqual({ ok: true, value: { x: 10, y: 20, w: 30, h: 40 } });
    const bad = parseRegion('the dog');
    expect(!bad.ok && bad.error.message).toMatch(/Name a region \(left, right, top, bottom, centre\)/);
  });
});
