/**
 * The path a new user takes: the bundled model, a fresh DATA_DIR, no /config, and the first /imagine sent while the
 * worker is still starting. It once failed ("only draws 256x256; got 512x512") because the bot knew the models only
 * from the worker; it now reads MODELS_DIR itself.
 */
import path from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readPngText } from '../../src/protocol/png-text.js';
import { customIds, ephemeralOf, finalMessageOf, startHarness, type Harness } from './bot-harness.js';
import type { FakeUser } from './fake-discord/fake-discord.js';

const BUNDLED_MODELS = path.resolve('models');
const newcomer: FakeUser = { id: '200000000000000009', username: 'newcomer' };
const opt = (name: string, value: string) => ({ name, type: 3, value });

describe('a fresh install on the bundled model', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness({}, { modelsDir: BUNDLED_MODELS, defaultModel: 'imagine-tiny', waitForWorker: false });
  });
  afterAll(async () => {
    await h?.close();
  });

  it("draws the first /imagine at the model's own size, even when sent before the worker is ready", async () => {
    const interaction = h.fake.sendCommand({
      name: 'imagine',
      user: newcomer,
      options: [opt('prompt', 'a red apple on a blue background --seed 3')],
    });
    const final = await finalMessageOf(h.fake, interaction.id);
    const png = final.attachments[0].data;
    const meta = await sharp(png).metadata();
    expect([meta.width, meta.height]).toEqual([256, 256]);
    expect(readPngText(png).get('parameters')).toMatch(/Steps: 20, Sampler: Euler, CFG scale: 3, Seed: 3, Size: 256x256, Model: imagine-tiny/);
    expect(final.content).not.toContain('❌');
  });

  it('fits a requested aspect ratio to the fixed-size model with a note instead of failing after the queue', async () => {
    const interaction = h.fake.sendCommand({ name: 'imagine', user: newcomer, options: [opt('prompt', 'a cat on a green background --ar 16:9')] });
    const final = await finalMessageOf(h.fake, interaction.id);
    const meta = await sharp(final.attachments[0].data).metadata();
    expect([meta.width, meta.height]).toEqual([256, 256]);
  });

  it('lets a new user zoom out of a first result: the bundled model starts from a picture too', async () => {
    const first = h.fake.sendCommand({ name: 'imagine', user: newcomer, options: [opt('prompt', 'a cat on a green background --seed 8')] });
    const original = await finalMessageOf(h.fake, first.id);
    const zoomId = customIds(original).find((id) => id.startsWith('edit:zoom2:'))!;
    expect(zoomId).toBeDefined();
    const click = h.fake.clickButton({ messageId: original.id, customId: zoomId, user: newcomer });
    const zoomed = await finalMessageOf(h.fake, click.id);
    const png = zoomed.attachments[0].data;
    expect(readPngText(png).get('parameters')).toMatch(/Outpaint: Zoom out 2$/);
    const meta = await sharp(png).metadata();
    expect([meta.width, meta.height]).toEqual([256, 256]);
  });

  it('never takes a server path as a model, and never shows where models live', async () => {
    for (const model of [path.join(BUNDLED_MODELS, 'imagine-tiny'), 'nope', '../models/imagine-tiny']) {
      const interaction = h.fake.sendCommand({ name: 'imagine', user: newcomer, options: [opt('prompt', 'a cat'), opt('model', model)] });
      const answer = await ephemeralOf(h.fake, interaction.id);
      expect(answer).toMatch(/^(Unknown model `nope`|Name an installed model, not a folder path); choose one of: `imagine-tiny`\.$/);
      expect(answer).not.toContain(BUNDLED_MODELS);
    }
  });
});
