import { describe, expect, it } from 'vitest';

import { UserError } from '../../../src/errors.js';
import { isBreak, parsePromptAttention } from '../../../src/inference/prompt/prompt-parser.js';

type Row = [string, [string, number][]];

// The first six rows are the doctests of A1111's parse_prompt_attention (modules/prompt_parser.py); the rest were
// produced by running that Python function (copied verbatim, CPython 3) on each input, so every weight is the exact
// double Python computes, e.g. 1.5730000000000004 for (((house:1.3))).
const A1111_CASES: Row[] = [
  ['normal text', [['normal text', 1.0]]],
  [
    'an (important) word',
    [
      ['an ', 1.0],
      ['important', 1.1],
      [' word', 1.0],
    ],
  ],
  ['(unbalanced', [['unbalanced', 1.1]]],
  ['\\(literal\\]', [['(literal]', 1.0]]],
  ['(unnecessary)(parens)', [['unnecessaryparens', 1.1]]],
  [
    'a (((house:1.3)) [on] a (hill:0.5), sun, (((sky))).',
    [
      ['a ', 1.0],
      ['house', 1.5730000000000004],
      [' ', 1.1],
      ['on', 1.0],
      [' a ', 1.1],
      ['hill', 0.55],
      [', sun, ', 1.1],
      ['sky', 1.4641000000000006],
      ['.', 1.1],
    ],
  ],
  ['', [['', 1.0]]],
  ['[[faint]]', [['faint', 0.8264462809917354]]],
  ['[unbalanced square', [['unbalanced square', 0.9090909090909091]]],
  ['stray) close] brackets', [['stray) close] brackets', 1.0]]],
  ['a \\\\ backslash', [['a \\ backslash', 1.0]]],
  ['lone \\ backslash', [['lone  backslash', 1.0]]],
  [
    '(masterpiece:1.2), best quality BREAK a cat, [blurry:0.5]',
    [
      ['masterpiece', 1.2],
      [', best quality', 1.0],
      ['BREAK', -1.0],
      ['a cat, ', 1.0],
      ['blurry:0.5', 0.9090909090909091],
    ],
  ],
  [
    'a BREAK b',
    [
      ['a', 1.0],
      ['BREAK', -1.0],
      ['b', 1.0],
    ],
  ],
  ['aBREAK b', [['aBREAK b', 1.0]]],
  [
    'BREAKfast BREAK',
    [
      ['BREAKfast', 1.0],
      ['BREAK', -1.0],
      ['', 1.0],
    ],
  ],
  [
    'a BREAK BREAK b',
    [
      ['a', 1.0],
      ['BREAK', -1.0],
      ['', 1.0],
      ['BREAK', -1.0],
      ['b', 1.0],
    ],
  ],
  [
    '(a BREAK b)',
    [
      ['a', 1.1],
      ['BREAK', -1.1],
      ['b', 1.1],
    ],
  ],
  ['break is lower case', [['break is lower case', 1.0]]],
  [
    '(x:+1.5) (y:-0.5) (z:.5) (w:2.)',
    [
      ['x', 1.5],
      [' ', 1.0],
      ['y', -0.5],
      [' ', 1.0],
      ['z', 0.5],
      [' ', 1.0],
      ['w', 2.0],
    ],
  ],
  ['(a: 1.2)', [['a: 1.2', 1.1]]],
  [
    '((mixed:1.3) [nest])',
    [
      ['mixed', 1.4300000000000002],
      [' ', 1.1],
      ['nest', 1.0],
    ],
  ],
  [
    '[a (b) c]',
    [
      ['a ', 0.9090909090909091],
      ['b', 1.0],
      [' c', 0.9090909090909091],
    ],
  ],
  ['(a:1.3)(b:1.3)', [['ab', 1.3]]],
  [
    'embedding:EasyNegative, (bad-hands-5:0.8)',
    [
      ['embedding:EasyNegative, ', 1.0],
      ['bad-hands-5', 0.8],
    ],
  ],
  ['text:with:colons', [['text:with:colons', 1.0]]],
];

describe('parsePromptAttention', () => {
  it.each(A1111_CASES)('parses %j as A1111 does', (text, expected) => {
    expect(parsePromptAttention(text).map((run) => [run.text, run.weight])).toEqual(expected);
  });

  it('keeps BREAK as its own run that the chunker recognises, only at weight -1', () => {
    const runs = parsePromptAttention('a BREAK b');
    expect(runs.map(isBreak)).toEqual([false, true, false]);
    // Inside brackets A1111 multiplies the BREAK run too, and then tokenizes it as the word "break".
    expect(parsePromptAttention('(a BREAK b)').some(isBreak)).toBe(false);
  });

  it("treats a non-ASCII letter before BREAK as part of a word, like Python's Unicode \\b", () => {
    expect(parsePromptAttention('éBREAK x')).toEqual([{ text: 'éBREAK x', weight: 1 }]);
  });

  it('refuses a weight that is not a number and says how to write one', () => {
    expect(() => parsePromptAttention('(a:1.2.3)')).toThrow(UserError);
    expect(() => parsePromptAttention('(a:1.2.3)')).toThrow(/"1\.2\.3" in "\(…:1\.2\.3\)" is not a number; write the weight like \(word:1\.2\)/);
  });
});
