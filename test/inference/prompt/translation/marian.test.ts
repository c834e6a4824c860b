import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';

import { isTranslatorFolder, MarianTranslator } from '../../../../src/inference/prompt/translation/marian.js';
import { SPM_FIXTURE_DIR, writeTinyMarian } from '../../../fixtures/tiny-marian.js';

const vocab = JSON.parse(readFileSync(path.join(SPM_FIXTURE_DIR, 'vocab.json'), 'utf-8')) as Record<string, number>;
const V = Object.keys(vocab).length;
const PAD = vocab['<pad>'];
const EOS = 0;
const ERROR = vocab['\u2581mars'];
const ids = (...pieces: string[]) => pieces.map((p) => vocab[p]);

describe('MarianGenerator (tiny optimum-shaped models)', () => {
  for (const layout of ['merged', 'pair'] as const) {
    it(`emits the designed sequence and stops at </s> (${layout} decoder)`, async () => {
      const sequence = [...ids('\u2581a', '\u2581ca', 't'), EOS, ...ids('\u2581dog')];
      const dir = await writeTinyMarian({ vocab: V, sequence, startToken: PAD, errorToken: ERROR }, layout);
      const translator = await MarianTranslator.load(dir);
      try {
        // Any wrong cache (missing, swapped layers, key/value, a recomputed cross-attention) turns a step into ERROR.
        expect(await translator.generator.generate([5, 20, 0])).toEqual(ids('\u2581a', '\u2581ca', 't'));
        expect(await translator.translate('一只猫')).toBe('a cat');
      } finally {
        await translator.release();
      }
    });
  }

  it('takes the cache shape from config.json when the graph declares heads and head_dim symbolic', async () => {
    const sequence = [...ids('\u2581a', '\u2581ca', 't'), EOS];
    const dir = await writeTinyMarian({ vocab: V, sequence, startToken: PAD, errorToken: ERROR, symbolicHeads: true });
    const translator = await MarianTranslator.load(dir);
    try {
      expect(translator.generator.config).toMatchObject({ heads: 2, headDim: 4 });
      expect(await translator.translate('一只猫')).toBe('a cat');
    } finally {
      await translator.release();
    }
  });

  it('stops at maxNewTokens when the model never emits </s>', async () => {
    const dir = await writeTinyMarian({ vocab: V, sequence: ids('\u2581a'), startToken: PAD, errorToken: ERROR });
    const translator = await MarianTranslator.load(dir);
    try {
      translator.generator.config.maxNewTokens = 3;
      expect(await translator.generator.generate([5, 0])).toEqual(ids('\u2581a', '\u2581a', '\u2581a'));
    } finally {
      await translator.release();
    }
  });

  it('never picks a banned token (<pad>, as opus-mt bad_words_ids)', async () => {
    const dir = await writeTinyMarian({ vocab: V, sequence: [PAD, EOS], startToken: PAD, errorToken: ERROR });
    const translator = await MarianTranslator.load(dir);
    try {
      expect(translator.generator.config).toMatchObject({ decoderStartTokenId: PAD, eosTokenId: EOS, bannedTokenIds: [PAD], maxNewTokens: 256 });
      // <pad> scores highest at step 0 and is skipped; all other logits tie at 0, so the lowest id (</s>) wins.
      expect(await translator.generator.generate([5, 0])).toEqual([]);
    } finally {
      await translator.release();
    }
  });

  it('detects a translator folder and names the fix when the decoder is missing', async () => {
    const dir = await writeTinyMarian({ vocab: V, sequence: [EOS], startToken: PAD, errorToken: ERROR });
    expect(await isTranslatorFolder(dir)).toBe(true);
    expect(await isTranslatorFolder(SPM_FIXTURE_DIR)).toBe(false);
    const { rm } = await import('node:fs/promises');
    await rm(path.join(dir, 'onnx', 'decoder_model_merged.onnx'));
    await expect(MarianTranslator.load(dir)).rejects.toThrow(/decoder_model_merged\.onnx.*models:pull -- opus-mt-zh-en/);
  });
});
