import { Identifiers, UserError } from '../errors.js';
import { BOUNDS, type GuildSettings } from '../config/guild-settings.js';
import { parseSamplerName } from '../inference/schedulers/index.js';
import { SAMPLER_NAMES, type ModelDefaults, type SamplerName } from '../inference/types.js';
import { err, ok, type Result } from './result.js';

/** The raw /imagine options as Discord delivers them (unset options are undefined). */
export interface ImagineInput {
  prompt: string;
  negative?: string;
  size?: string;
  steps?: number;
  cfg?: number;
  sampler?: string;
  seed?: number;
  count?: number;
  model?: string;
}

/** What parsing needs to know about the world: the guild's settings and the worker's models. */
export interface ImagineContext {
  settings: GuildSettings;
  /** Models the worker reported; empty while the worker is starting (then the model name is not checked). */
  models: readonly { name: string; defaults: ModelDefaults }[];
  /** DEFAULT_MODEL from the environment; the first listed model when unset. */
  defaultModel?: string;
}

/** A fully resolved request: every field set, every bound checked. */
export interface ImagineParams {
  model: string;
  prompt: string;
  negativePrompt: string;
  steps: number;
  cfg: number;
  sampler: SamplerName;
  width: number;
  height: number;
  count: number;
  /** Undefined: the engine picks a random seed and reports it. */
  seed?: number;
  /** Shown to the user with the reply ("--ar 16:9 gave 680x384"). */
  notes: string[];
}

/** Used when neither the user, the guild nor the model sets a value. */
export const BUILT_IN_DEFAULTS = { steps: 20, cfg: 7, sampler: 'euler_a', width: 512, height: 512 } as const satisfies {
  steps: number;
  cfg: number;
  sampler: SamplerName;
  width: number;
  height: number;
};

/**
 * The CLIP text window: 77 positions minus the start and end tokens. Every Stable Diffusion family this bot runs
 * uses a CLIP tokenizer, so this is not per model.
 */
export const PROMPT_TOKEN_WINDOW = 75;

/** Aspect presets offered by the size option's autocomplete, besides typed `W:H` and `WxH`. */
export const SIZE_PRESETS: readonly { name: string; ratio: readonly [number, number] }[] = [
  { name: 'square', ratio: [1, 1] },
  { name: 'portrait', ratio: [2, 3] },
  { name: 'landscape', ratio: [3, 2] },
  { name: 'wide', ratio: [16, 9] },
  { name: 'tall', ratio: [9, 16] },
];

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
};
type FlagName = 'ar' | 'seed' | 'no' | 'steps' | 'cfg' | 'sampler' | 'count' | 'size' | 'model';
const FLAG_LIST = '--ar W:H, --seed N, --no words, --steps N, --cfg X, --sampler NAME, --count N, --size WxH, --model NAME';

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
}

function invalid(message: string, context: Record<string, unknown> = {}): UserError {
  return new UserError(Identifiers.InvalidArgument, message, context);
}

/**
 * Splits Midjourney-style flags out of a prompt. `--no` takes every word up to the next flag; every other flag
 * takes one word, and words after it go back to the prompt. Phones turn `--` into an em dash (—) or an en dash
 * pair, so those count as `--` too.
 */
export function extractPromptFlags(text: string): Result<PromptFlags, UserError> {
  const words = text.replace(/[\u2014\u2013]{1,2}(?=[a-z])/gi, '--').split(/\s+/).filter((word) => word !== '');
  const promptWords: string[] = [];
  const flags: PromptFlags = { prompt: '', no: [] };
  for (let i = 0; i < words.length; i++) {
    const word = words[i];
    const match = /^--([a-z]+)$/i.exec(word);
    if (!match) {
      if (word.startsWith('--') && word.length > 2) {
        return err(invalid(`\`${word}\` is not a flag I know. Flags: ${FLAG_LIST}. Put a space between a flag and its value.`));
      }
      promptWords.push(word);
      continue;
    }
    const name = FLAG_ALIASES[match[1].toLowerCase()];
    if (!name) {
      return err(invalid(`Unknown flag \`${word}\`. Remove it or use one of: ${FLAG_LIST}.`, { flag: word }));
    }
    if (name === 'no') {
      const taken: string[] = [];
      while (i + 1 < words.length && !/^--[a-z]/i.test(words[i + 1])) taken.push(words[++i]);
      if (taken.length === 0) return err(invalid('`--no` needs the words to avoid after it, e.g. `--no text, watermark`.'));
      flags.no.push(taken.join(' ').replace(/,$/, ''));
      continue;
    }
    const value = words[i + 1];
    if (value === undefined || /^--[a-z]/i.test(value)) {
      return err(invalid(`\`--${name}\` needs a value after it, e.g. ${flagExample(name)}.`));
    }
    if (flags[name] !== undefined) {
      return err(invalid(`\`--${name}\` is given twice; keep one.`));
    }
    flags[name] = value;
    i++;
  }
  flags.prompt = promptWords.join(' ');
  return ok(flags);
}

