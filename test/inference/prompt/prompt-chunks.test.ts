import { fileURLToPath } from 'node:url';

import { beforeAll, describe, expect, it } from 'vitest';

import { UserError } from '../../../src/errors.js';
import { ClipTokenizer } from '../../../src/inference/prompt/clip-tokenizer.js';
import type { EmbeddingLookup, PromptEmbedding } from '../../../src/inference/prompt/embeddings.js';
import { chunkPrompt } from '../../../src/inference/prompt/prompt-chunks.js';

const FIXTURES = fileURLToPath(new URL('../../fixtures/clip-tokenizer', import.meta.url));
// Ids in the real CLIP vocabulary (test/fixtures/clip-tokenizer/vocab.json).
const BOS = 49406;
const EOS = 49407;
const A = 320; // a</w>
const CAT = 2368; // cat</w>
const DOG = 1929; // dog</w>
const COMMA = 267; // ,</w>
const BREAK_WORD = 2568; // break</w>

let clip: ClipTokenizer;
let sd2: ClipTokenizer;
beforeAll(async () => {
  clip = await ClipTokenizer.fromFolder(FIXTURES);
  sd2 = await ClipTokenizer.fromFolder(FIXTURES, { padTokenId: 0 });
});

const times = <T>(n: number, value: T): T[] => new Array<T>(n).fill(value);
const words = (n: number, word: string) => times(n, word).join(' ');
/** A chunk as A1111 builds it: BOS, the tokens, EOS padding to 75, EOS. */
const chunkIds = (tokens: number[]) => [BOS, ...tokens, ...times(75 - tokens.length, EOS), EOS];
const chunkMults = (mults: number[]) => [1, ...mults, ...times(75 - mults.length, 1), 1];

/** A fake lookup: TI embeddings with ids past the end of CLIP's vocabulary, as the grown embedding table gives them. */
function lookup(...embeddings: PromptEmbedding[]): EmbeddingLookup {
  return {
    find(word) {
      const name = word.startsWith('embedding:') ? word.slice('embedding:'.length) : word;
      return embeddings.find((e) => e.name === name);
    },
  };
}
const EASY: PromptEmbedding = { name: 'EasyNegative', ids: [49408, 49409, 49410], hash: 'c74b4e810b' };

