import { describe, expect, it } from 'vitest';
import { parsePromptAttention } from '../../src/inference/prompt/prompt-parser.js';
import { formatParameters, parseParameters } from '../../src/protocol/png-parameters.js';
import { invalidLoraTags, loraSetKey, parseLoraTags, stripLoraTags } from '../../src/protocol/lora-tags.js';

describe('LoRA tags', () => {
  it('reads <lora:name:weight> with weight 1 by default, several at once, the last of a repeated name winning', () => {
    expect(parseLoraTags('a cat <lora:style:0.8>, <LORA:ink> <lora:style:0.5:0.2> <lora:x:>')).toEqual([
      { name: 'style', weight: 0.5 },
      { name: 'ink', weight: 1 },
      { name: 'x', weight: 1 },
    ]);
    expect(invalidLoraTags('<lora:a:1> <lora:b:heavy>')).toEqual(['<lora:b:heavy>']);
  });

  it('strips tags before encoding, in the attention parser every encoder path uses', () => {
    expect(stripLoraTags('a (cat:1.2) <lora:style:0.8> in space')).toBe('a (cat:1.2)  in space');
    expect(parsePromptAttention('(cat:1.5) <lora:style:0.8>')).toEqual([
      { text: 'cat', weight: 1.5 },
      { text: ' ', weight: 1 },
    ]);
  });

  it('keys a set by sorted names and weights, leaving out weight 0', () => {
    expect(
      loraSetKey([
        { name: 'b', weight: 0.5 },
        { name: 'a', weight: 1 },
        { name: 'c', weight: 0 },
      ]),
    ).toBe('a:1,b:0.5');
    expect(
      loraSetKey([
        { name: 'a', weight: 1 },
        { name: 'b', weight: 0.5 },
      ]),
    ).toBe('a:1,b:0.5');
  });

  it('writes and reads A1111 `Lora hashes`', () => {
    const p = {
      prompt: 'a cat <lora:style:0.8>',
      negativePrompt: '',
      steps: 20,
      sampler: 'euler' as const,
      cfg: 7,
      seed: 1,
      width: 512,
      height: 512,
      model: 'sd15',
      loras: [
        { name: 'style', hash: '0123456789ab' },
        { name: 'odd:name,v2', hash: 'ffffffffffff' },
      ],
    };
    const text = formatParameters(p);
    expect(text).toBe(
      'a cat <lora:style:0.8>\nSteps: 20, Sampler: Euler, CFG scale: 7, Seed: 1, Size: 512x512, Model: sd15, Lora hashes: "style: 0123456789ab, oddnamev2: ffffffffffff"',
    );
    expect(parseParameters(text).loras).toEqual([
      { name: 'style', hash: '0123456789ab' },
      { name: 'oddnamev2', hash: 'ffffffffffff' },
    ]);
  });
});
