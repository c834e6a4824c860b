/**
 * Translates the Chinese parts of an A1111-syntax prompt and leaves everything else byte for byte: attention
 * brackets and `(text:1.2)` weights, `BREAK`, `<lora:…>` and other `<…>` tags, escapes, commas, and English.
 *
 * The prompt is cut at the attention parser's syntax (prompt-parser.ts: `( ) [ ] :w)` and escapes, plus BREAK) and
 * at commas and newlines, tag prompts' separators. In each piece of text that contains a Han character, the span
 * from the first to the last Han character, widened to whole space-separated words ("3只猫", "red裙子"), is
 * translated; Latin words outside it stay as typed. Translating tag by tag keeps Marian from merging tags into a
 * sentence and keeps weights on the words they were put on (ParisNeo/prompt_translator #1, #5: never
 * re-translate English). Full-width punctuation is made ASCII first, as the opus-mt author advises
 * (transformers #15323), which also turns `（猫：1.2）` into real attention syntax.
 */
import type { Translator } from './marian.js';

const HAN = /\p{Script=Han}/u;

export function containsHan(text: string): boolean {
  return HAN.test(text);
}

// The full-width punctuation Chinese input methods type, mapped to what the prompt syntax and Marian expect.
const FULL_WIDTH: Record<string, string> = {
  '，': ',',
  '。': '.',
  '、': ',',
  '“': '"',
  '”': '"',
  '‘': "'",
  '’': "'",
  '：': ':',
  '？': '?',
  '！': '!',
  '（': '(',
  '）': ')',
  '；': ';',
  '【': '[',
  '】': ']',
  '《': '"',
  '》': '"',
  '　': ' ',
};
const FULL_WIDTH_PATTERN = new RegExp(`[${Object.keys(FULL_WIDTH).join('')}]`, 'g');

export function normalizeFullWidthPunctuation(text: string): string {
  return text.replace(FULL_WIDTH_PATTERN, (c) => FULL_WIDTH[c]);
}

// What is never translated: escapes, <…> tags (LoRA, hypernetworks), BREAK as a whole word (prompt-parser.ts), a
// `:weight)` closing group exactly as the parser reads it, brackets, and the separators commas and newlines.
const KEEP = /\\[\s\S]|<[^<>\n]*>|(?<![\p{L}\p{N}_])BREAK(?![\p{L}\p{N}_])|:[+-]?[.\d]+\)|[()[\],\n]/gu;

/** A piece of prompt text: `translate` marks the span to send to the translator. */
interface Piece {
  text: string;
  translate: boolean;
}

/** Cuts the (normalised) prompt into kept syntax and text, and marks the Han spans of the text. */
export function splitForTranslation(prompt: string): Piece[] {
  const pieces: Piece[] = [];
  const pushText = (text: string) => {
    if (text === '') return;
    const chars = [...text];
    let first = chars.findIndex((c) => HAN.test(c));
    if (first < 0) {
      pieces.push({ text, translate: false });
      return;
    }
    let last = chars.length - 1;
    while (!HAN.test(chars[last])) last--;
    // Widen to whole words so that digits and Latin letters glued to the Han text go with it.
    while (first > 0 && !/\s/u.test(chars[first - 1])) first--;
    while (last < chars.length - 1 && !/\s/u.test(chars[last + 1])) last++;
    if (first > 0) pieces.push({ text: chars.slice(0, first).join(''), translate: false });
    pieces.push({ text: chars.slice(first, last + 1).join(''), translate: true });
    if (last < chars.length - 1) pieces.push({ text: chars.slice(last + 1).join(''), translate: false });
  };
  let at = 0;
  for (const m of prompt.matchAll(KEEP)) {
    pushText(prompt.slice(at, m.index));
    pieces.push({ text: m[0], translate: false });
    at = m.index + m[0].length;
  }
  pushText(prompt.slice(at));
  return pieces;
}

export interface PromptTranslation {
  /** The prompt to encode: the typed one when nothing was translated. */
  text: string;
  /** True when at least one span was translated. */
  translated: boolean;
}

/** Bounded memo of span → translation: the same tags come back across a server's prompts and retries. */
class LruCache {
  private readonly map = new Map<string, string>();
  constructor(private readonly limit: number) {}
  get(key: string): string | undefined {
    const v = this.map.get(key);
    if (v !== undefined) {
      this.map.delete(key);
      this.map.set(key, v);
    }
    return v;
  }
  set(key: string, value: string): void {
    this.map.delete(key);
    this.map.set(key, value);
    if (this.map.size > this.limit) this.map.delete(this.map.keys().next().value!);
  }
  get size(): number {
    return this.map.size;
  }
}

/** Translates prompts span by span with an LRU cache in front of the translator. */
export class PromptTranslator {
  private readonly cache: LruCache;

  constructor(
    private readonly translator: Translator,
    cacheSize = 1000,
  ) {
    this.cache = new LruCache(cacheSize);
  }

  get cacheSize(): number {
    return this.cache.size;
  }

  async translatePrompt(prompt: string): Promise<PromptTranslation> {
    if (!containsHan(prompt)) return { text: prompt, translated: false };
    const pieces = splitForTranslation(normalizeFullWidthPunctuation(prompt));
    let translated = false;
    const out: string[] = [];
    for (const piece of pieces) {
      if (!piece.translate) {
        out.push(piece.text);
        continue;
      }
      const english = await this.translateSpan(piece.text);
      translated ||= english !== piece.text;
      out.push(english);
    }
    return { text: out.join(''), translated };
  }

  private async translateSpan(span: string): Promise<string> {
    const cached = this.cache.get(span);
    if (cached !== undefined) return cached;
    let english = (await this.translator.translate(span)).trim();
    // Marian makes sentences ("Cat."); a prompt tag has no full stop unless the source had one.
    if (english.endsWith('.') && !/[.。]$/u.test(span)) english = english.slice(0, -1);
    // opus-mt sometimes returns nothing for short Chinese input; keeping the typed text loses less.
    if (english === '') english = span;
    this.cache.set(span, english);
    return english;
  }
}
