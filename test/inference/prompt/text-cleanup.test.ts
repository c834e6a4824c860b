import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

import { beforeAll, describe, expect, it } from 'vitest';

import { ClipTokenizer } from '../../../src/inference/prompt/clip-tokenizer.js';
import { basicClean, fixText, textCleanup, whitespaceClean } from '../../../src/inference/prompt/text-cleanup.js';

const FIXTURES = fileURLToPath(new URL('../../fixtures/clip-tokenizer/', import.meta.url));
const fixture = <T>(name: string): T => JSON.parse(readFileSync(FIXTURES + name, 'utf8')) as T;

let clip: ClipTokenizer;
beforeAll(async () => {
  clip = await ClipTokenizer.fromFolder(FIXTURES);
});

// Each row: a prompt with something to clean, and the plain text the reference turns it into, by ftfy's and
// Python's rules. Encoding both with the real vocabulary must give the same ids.
const equivalents: Array<[string, string, string]> = [
  ['named entity', 'fish &amp; chips', 'fish & chips'],
  ['decimal entity', 'it&#39;s', "it's"],
  ['hex entity', '&#x41; cat', 'A cat'],
  ['legacy entity without semicolon', '&copy 2024', '© 2024'],
  ['double-escaped entity', 'salt &amp;amp; pepper', 'salt & pepper'],
  ['curly apostrophe entity, uncurled by ftfy', 'cat&rsquo;s toy', "cat's toy"],
  ['upper-case entity ftfy accepts', '&EACUTE;T&EACUTE;', 'été'],
  ['windows-1252 numeric entity', '&#147;hi&#148;', '"hi"'],
  ['entity for a control character', 'a&#1;b', 'ab'],
  ['curly double quotes', '\u201ccat\u201d', '"cat"'],
  ['curly single quotes', '\u2018cat\u2019s\u2019', "'cat's'"],
  ['modifier-letter apostrophe', 'don\u02bct', "don't"],
  ['fi ligature', '\ufb01sh', 'fish'],
  ['fl ligature', '\ufb02ower', 'flower'],
  ['ff ffi ffl ligatures', 'o\ufb00 o\ufb03ce wa\ufb04e', 'off office waffle'],
  ['st ligature', '\ufb06ar', 'star'],
  ['Dutch ij', '\u0133s', 'ijs'],
  ['full-width letters', '\uff43\uff41\uff54', 'cat'],
  ['full-width capitals and punctuation', '\uff23\uff21\uff34\uff01', 'cat!'],
  ['full-width digits', '\uff11\uff12\uff13', '123'],
  ['ideographic space', 'a\u3000cat', 'a cat'],
  ['tabs, newlines and runs of spaces', '  a\tphoto\n\nof   a cat  ', 'a photo of a cat'],
  ['Unicode spaces', 'a\u00a0photo\u2003of\u202fa\u205fcat', 'a photo of a cat'],
  ['line and paragraph separators', 'a\u2028cat\u2029now\r\nok', 'a cat now ok'],
  ['NEL, a C1 control read as windows-1252', 'wait\x85', 'wait\u2026'],
  ['C1 curly quotes', '\x93cat\x94', '"cat"'],
  ['NUL and other controls', 'c\x00a\x07t', 'cat'],
  ['byte order mark', '\ufeffcat', 'cat'],
  ['terminal colour codes', '\x1b[1;31mred\x1b[0m cat', 'red cat'],
  ['decomposed accent (NFC)', 'cafe\u0301', 'caf\u00e9'],
  ['upper case', 'A PHOTO OF A CAT', 'a photo of a cat'],
  ['lone surrogate', 'cat\ud800', 'cat\ufffd'],
];

describe('text clean-up before BPE', () => {
  it.each(equivalents)('%s: "%s" encodes like "%s"', (_name, messy, plain) => {
    expect(textCleanup(messy)).toBe(textCleanup(plain));
    expect(clip.encode(messy).ids).toEqual(clip.encode(plain).ids);
  });

  it('turns the ﬅ ligature into "ſt" with a long s, as ftfy does, not into "st"', () => {
    expect(textCleanup('\ufb05ar')).toBe('\u017ftar');
    expect(clip.encode('\ufb05ar').ids).not.toEqual(clip.encode('star').ids);
  });

  it('maps half-width katakana to full width and leaves other scripts alone', () => {
    expect(textCleanup('\uff76\uff9e\uff91 \u732b \u043a\u043e\u0442')).toBe('\u30ac\u30e0 \u732b \u043a\u043e\u0442');
  });

  it('keeps ligatures ftfy keeps on purpose (æ, œ)', () => {
    expect(textCleanup('\u00c6ON \u0153uvre')).toBe('\u00e6on \u0153uvre');
  });

  it('stops ftfy’s entity pass on a line with "<" and on every later line, as ftfy does', () => {
    // ftfy decodes &rsquo; then uncurls it; once it stops, html.unescape still decodes it but nothing uncurls it.
    expect(fixText('it&rsquo;s\n<b>&rsquo;</b>\n&rsquo;')).toBe("it's\n<b>&rsquo;</b>\n&rsquo;");
    expect(textCleanup('it&rsquo;s\n<b>&rsquo;</b>\n&rsquo;')).toBe("it's <b>\u2019</b> \u2019");
    expect(clip.encode('<b>it&rsquo;s</b>').ids).not.toEqual(clip.encode("<b>it's</b>").ids);
  });

  it('repeats the fixes until nothing changes', () => {
    // Pass one: &amp;rsquo; → &rsquo;. Pass two: → ’ → '.
    expect(fixText('cat&amp;rsquo;s')).toBe("cat's");
  });

  it('collapses Python’s whitespace, which includes U+001C–U+001F and U+0085 but not U+FEFF', () => {
    expect(whitespaceClean('\x1c a \x85b\u3000\tc ')).toBe('a b c');
    expect(whitespaceClean('a\ufeffb')).toBe('a\ufeffb');
  });

  it('unescapes twice after ftfy and strips, as OpenAI’s basic_clean does', () => {
    // Inside "<…>" text ftfy leaves entities alone, so only html.unescape's two passes apply.
    expect(basicClean('  <p>&amp;amp;lt;</p>  ')).toBe('<p>&lt;</p>');
  });
});

describe('clean-up against OpenAI’s tokenizer with ftfy 6.3.1', () => {
  const { cases } = fixture<{ cases: Array<{ text: string; cleaned: string }> }>('reference-cases.json');

  it.each(cases)('cleans $text as the reference does', ({ text, cleaned }) => {
    expect(textCleanup(text)).toBe(cleaned);
  });
});
