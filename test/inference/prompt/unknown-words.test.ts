import { describe, expect, it } from 'vitest';

import { unknownWords } from '../../../src/inference/prompt/unknown-words.js';

const known = (...words: string[]): ReadonlySet<string> => new Set(words);

describe('unknownWords on text without Han characters', () => {
  const english = known('a', 'red', 'cat', 'dog', 'in', 'space', 'suit');

  it('names the words outside the list, once each, in order of appearance', () => {
    expect(unknownWords('a red cat riding a unicorn', english)).toEqual(['riding', 'unicorn']);
    expect(unknownWords('unicorn riding a unicorn, riding RIDING', english)).toEqual(['unicorn', 'riding']);
  });

  it('reads words as the CLIP tokenizer does: lower-cased, split at anything but letters', () => {
    expect(unknownWords('A Red CAT, in a SPACE-suit!', english)).toEqual([]);
    expect(unknownWords('Cat3dog; Fish_Bowl (moon)', english)).toEqual(['fish', 'bowl', 'moon']);
    // HTML entities are unescaped first, like the tokenizer's clean-up: "&amp;" is not the word "amp".
    expect(unknownWords('cat &amp; dog', english)).toEqual([]);
  });

  it('keeps a non-Han script run whole, known or not', () => {
    expect(unknownWords('кот cat', known('cat'))).toEqual(['кот']);
    expect(unknownWords('кот cat', known('кот', 'cat'))).toEqual([]);
    // Kana are not Han: a kana run is one word, as before.
    expect(unknownWords('ねこ', known('ね', 'こ'))).toEqual(['ねこ']);
  });

  it('finds nothing in a prompt without letters', () => {
    expect(unknownWords('', english)).toEqual([]);
    expect(unknownWords('42, 3.14 -- !!', english)).toEqual([]);
  });
});

describe('unknownWords on Han text (greedy longest match against the known words)', () => {
  const chinese = known('一只', '猫', '在', '火星', '上', '穿着', '宇航服', '的', '散步');

  it('segments a Chinese prompt written without spaces', () => {
    expect(unknownWords('一只穿着宇航服的猫在火星上散步', chinese)).toEqual([]);
    expect(unknownWords('一只猫在火星上散步', known('一只', '猫', '在', '火星', '上'))).toEqual(['散步']);
    expect(unknownWords('一只狗在火星上', chinese)).toEqual(['狗']);
  });

  it('reports each maximal uncovered stretch as one word, once, in order', () => {
    expect(unknownWords('一只小狗在月球上', chinese)).toEqual(['小狗', '月球']);
    expect(unknownWords('狗在火星上狗', chinese)).toEqual(['狗']);
    expect(unknownWords('狗猫小狗', chinese)).toEqual(['狗', '小狗']);
  });

  it('reports a run no known word covers whole', () => {
    expect(unknownWords('小狗跑步', chinese)).toEqual(['小狗跑步']);
    expect(unknownWords('小狗跑步', known())).toEqual(['小狗跑步']);
    expect(unknownWords('小狗跑步', known('cat', 'dog'))).toEqual(['小狗跑步']);
  });

  it('prefers the longest known word at each position', () => {
    const fire = known('火', '火星', '星');
    expect(unknownWords('火星', fire)).toEqual([]);
    expect(unknownWords('火火星星', fire)).toEqual([]);
    expect(unknownWords('火星人', fire)).toEqual(['人']);
    // Longest first decides the cover: "一只" is taken, so "只猫" is never tried and "猫" stays uncovered;
    // a shortest-first segmenter would have read 一 + 只猫 and reported nothing.
    expect(unknownWords('一只猫', known('一', '一只', '只猫'))).toEqual(['猫']);
    // A known word longer than the rest of the run is not a match.
    expect(unknownWords('宇航', known('宇航服'))).toEqual(['宇航']);
  });

  it('splits a letter run that mixes Han and other letters, and checks each part', () => {
    const mixed = known('猫', 'cat', '火星');
    expect(unknownWords('猫cat', mixed)).toEqual([]);
    expect(unknownWords('猫dog', mixed)).toEqual(['dog']);
    expect(unknownWords('狗cat', mixed)).toEqual(['狗']);
    expect(unknownWords('Dog狗CAT火星moon', mixed)).toEqual(['dog', '狗', 'moon']);
    // A known word that mixes scripts never matches: the run is checked in its Han and non-Han parts.
    expect(unknownWords('猫cat', known('猫cat'))).toEqual(['猫', 'cat']);
  });

  it('treats Han punctuation and spaces as word boundaries', () => {
    expect(unknownWords('一只猫，在火星上。 小狗', chinese)).toEqual(['小狗']);
  });

  it('counts characters as code points (CJK Extension B is a surrogate pair)', () => {
    // 𠀀 (U+20000) is one Han character of two UTF-16 units.
    expect(unknownWords('猫𠀀猫', known('猫'))).toEqual(['𠀀']);
    expect(unknownWords('猫𠀀猫', known('𠀀猫'))).toEqual(['猫']);
  });
});
