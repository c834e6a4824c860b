/**
 * AUTOMATIC1111's prompt attention syntax (modules/prompt_parser.py, `parse_prompt_attention`), ported rule for rule
 * so that prompts copied from A1111, Civitai or PNG info weigh their words the same here:
 *
 *   (abc)        × 1.1            [abc]        ÷ 1.1
 *   (abc:1.3)    × 1.3            nesting multiplies: ((abc)) → 1.21
 *   \( \) \[ \]  literal brackets \\ a literal backslash
 *   BREAK        (upper case, a whole word) ends the current 75-token chunk
 *
 * A bracket left open applies to the end of the prompt; a stray closing bracket is kept as text. Runs of equal
 * weight are merged. Out of scope (A1111 features of other modules): `AND`, `[a:b:when]`, `[a|b]`.
 */
import { Identifiers, UserError } from '../../errors.js';
import { stripLoraTags } from '../../protocol/lora-tags.js';

/** One run of prompt text and its attention multiplier. `BREAK` is its own run with weight -1, as in A1111. */
export interface PromptRun {
  text: string;
  weight: number;
}

/** The run A1111 emits for the keyword BREAK; the chunker starts a new chunk when it meets it. */
export const BREAK_WEIGHT = -1;

export function isBreak(run: PromptRun): boolean {
  return run.text === 'BREAK' && run.weight === BREAK_WEIGHT;
}

// A1111's re_attention, alternative for alternative (order matters: escapes first, then `(`/`[`, then `:w)`).
// The weight group is [+-]?[.\d]+ exactly as in Python, so `(a: 1.2)` is text, as it is there.
const ATTENTION = /\\\(|\\\)|\\\[|\\\]|\\\\|\\|\(|\[|:([+-]?[.\d]+)\)|\)|\]|[^\\()[\]:]+|:/g;

// A1111's re_break `\s*\bBREAK\b\s*`. Python's \b is Unicode-aware and JavaScript's is ASCII-only, so the word
// boundary is spelt out with Unicode classes: "éBREAK" is not a break in Python either.
const BREAK_SPLIT = /\s*(?<![\p{L}\p{N}_])BREAK(?![\p{L}\p{N}_])\s*/u;

const ROUND = 1.1;
const SQUARE = 1 / 1.1;

/**
 * Parses attention syntax into runs of text and weight, exactly as A1111's `parse_prompt_attention` does.
 * @throws UserError when a `(text:weight)` weight is not a number (A1111 fails on these too), e.g. `(a:1.2.3)`.
 */
export function parsePromptAttention(text: string): PromptRun[] {
  const res: PromptRun[] = [];
  const roundBrackets: number[] = [];
  const squareBrackets: number[] = [];
  const multiplyRange = (start: number, multiplier: number) => {
    for (let p = start; p < res.length; p++) res[p].weight *= multiplier;
  };

  // LoRA tags pick networks, they are not text (A1111 strips them before parsing): every encoder path comes through here.
  for (const m of stripLoraTags(text).matchAll(ATTENTION)) {
    const token = m[0];
    const weight = m[1];
    if (token.startsWith('\\')) {
      // A lone backslash yields an empty run, as `text[1:]` does in Python.
      res.push({ text: token.slice(1), weight: 1 });
    } else if (token === '(') {
      roundBrackets.push(res.length);
    } else if (token === '[') {
      squareBrackets.push(res.length);
    } else if (weight !== undefined && roundBrackets.length > 0) {
      multiplyRange(roundBrackets.pop()!, parseWeight(weight, text));
    } else if (token === ')' && roundBrackets.length > 0) {
      multiplyRange(roundBrackets.pop()!, ROUND);
    } else if (token === ']' && squareBrackets.length > 0) {
      multiplyRange(squareBrackets.pop()!, SQUARE);
    } else {
      token.split(BREAK_SPLIT).forEach((part, i) => {
        if (i > 0) res.push({ text: 'BREAK', weight: BREAK_WEIGHT });
        res.push({ text: part, weight: 1 });
      });
    }
  }
  // Unclosed brackets apply to the end; A1111 closes the round ones first, then the square ones.
  for (const pos of roundBrackets) multiplyRange(pos, ROUND);
  for (const pos of squareBrackets) multiplyRange(pos, SQUARE);

  if (res.length === 0) res.push({ text: '', weight: 1 });

  // Merge runs of identical weights (exact float equality, as in Python).
  let i = 0;
  while (i + 1 < res.length) {
    if (res[i].weight === res[i + 1].weight) {
      res[i].text += res[i + 1].text;
      res.splice(i + 1, 1);
    } else {
      i++;
    }
  }
  return res;
}

/** Python's float() on `[+-]?[.\d]+`: "1.", ".5" and "+2" are numbers, "1.2.3" and "." are not. */
function parseWeight(weight: string, prompt: string): number {
  if (!/^[+-]?(\d+\.?\d*|\.\d+)$/.test(weight)) {
    throw new UserError(Identifiers.InvalidArgument, `"${weight}" in "(…:${weight})" is not a number; write the weight like (word:1.2).`, { prompt });
  }
  return Number(weight);
}
