import { describe, expect, it } from 'vitest';

import { parsePromptAttention } from '../../../../src/inference/prompt/prompt-parser.js';
import {
  containsHan,
  normalizeFullWidthPunctuation,
  PromptTranslator,
  splitForTranslation,
} from '../../../../src/inference/prompt/translation/translate-prompt.js';

/** A deterministic stand-in for Marian: a fixed table, and a record of what it was asked. */
function fakeTranslator(table: Record<string, string>) {
  const calls: string[] = [];
  return {
    calls,
    translate: async (text: string) => {
      calls.push(text);
      return table[text] ?? `<?${text}?>`;
    },
  };
}

const TABLE: Record<string, string> = {
  一只穿着宇航服的猫在火星上散步: 'A cat in a spacesuit walking on Mars.',
  猫: 'Cat.',
  红色裙子: 'Red dress',
  火星: 'Mars',
  '3只猫': 'Three cats.',
  red裙子: 'red skirt',
  '宇航员 astronaut 在月球上': 'Astronaut on the moon.',
  '猫在火星上.': 'The cat is on Mars.',
  空: '',
};

describe('containsHan / normalizeFullWidthPunctuation', () => {
  it('finds Han characters, not kana or Latin', () => {
    expect(containsHan('a cat')).toBe(false);
    expect(containsHan('ねこ')).toBe(false);
    expect(containsHan('a 猫')).toBe(true);
  });
  it('maps the full-width punctuation input methods type to ASCII', () => {
    expect(normalizeFullWidthPunctuation('（猫：1.2），火星。、“a”？！；【b】　c')).toBe('(猫:1.2),火星.,"a"?!;[b] c');
  });
});

describe('splitForTranslation', () => {
  it('marks only Han spans, widened to whole words', () => {
    expect(splitForTranslation('a cute 猫 sitting, 3只猫')).toEqual([
      { text: 'a cute ', translate: false },
      { text: '猫', translate: true },
      { text: ' sitting', translate: false },
      { text: ',', translate: false },
      { text: ' ', translate: false },
      { text: '3只猫', translate: true },
    ]);
  });
});

describe('PromptTranslator', () => {
  it('translates the example prompt and strips the sentence full stop', async () => {
    const t = new PromptTranslator(fakeTranslator(TABLE));
    expect(await t.translatePrompt('一只穿着宇航服的猫在火星上散步')).toEqual({ text: 'A cat in a spacesuit walking on Mars', translated: true });
  });

  it('leaves a prompt without Han characters untouched, full-width punctuation included, and never calls the translator', async () => {
    const fake = fakeTranslator(TABLE);
    const t = new PromptTranslator(fake);
    expect(await t.translatePrompt('masterpiece，(a cat:1.2) BREAK <lora:x:0.8>')).toEqual({
      text: 'masterpiece，(a cat:1.2) BREAK <lora:x:0.8>',
      translated: false,
    });
    expect(fake.calls).toEqual([]);
  });

  it('keeps weights, brackets, BREAK, <lora:…> tags, escapes and English tags', async () => {
    const fake = fakeTranslator(TABLE);
    const t = new PromptTranslator(fake);
    const prompt = 'masterpiece, （猫：1.3）, [红色裙子], BREAK ((火星)), <lora:猫_style:0.8>, \\(火星\\), best quality';
    const { text } = await t.translatePrompt(prompt);
    expect(text).toBe('masterpiece, (Cat:1.3), [Red dress], BREAK ((Mars)), <lora:猫_style:0.8>, \\(Mars\\), best quality');
    expect(fake.calls.sort()).toEqual(['火星', '猫', '红色裙子']);
    // The same attention structure as the typed prompt, after its full-width brackets are made ASCII.
    const weights = (p: string) => parsePromptAttention(p).map((r) => r.weight);
    expect(weights(text)).toEqual(weights(normalizeFullWidthPunctuation(prompt)));
  });

  it('keeps Latin words outside the Han span and takes glued words with it', async () => {
    const t = new PromptTranslator(fakeTranslator(TABLE));
    expect((await t.translatePrompt('a cute 猫 sitting, 3只猫, red裙子')).text).toBe('a cute Cat sitting, Three cats, red skirt');
    expect((await t.translatePrompt('宇航员 astronaut 在月球上')).text).toBe('Astronaut on the moon');
  });

  it('keeps a full stop the source had, and the typed text when Marian returns nothing', async () => {
    const t = new PromptTranslator(fakeTranslator(TABLE));
    expect((await t.translatePrompt('猫在火星上。')).text).toBe('The cat is on Mars.');
    expect(await t.translatePrompt('空')).toEqual({ text: '空', translated: false });
  });

  it('caches spans (LRU) so repeated tags cost one translation', async () => {
    const fake = fakeTranslator(TABLE);
    const t = new PromptTranslator(fake, 2);
    await t.translatePrompt('猫, 火星, 猫');
    await t.translatePrompt('火星 BREAK 猫');
    expect(fake.calls).toEqual(['猫', '火星']);
    await t.translatePrompt('红色裙子'); // evicts the least recently used: 火星 (猫 was read after it)
    expect(t.cacheSize).toBe(2);
    await t.translatePrompt('猫');
    expect(fake.calls).toEqual(['猫', '火星', '红色裙子']);
    await t.translatePrompt('火星');
    expect(fake.calls).toEqual(['猫', '火星', '红色裙子', '火星']);
  });
});
