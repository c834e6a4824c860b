import { textCleanup } from './text-cleanup.js';

const LETTER_RUN = /\p{L}+/gu;
/** A run of letters split into its Han and non-Han parts ("猫cat" → "猫", "cat"). */
const HAN_OR_OTHER = /\p{Script=Han}+|[^\p{Script=Han}]+/gu;
const HAN_START = /^\p{Script=Han}/u;
const ALL_HAN = /^\p{Script=Han}+$/u;

/**
 * The prompt words a model with a known vocabulary does not know, each once, in order of appearance.
 *
 * `text` goes through the CLIP tokenizer's own clean-up (`textCleanup`: HTML unescape, NFC, whitespace, lower case)
 * and is split into runs of letters (`\p{L}+`); `known` holds lower-cased words. A run without Han characters is one
 * word, known or not. Chinese is written without spaces, so a run of Han characters is segmented against the known
 * words instead, by greedy longest match from the left: at each character, the longest known word that starts there
 * is taken; characters no known word covers are gathered into maximal consecutive stretches, each reported as one
 * unknown word ("一只狗在火星上" with 一只, 在, 火星, 上 known → "狗"). The known list is itself the dictionary, so no
 * Chinese segmenter (jieba and the like, with its own vocabulary and statistics) is needed; greedy longest match is
 * the classic dictionary segmentation, deterministic, linear in the prompt, and what a user reading the known-word
 * list expects ("火星" is one word when "火星" is listed, not "火" + "星").
 */
export function unknownWords(text: string, known: ReadonlySet<string>): string[] {
  const unknown = new Set<string>();
  let longestHanWord: number | undefined;
  for (const [run] of textCleanup(text).matchAll(LETTER_RUN)) {
    for (const [part] of run.matchAll(HAN_OR_OTHER)) {
      if (!HAN_START.test(part)) {
        if (!known.has(part)) unknown.add(part);
        continue;
      }
      longestHanWord ??= longestHanKnownWord(known);
      for (const stretch of uncoveredHan(part, known, longestHanWord)) unknown.add(stretch);
    }
  }
  return [...unknown];
}

/** Length in characters (code points) of the longest all-Han known word; 0 when there is none. */
function longestHanKnownWord(known: ReadonlySet<string>): number {
  let longest = 0;
  for (const word of known) if (ALL_HAN.test(word)) longest = Math.max(longest, [...word].length);
  return longest;
}

/** The maximal stretches of `han` (all Han characters) that greedy longest match against `known` leaves uncovered. */
function uncoveredHan(han: string, known: ReadonlySet<string>, longest: number): string[] {
  // Code points, not UTF-16 units: CJK Extension B and later characters are surrogate pairs.
  const chars = [...han];
  const stretches: string[] = [];
  let stretch = '';
  let i = 0;
  while (i < chars.length) {
    let matched = 0;
    for (let length = Math.min(longest, chars.length - i); length > 0; length--) {
      if (known.has(chars.slice(i, i + length).join(''))) {
        matched = length;
        break;
      }
    }
    if (matched) {
      if (stretch) stretches.push(stretch);
      stretch = '';
      i += matched;
    } else {
      stretch += chars[i];
      i += 1;
    }
  }
  if (stretch) stretches.push(stretch);
  return stretches;
}
