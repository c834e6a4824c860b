/**
 * SDXL end to end (#12): the bot knows from the folder alone that a model is SDXL (its size buckets apply before
 * anything is queued), and the real worker runs the two-encoder pipeline on a tiny SDXL-layout model, with SDXL
 * textual-inversion embeddings (#18) when the prompt names them.
 */
import { createHash } from 'node:crypto';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { encodeSafetensors } from '../../src/inference/weights/safetensors.js';
import { readPngText } from '../../src/protocol/png-text.js';
import { makeTempDir, SDXL_TINY, writeTinySdxlModel } from '../fixtures/tiny-models.js';
import { finalMessageOf, startHarness, type Harness } from './bot-harness.js';
import type { FakeUser } from './fake-discord/fake-discord.js';

const carol: FakeUser = { id: '200000000000000011', username: 'carol' };
const opt = (name: string, value: string) => ({ name, type: 3, value });

describe('the bot on a tiny SDXL model', () => {
  let h: Harness;
  let modelsDir: string;
  let negXL: Uint8Array;
  beforeAll(async () => {
    const root = await makeTempDir('imagine-sdxl-e2e-');
    modelsDir = path.join(root, 'models');
    await mkdir(modelsDir, { recursive: true });
    // 128×128 default (as SDXL-Turbo's 512×512, but small): ratios take SDXL's bucket shapes at that area.
    const defaults = { width: 128, height: 128, steps: 3, sampler: 'euler', cfg: 5 };
    await writeTinySdxlModel(path.join(modelsDir, 'xl'), { manifest: { defaults } });
    // Text encoders with token tables, pooling at the highest id as SDXL's text_encoder_2 export does.
    await writeTinySdxlModel(path.join(modelsDir, 'xl-ti'), { tokenTable: 'argmax', manifest: { defaults } });
    const embeddingsDir = path.join(root, 'embeddings');
    await mkdir(embeddingsDir, { recursive: true });
    const values = (n: number) => Array.from({ length: n }, (_, i) => ((i % 5) - 2) * 0.7);
    negXL = encodeSafetensors({
      clip_l: { shape: [2, SDXL_TINY.width1], data: values(2 * SDXL_TINY.width1) },
      clip_g: { shape: [2, SDXL_TINY.width2], data: values(2 * SDXL_TINY.width2) },
    });
    await writeFile(path.join(embeddingsDir, 'negXL.safetensors'), negXL);
    h = await startHarness({}, { modelsDir, defaultModel: 'xl', env: { EMBEDDINGS_DIR: embeddingsDir } });
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

  it('uses an SDXL embedding named in the negative prompt and lists it in TI hashes', async () => {
    const hash = createHash('sha256').update(negXL).digest('hex').slice(0, 12);
    const draw = async (negative: string) => {
      const interaction = h.fake.sendCommand({
        name: 'imagine',
        user: carol,
        options: [opt('prompt', 'a red fox in the snow --seed 42'), opt('model', 'xl-ti'), opt('negative', negative)],
      });
      const final = await finalMessageOf(h.fake, interaction.id);
      expect(final.content).not.toContain('❌');
      return final.attachments[0].data;
    };
    const withTi = await draw('embedding:negXL');
    expect(readPngText(withTi).get('parameters')).toMatch(
      new RegExp(`^a red fox in the snow\nNegative prompt: embedding:negXL\n[\\s\\S]*Model: xl-ti, TI hashes: "negXL: ${hash}"$`),
    );
    const plain = await draw('blurry');
    const pixels = (png: Uint8Array) => sharp(png).raw().toBuffer();
    expect((await pixels(withTi)).equals(await pixels(plain))).toBe(false);
  });
});
