import { readFileSync } from 'node:fs';

// Port of Python's `html.unescape` (CPython Lib/html/__init__.py), which OpenAI's CLIP tokenizer runs twice on
// every prompt (`basic_clean` in clip/simple_tokenizer.py). Browsers' and npm decoders differ from it in small ways
// (which semicolon-less names they accept, how they treat `&#128;`), and each difference changes token ids, so
// this follows CPython's rules exactly rather than the HTML parser's.

let html5: Map<string, string> | undefined;

/**
 * The HTML5 named character references, keyed without the leading `&` and with or without the trailing `;`
 * exactly as the standard lists them (CPython's `html.entities.html5`). Loaded on first use: most prompts have
 * no `&` and never need it.
 */
export function html5Entities(): ReadonlyMap<string, string> {
  if (html5 === undefined) {
    const json = readFileSync(new URL('./html-entities.json', import.meta.url), 'utf8');
    html5 = new Map(Object.entries(JSON.parse(json) as Record<string, string>));
  }
  return html5;
}

// Numeric references the HTML standard remaps (the "numeric character reference end state" table): NUL and CR,
// and 0x80–0x9F read as windows-1252, with its five unassigned bytes kept as the C1 control itself. Same table as
// CPython's `html._invalid_charrefs`.
const CP1252_C1 =
  '\u20ac\x81\u201a\u0192\u201e\u2026\u2020\u2021\u02c6\u2030\u0160\u2039\u0152\x8d\u017d\x8f' +
  '\x90\u2018\u2019\u201c\u201d\u2022\u2013\u2014\u02dc\u2122\u0161\u203a\u0153\x9d\u017e\u0178';

/**
 * windows-1252 reading of a C1 control character (U+0080–U+009F), the five unassigned bytes mapping to
 * themselves: both Python's `html._invalid_charrefs` and ftfy's "sloppy-windows-1252" codec use this table.
 */
export function cp1252ForC1(codePoint: number): string {
  return CP1252_C1[codePoint - 0x80];
}

function invalidCharref(num: number): string | undefined {
  if (num === 0x00) return '\ufffd';
  if (num === 0x0d) return '\r';
  if (num >= 0x80 && num <= 0x9f) return cp1252ForC1(num);
  return undefined;
}

// CPython's `html._invalid_codepoints`: controls and noncharacters, which decode to nothing.
function isInvalidCodePoint(num: number): boolean {
  return (
    (num >= 0x1 && num <= 0x8) ||
    num === 0xb ||
    (num >= 0xe && num <= 0x1f) ||
    (num >= 0x7f && num <= 0x9f) ||
    (num >= 0xfdd0 && num <= 0xfdef) ||
    (num & 0xfffe) === 0xfffe
  );
}

// CPython's `_charref`. The `u` flag makes `{1,32}` count code points, as Python's `str` does.
const CHARREF = /&(#[0-9]+;?|#[xX][0-9a-fA-F]+;?|[^\t\n\f <&#;]{1,32};?)/gu;

function replaceCharref(_match: string, ref: string): string {
  if (ref[0] === '#') {
    const hex = ref[1] === 'x' || ref[1] === 'X';
    const digits = ref.slice(hex ? 2 : 1).replace(/;$/, '');
    // Number() of a very long digit string is Infinity or a float above 0x10FFFF: both take the U+FFFD branch,
    // as Python's unbounded int does.
    const num = hex ? Number.parseInt(digits, 16) : Number(digits);
    const remapped = invalidCharref(num);
    if (remapped !== undefined) return remapped;
    if ((num >= 0xd800 && num <= 0xdfff) || num > 0x10ffff) return '\ufffd';
    if (isInvalidCodePoint(num)) return '';
    return String.fromCodePoint(num);
  }
  const table = html5Entities();
  const exact = table.get(ref);
  if (exact !== undefined) return exact;
  // The standard's rule for a name that is not in the table: the longest prefix that is a (legacy, semicolon-less)
  // name wins, and the rest stays as text: "&ampfoo" gives "&foo", "&notit;" gives "¬it;".
  for (let end = ref.length - 1; end > 1; end--) {
    const value = table.get(ref.slice(0, end));
    if (value !== undefined) return value + ref.slice(end);
  }
  return `&${ref}`;
}

/**
 * Decodes HTML named and numeric character references exactly as Python's `html.unescape` does, including the
 * semicolon-less legacy names ("&amp", "&copy") and the standard's remapping of invalid numbers.
 */
export function htmlUnescape(text: string): string {
  if (!text.includes('&')) return text;
  return text.replace(CHARREF, replaceCharref);
}
