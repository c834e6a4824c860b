import { mkdir, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { UserError } from '../../../src/errors.js';
import { createEngine, type OnnxEngineHandle } from '../../../src/inference/engine.js';
import { pngToRgb } from '../../../src/inference/image/pixels.js';
import { addnetHash } from '../../../src/inference/lora/lora-library.js';
import { encodeSafetensors } from '../../../src/inference/weights/safetensors.js';
import { parseParameters } from '../../../src/protocol/png-parameters.js';
import { readPngText } from '../../../src/protocol/png-text.js';
import type { GenerateRequest } from '../../../src/protocol/generate-request.js';
import { makeTempDir, writeTinyModel } from '../../fixtures/tiny-models.js';
import { smallRequest } from '../../fixtures/requests.js';

let root: string;
let engine: OnnxEngineHandle;
let hash: string;

/** The decoded pixels: the PNG's text differs with the prompt. */
const pixels = async (r: { images: { png: Uint8Array }[] }) => pngToRgb(r.images[0].png);

const request = (prompt: string): GenerateRequest => smallRequest({ model: 'tiny', prompt, steps: 3 });

beforeAll(async () => {
  root = await makeTempDir();
  // The heavy UNet's first conv keeps its PyTorch name, `conv_in.weight` [4, 4, 3, 3], in an external weights.pb.
  await writeTinyModel(path.join(root, 'models', 'tiny'), { heavyLayers: 1, heavyWidth: 4, externalWeights: true });
  await mkdir(path.join(root, 'loras'), { recursive: true });
  const lora = encodeSafetensors({
    'lora_unet_conv_in.lora_down.weight': { shape: [1, 4, 3, 3], data: Array.from({ length: 36 }, (_, k) => ((k % 5) - 2) * 0.5) },
    'lora_unet_conv_in.lora_up.weight': { shape: [4, 1, 1, 1], data: [1, -1, 0.5, 2] },
  });
  hash = addnetHash(lora).slice(0, 12);
  await writeFile(path.join(root, 'loras', 'style.safetensors'), lora);
  engine = await createEngine({ modelsDir: path.join(root, 'models'), lorasDir: path.join(root, 'loras') });
});

afterAll(async () => {
  await engine?.dispose();
  await rm(root, { recursive: true, force: true });
});

describe('LoRAs in the engine', () => {
  it('merges <lora:name:weight> into a session of its own, writes Lora hashes, and leaves the base model unchanged for the next job', async () => {
    const plain = await engine.generate(request('a cat'));
    const withLora = await engine.generate(request('a cat <lora:style:0.8>'));
    expect((await pixels(withLora)).equals(await pixels(plain))).toBe(false);
    const params = parseParameters(readPngText(withLora.images[0].png).get('parameters')!);
    expect(params.prompt).toBe('a cat <lora:style:0.8>');
    expect(params.loras).toEqual([{ name: 'style', hash }]);
    expect(readPngText(withLora.images[0].png).get('parameters')).toContain(`Lora hashes: "style: ${hash}"`);
    expect(engine.notes.join('\n')).toMatch(/merged LoRA style:0\.8 into "tiny" in \d+ ms \(UNet 1 weights/);
    // The tag is not text: the LoRA at weight 0 draws exactly the plain picture.
    const zero = await engine.generate(request('a cat <lora:style:0>'));
    expect((await pixels(zero)).equals(await pixels(plain))).toBe(true);
    // Asking for none again: the base sessions were never patched.
    const again = await engine.generate(request('a cat'));
    expect(Buffer.from(again.images[0].png).equals(Buffer.from(plain.images[0].png))).toBe(true);
    // The same set again is not merged again.
    const merges = engine.notes.filter((n) => n.startsWith('merged LoRA')).length;
    const repeat = await engine.generate(request('a cat <lora:style:0.8>'));
    expect(Buffer.from(repeat.images[0].png).equals(Buffer.from(withLora.images[0].png))).toBe(true);
    expect(engine.notes.filter((n) => n.startsWith('merged LoRA')).length).toBe(merges);
    // Weight 0.5 is a different set and a different picture.
    const half = await engine.generate(request('a cat <lora:style:0.5>'));
    expect((await pixels(half)).equals(await pixels(withLora))).toBe(false);
  });

  it('refuses an unknown LoRA, listing the installed ones, and a weight that is not a number', async () => {
    const err = await engine.generate(request('a cat <lora:nope:1>')).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UserError);
    expect((err as Error).message).toBe('Unknown LoRA "nope". Available: style.');
    await expect(engine.generate(request('a cat <lora:style:abc>'))).rejects.toThrow(
      /LoRA weight must be a number, as in <lora:name:0\.8>; got <lora:style:abc>/,
    );
  });
});