function flagExample(name: FlagName): string {
  const examples: Record<FlagName, string> = {
    ar: '`--ar 16:9`',
    seed: '`--seed 42`',
    no: '`--no text`',
    steps: '`--steps 25`',
    cfg: '`--cfg 7.5`',
    sampler: '`--sampler euler_a`',
    count: '`--count 4`',
    size: '`--size 512x768`',
    model: '`--model NAME`',
  };
  return examples[name];
}

/**
 * A lower bound on the CLIP token count of a text: CLIP's pre-tokenizer splits words, single digits and runs of
 * punctuation, and BPE turns every piece into at least one token. A text whose bound is over the window is
 * certainly too long; one under it may still be cut by the engine, which then reports a warning.
 */
export function countPromptTokensAtLeast(text: string): number {
  const pieces = text.toLowerCase().match(/'s|'t|'re|'ve|'m|'ll|'d|\p{L}+|\p{N}|[^\s\p{L}\p{N}]+/gu);
  return pieces?.length ?? 0;
}

/** Our sampler names and the A1111 display names people copy from other tools ("DPM++ 2M Karras"); undefined if neither. */
export function normalizeSamplerName(input: string): SamplerName | undefined {
  try {
    return parseSamplerName(input);
  } catch {
    return undefined;
  }
}

type Parsed<T> = Result<T | undefined, UserError>;

function parseIntOption(label: string, raw: string | number | undefined, min: number, max: number, why = ''): Parsed<number> {
  if (raw === undefined) return ok(undefined);
  const value = typeof raw === 'number' ? raw : /^[+-]?\d+$/.test(raw) ? Number(raw) : Number.NaN;
  if (!Number.isInteger(value)) return err(invalid(`${label} must be a whole number from ${min} to ${max}, got \`${raw}\`.`));
  if (value < min || value > max) {
    return err(invalid(`${label} is ${value}; use ${min} to ${max}${why}.`, { value, min, max }));
  }
  return ok(value);
}

function parseNumberOption(label: string, raw: string | number | undefined, min: number, max: number): Parsed<number> {
  if (raw === undefined) return ok(undefined);
  const value = typeof raw === 'number' ? raw : /^[+-]?(\d+\.?\d*|\.\d+)$/.test(raw) ? Number(raw) : Number.NaN;
  if (!Number.isFinite(value)) return err(invalid(`${label} must be a number from ${min} to ${max}, got \`${raw}\`.`));
  if (value < min || value > max) return err(invalid(`${label} is ${value}; use ${min} to ${max}.`, { value, min, max }));
  return ok(value);
}

/** Either side given, both sides wanted: `16:9`, `wide`, `512x768`, `512×768`. */
type SizeSpec = { kind: 'ratio'; ratio: [number, number]; label: string } | { kind: 'exact'; width: number; height: number };

export function parseSizeSpec(raw: string): Result<SizeSpec, UserError> {
  const text = raw.trim().toLowerCase();
  const preset = SIZE_PRESETS.find((p) => p.name === text);
  if (preset) return ok({ kind: 'ratio', ratio: [preset.ratio[0], preset.ratio[1]], label: preset.name });
  const ratio = /^(\d{1,3})\s*:\s*(\d{1,3})$/.exec(text);
  if (ratio) {
    const a = Number(ratio[1]);
    const b = Number(ratio[2]);
    if (a === 0 || b === 0 || Math.max(a / b, b / a) > 4) {
      return err(invalid(`Aspect ratio \`${raw}\` is out of range; use a ratio between 1:4 and 4:1, e.g. 16:9.`));
    }
    return ok({ kind: 'ratio', ratio: [a, b], label: `${a}:${b}` });
  }
  const exact = /^(\d{1,5})\s*[x×*]\s*(\d{1,5})$/.exec(text);
  if (exact) return ok({ kind: 'exact', width: Number(exact[1]), height: Number(exact[2]) });
  return err(
    invalid(`Size \`${raw}\` is not one I understand. Use a ratio such as 16:9, a preset (${SIZE_PRESETS.map((p) => p.name).join(', ')}) or WxH such as 512x768.`),
  );
}

const roundTo = (value: number, multiple: number) => Math.max(multiple, Math.round(value / multiple) * multiple);

/** Fits a ratio to the pixel area of the default size, each side a multiple of 8 and within the side bounds. */
export function sizeForRatio(ratio: readonly [number, number], area: number): { width: number; height: number } {
  const { min, max, multiple } = BOUNDS.side;
  const width = Math.sqrt((area * ratio[0]) / ratio[1]);
  const clampSide = (v: number) => Math.min(max, Math.max(min, roundTo(v, multiple)));
  return { width: clampSide(width), height: clampSide((width * ratio[1]) / ratio[0]) };
}

function findBannedWord(prompt: string, banned: readonly string[]): string | undefined {
  const lower = prompt.toLowerCase();
  return banned.find((word) => {
    const escaped = word.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
    return new RegExp(`(^|[^\\p{L}\\p{N}])${escaped}($|[^\\p{L}\\p{N}])`, 'u').test(lower);
  });
}

function pick<T>(option: T | undefined, flag: T | undefined, label: string, same: (a: T, b: T) => boolean): Result<T | undefined, UserError> {
  if (option !== undefined && flag !== undefined && !same(option, flag)) {
    return err(invalid(`${label} is set twice, as an option and as a prompt flag, with different values; keep one.`));
  }
  return ok(option ?? flag);
}

/**
 * A number given as a slash option or as an in-prompt flag: each is parsed and bounded under its own name (so the
 * message says which one to fix), then they must agree if both are set.
 */
function optionOrFlag(
  parse: typeof parseIntOption,
  names: { option: string; flag: string; both: string },
  option: string | number | undefined,
  flag: string | number | undefined,
  min: number,
  max: number,
  why = '',
): Parsed<number> {
  const fromOption = parse(names.option, option, min, max, why);
  if (!fromOption.ok) return fromOption;
  const fromFlag = parse(names.flag, flag, min, max, why);
  if (!fromFlag.ok) return fromFlag;
  return pick(fromOption.value, fromFlag.value, names.both, (a, b) => a === b);
}

/**
 * /imagine options + prompt flags + guild defaults + model defaults → a request inside the guild's limits.
 * Precedence: option or flag, then the guild default, then the model's imagine-bot.json, then BUILT_IN_DEFAULTS.
 * Never throws; every failure is a UserError whose message says what to change.
 */
export function parseImagineOptions(input: ImagineInput, context: ImagineContext): Result<ImagineParams, UserError> {
  const { settings } = context;
  const { limits } = settings;
  const notes: string[] = [];

  const flagged = extractPromptFlags(input.prompt);
  if (!flagged.ok) return flagged;
  const flags = flagged.value;
  const prompt = flags.prompt.trim();
  if (prompt === '') return err(invalid('The prompt is empty: describe the image before the flags, e.g. `a lighthouse at dusk --ar 16:9`.'));
  if (prompt.length > BOUNDS.promptChars) {
    return err(new UserError(Identifiers.PromptTooLong, `The prompt has ${prompt.length} characters; shorten it to ${BOUNDS.promptChars} or fewer.`));
  }
  const promptTokens = countPromptTokensAtLeast(prompt);
  if (promptTokens > PROMPT_TOKEN_WINDOW) {
    return err(
      new UserError(
        Identifiers.PromptTooLong,
        `The prompt is at least ${promptTokens} tokens and the model reads ${PROMPT_TOKEN_WINDOW}; remove about ${promptTokens - PROMPT_TOKEN_WINDOW} words or symbols.`,
        { tokens: promptTokens },
      ),
    );
  }
  const banned = findBannedWord(prompt, settings.bannedWords);
  if (banned !== undefined) {
    return err(new UserError(Identifiers.NotAllowed, `This server does not allow \`${banned}\` in prompts; remove it and try again.`, { word: banned }));
  }

  // Model first: its defaults fill what the user and the guild leave unset.
  const modelChoice = pick(input.model?.trim() || undefined, flags.model, 'The model', (a, b) => a === b);
  if (!modelChoice.ok) return modelChoice;
  const modelName = modelChoice.value ?? settings.defaults.model ?? context.defaultModel ?? context.models[0]?.name;
  if (modelName === undefined) {
    return err(new UserError(Identifiers.UnknownModel, 'No model is installed yet; ask the bot owner to add one under MODELS_DIR.'));
  }
  const model = context.models.find((m) => m.name === modelName);
  if (context.models.length > 0 && model === undefined) {
    const names = context.models.map((m) => m.name).join(', ');
    return err(new UserError(Identifiers.UnknownModel, `Unknown model \`${modelName}\`; choose one of: ${names}.`, { model: modelName }));
  }
  const modelDefaults = model?.defaults ?? {};

  const stepsMax = Math.min(BOUNDS.steps.max, limits.maxSteps);
  const stepsWhy = limits.maxSteps < BOUNDS.steps.max ? ' (this server\'s max steps)' : '';
  const stepsPicked = optionOrFlag(parseIntOption, { option: 'Steps', flag: '`--steps`', both: 'Steps' }, input.steps, flags.steps, BOUNDS.steps.min, stepsMax, stepsWhy);
  if (!stepsPicked.ok) return stepsPicked;
  // Defaults above the guild's max (a model default, a limit lowered later) are clamped, not refused: the user did not ask for them.
  const steps = stepsPicked.value ?? Math.min(settings.defaults.steps ?? modelDefaults.steps ?? BUILT_IN_DEFAULTS.steps, stepsMax);

  const cfgPicked = optionOrFlag(parseNumberOption, { option: 'CFG', flag: '`--cfg`', both: 'CFG' }, input.cfg, flags.cfg, BOUNDS.cfg.min, BOUNDS.cfg.max);
  if (!cfgPicked.ok) return cfgPicked;
  const cfg = cfgPicked.value ?? settings.defaults.cfg ?? modelDefaults.cfg ?? BUILT_IN_DEFAULTS.cfg;

  const samplerRaw = pick(input.sampler, flags.sampler, 'The sampler', (a, b) => normalizeSamplerName(a) === normalizeSamplerName(b));
  if (!samplerRaw.ok) return samplerRaw;
  let sampler: SamplerName = settings.defaults.sampler ?? modelDefaults.sampler ?? BUILT_IN_DEFAULTS.sampler;
  if (samplerRaw.value !== undefined) {
    const name = normalizeSamplerName(samplerRaw.value);
    if (name === undefined) {
      return err(new UserError(Identifiers.UnknownSampler, `Unknown sampler \`${samplerRaw.value}\`; use one of: ${SAMPLER_NAMES.join(', ')}.`));
    }
    sampler = name;
  }

  const seedPicked = optionOrFlag(parseIntOption, { option: 'Seed', flag: '`--seed`', both: 'The seed' }, input.seed, flags.seed, BOUNDS.seed.min, BOUNDS.seed.max);
  if (!seedPicked.ok) return seedPicked;

  const countMax = Math.min(BOUNDS.count.max, limits.maxCount);
  const countWhy = limits.maxCount < BOUNDS.count.max ? " (this server's max count)" : '';
  const countPicked = optionOrFlag(parseIntOption, { option: 'Count', flag: '`--count`', both: 'Count' }, input.count, flags.count, BOUNDS.count.min, countMax, countWhy);
  if (!countPicked.ok) return countPicked;
  const count = countPicked.value ?? Math.min(settings.defaults.count ?? 1, countMax);

  // Size: `size` option, `--size` or `--ar` (one of them), else the default size.
  const sizeSources = [input.size?.trim() || undefined, flags.size, flags.ar].filter((s): s is string => s !== undefined);
  if (sizeSources.length > 1 && new Set(sizeSources.map((s) => s.toLowerCase())).size > 1) {
    return err(invalid('The size is set more than once (size option, `--size`, `--ar`); keep one.'));
  }
  const defaultWidth = settings.defaults.width ?? modelDefaults.width ?? BUILT_IN_DEFAULTS.width;
  const defaultHeight = settings.defaults.height ?? modelDefaults.height ?? BUILT_IN_DEFAULTS.height;
  let width = defaultWidth;
  let height = defaultHeight;
  let userSized = false;
  if (sizeSources.length > 0) {
    const spec = parseSizeSpec(sizeSources[0]);
    if (!spec.ok) return spec;
    userSized = true;
    if (spec.value.kind === 'exact') {
      ({ width, height } = spec.value);
      const { min, max, multiple } = BOUNDS.side;
      if (width < min || height < min || width > max || height > max || width % multiple !== 0 || height % multiple !== 0) {
        const suggestion = `${Math.min(max, Math.max(min, roundTo(width, multiple)))}x${Math.min(max, Math.max(min, roundTo(height, multiple)))}`;
        return err(
          new UserError(
            Identifiers.InvalidSize,
            `Size ${width}x${height} is not allowed: each side must be a multiple of ${multiple} from ${min} to ${max}. Try ${suggestion}.`,
          ),
        );
      }
    } else {
      ({ width, height } = sizeForRatio(spec.value.ratio, defaultWidth * defaultHeight));
      notes.push(`${spec.value.label} → ${width}x${height}`);
    }
  }
  if (width * height > limits.maxPixels) {
    if (userSized) {
      const fit = Math.sqrt(limits.maxPixels / (width * height));
      const floor8 = (v: number) => Math.max(BOUNDS.side.min, Math.floor(v / BOUNDS.side.multiple) * BOUNDS.side.multiple);
      const suggestion = `${floor8(width * fit)}x${floor8(height * fit)}`;
      return err(
        new UserError(
          Identifiers.InvalidSize,
          `${width}x${height} is ${width * height} pixels; this server allows ${limits.maxPixels} per image. Try ${suggestion} or a ratio such as 16:9.`,
        ),
      );
    }
    // A default bigger than the limit (a large model default): shrink it, keeping its shape.
    ({ width, height } = sizeForRatio([width, height], limits.maxPixels));
    while (width * height > limits.maxPixels) {
      width -= BOUNDS.side.multiple;
      height = roundTo((width * defaultHeight) / defaultWidth, BOUNDS.side.multiple);
    }
  }

  // An explicit negative option replaces the defaults; `--no` adds to whatever applies, as Midjourney's --no adds a
  // negative weight rather than replacing anything.
  const baseNegative = input.negative?.trim() ?? settings.defaults.negativePrompt ?? modelDefaults.negativePrompt ?? '';
  const negativeParts = [baseNegative, ...flags.no].filter((part) => part !== '');
  const negativePrompt = negativeParts.join(', ');
  if (negativePrompt.length > BOUNDS.negativeChars) {
    return err(invalid(`The negative prompt has ${negativePrompt.length} characters; shorten it to ${BOUNDS.negativeChars} or fewer.`));
  }
  const negativeTokens = countPromptTokensAtLeast(negativePrompt);
  if (negativeTokens > PROMPT_TOKEN_WINDOW) {
    return err(
      new UserError(
        Identifiers.PromptTooLong,
        `The negative prompt is at least ${negativeTokens} tokens and the model reads ${PROMPT_TOKEN_WINDOW}; remove about ${negativeTokens - PROMPT_TOKEN_WINDOW} words.`,
      ),
    );
  }

  return ok({ model: modelName, prompt, negativePrompt, steps, cfg, sampler, width, height, count, seed: seedPicked.value, notes });
}
