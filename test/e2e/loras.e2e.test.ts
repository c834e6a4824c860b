/**
 * LoRAs through the bot: an allowed <lora:…> tag works and its PNG carries the tag and A1111's Lora hashes; a server
 * that allows none refuses it before anything is queued.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { addnetHash } from '../../src/inference/lora/lora-library.js';
import { encodeSafetensors } from '../../src/inference/weights/safetensors.js';
import { readPngText } from '../../src/protocol/png-text.js';
import { makeTempDir, writeTinyModel } from '../fixtures/tiny-models.js';
import { ephemeralOf, finalMessageOf, startHarness, type Harness } from './bot-harness.js';
import type { FakeUser } from './fake-discord/fake-discord.js';

const alice: FakeUser = { id: '200000000000000011', username: 'alice' };
const admin: FakeUser = { id: '200000000000000013', username: 'admin' };
const opt = (name: string, value: string) => ({ name, type: 3, value });

describe('LoRAs in Discord', () => {
  let h: Harness;
  let hash: string;
  beforeAll(async () => {
    const root = await makeTempDir('imagine-lora-e2e-');
    const modelsDir = path.join(root, 'models');
    // The heavy UNet's first conv keeps its PyTorch name (conv_in.weight) in external data, as real exports do.
    await writeTinyModel(path.join(modelsDir, 'tiny'), {
      heavyLayers: 1,
      heavyWidth: 4,
      externalWeights: true,
      manifest: { defaults: { width: 64, height: 64, steps: 3, sampler: 'euler' } },
    });
    const lorasDir = path.join(root, 'loras');
    await mkdir(lorasDir, { recursive: true });
    const lora = encodeSafetensors({
      'lora_unet_conv_in.lora_down.weight': { shape: [1, 4, 3, 3], data: Array.from({ length: 36 }, (_, k) => ((k % 5) - 2) * 0.5) },
      'lora_unet_conv_in.lora_up.weight': { shape: [4, 1, 1, 1], data: [1, -1, 0.5, 2] },
    });
    hash = addnetHash(lora).slice(0, 12);
    await writeFile(path.join(lorasDir, 'style.safetensors'), lora);
    h = await startHarness({}, { modelsDir, env: { LORAS_DIR: lorasDir } });
  });
  afterAll(async () => {
    await h?.close();
  });

  it('runs an allowed LoRA and writes the tag and its hash into the PNG', async () => {
    const interaction = h.fake.sendCommand({ name: 'imagine', user: alice, options: [opt('prompt', 'a cat <lora:style:0.8> --seed 4')] });
    const final = await finalMessageOf(h.fake, interaction.id);
    const parameters = readPngText(final.attachments[0].data).get('parameters')!;
    expect(parameters.split('\n')[0]).toBe('a cat <lora:style:0.8>');
    expect(parameters).toContain(`Lora hashes: "style: ${hash}"`);
  });

  it('refuses a LoRA the server does not allow, and an unknown one, before queueing', async () => {
    const unknown = h.fake.sendCommand({ name: 'imagine', user: alice, options: [opt('prompt', 'a cat <lora:nosuch:1>')] });
    expect(await ephemeralOf(h.fake, unknown.id)).toMatch(/nosuch.*style/s);
    const config = h.fake.sendCommand({
      name: 'config',
      user: admin,
      admin: true,
      options: [{ name: 'loras', type: 1, options: [opt('action', 'none')] }],
    });
    expect(await ephemeralOf(h.fake, config.id)).toMatch(/LoRA settings saved/);
    const refused = h.fake.sendCommand({ name: 'imagine', user: alice, options: [opt('prompt', 'a cat <lora:style:0.8>')] });
    expect(await ephemeralOf(h.fake, refused.id)).toBe('This server does not allow LoRAs; remove `<lora:style…>` from the prompt.');
    expect(h.fake.callbackOf(refused.id)?.type).toBe(4);
  });
});
