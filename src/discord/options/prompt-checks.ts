import { text, type LocalizedText } from '../../i18n/translate.js';
import { REQUEST_BOUNDS } from '../../protocol/generate-request.js';

/**
 * Checks on the prompt text itself, before anything is queued: its characters, its token count and the server's
 * banned words.
 */

/** Controls that break a line or a column: a space keeps the words on either side apart. */
const LINE_BREAKS = /[\t\n\v\f\r\u0085\u2028\u2029]/g;
/**
 * Every other C0 and C1 control, the zero-width space and word joiners, the byte order mark, and the bidi
 * controls: invisible in Discord, so a prompt made of them looks empty, and they end up in the PNG text chunk
 * (where NUL is forbidden) and can reorder how the rest of a message is shown.
 */
const INVISIBLE = /[\p{Cc}\u180e\u200b\u200e\u200f\u202a-\u202e\u2060-\u2064\u2066-\u2069\u061c\ufeff]/gu;
/** ZWNJ and ZWJ: needed between two characters (emoji sequences such as 👩‍🚀, Persian and Indic words), noise elsewhere. */
const JOINERS = /[\u200c\u200d]+/g;
/** Letters and symbols that draw nothing: Hangul fillers and the blank Braille pattern, favourites for "empty" names. */
const BLANK_GLYPHS = /[\u115f\u1160\u3164\uffa0\u2800]/g;

/**
 * Prompt or negative-prompt text made safe to show and to store: line breaks and tabs become spaces; other control
 * characters, zero-width characters and bidi controls are dropped; joiners stay only between two characters.
 * Not trimmed: callers trim after taking flags out.
 */
export function cleanPromptText(text: string): string {
  return text
    .replace(LINE_BREAKS, ' ')
    .replace(INVISIBLE, '')
    .replace(JOINERS, (joiners: string, at: number, whole: string) => {
      const before = whole[at - 1];
      const after = whole[at + joiners.length];
      return before !== undefined && after !== undefined && /\S/.test(before) && /\S/.test(after) ? joiners : '';
    });
}

/** Whether the text draws anything: a letter, digit, punctuation mark or symbol (combining marks and spaces alone do not). */
export function hasVisibleCharacter(text: string): boolean {
  return /[\p{L}\p{N}\p{P}\p{S}]/u.test(text.replace(BLANK_GLYPHS, ''));
}

/**
 * The most CLIP tokens a prompt may have: the engine reads prompts in chunks of 75 tokens (A1111's long-prompt
 * rule) and takes at most 8 chunks. Every Stable Diffusion family this bot runs uses a CLIP tokenizer, so this is
 * not per model.
 */
export const PROMPT_TOKEN_LIMIT = REQUEST_BOUNDS.promptChunks.tokens * REQUEST_BOUNDS.promptChunks.max;

/**
 * A lower bound on the CLIP token count of a text: CLIP's pre-tokenizer splits words, single digits and runs of
 * punctuation, and BPE turns every piece into at least one token. Attention syntax is taken out first — brackets,
 * `:1.3)` weights and BREAK never reach the text encoder — so a text whose bound is over the limit is certainly
 * too long; one under it may still need more chunks (comma backtracking, BREAK), which the engine then reports.
 */
export function countPromptTokensAtLeast(text: string): number {
  const plain = text
    .replace(/:[+-]?[.\d]+\)/g, ' ')
    .replace(/[()[\]\\]/g, ' ')
    .replace(/(?<![\p{L}\p{N}_])BREAK(?![\p{L}\p{N}_])/gu, ' ');
  const pieces = plain.toLowerCase().match(/'s|'t|'re|'ve|'m|'ll|'d|\p{L}+|\p{N}|[^\s\p{L}\p{N}]+/gu);
  return pieces?.length ?? 0;
}

/** The user-facing refusal for a text certainly over {@link PROMPT_TOKEN_LIMIT}, or undefined when it may fit. */
export function promptTooLongMessage(prompt: string, part: 'prompt' | 'negative'): LocalizedText | undefined {
  const tokens = countPromptTokensAtLeast(prompt);
  if (tokens <= PROMPT_TOKEN_LIMIT) return undefined;
  const { tokens: size, max } = REQUEST_BOUNDS.promptChunks;
  return text('error.promptTokens', { part, tokens, chunks: max, size, limit: PROMPT_TOKEN_LIMIT, over: tokens - PROMPT_TOKEN_LIMIT });
}

/** The first banned word or phrase that appears as a whole word (case-insensitive), if any. */
export function findBannedWord(prompt: string, banned: readonly string[]): string | undefined {
  const lower = prompt.toLowerCase();
  return banned.find((word) => {
    const escaped = word.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
    return new RegExp(`(^|[^\\p{L}\\p{N}])${escaped}($|[^\\p{L}\\p{N}])`, 'u').test(lower);
  });
}
