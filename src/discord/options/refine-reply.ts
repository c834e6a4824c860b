import type { UserError } from '../../errors.js';
import type { Job } from '../../queue/job.js';
import { text } from '../../i18n/translate.js';
import { err, ok, type Result } from '../result.js';
import type { ImagineInput } from './imagine-options.js';
import { invalid } from './invalid.js';
import { cleanPromptText, hasVisibleCharacter } from './prompt-checks.js';
import { extractPromptFlags } from './prompt-flags.js';

/**
 * The text of a message with the bot's own mentions (`<@id>`, and the older `<@!id>`) taken out, or undefined when
 * the text does not mention the bot. Only a mention typed in the text counts: the ping Discord adds to a reply is
 * not one, so replying to a result without addressing the bot stays a conversation between members.
 */
export function stripBotMention(content: string, botId: string): string | undefined {
  const mention = new RegExp(`<@!?${botId}>`, 'g');
  if (!mention.test(content)) return undefined;
  return content.replace(mention, ' ').replace(/\s+/g, ' ').trim();
}

/** `--replace` (or its phone-dash forms) anywhere in the reply: the reply is the whole new prompt. */
const REPLACE_FLAG = /(?:^|\s)(?:--|[\u2014\u2013]{1,2})replace(?=\s|$)/gi;

export interface RefineInput {
  /** What parseImagineOptions gets: the combined (or replacing) prompt text with the reply's flags, and the original's settings the reply does not change. */
  input: ImagineInput;
  /** `--replace` was given. */
  replace: boolean;
  /** The reply's words without its flags (what was added to the prompt, or the new prompt). */
  addition: string;
  /** The seed the new job keeps (the original's first), unless the reply sets `--seed`. */
  seed: number | undefined;
}

/**
 * A reply to a result → the input of a new job: the original prompt plus the reply ("make it blue, at night"), or
 * with `--replace` the reply alone; the same seed, model, size, steps, cfg, sampler, count and negative prompt as
 * the original unless the reply's own flags (parsed as in /imagine) set them; `--no` adds to the original's negative
 * prompt. Validation against the server's limits, banned words and models is parseImagineOptions' job.
 */
export function buildRefineInput(original: Pick<Job, 'request' | 'seeds'>, reply: string): Result<RefineInput, UserError> {
  const replace = REPLACE_FLAG.test(reply);
  REPLACE_FLAG.lastIndex = 0;
  const cleaned = cleanPromptText(reply.replace(REPLACE_FLAG, ' ')).replace(/\s+/g, ' ').trim();
  const flagged = extractPromptFlags(cleaned);
  if (!flagged.ok) return flagged;
  const flags = flagged.value;
  const addition = flags.prompt.trim();
  const hasFlags =
    flags.no.length > 0 || (['ar', 'seed', 'steps', 'cfg', 'sampler', 'count', 'size', 'model'] as const).some((name) => flags[name] !== undefined);
  if (!hasVisibleCharacter(addition) && !hasFlags) {
    return err(invalid(replace ? text('refine.emptyReplace') : text('refine.empty')));
  }
  const request = original.request;
  const base = request.prompt.replace(/[\s,]+$/, '');
  const prompt = replace ? cleaned : hasVisibleCharacter(addition) ? `${base}, ${cleaned}` : `${base} ${cleaned}`;
  const seed = flags.seed === undefined ? (original.seeds[0] ?? request.seed) : undefined;
  // An upscale's size is twice the image it started from; a new image from text starts from the original size instead.
  const sizeKept = flags.size === undefined && flags.ar === undefined && request.mode.kind !== 'upscale';
  const input: ImagineInput = {
    prompt,
    negative: request.negativePrompt,
    ...(sizeKept ? { size: `${request.width}x${request.height}` } : {}),
    ...(flags.steps === undefined ? { steps: request.steps } : {}),
    ...(flags.cfg === undefined ? { cfg: request.cfg } : {}),
    ...(flags.sampler === undefined ? { sampler: request.sampler } : {}),
    ...(seed === undefined ? {} : { seed }),
    ...(flags.count === undefined ? { count: request.count } : {}),
    ...(flags.model === undefined ? { model: request.model } : {}),
  };
  return ok({ input, replace, addition, seed });
}
