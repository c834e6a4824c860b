import { mkdtemp, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { encodeSafetensors } from '../../src/inference/weights/safetensors.js';
import { scanLoras, triggerWords } from '../../src/model-folder/lora-catalog.js';

describe('LoRA catalog (bot side, headers only)', () => {
  it('lists LORAS_DIR with trigger words from modelspec.trigger_phrase or the most frequent ss_tag_frequency tags', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'loras-'));
    const w = { w: { shape: [1], data: [0] } };
    await writeFile(
      path.join(dir, 'style.safetensors'),
      encodeSafetensors(w, { 'modelspec.trigger_phrase': 'inkpunk, bold lines', ss_base_model_version: 'sd_v1' }),
    );
    await writeFile(
      path.join(dir, 'kohya.safetensors'),
      encodeSafetensors(w, { ss_tag_frequency: JSON.stringify({ '10_a': { cat: 3, ' blue': 9 }, '5_b': { cat: 8, red: 1 } }) }),
    );
    await writeFile(path.join(dir, 'broken.safetensors'), 'not safetensors');
    await writeFile(path.join(dir, 'notes.txt'), 'x');
    expect(await scanLoras(dir)).toEqual([
      { name: 'kohya', triggerWords: ['cat', 'blue', 'red'] },
      { name: 'style', triggerWords: ['inkpunk', 'bold lines'], baseModel: 'sd_v1' },
    ]);
    expect(triggerWords({ ss_tag_frequency: '{not json' })).toEqual([]);
  });
});
