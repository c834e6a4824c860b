import { cp1252ForC1, html5Entities, htmlUnescape } from './html-unescape.js';

// The clean-up OpenAI's CLIP tokenizer applies before BPE (clip/simple_tokenizer.py):
//
//   basic_clean(text)      = html.unescape(html.unescape(ftfy.fix_text(text))).strip()
//   whitespace_clean(text) = re.sub(r'\s+', ' ', text).strip()
//   encode(text)           uses whitespace_clean(basic_clean(text)).lower()
//
// `fixText` ports the parts of ftfy 6.3 `fix_text` (rspeer/python-ftfy, ftfy/__init__.py, fixes.py, chardata.py)
// that a prompt can hit: every default fixer except `fix_encoding` (mojibake repair, see docs/tokenizer.md).
// The token ids depend on each character, so each step follows ftfy's tables exactly, not a "similar" normaliser.

/**
 * Python's whitespace (`str.isspace`, and `\s` in a `str` pattern), which is wider than JavaScript's `\s`: it
 * includes U+001C–U+001F and U+0085 and excludes U+FEFF. Checked against CPython 3.11 over all code points.
 * This is the body of a regular-expression character class, without the brackets.
 */
export const PY_SPACE = '\\t\\n\\v\\f\\r\\x1c-\\x1f \\x85\\xa0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000';
const PY_SPACE_RUN = new RegExp(`[${PY_SPACE}]+`, 'g');
const PY_STRIP = new RegExp(`^[${PY_SPACE}]+|[${PY_SPACE}]+$`, 'g');

/** Python's `str.strip()` with no argument. */
function pyStrip(text: string): string {
  return text.replace(PY_STRIP, '');
}

// --- ftfy.fixes.unescape_html ------------------------------------------------------------------------------

// ftfy only touches complete `&...;` references (chardata.HTML_ENTITY_RE); Python's html.unescape later handles
// the semicolon-less ones.
const FTFY_ENTITY = /&#?[0-9A-Za-z]{1,24};/g;

let ftfyEntities: Map<string, string> | undefined;

// ftfy.chardata._build_html_entities: every `name;` entity, plus an upper-case spelling ("&EACUTE;" → "É") for
// all-lower-case names whose upper-case spelling html.unescape would not already decode.
function ftfyEntityTable(): Map<string, string> {
  if (ftfyEntities !== undefined) return ftfyEntities;
  const table = new Map<string, string>();
  for (const [name, char] of html5Entities()) {
    if (!name.endsWith(';')) continue;
    table.set(`&${name}`, char);
    if (name === name.toLowerCase()) {
      const upper = `&${name.toUpperCase()}`;
      if (htmlUnescape(upper) === upper) table.set(upper, char.toUpperCase());
    }
  }
  ftfyEntities = table;
  return table;
}

function unescapeHtml(text: string): string {
  if (!text.includes('&')) return text;
  const table = ftfyEntityTable();
  return text.replace(FTFY_ENTITY, (entity) => {
    const named = table.get(entity);
    if (named !== undefined) return named;
    if (entity.startsWith('&#')) {
      const decoded = htmlUnescape(entity);
      // ftfy keeps the reference when html.unescape only decoded a prefix of it ("&#65x;" → "Ax;").
      return decoded.includes(';') ? entity : decoded;
    }
    return entity;
  });
}

// --- the other ftfy fixers, in fix_and_explain's order -----------------------------------------------------

// fix_c1_controls: C1 controls are almost always windows-1252 bytes read as Latin-1 ("\x93" meant “).
const C1_CONTROL = /[\x80-\x9f]/g;
const fixC1Controls = (text: string): string => text.replace(C1_CONTROL, (c) => cp1252ForC1(c.charCodeAt(0)));

// chardata.LIGATURES. ftfy leaves ligatures such as æ and œ alone on purpose; ﬅ really becomes "ſt" (long s).
const LIGATURES: Record<string, string> = {
  Ĳ: 'IJ',
  ĳ: 'ij',
  ŉ: 'ʼn',
  Ǳ: 'DZ',
  ǲ: 'Dz',
  ǳ: 'dz',
  Ǆ: 'DŽ',
  ǅ: 'Dž',
  ǆ: 'dž',
  Ǉ: 'LJ',
  ǈ: 'Lj',
  ǉ: 'lj',
  Ǌ: 'NJ',
  ǋ: 'Nj',
  ǌ: 'nj',
  ﬀ: 'ff',
  ﬁ: 'fi',
  ﬂ: 'fl',
  ﬃ: 'ffi',
  ﬄ: 'ffl',
  ﬅ: 'ſt',
  ﬆ: 'st',
};
const LIGATURE = new RegExp(`[${Object.keys(LIGATURES).join('')}]`, 'g');
const fixLatinLigatures = (text: string): string => text.replace(LIGATURE, (c) => LIGATURES[c]);

