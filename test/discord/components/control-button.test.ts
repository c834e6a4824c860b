import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { GuildSettingsSchema, type GuildSettings } from '../../../src/config/guild-settings.js';
import type { BotContext } from '../../../src/discord/bot-context.js';
import { controlChoices } from '../../../src/discord/commands/imagine.js';
import { controlForButton, requestFromControlButton } from '../../../src/discord/components/control-button.js';
import { requestFromEditButton } from '../../../src/discord/components/edit-buttons.js';
import { requestFromButton } from '../../../src/discord/components/image-buttons.js';
import { controlButtonIds } from '../../../src/discord/custom-id-codec.js';
import { finalButtons, renderDone } from '../../../src/discord/delivery/render/job-message.js';
import type { ControlUnit, ImageRef, JobRequest, ModelSummary } from '../../../src/protocol/generate-request.js';
import type { Job } from '../../../src/queue/job.js';
import { fakeJob } from '../../fixtures/jobs.js';

vi.mock('node:crypto', async (importOriginal) => ({ ...(await importOriginal<typeof import('node:crypto')>()), randomInt: () => 424242 }));

const PARENT = 'parentJob01';
const model = (name: string, controlNets?: string[]): ModelSummary => ({
  name,
  family: 'sd1',
  hasVaeEncoder: true,
  hasPreviewDecoder: false,
  defaults: {},
  ...(controlNets ? { controlNets } : {}),
});
const MODELS = [model('cn', ['depth', 'my-canny', 'scribble']), model('plain')];
const settings = (change: (s: GuildSettings) => void = () => undefined) => {
  const s = GuildSettingsSchema.parse({});
  change(s);
  return GuildSettingsSchema.parse(s);
};

const dirs: string[] = [];
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

/** A finished two-image job whose PNGs exist; image 1 is 96x64. */
function parentJob(request: Partial<JobRequest> = {}, overrides: Partial<Job> = {}): Job {
  const dir = mkdtempSync(path.join(tmpdir(), 'imagine-control-button-'));
  dirs.push(dir);
  const outputs = [0, 1].map((n) => {
    const file = path.join(dir, 'outputs', PARENT, `${n}.png`);
    mkdirSync(path.dirname(file), { recursive: true });
    writeFileSync(file, 'png');
    return { path: file, seed: 50 + n, width: n === 0 ? 64 : 96, height: 64, parameters: '' };
  });
  const full: JobRequest = {
    model: 'cn',
    prompt: 'a lighthouse',
    negativePrompt: 'fog',
    steps: 6,
    cfg: 5,
    sampler: 'euler',
    width: 64,
    height: 64,
    count: 2,
    seed: 50,
    clipSkip: 2,
    mode: { kind: 'txt2img' },
    previewEvery: 0,
    ...request,
  };
  return fakeJob({ id: PARENT, state: 'done', request: full, outputs, seeds: [50, 51], ...overrides });
}

const refusal = (result: { ok: boolean; error?: { message: string } }) => (result.ok ? 'accepted' : result.error!.message);

