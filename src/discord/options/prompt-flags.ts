import type { UserError } from '../../errors.js';
import { text } from '../../i18n/translate.js';
import { err, ok, type Result } from '../result.js';
import { invalid } from './invalid.js';

/** Flags recognised inside the prompt, Midjourney style. Values are the canonical names. */
const FLAG_ALIASES: Record<string, FlagName> = {
  ar: 'ar',
  aspect: 'ar',
  seed: 'seed',
  no: 'no',
  steps: 'steps',
  cfg: 'cfg',
  sampler: 'sampler',
  count: 'count',
  size: 'size',
  model: 'model',
  'clip-skip': 'clipSkip',
  clipskip: 'clipSkip',
  // ControlNet (issue #15): the control image itself comes from the `control_image` option or the 🎛 button.
  control: 'control',
  'control-strength': 'controlStrength',
  preprocess: 'preprocess',
  'canny-low': 'cannyLow',
  'canny-high': 'cannyHigh',
};
export type FlagName =
  | 'ar'
  | 'seed'
  | 'no'
  | 'steps'
  | 'cfg'
  | 'sampler'
  | 'count'
  | 'size'
  | 'model'
  | 'clipSkip'
  | 'control'
  | 'controlStrength'
  | 'preprocess'
  | 'cannyLow'
  | 'cannyHigh';
const FLAG_LIST =
  '--ar W:H, --seed N, --no words, --steps N, --cfg X, --sampler NAME, --count N, --size WxH, --model NAME, --clip-skip N, --control NAME, --control-strength S, --preprocess none|canny|depth, --canny-low N, --canny-high N';

export interface PromptFlags {
  /** The prompt with the flags taken out. */
  prompt: string;
  /** `--no` values, in order. */
  no: string[];
  ar?: string;
  seed?: string;
  steps?: string;
  cfg?: string;
  sampler?: string;
  count?: string;
  size?: string;
  model?: string;
  clipSkip?: string;
  control?: string;
  controlStrength?: string;
  preprocess?: string;
  cannyLow?: string;
  cannyHigh?: string;
}

/**
 * Splits Midjourney-style flags out of a prompt. `--no` takes every word up to the next flag; every other flag
 * takes one word, and words after it go back to the prompt. Phones turn `--` into an em dash (—) or an en dash
 * pair, so those count as `--` too.
 */
export function extractPromptFlags(raw: string): Result<PromptFlags, UserError> {
  const words = raw
    .replace(/[\u2014\u2013]{1,2}(?=[a-z])/gi, '--')
    .split(/\s+/)
    .filter((word) => word !== '');
  const promptWords: string[] = [];
  const flags: PromptFlags = { prompt: '', no: [] };
  for (let i = 0; i < words.length; i++) {
    const word = words[i];
    const match = /^--([a-z]+(?:-[a-z]+)*)$/i.exec(word);
    if (!match) {
      if (word.startsWith('--') && word.length > 2) {
        return err(invalid(text('error.flagSpacing', { word, flags: FLAG_LIST })));
      }
      promptWords.push(word);
      continue;
    }
    const name = FLAG_ALIASES[match[1].toLowerCase()];
    if (!name) {
      return err(invalid(text('error.unknownFlag', { word, flags: FLAG_LIST }), { flag: word }));
    }
    if (name === 'no') {
      const taken: string[] = [];
      while (i + 1 < words.length && !/^--[a-z]/i.test(words[i + 1])) taken.push(words[++i]);
      if (taken.length === 0) return err(invalid(text('error.noWords')));
      flags.no.push(taken.join(' ').replace(/,$/, ''));
      continue;
    }
    const value = words[i + 1];
    if (value === undefined || /^--[a-z]/i.test(value)) {
      return err(invalid(text('error.flagValue', { flag: match[1].toLowerCase(), example: flagExample(name) })));
    }
    if (flags[name] !== undefined) {
      return err(invalid(text('error.flagTwice', { flag: match[1].toLowerCase() })));
    }
    flags[name] = value;
    i++;
  }
  flags.prompt = promptWords.join(' ');
  return ok(flags);
}

function flagExample(name: FlagName): string {
  const examples: Record<FlagName, string> = {
    ar: '--ar 16:9',
    seed: '--seed 42',
    no: '--no text',
    steps: '--steps 25',
    cfg: '--cfg 7.5',
    sampler: '--sampler euler_a',
    count: '--count 4',
    size: '--size 512x768',
    model: '--model NAME',
    clipSkip: '--clip-skip 2',
    control: '--control canny',
    controlStrength: '--control-strength 0.8',
    preprocess: '--preprocess canny',
    cannyLow: '--canny-low 50',
    cannyHigh: '--canny-high 150',
  };
  return examples[name];
}
