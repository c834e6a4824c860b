/**
 * SDXL end to end (#12): the bot knows from the folder alone that a model is SDXL (its size buckets apply before
 * anything is queued), and the real worker runs the two-encoder pipeline on a tiny SDXL-layout model.
 */
import { mkdir, rm } from 'node:fs/promises';
import path from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readPngText } from '../../src/protocol/png-text.js';
import { makeTempDir, writeTinySdxlModel } from '../fixtures/tiny-models.js';
import { finalMessageOf, startHarness, type Harness } from './bot-harness.js';
import type { FakeUser } from './fake-discord/fake-discord.js';

const carol: FakeUser = { id: '200000000000000011', username: 'carol' };
const opt = (name: string, value: string) => ({ name, type: 3, value });

describe('the bot on a tiny SDXL model', () => {
  let h: Harness;
  let modelsDir: string;
  beforeAll(async () => {
    modelsDir = path.join(await makeTempDir('imagine-sdxl-e2e-'), 'models');
    await mkdir(modelsDir, { recursive: true });
    // 128×128 default (as SDXL-Turbo's 512×512, but small): ratios take SDXL's bucket shapes at that area.
    await writeTinySdxlModel(path.join(modelsDir, 'xl'), { manifest: { defaults: { width: 128, height: 128, steps: 3, sampler: 'euler', cfg: 5 } } });
    h = await startHarness({}, { modelsDir, defaultModel: 'xl' });
  });
  afterAll(async () => {
    await h?.close();
    await rm(path.dirname(modelsDir), { recursive: true, force: true });
  });

  it('draws /imagine --ar 16:9 at the SDXL 1344x768 bucket shape scaled to the default area, with parameters', async () => {
    const interaction = h.fake.sendCommand({ name: 'imagine', user: carol, options: [opt('prompt', 'a red fox in the snow --ar 16:9 --seed 42')] });
    const final = await finalMessageOf(h.fake, interaction.id);
    expect(final.content).not.toContain('❌');
    const png = final.attachments[0].data;
    const meta = await sharp(png).metadata();
    expect([meta.width, meta.height]).toEqual([168, 96]);
    expect(readPngText(png).get('parameters')).toMatch(
      /^a red fox in the snow\n[\s\S]*Steps: 3, Sampler: Euler, CFG scale: 5, Seed: 42, Size: 168x96, Model: xl/,
    );
  });
});