// chardata._build_width_map: U+3000 → space, and every character of the Halfwidth and Fullwidth Forms block
// (U+FF01–U+FFEF) that NFKC changes is replaced by its NFKC form ("ｃａｔ" → "cat", "ｶ" → "カ").
let widthMap: Map<string, string> | undefined;
function widthTable(): Map<string, string> {
  if (widthMap !== undefined) return widthMap;
  widthMap = new Map([['\u3000', ' ']]);
  for (let code = 0xff01; code < 0xfff0; code++) {
    const char = String.fromCharCode(code);
    const alternate = char.normalize('NFKC');
    if (alternate !== char) widthMap.set(char, alternate);
  }
  return widthMap;
}
const WIDE = /[\u3000\uff01-\uffef]/g;
const HAS_WIDE = /[\u3000\uff01-\uffef]/;
const fixCharacterWidth = (text: string): string => {
  // Skip building the table for the usual prompt that has no wide characters.
  if (!HAS_WIDE.test(text)) return text;
  const table = widthTable();
  return text.replace(WIDE, (c) => table.get(c) ?? c);
};

// chardata.SINGLE_QUOTE_RE / DOUBLE_QUOTE_RE: ʼ ‘ ’ ‚ ‛ → ' and “ ” „ ‟ → ".
const SINGLE_QUOTE = /[\u02bc\u2018-\u201b]/g;
const DOUBLE_QUOTE = /[\u201c-\u201f]/g;
const uncurlQuotes = (text: string): string => text.replace(DOUBLE_QUOTE, '"').replace(SINGLE_QUOTE, "'");

const fixLineBreaks = (text: string): string => text.replace(/\r\n/g, '\n').replace(/[\r\u2028\u2029\u0085]/g, '\n');

// fix_surrogates: a JavaScript string can only hold a surrogate pair as a real astral character, so what is left
// are lone surrogates, which ftfy turns into U+FFFD.
const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g;
const fixSurrogates = (text: string): string => text.replace(LONE_SURROGATE, '\ufffd');

// fixes.ANSI_RE. Python's `\d` matches any Unicode decimal digit, hence \p{Nd}.
const ANSI_ESCAPE = /\x1b\[(?:\p{Nd}|;)*[a-zA-Z]/gu;
const removeTerminalEscapes = (text: string): string => text.replace(ANSI_ESCAPE, '');

// chardata.CONTROL_CHARS: C0 controls except \t \n \f \r, DEL, deprecated format characters, BOM, and the
// interlinear annotation characters.
const CONTROL_CHARS = /[\x00-\x08\x0b\x0e-\x1f\x7f\u206a-\u206f\ufeff\ufff9-\ufffc]/g;
const removeControlChars = (text: string): string => text.replace(CONTROL_CHARS, '');

// ftfy loops until nothing changes; each pass only removes or simplifies characters, so a handful of passes
// settles any input. The bound only guards against a bug here turning into a hang.
const MAX_PASSES = 32;

function fixSegment(segment: string, unescapeEntities: boolean): string {
  let text = segment;
  for (let pass = 0; pass < MAX_PASSES; pass++) {
    const before = text;
    if (unescapeEntities) text = unescapeHtml(text);
    text = fixC1Controls(text);
    text = fixLatinLigatures(text);
    text = fixCharacterWidth(text);
    text = uncurlQuotes(text);
    text = fixLineBreaks(text);
    text = fixSurrogates(text);
    text = removeTerminalEscapes(text);
    text = removeControlChars(text);
    text = text.normalize('NFC');
    if (text === before) break;
  }
  return text;
}

/**
 * ftfy 6.3 `fix_text` with its default settings, less `fix_encoding` (mojibake repair): HTML entities, C1
 * controls, Latin ligatures, full-width forms, curly quotes, line breaks, lone surrogates, terminal escapes,
 * control characters, then NFC.
 *
 * Like ftfy it works line by line, and once a line contains `<` (text that may be HTML) it stops decoding entities
 * for that line and every later one.
 */
export function fixText(text: string): string {
  let unescapeEntities = true;
  let out = '';
  let pos = 0;
  while (pos < text.length) {
    const newline = text.indexOf('\n', pos);
    const end = newline === -1 ? text.length : newline + 1;
    const segment = text.slice(pos, end);
    if (unescapeEntities && segment.includes('<')) unescapeEntities = false;
    out += fixSegment(segment, unescapeEntities);
    pos = end;
  }
  return out;
}

/** OpenAI's `basic_clean`: `fix_text`, `html.unescape` twice, strip. */
export function basicClean(text: string): string {
  return pyStrip(htmlUnescape(htmlUnescape(fixText(text))));
}

/** OpenAI's `whitespace_clean`: every run of (Python) whitespace becomes one space, then strip. */
export function whitespaceClean(text: string): string {
  return pyStrip(text.replace(PY_SPACE_RUN, ' '));
}

/**
 * The whole clean-up OpenAI's CLIP tokenizer applies to a prompt before splitting it into words:
 * `whitespace_clean(basic_clean(text)).lower()`.
 */
export function textCleanup(text: string): string {
  return whitespaceClean(basicClean(text)).toLowerCase();
}
