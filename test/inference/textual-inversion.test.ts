/**
 * Textual inversion through the whole engine: an embedding file in EMBEDDINGS_DIR, named in a prompt, grows the
 * model's text encoder in memory and changes the picture; the PNG lists it in A1111's "TI hashes".
 */
import { mkdir, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createEngine, type OnnxEngineHandle } from '../../src/inference/engine.js';
import { inspectModelFolder } from '../../src/model-folder/model-folder.js';
import { encodeSafetensors } from '../../src/inference/weights/safetensors.js';
import type { GenerateRequest } from '../../src/protocol/generate-request.js';
import { readPngText } from '../../src/protocol/png-text.js';
import { makeTempDir, writeTinyModel } from '../fixtures/tiny-models.js';
import { tinyEncoder } from './model/tiny-encoder.js';
import { smallRequest } from '../fixtures/requests.js';

let root: string;
let engine: OnnxEngineHandle;

const req = (negativePrompt: string): GenerateRequest => smallRequest({ model: 'table', prompt: 'a cat', negativePrompt, steps: 3, seed: 5 });

beforeAll(async () => {
  root = await makeTempDir('imagine-ti-');
  const model = path.join(root, 'models', 'table');
  await writeTinyModel(model);
  // A text encoder that is its token table (CLIP's 49,408 rows, 16 wide): embedding rows show up as they are.
  await writeFile(path.join(model, 'text_encoder', 'model.onnx'), tinyEncoder({ vocab: 49408, width: 16 }));
  const embeddings = path.join(root, 'embeddings');
  await mkdir(embeddings, { recursive: true });
  const rows = Float32Array.from({ length: 2 * 16 }, (_, i) => ((i % 7) - 3) * 0.8);
  await writeFile(path.join(embeddings, 'EasyNegative.safetensors'), encodeSafetensors({ emb_params: { shape: [2, 16], data: rows } }));
  engine = await createEngine({ modelsDir: path.join(root, 'models'), embeddingsDir: embeddings });
});

afterAll(async () => {
  await engine?.dispose();
  await rm(root, { recursive: true, force: true });
});

describe('textual inversion in the engine', () => {
  it('uses an embedding named in the negative prompt, changes the image, and writes TI hashes', async () => {
    const plain = await engine.generate(req('blurry'));
    const withTi = await engine.generate(req('embedding:EasyNegative'));
    expect(Buffer.from(withTi.images[0].png).equals(Buffer.from(plain.images[0].png))).toBe(false);
    expect(readPngText(withTi.images[0].png).get('parameters')).toMatch(/, TI hashes: "EasyNegative: [0-9a-f]{12}"$/);
    expect(readPngText(plain.images[0].png).get('parameters')).not.toMatch(/TI hashes/);
    // The bare name works as well as `embedding:name` (A1111 accepts both) and gives the same pixels.
    const again = await engine.generate(req('EasyNegative'));
    const pixels = (png: Uint8Array) => sharp(png).raw().toBuffer();
    expect((await pixels(again.images[0].png)).equals(await pixels(withTi.images[0].png))).toBe(true);
  });

  it('counts grown text encoders against the memory budget: a new set makes room by unloading another model', async () => {
    const models = path.join(root, 'models');
    await writeTinyModel(path.join(models, 'other'));
    const table = (await inspectModelFolder(path.join(models, 'table'))).sizeBytes;
    const other = (await inspectModelFolder(path.join(models, 'other'))).sizeBytes;
    // Both models fit, but not both plus a grown copy of table's 3 MB text encoder.
    const budgetMiB = (table + other + 0.5 * 2 ** 20) / 2 ** 20;
    const small = await createEngine({ modelsDir: models, embeddingsDir: path.join(root, 'embeddings'), memoryBudgetMiB: budgetMiB });
    try {
      await small.generate(smallRequest({ model: 'other', prompt: 'a cat', steps: 2, seed: 1 }));
      await small.generate(req('blurry'));
      expect(small.loadedModels().sort()).toEqual(['other', 'table']);
      const withTi = await small.generate(req('embedding:EasyNegative'));
      expect(readPngText(Buffer.from(withTi.images[0].png)).get('parameters')).toMatch(/TI hashes: "EasyNegative: /);
      expect(small.loadedModels()).toEqual(['table']);
      expect(small.notes.some((n) => /unloaded .*other to stay within the .* MiB model budget/.test(n))).toBe(true);
    } finally {
      await small.dispose();
      await rm(path.join(models, 'other'), { recursive: true, force: true });
    }
  });
});
