import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { HubClient } from '../../src/hub/hub-client.js';
import { isTranslatorRepo, TRANSLATOR } from '../../src/hub/known-models.js';
import { pullModel } from '../../src/hub/pull-model.js';
import { selectTranslatorFiles } from '../../src/hub/select-model-files.js';
import { isTranslatorFolder } from '../../src/inference/prompt/translation/marian.js';
import { bytes, FakeHub, type FakeFile } from './fake-hub.js';

// The layout of Xenova/opus-mt-zh-en as the hub lists it (sizes shrunk): root tokenizer/config files, onnx/ variants.
function translatorFiles(): FakeFile[] {
  const json = (value: unknown) => Buffer.from(JSON.stringify(value));
  return [
    { path: '.gitattributes', content: Buffer.from('*.onnx filter=lfs\n') },
    { path: 'README.md', content: Buffer.from('# opus-mt-zh-en\n') },
    { path: 'config.json', content: json({ model_type: 'marian', pad_token_id: 65000, decoder_start_token_id: 65000, eos_token_id: 0 }) },
    { path: 'generation_config.json', content: json({ bad_words_ids: [[65000]], max_length: 512 }) },
    { path: 'source.spm', content: bytes(11, 3000), lfs: true },
    { path: 'target.spm', content: bytes(12, 3000), lfs: true },
    { path: 'vocab.json', content: json({ '</s>': 0, '<unk>': 1, '<pad>': 2 }) },
    { path: 'tokenizer.json', content: json({}) },
    { path: 'tokenizer_config.json', content: json({}) },
    { path: 'onnx/encoder_model.onnx', content: bytes(13, 5000), lfs: true },
    { path: 'onnx/encoder_model_quantized.onnx', content: bytes(14, 2000), lfs: true },
    { path: 'onnx/decoder_model.onnx', content: bytes(15, 5000), lfs: true },
    { path: 'onnx/decoder_model_merged.onnx', content: bytes(16, 5000), lfs: true },
    { path: 'onnx/decoder_model_merged_quantized.onnx', content: bytes(17, 2000), lfs: true },
    { path: 'onnx/decoder_with_past_model.onnx', content: bytes(18, 5000), lfs: true },
  ];
}

describe('models:pull and the translator', () => {
  let hub: FakeHub | undefined;
  let modelsDir: string | undefined;
  afterEach(async () => {
    await hub?.close();
    if (modelsDir) await rm(modelsDir, { recursive: true, force: true });
  });

  it('knows the translator repositories and the opus-mt-zh-en alias', () => {
    expect(isTranslatorRepo('opus-mt-zh-en')).toBe(true);
    expect(isTranslatorRepo('xenova/opus-mt-zh-en')).toBe(true);
    expect(isTranslatorRepo('onnx-community/opus-mt-zh-en')).toBe(true);
    expect(isTranslatorRepo('stabilityai/sd-turbo')).toBe(false);
  });

  it('selects the tokenizer files, the fp32 encoder and the merged decoder', () => {
    const listing = translatorFiles().map((f) => ({ path: f.path, size: f.content.length }));
    const { files, skipped } = selectTranslatorFiles('Xenova/opus-mt-zh-en', listing);
    expect(files.map((f) => f.path)).toEqual([
      'config.json',
      'source.spm',
      'target.spm',
      'vocab.json',
      'generation_config.json',
      'tokenizer_config.json',
      'onnx/encoder_model.onnx',
      'onnx/decoder_model_merged.onnx',
    ]);
    expect(skipped).toContain('onnx/decoder_with_past_model.onnx');
    const withoutDecoder = listing.filter((f) => !f.path.startsWith('onnx/decoder'));
    expect(() => selectTranslatorFiles('o/r', withoutDecoder)).toThrow(/missing onnx\/decoder_model_merged\.onnx.*models:pull -- opus-mt-zh-en/);
  });

  it('installs `opus-mt-zh-en` into MODELS_DIR/opus-mt-zh-en without an imagine-bot.json, where the engine finds it', async () => {
    hub = await FakeHub.start([{ id: TRANSLATOR.repo, commit: 'b'.repeat(40), files: translatorFiles() }]);
    modelsDir = await mkdtemp(path.join(tmpdir(), 'imagine-translator-'));
    const result = await pullModel({
      repo: 'opus-mt-zh-en',
      modelsDir,
      client: new HubClient({ endpoint: hub.url }),
      retryDelayMs: 0,
      freeBytes: async () => 10 ** 12,
    });
    const target = path.join(modelsDir, 'opus-mt-zh-en');
    expect(result).toMatchObject({ name: 'opus-mt-zh-en', path: target, repo: TRANSLATOR.repo, files: 8 });
    expect((await readdir(target)).sort()).toEqual([
      'config.json',
      'generation_config.json',
      'onnx',
      'source.spm',
      'target.spm',
      'tokenizer_config.json',
      'vocab.json',
    ]);
    expect((await readdir(path.join(target, 'onnx'))).sort()).toEqual(['decoder_model_merged.onnx', 'encoder_model.onnx']);
    expect((await readFile(path.join(target, 'source.spm'))).equals(bytes(11, 3000))).toBe(true);
    expect(await isTranslatorFolder(target)).toBe(true);
  });
});