describe('🎛 Use as control', () => {
  it('makes a txt2img job of the same settings at image n’s size, guided by that stored image through canny', () => {
    const result = requestFromControlButton(
      parentJob(),
      'c2',
      settings((s) => (s.preview.everySteps = 3)),
      MODELS,
    );
    expect(result).toEqual({
      ok: true,
      value: {
        kind: 'control',
        request: {
          model: 'cn',
          prompt: 'a lighthouse',
          negativePrompt: 'fog',
          steps: 6,
          cfg: 5,
          sampler: 'euler',
          width: 96,
          height: 64,
          count: 2,
          seed: 424242,
          clipSkip: 2,
          mode: { kind: 'txt2img' },
          previewEvery: 3,
          controls: [{ net: 'my-canny', image: { ref: `outputs/${PARENT}/1.png` }, strength: 1, preprocess: 'canny' }],
        },
      },
    });
  });

  it("keeps the parent's net, preprocessor and strength; a map uploaded as-is becomes canny; depth nets get depth", () => {
    const unit = (net: string, preprocess: ControlUnit['preprocess'], strength = 0.6): ControlUnit<ImageRef> => ({
      net,
      image: { ref: 'inputs/x/image.png' },
      strength,
      preprocess,
    });
    const nets = ['depth', 'my-canny', 'scribble'];
    expect(controlForButton(parentJob({ controls: [unit('scribble', 'depth')] }), nets)).toEqual({
      net: 'scribble',
      preprocess: 'depth',
      strength: 0.6,
    });
    expect(controlForButton(parentJob({ controls: [unit('scribble', 'none')] }), nets)).toEqual({
      net: 'scribble',
      preprocess: 'canny',
      strength: 0.6,
    });
    expect(controlForButton(parentJob(), ['depth', 'scribble'])).toEqual({ net: 'depth', preprocess: 'depth', strength: 1 });
    // A net of the parent that is gone: the model's canny-like one, at the default strength.
    expect(controlForButton(parentJob({ controls: [unit('removed', 'depth')] }), nets)).toEqual({
      net: 'my-canny',
      preprocess: 'canny',
      strength: 1,
    });
  });

  it('refuses a model without ControlNets, an image no longer stored, and a parent whose model is gone', () => {
    expect(refusal(requestFromControlButton(parentJob({ model: 'plain' }), 'c1', settings(), MODELS))).toBe(
      "The model `plain` has no ControlNets, so its images can't guide a new one. Use a model that has some.",
    );
    const parent = parentJob();
    rmSync(parent.outputs[0].path);
    expect(refusal(requestFromControlButton(parent, 'c1', settings(), MODELS))).toMatch(/^Image 1 of that job is no longer stored on the bot/);
    expect(refusal(requestFromControlButton(parent, 'c3', settings(), MODELS))).toMatch(/^Image 3 of that job is no longer stored/);
    expect(refusal(requestFromControlButton(parentJob({ model: 'gone' }), 'c1', settings(), MODELS))).toMatch(
      /^The model `gone` of this image is no longer installed/,
    );
  });

  it('refuses a depth net when the depth model is not installed', () => {
    const depthOnly = [model('cn', ['depth'])];
    expect(refusal(requestFromControlButton(parentJob(), 'c1', settings(), depthOnly, () => false))).toMatch(
      /^The "depth" preprocessor is not installed/,
    );
    expect(refusal(requestFromControlButton(parentJob(), 'c1', settings(), depthOnly, () => true))).toBe('accepted');
    // A canny net needs no depth model.
    expect(refusal(requestFromControlButton(parentJob(), 'c1', settings(), MODELS, () => false))).toBe('accepted');
  });

  it("is checked against the guild's settings as they are now", () => {
    expect(
      refusal(
        requestFromControlButton(
          parentJob(),
          'c1',
          settings((s) => (s.limits.maxCount = 1)),
          MODELS,
        ),
      ),
    ).toMatch(/This job made 2 images; this server now allows 1 per job/);
  });

  it('is shown only for models with ControlNets: beside V1 under one image, as a row of 🎛 1..n under a grid', () => {
    const single = parentJob({ count: 1 }, { outputs: parentJob().outputs.slice(0, 1) });
    const ids = (rows: ReturnType<typeof finalButtons>) => rows.map((row) => row.components.map((c) => ('custom_id' in c ? c.custom_id : '')));
    expect(ids(finalButtons(single, true))[1]).toEqual([`img:v1:${PARENT}`, `ctrl:c1:${PARENT}`]);
    expect(finalButtons(single, true)[1].components[1]).toMatchObject({ label: 'Use as control', emoji: { name: '🎛️' } });
    expect(
      ids(finalButtons(single, false))
        .flat()
        .some((id) => id.startsWith('ctrl:')),
    ).toBe(false);
    const grid = finalButtons(parentJob(), true);
    expect(grid).toHaveLength(3);
    expect(ids(grid)[2]).toEqual([`ctrl:c1:${PARENT}`, `ctrl:c2:${PARENT}`]);
    expect(controlButtonIds.decode(`ctrl:c2:${PARENT}`)).toEqual({ action: 'c2', jobId: PARENT });
    expect(controlButtonIds.decode(`ctrl:c5:${PARENT}`)).toBeUndefined();
  });

  it('lists each unit under the result and attaches the maps after the image', () => {
    const unit: ControlUnit<ImageRef> = { net: 'my-canny', image: { ref: 'inputs/x/image.png' }, strength: 0.8, preprocess: 'canny' };
    const job = parentJob({ count: 1, controls: [unit] }, { outputs: parentJob().outputs.slice(0, 1), seeds: [50] });
    const map = { key: 'control-0', name: 'control-0.png', png: new Uint8Array([1]) };
    const state = renderDone(job, { key: 'final', name: 'imagine-50.png', png: new Uint8Array([2]) }, { controlMaps: [map], controlButtons: true });
    expect(state.content.split('\n')[2]).toBe('-# 🎛 ControlNet `my-canny` · canny · strength 0.8');
    expect(state.extraImages).toEqual([map]);
  });
});

