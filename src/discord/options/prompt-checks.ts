/** Checks on the prompt text itself, before anything is queued: its token count and the server's banned words. */

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
