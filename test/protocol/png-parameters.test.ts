import { describe, expect, it } from 'vitest';
import { UserError } from '../../src/errors.js';
import { formatParameters, parseParameters, type ImageParameters } from '../../src/protocol/png-parameters.js';

const sample: ImageParameters = {
  prompt: 'a cat in a space suit, walking on Mars',
  negativePrompt: 'blurry',
  steps: 20,
  sampler: 'dpmpp_2m_karras',
  cfg: 7,
  seed: 42,
  width: 512,
  height: 768,
  model: 'sd15',
};

describe('A1111 parameters text', () => {
  it('formats the A1111 layout', () => {
    expect(formatParameters(sample)).toBe(
      'a cat in a space suit, walking on Mars\nNegative prompt: blurry\nSteps: 20, Sampler: DPM++ 2M Karras, CFG scale: 7, Seed: 42, Size: 512x768, Model: sd15',
    );
  });

  it('leaves out an empty negative prompt, as A1111 does', () => {
    expect(formatParameters({ ...sample, negativePrompt: '' }).split('\n')).toHaveLength(2);
  });

  it('round-trips every field, including multi-line prompts and quoted values', () => {
    const full: ImageParameters = {
      ...sample,
      prompt: 'line one\nline two',
      negativePrompt: 'ugly, "bad" hands',
      model: 'my, odd: model',
      cfg: 6.5,
      denoisingStrength: 0.35,
      variationSeed: 7,
      variationStrength: 0.25,
      upscale: 2,
    };
    expect(parseParameters(formatParameters(full))).toEqual(full);
  });

  it('replaces control characters in the prompts with spaces, keeping line feeds', () => {
    const text = formatParameters({ ...sample, prompt: 'a\u0000cat\r\non\u0007Mars', negativePrompt: 'blur\u001bry\tugly' });
    expect(text).not.toMatch(/[\u0000-\u0009\u000b-\u001f\u007f-\u009f]/);
    expect(parseParameters(text)).toMatchObject({ prompt: 'a cat\non Mars', negativePrompt: 'blur ry ugly' });
  });

  it('writes Clip skip only above 1 and TI hashes in A1111\'s quoted "name: hash, …" form, and reads both back', () => {
    expect(formatParameters({ ...sample, clipSkip: 1 })).not.toContain('Clip skip');
    const withBoth: ImageParameters = {
      ...sample,
      prompt: '(masterpiece:1.2), a cat BREAK [blurry]',
      clipSkip: 2,
      embeddings: [
        { name: 'EasyNegative', hash: 'c74b4e810b' },
        { name: 'bad-hands-5', hash: 'aa7651be15' },
      ],
    };
    const text = formatParameters(withBoth);
    expect(text.split('\n')[0]).toBe('(masterpiece:1.2), a cat BREAK [blurry]');
    expect(text.split('\n')[2]).toBe(
      'Steps: 20, Sampler: DPM++ 2M Karras, CFG scale: 7, Seed: 42, Size: 512x768, Model: sd15, Clip skip: 2, TI hashes: "EasyNegative: c74b4e810b, bad-hands-5: aa7651be15"',
    );
    expect(parseParameters(text)).toEqual(withBoth);
  });

  it('takes ":" and "," out of embedding names in TI hashes, as A1111 does', () => {
    expect(formatParameters({ ...sample, embeddings: [{ name: 'odd:name,v2', hash: '0123456789' }] })).toMatch(/TI hashes: "oddnamev2: 0123456789"$/);
  });

  it("reads A1111's own output, including the separate Schedule type field", () => {
    const text =
      'masterpiece, 1girl\nNegative prompt: lowres\nSteps: 28, Sampler: DPM++ 2M, Schedule type: Karras, CFG scale: 5.5, Seed: 123, Size: 832x1216, Model hash: abc123, Model: anything, Version: v1.10.1';
    expect(parseParameters(text)).toMatchObject({
      prompt: 'masterpiece, 1girl',
      negativePrompt: 'lowres',
      steps: 28,
      sampler: 'dpmpp_2m_karras',
      cfg: 5.5,
      seed: 123,
      width: 832,
      height: 1216,
      model: 'anything',
    });
  });

  it.each([
    ['a cat', /last line must hold "Steps/],
    ['a cat\nSteps: 20, Sampler: Euler, CFG scale: 7, Seed: 1, Size: big', /"Size" must look like 512x512/],
    ['a cat\nSteps: 20, Sampler: Heun, CFG scale: 7, Seed: 1, Size: 8x8', /Heun/],
    ['a cat\nSteps: 20, Sampler: Euler, CFG scale: x, Seed: 1, Size: 8x8', /"CFG scale" is "x"/],
  ])('rejects %j with a clear message', (text, message) => {
    let error: unknown;
    try {
      parseParameters(text);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(UserError);
    expect((error as Error).message).toMatch(message);
  });
});
