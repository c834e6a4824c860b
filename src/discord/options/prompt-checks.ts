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
 * The CLIP text window: 77 positions minus the start and end tokens. Every Stable Diffusion family this bot runs
 * uses a CLIP tokenizer, so this is not per model.
 */
export const PROMPT_TOKEN_WINDOW = 75;

/**
 * A lower bound on the CLIP token count of a text: CLIP's pre-tokenizer splits words, single digits and runs of
 * punctuation, and BPE turns every piece into at least one token. A text whose bound is over the window is
 * certainly too long; one under it may still be cut by the engine, which then reports a warning.
 */
export function countPromptTokensAtLeast(text: string): number {
  const pieces = text.toLowerCase().match(/'s|'t|'re|'ve|'m|'ll|'d|\p{L}+|\p{N}|[^\s\p{L}\p{N}]+/gu);
  return pieces?.length ?? 0;
}

/** The first banned word or phrase that appears as a whole word (case-insensitive), if any. */
export function findBannedWord(prompt: string, banned: readonly string[]): string | undefined {
  const lower = prompt.toLowerCase();
  return banned.find((word) => {
    const escaped = word.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
    return new RegExp(`(^|[^\\p{L}\\p{N}])${escaped}($|[^\\p{L}\\p{N}])`, 'u').test(lower);
  });
}