describe('other buttons on a ControlNet job', () => {
  const unit: ControlUnit<ImageRef> = { net: 'my-canny', image: { ref: 'inputs/ctl/image.png' }, strength: 0.8, preprocess: 'canny' };

  it('reroll and V keep the control; reroll is refused when the control image was removed', () => {
    const parent = parentJob({ controls: [unit] });
    const reroll = requestFromButton(parent, 'reroll', settings(), MODELS, () => true);
    expect(reroll.ok && reroll.value.request.controls).toEqual([unit]);
    expect(requestFromButton(parent, 'v1', settings(), MODELS).ok && requestFromButton(parent, 'v1', settings(), MODELS)).toMatchObject({
      value: { kind: 'variation', request: { controls: [unit] } },
    });
    expect(refusal(requestFromButton(parent, 'reroll', settings(), MODELS, (ref) => ref !== unit.image.ref))).toMatch(
      /A picture this image was made from is no longer stored/,
    );
  });

  it('U, Zoom Out, pan and Vary (Region) drop the control (ControlNet does not run there); Vary (Subtle) keeps it', () => {
    const parent = parentJob({ controls: [unit] });
    const upscale = requestFromButton(parent, 'u1', settings(), MODELS);
    expect(upscale.ok && 'controls' in upscale.value.request).toBe(false);
    const single = parentJob({ count: 1, controls: [unit] }, { outputs: parent.outputs.slice(0, 1) });
    for (const action of ['zoom2', 'panleft'] as const) {
      const built = requestFromEditButton(single, action, settings(), MODELS);
      expect(built.ok && 'controls' in built.value.request).toBe(false);
    }
    const region = requestFromEditButton(single, 'region', settings(), MODELS, 'left');
    expect(region.ok && 'controls' in region.value.request).toBe(false);
    const subtle = requestFromEditButton(single, 'subtle', settings(), MODELS);
    expect(subtle.ok && subtle.value.request.controls).toEqual([unit]);
  });

  it('refuses any button of a job whose ControlNet was removed from the model since', () => {
    const parent = parentJob({ controls: [{ ...unit, net: 'old-net' }] });
    expect(refusal(requestFromButton(parent, 'reroll', settings(), MODELS, () => true))).toBe(
      'The ControlNet `old-net` of this image is no longer installed for `cn`; run /imagine with another control.',
    );
  });
});

describe('the `control` option autocomplete', () => {
  const context = (defaultModel?: string, serverDefault?: string) =>
    ({
      models: () => MODELS,
      settings: { get: () => settings((s) => (s.defaults.model = serverDefault)) },
      defaultModel,
    }) as unknown as BotContext;

  it("offers the nets of the model being typed, else the server's or the bot's default model", () => {
    expect(controlChoices(context(), 'g1', 'cn').map((c) => c.value)).toEqual(['depth', 'my-canny', 'scribble']);
    expect(controlChoices(context('plain'), 'g1', null)).toEqual([]);
    expect(controlChoices(context('plain', 'cn'), 'g1', null).map((c) => c.value)).toEqual(['depth', 'my-canny', 'scribble']);
    // A model name not (yet) complete: every installed net, each named with its model.
    expect(controlChoices(context(), 'g1', 'c')).toEqual([
      { name: 'depth (cn)', value: 'depth' },
      { name: 'my-canny (cn)', value: 'my-canny' },
      { name: 'scribble (cn)', value: 'scribble' },
    ]);
  });
});
