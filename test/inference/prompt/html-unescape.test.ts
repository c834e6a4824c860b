import { readFileSync } from 'node:fs';

import { describe, expect, it } from 'vitest';

import { htmlUnescape } from '../../../src/inference/prompt/html-unescape.js';

const { cases } = JSON.parse(readFileSync(new URL('../../fixtures/clip-tokenizer/html-unescape-cases.json', import.meta.url), 'utf8')) as {
  cases: Array<{ input: string; expected: string }>;
};

describe('htmlUnescape', () => {
  // Expected values from CPython 3.11.7's html.unescape (generate-reference-cases.py).
  it.each(cases)('decodes $input as Python does', ({ input, expected }) => {
    expect(htmlUnescape(input)).toBe(expected);
  });

  it('returns text without "&" unchanged', () => {
    expect(htmlUnescape('a photo of a cat')).toBe('a photo of a cat');
  });
});
