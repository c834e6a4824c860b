/** Checks on the prompt text itself, before anything is queued: its token count and the server's banned words. */
import { REQUEST_BOUNDS } from '../../protocol/generate-request.js';

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
export function promptTooLongMessage(text: string, what: 'prompt' | 'negative prompt'): string | undefined {
  const tokens = countPromptTokensAtLeast(text);
  if (tokens <= PROMPT_TOKEN_LIMIT) return undefined;
  const { tokens: size, max } = REQUEST_BOUNDS.promptChunks;
  const The = what === 'prompt' ? 'The prompt' : 'The negative prompt';
  return `${The} is at least ${tokens} tokens and the most is ${max} chunks of ${size} (${PROMPT_TOKEN_LIMIT} tokens); remove about ${tokens - PROMPT_TOKEN_LIMIT} words or symbols.`;
}

/** The first banned word or phrase that appears as a whole word (case-insensitive), if any. */
export function findBannedWord(prompt: string, banned: readonly string[]): string | undefined {
  const lower = prompt.toLowerCase();
  return banned.find((word) => {
    const escaped = word.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
    return new RegExp(`(^|[^\\p{L}\\p{N}])${escaped}($|[^\\p{L}\\p{N}])`, 'u').test(lower);
  });
}