describe('chunkPrompt', () => {
  it('wraps a short prompt in one 77-id chunk with multipliers 1.0', () => {
    const { chunks, tokenCount, embeddings } = chunkPrompt(clip, 'a cat');
    expect(chunks).toEqual([{ ids: chunkIds([A, CAT]), multipliers: chunkMults([1, 1]) }]);
    expect(chunks[0].ids).toHaveLength(77);
    expect(tokenCount).toBe(2);
    expect(embeddings).toEqual([]);
  });

  it('makes one chunk of BOS and EOS for an empty prompt', () => {
    expect(chunkPrompt(clip, '').chunks).toEqual([{ ids: [BOS, ...times(76, EOS)], multipliers: times(77, 1) }]);
  });

  it('gives each token the weight of its run', () => {
    const [chunk] = chunkPrompt(clip, 'a (cat:1.3) [dog] ((cat))').chunks;
    expect(chunk.ids).toEqual(chunkIds([A, CAT, DOG, CAT]));
    expect(chunk.multipliers).toEqual(chunkMults([1, 1.3, 1 / 1.1, 1.1 * 1.1]));
  });

  it('tokenizes a run as transformers does with add_special_tokens=False', () => {
    const text = 'a photo of an astronaut riding a horse, 4k';
    expect(clip.tokenizeWords(text)).toEqual(clip.encode(text).ids.slice(1, -1));
    expect(clip.tokenId(',</w>')).toBe(COMMA);
    expect(clip.tokenId('no-such-token')).toBeUndefined();
  });

  it('fills chunks of 75 tokens and counts tokens as A1111 does', () => {
    const { chunks, tokenCount } = chunkPrompt(clip, words(80, 'cat'));
    expect(chunks.map((c) => c.ids)).toEqual([chunkIds(times(75, CAT)), chunkIds(times(5, CAT))]);
    expect(tokenCount).toBe(80);
  });

  it('moves the text after a comma among the last 20 tokens to the next chunk', () => {
    // 69 cats, a comma at index 69, then 10 dogs: the chunk fills at 75 with the comma 6 back, so the 5 dogs move.
    const { chunks } = chunkPrompt(clip, `${words(69, 'cat')}, ${words(10, 'dog')}`);
    expect(chunks.map((c) => c.ids)).toEqual([chunkIds([...times(69, CAT), COMMA]), chunkIds(times(10, DOG))]);
  });

  it('keeps the weights of moved tokens', () => {
    const { chunks } = chunkPrompt(clip, `${words(69, 'cat')}, (${words(10, 'dog')}:1.5)`);
    expect(chunks[0].multipliers).toEqual(chunkMults(times(70, 1)));
    expect(chunks[1].multipliers).toEqual(chunkMults(times(10, 1.5)));
  });

  it('does not backtrack to a comma more than 20 tokens back', () => {
    // Comma at index 54: 75 − 54 = 21 > 20, so the chunk is cut at 75 tokens.
    const { chunks } = chunkPrompt(clip, `${words(54, 'cat')}, ${words(25, 'dog')}`);
    expect(chunks.map((c) => c.ids)).toEqual([chunkIds([...times(54, CAT), COMMA, ...times(20, DOG)]), chunkIds(times(5, DOG))]);
  });

  it('backtracks to a comma exactly 20 tokens back', () => {
    const { chunks } = chunkPrompt(clip, `${words(55, 'cat')}, ${words(25, 'dog')}`);
    expect(chunks.map((c) => c.ids)).toEqual([chunkIds([...times(55, CAT), COMMA]), chunkIds(times(25, DOG))]);
  });

  it('ends the chunk at BREAK and pads it', () => {
    const { chunks, tokenCount } = chunkPrompt(clip, 'a cat BREAK a dog');
    expect(chunks.map((c) => c.ids)).toEqual([chunkIds([A, CAT]), chunkIds([A, DOG])]);
    // A1111 counts a chunk ended by BREAK as 75 tokens.
    expect(tokenCount).toBe(77);
  });

  it('does not add an empty chunk for a trailing BREAK, but keeps an empty one between two', () => {
    expect(chunkPrompt(clip, 'a cat BREAK').chunks).toHaveLength(1);
    expect(chunkPrompt(clip, 'a BREAK BREAK cat').chunks.map((c) => c.ids)).toEqual([chunkIds([A]), chunkIds([]), chunkIds([CAT])]);
  });

  it('reads BREAK inside brackets as the word "break" with a negative weight, as A1111 does', () => {
    const [chunk] = chunkPrompt(clip, '(a BREAK cat)').chunks;
    expect(chunk.ids).toEqual(chunkIds([A, BREAK_WORD, CAT]));
    expect(chunk.multipliers).toEqual(chunkMults([1.1, -1.1, 1.1]));
  });

  it('pads with id 0 after the first EOS on SD 2.x tokenizers', () => {
    const [chunk] = chunkPrompt(sd2, 'a cat').chunks;
    expect(chunk.ids).toEqual([BOS, A, CAT, EOS, ...times(73, 0)]);
    expect(chunkPrompt(sd2, '').chunks[0].ids).toEqual([BOS, EOS, ...times(75, 0)]);
  });

  it("puts an embedding's ids in place of its name, with the run's weight", () => {
    const { chunks, embeddings } = chunkPrompt(clip, 'a cat, (EasyNegative:0.8), embedding:EasyNegative.', { embeddings: lookup(EASY) });
    expect(chunks[0].ids).toEqual(chunkIds([A, CAT, COMMA, ...EASY.ids, COMMA, ...EASY.ids, 269]));
    expect(chunks[0].multipliers).toEqual(chunkMults([1, 1, 1, 0.8, 0.8, 0.8, 1, 1, 1, 1, 1]));
    expect(embeddings).toEqual([EASY]);
    expect(clip.tokenId('.</w>')).toBe(269);
  });

  it('moves an embedding that does not fit to the next chunk whole', () => {
    // 73 cats leave 2 places; the embedding needs 3.
    const { chunks } = chunkPrompt(clip, `${words(73, 'cat')} EasyNegative dog`, { embeddings: lookup(EASY) });
    expect(chunks.map((c) => c.ids)).toEqual([chunkIds(times(73, CAT)), chunkIds([...EASY.ids, DOG])]);
  });

  it('fits an embedding that ends exactly at the chunk edge', () => {
    const { chunks } = chunkPrompt(clip, `${words(72, 'cat')} EasyNegative dog`, { embeddings: lookup(EASY) });
    expect(chunks.map((c) => c.ids)).toEqual([chunkIds([...times(72, CAT), ...EASY.ids]), chunkIds([DOG])]);
  });

  it('tokenizes words that are not embeddings as text', () => {
    const [chunk] = chunkPrompt(clip, 'easynegative', { embeddings: lookup(EASY) }).chunks;
    expect(chunk.ids).toEqual(chunkIds(clip.tokenizeWords('easynegative')));
  });

  it('refuses an embedding longer than a chunk', () => {
    const huge: PromptEmbedding = { name: 'huge', ids: times(76, 49408), hash: '0' };
    expect(() => chunkPrompt(clip, 'huge', { embeddings: lookup(huge) })).toThrow(
      'The embedding "huge" has 76 vectors, more than the 75 one chunk holds; remove it from the prompt.',
    );
  });

  it('allows 8 chunks and refuses 9 with a message that says what to change', () => {
    expect(chunkPrompt(clip, words(600, 'cat')).chunks).toHaveLength(8);
    const nine = () => chunkPrompt(clip, words(601, 'cat'), { what: 'negative prompt' });
    expect(nine).toThrow(UserError);
    expect(nine).toThrow('Your negative prompt needs 9 chunks of 75 tokens; the most is 8 — shorten it.');
  });
});
