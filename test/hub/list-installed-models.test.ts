import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { formatDefaults, formatModelTable, listInstalledModels } from '../../src/hub/list-installed-models.js';
import { INCOMPLETE_MARKER } from '../../src/hub/pull-model.js';
import { REQUIRED_FILES } from '../../src/hub/select-model-files.js';

let modelsDir: string;

/** A model folder whose required files each hold `fileSize` bytes. */
async function makeModel(name: string, extra: Record<string, string> = {}, fileSize = 100): Promise<string> {
  const dir = path.join(modelsDir, name);
  for (const file of REQUIRED_FILES) {
    await mkdir(path.dirname(path.join(dir, file)), { recursive: true });
    await writeFile(path.join(dir, file), 'x'.repeat(fileSize));
  }
  for (const [file, text] of Object.entries(extra)) {
    await mkdir(path.dirname(path.join(dir, file)), { recursive: true });
    await writeFile(path.join(dir, file), text);
  }
  return dir;
}

beforeEach(async () => {
  modelsDir = await mkdtemp(path.join(tmpdir(), 'imagine-list-'));
});

afterEach(async () => {
  await rm(modelsDir, { recursive: true, force: true });
});

describe('listInstalledModels', () => {
  it('reports size, family, defaults and source from imagine-bot.json', async () => {
    const manifest = JSON.stringify({
      family: 'sd2',
      defaults: { sampler: 'euler', steps: 1, cfg: 0, width: 512, height: 512 },
      source: { repo: 'schmuell/sd-turbo-ort-web', revision: 'abc' },
    });
    const dir = await makeModel('turbo', { 'imagine-bot.json': manifest });
    expect(await listInstalledModels(modelsDir)).toEqual([
      {
        name: 'turbo',
        path: dir,
        sizeBytes: REQUIRED_FILES.length * 100 + manifest.length,
        valid: true,
        family: 'sd2',
        familyGuessed: false,
        defaults: { sampler: 'euler', steps: 1, cfg: 0, width: 512, height: 512 },
        source: { repo: 'schmuell/sd-turbo-ort-web', revision: 'abc' },
      },
    ]);
  });

  it('guesses the family from the tokenizer pad token when imagine-bot.json has none', async () => {
    await makeModel('sd2ish', { 'tokenizer/special_tokens_map.json': JSON.stringify({ pad_token: { content: '!' } }) });
    await makeModel('sd1ish', { 'tokenizer/tokenizer_config.json': JSON.stringify({ pad_token: '<|endoftext|>' }) });
    await makeModel('unknown');
    // SDXL's first tokenizer pads like SD 1.x: its second encoder and tokenizer tell it apart.
    await makeModel('xlish', {
      'tokenizer/special_tokens_map.json': JSON.stringify({ pad_token: '<|endoftext|>' }),
      'tokenizer_2/special_tokens_map.json': JSON.stringify({ pad_token: '!' }),
      'text_encoder_2/model.onnx': 'x'.repeat(300),
    });
    const models = await listInstalledModels(modelsDir);
    expect(models.map((m) => (m.valid ? [m.name, m.family, m.familyGuessed] : [m.name]))).toEqual([
      ['sd1ish', 'sd1', true],
      ['sd2ish', 'sd2', true],
      ['unknown', undefined, false],
      ['xlish', 'sdxl', true],
    ]);
    // models:list's size counts the second encoder too.
    expect(models.find((m) => m.name === 'xlish')!.sizeBytes - models.find((m) => m.name === 'unknown')!.sizeBytes).toBeGreaterThanOrEqual(300);
  });

  it('shows broken folders with the reason instead of failing', async () => {
    await makeModel('bad-json', { 'imagine-bot.json': '{ steps: 4 }' });
    await makeModel('bad-field', { 'imagine-bot.json': JSON.stringify({ defaults: { steps: 0 } }) });
    await mkdir(path.join(modelsDir, 'half', 'unet'), { recursive: true });
    await writeFile(path.join(modelsDir, 'half', 'model_index.json'), '{}');
    await makeModel('interrupted', { [INCOMPLETE_MARKER]: '{}' });
    const byName = Object.fromEntries((await listInstalledModels(modelsDir)).map((m) => [m.name, m]));
    expect(byName['bad-json']).toMatchObject({ valid: false, reason: expect.stringContaining('is not valid JSON') });
    expect(byName['bad-field']).toMatchObject({ valid: false, reason: expect.stringContaining('defaults.steps') });
    expect(byName.half).toMatchObject({
      valid: false,
      reason:
        'missing scheduler/scheduler_config.json, tokenizer/vocab.json, tokenizer/merges.txt, text_encoder/model.onnx, ' +
        'unet/model.onnx, vae_decoder/model.onnx',
    });
    expect(byName.interrupted).toMatchObject({
      valid: false,
      reason: 'incomplete download: run models:pull again to finish it',
    });
  });

  it('ignores hidden folders such as the download area, and plain files', async () => {
    await makeModel('.partial/tiny');
    await writeFile(path.join(modelsDir, 'notes.txt'), 'hi');
    expect(await listInstalledModels(modelsDir)).toEqual([]);
  });

  it('treats a missing models folder as empty', async () => {
    expect(await listInstalledModels(path.join(modelsDir, 'nope'))).toEqual([]);
  });
});

describe('formatDefaults', () => {
  it('lists what is set and a dash when nothing is', () => {
    expect(formatDefaults({ sampler: 'lcm', steps: 4, cfg: 1, width: 512, height: 768 })).toBe('lcm, 4 steps, cfg 1, 512x768');
    expect(formatDefaults({ steps: 1, negativePrompt: 'blurry' })).toBe('1 step, negative prompt');
    expect(formatDefaults({})).toBe('-');
  });
});

describe('formatModelTable', () => {
  it('aligns columns and puts the reason in place of the defaults for broken models', () => {
    const table = formatModelTable([
      {
        name: 'sd-turbo',
        path: '/m/sd-turbo',
        sizeBytes: 2_580_000_000,
        valid: true,
        family: 'sd2',
        familyGuessed: false,
        defaults: { sampler: 'euler', steps: 1, cfg: 0 },
        source: { repo: 'tlwu/sd-turbo-onnxruntime', revision: '0123456789abcdef' },
      },
      { name: 'x', path: '/m/x', sizeBytes: 5, valid: false, reason: 'missing unet/model.onnx' },
    ]);
    expect(table.split('\n')).toEqual([
      'NAME      SIZE     FAMILY   DEFAULTS                 SOURCE',
      'sd-turbo  2.58 GB  sd2      euler, 1 step, cfg 0     tlwu/sd-turbo-onnxruntime@0123456789ab',
      'x         5 B      INVALID  missing unet/model.onnx',
    ]);
  });
});
