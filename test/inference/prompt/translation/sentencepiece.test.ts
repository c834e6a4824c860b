import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

import { MarianTokenizer, normalize, parseSpmModel, SentencePiece } from '../../../../src/inference/prompt/translation/sentencepiece.js';

// tiny.model, vocab.json and cases.json come from test/fixtures/sentencepiece/generate.py: a unigram model trained
// with the sentencepiece library (0.1.97, Debian) and that library's own segmentation of each sentence.
const dir = path.join(path.dirname(fileURLToPath(import.meta.url)), '../../../fixtures/sentencepiece');
const modelBytes = readFileSync(path.join(dir, 'tiny.model'));
const vocab = new Map(Object.entries(JSON.parse(readFileSync(path.join(dir, 'vocab.json'), 'utf-8')) as Record<string, number>));
const { cases } = JSON.parse(readFileSync(path.join(dir, 'cases.json'), 'utf-8')) as {
  cases: { text: string; pieces: string[]; spmIds: number[]; marianIds: number[]; decoded: string }[];
};

describe('parseSpmModel', () => {
  it('reads the pieces, scores, types and normalizer spec', () => {
    const model = parseSpmModel(modelBytes);
    expect(model.modelType).toBe(1);
    expect(model.normalizerName).toBe('nmt_nfkc');
    expect(model.addDummyPrefix).toBe(true);
    expect(model.byteFallback).toBe(false);
    expect(model.pieces[0]).toEqual({ piece: '</s>', score: 0, type: 3 });
    expect(model.pieces[1]).toEqual({ piece: '<unk>', score: 0, type: 2 });
    expect(model.pieces[2].piece).toBe('\u2581');
    expect(model.pieces[5].score).toBeLessThan(0);
  });
});

describe('SentencePiece (checked against the sentencepiece library)', () => {
  const sp = new SentencePiece(parseSpmModel(modelBytes));
  it.each(cases.map((c) => [c.text, c] as const))('segments %j as the library does', (_, c) => {
    expect(sp.encodePieces(c.text)).toEqual(c.pieces);
  });
  it.each(cases.map((c) => [c.text, c] as const))('decodes the ids of %j as the library does', (_, c) => {
    expect(sp.decodeIds(c.spmIds)).toBe(c.decoded);
  });
  it('segments the example prompt into words, not bytes', () => {
    expect(sp.encodePieces('一只穿着宇航服的猫在火星上散步')).toHaveLength(9);
  });
  it('normalises full-width forms and odd spaces (nmt_nfkc)', () => {
    expect(normalize(sp.model, 'ＡＢＣ，１２３\t x\u200b')).toBe('\u2581ABC,123\u2581x');
  });
});

describe('MarianTokenizer', () => {
  const sp = new SentencePiece(parseSpmModel(modelBytes));
  const tokenizer = new MarianTokenizer(sp, sp, vocab);
  it.each(cases.map((c) => [c.text, c] as const))('numbers %j through vocab.json with </s> appended', (_, c) => {
    expect(tokenizer.encode(c.text)).toEqual(c.marianIds);
  });
  it('finds the special ids by name', () => {
    expect(tokenizer.special).toEqual({ eos: 0, unk: 1, pad: vocab.size - 1 });
  });
  it('decodes output ids, skipping </s>, <pad> and <unk>', () => {
    const ids = tokenizer.encode('a cat in a spacesuit walking on mars');
    expect(tokenizer.decode([tokenizer.special.pad, ...ids, tokenizer.special.pad])).toBe('a cat in a spacesuit walking on mars');
    expect(tokenizer.decode([tokenizer.special.unk, vocab.get('▁a')!, tokenizer.special.eos])).toBe('a');
  });
  it('names the missing file and the fix when the folder is incomplete', async () => {
    await expect(MarianTokenizer.fromFolder('/nonexistent-translator')).rejects.toThrow(/source\.spm.*models:pull/);
  });
  it('loads from a folder holding source.spm, target.spm and vocab.json', async () => {
    const { mkdtemp, writeFile, copyFile } = await import('node:fs/promises');
    const { tmpdir } = await import('node:os');
    const folder = await mkdtemp(path.join(tmpdir(), 'marian-tok-'));
    await copyFile(path.join(dir, 'tiny.model'), path.join(folder, 'source.spm'));
    await copyFile(path.join(dir, 'tiny.model'), path.join(folder, 'target.spm'));
    await writeFile(path.join(folder, 'vocab.json'), readFileSync(path.join(dir, 'vocab.json')));
    const loaded = await MarianTokenizer.fromFolder(folder);
    expect(loaded.encode(cases[0].text)).toEqual(cases[0].marianIds);
  });
});
