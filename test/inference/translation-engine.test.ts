import { readFileSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { createEngine, type OnnxEngineHandle } from '../../src/inference/engine.js';
import { pngToRgb } from '../../src/inference/image/pixels.js';
import type { GenerateRequest } from '../../src/protocol/generate-request.js';
import { parseParameters } from '../../src/protocol/png-parameters.js';
import { readPngText } from '../../src/protocol/png-text.js';
import { makeTempDir, writeTinyModel } from '../fixtures/tiny-models.js';
import { SPM_FIXTURE_DIR, writeTinyMarian } from '../fixtures/tiny-marian.js';
import { smallRequest } from '../fixtures/requests.js';

const vocab = JSON.parse(readFileSync(path.join(SPM_FIXTURE_DIR, 'vocab.json'), 'utf-8')) as Record<string, number>;

let root: string;
let engine: OnnxEngineHandle;
let bare: OnnxEngineHandle;

const base: GenerateRequest = smallRequest({ model: 'en', prompt: '一只猫', steps: 3 });

beforeAll(async () => {
  root = await makeTempDir();
  await writeTinyModel(path.join(root, 'en'));
  await writeTinyModel(path.join(root, 'zh'), { manifest: { languages: ['en', 'zh'] } });
  // The tiny translator answers "a cat" to anything (see tiny-marian.ts), at the default place: MODELS_DIR/opus-mt-zh-en.
  await writeTinyMarian(
    {
      vocab: Object.keys(vocab).length,
      sequence: [vocab['\u2581a'], vocab['\u2581ca'], vocab.t, 0],
      startToken: vocab['<pad>'],
      errorToken: vocab['\u2581mars'],
    },
    'merged',
    path.join(root, 'opus-mt-zh-en'),
  );
  engine = await createEngine({ modelsDir: root });
  bare = await createEngine({ modelsDir: root, translatorDir: path.join(root, 'no-translator-here') });
});

afterAll(async () => {
  await engine?.dispose();
  await bare?.dispose();
  await rm(root, { recursive: true, force: true });
});

const rgb = async (png: Uint8Array) => Buffer.from(await pngToRgb(png)).toString('hex');

describe('prompt translation in the engine', () => {
  it('translates a Chinese prompt on an English model: same image as the English prompt, both kept in PNG info', async () => {
    const result = await engine.generate(base);
    expect(result.translations).toEqual({ prompt: 'a cat' });
    expect(result.warnings).toEqual([]);
    const english = await engine.generate({ ...base, prompt: 'a cat' });
    expect(english.translations).toBeUndefined();
    expect(await rgb(result.images[0].png)).toEqual(await rgb(english.images[0].png));
    const params = parseParameters(readPngText(result.images[0].png).get('parameters')!);
    expect(params).toMatchObject({ prompt: '一只猫', translatedPrompt: 'a cat' });
    expect(result.images[0].parameters).toContain('Translated prompt: "a cat"');
  });

  it('translates the negative prompt too and keeps weights around the translation', async () => {
    const result = await engine.generate({ ...base, prompt: '(猫:1.2), masterpiece', negativePrompt: '模糊' });
    expect(result.translations).toEqual({ prompt: '(a cat:1.2), masterpiece', negativePrompt: 'a cat' });
  });

  it('leaves the prompt as typed with translate: false, or on a model whose imagine-bot.json lists zh', async () => {
    const off = await engine.generate({ ...base, translate: false });
    const zh = await engine.generate({ ...base, model: 'zh' });
    const typed = await engine.generate({ ...base, prompt: 'a cat' });
    for (const result of [off, zh]) {
      expect(result.translations).toBeUndefined();
      expect(parseParameters(result.images[0].parameters).translatedPrompt).toBeUndefined();
    }
    expect(await rgb(off.images[0].png)).not.toEqual(await rgb(typed.images[0].png));
  });

  it('without a translator, still generates and warns how to install it', async () => {
    const result = await bare.generate(base);
    expect(result.images).toHaveLength(1);
    expect(result.translations).toBeUndefined();
    expect(result.warnings.join('\n')).toMatch(/npm run models:pull -- opus-mt-zh-en/);
    expect(bare.notes.join('\n')).toContain('no translator in');
    // English prompts never look for the translator's files or warn.
    expect((await bare.generate({ ...base, prompt: 'a cat' })).warnings).toEqual([]);
  });

  it('picks up a translator installed while it runs (models:pull needs no restart)', async () => {
    const dir = path.join(root, 'later-translator');
    const late = await createEngine({ modelsDir: root, translatorDir: dir });
    try {
      expect((await late.generate(base)).translations).toBeUndefined();
      await writeTinyMarian(
        {
          vocab: Object.keys(vocab).length,
          sequence: [vocab['\u2581a'], vocab['\u2581ca'], vocab.t, 0],
          startToken: vocab['<pad>'],
          errorToken: vocab['\u2581mars'],
        },
        'merged',
        dir,
      );
      expect((await late.generate(base)).translations).toEqual({ prompt: 'a cat' });
    } finally {
      await late.dispose();
    }
  });
});
