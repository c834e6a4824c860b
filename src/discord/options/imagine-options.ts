import { Identifiers, UserError } from '../../errors.js';
import { BOUNDS, type GuildSettings } from '../../config/guild-settings.js';
import { REQUEST_DEFAULTS, type JobRequest, type ModelSummary } from '../../protocol/generate-request.js';
import { normalizeSamplerName, SAMPLER_NAMES, type SamplerName } from '../../protocol/samplers.js';
import { err, ok, type Result } from '../result.js';
import { unknownModelError } from './guild-checks.js';
import { parseControlOptions, CONTROL_TEXT, type ControlChoice } from './control-options.js';
import { checkLoraTags } from './lora-checks.js';
import { invalid } from './invalid.js';
import { optionOrFlag, parseIntOption, parseNumberOption, pick } from './numbers.js';
import { cleanPromptText, findBannedWord, hasVisibleCharacter, promptTooLongMessage } from './prompt-checks.js';
import { extractPromptFlags } from './prompt-flags.js';
import { parseSizeSpec, roundTo, sdxlSizeForRatio, sizeForRatio } from './size.js';

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
  clipSkip?: number;
  /** ControlNet (issue #15): the `control`, `control_strength` and `preprocess` options. */
  control?: string;
  controlStrength?: number;
  preprocess?: string;
  /** Whether a control image came with the command (it is downloaded after the acknowledgement). */
  controlImage?: boolean;
}

/** What parsing needs to know about the world: the guild's settings and the worker's models. */
export interface ImagineContext {
  settings: GuildSettings;
  /** The installed models users may pick (the bot reads MODELS_DIR itself, so this is known from the start). */
  models: readonly (Pick<ModelSummary, 'name' | 'defaults' | 'fixedSize'> & Partial<Pick<ModelSummary, 'family' | 'controlNets'>>)[];
  /** Why an installed model is set aside (it failed to load), if it is. */
  brokenReason?: (model: string) => string | undefined;
  /** DEFAULT_MODEL from the environment; the first listed model when unset. */
  defaultModel?: string;
  /** Installed LoRAs (LORAS_DIR, read by the bot); `<lora:…>` tags are checked against them when given. */
  loras?: readonly { name: string }[];
  /** Whether ControlNet's depth preprocessor model is installed (the bot reads MODELS_DIR); unknown when absent. */
  depthInstalled?: () => boolean;
}

/** A fully resolved request (the request contract's fields, every bound checked) and what to tell the user about it. */
export type ImagineParams = Omit<JobRequest, 'mode' | 'previewEvery'> & {
  /** Shown to the user with the reply ("--ar 16:9 gave 680x384"). */
  notes: string[];
  /** The ControlNet unit, when a control image came with the command. */
  control?: ControlChoice;
  /** Whether the user set the size (option, `--size` or `--ar`); otherwise an uploaded picture's aspect may set it. */
  sizeGiven: boolean;
};

/**
 * /imagine options + prompt flags + guild defaults + model defaults → a request inside the guild's limits.
 * Precedence: option or flag, then the guild default, then the model's imagine-bot.json, then REQUEST_DEFAULTS.
 * Never throws; every failure is a UserError whose message says what to change.
 */
export function parseImagineOptions(input: ImagineInput, context: ImagineContext): Result<ImagineParams, UserError> {
  const { settings } = context;
  const { limits } = settings;
  const notes: string[] = [];

  // Cleaned before the flags are read, so a zero-width character cannot hide a flag or make an empty prompt look full.
  const flagged = extractPromptFlags(cleanPromptText(input.prompt));
  if (!flagged.ok) return flagged;
  const flags = flagged.value;
  const prompt = flags.prompt.trim();
  if (!hasVisibleCharacter(prompt))
    return err(invalid('The prompt is empty: describe the image before the flags, e.g. `a lighthouse at dusk --ar 16:9`.'));
  if (prompt.length > BOUNDS.promptChars) {
    return err(new UserError(Identifiers.PromptTooLong, `The prompt has ${prompt.length} characters; shorten it to ${BOUNDS.promptChars} or fewer.`));
  }
  const promptTooLong = promptTooLongMessage(prompt, 'prompt');
  if (promptTooLong) return err(new UserError(Identifiers.PromptTooLong, promptTooLong));
  const banned = findBannedWord(prompt, settings.bannedWords);
  if (banned !== undefined) {
    return err(
      new UserError(Identifiers.NotAllowed, `This server does not allow \`${banned}\` in prompts; remove it and try again.`, { word: banned }),
    );
  }
  const loras = checkLoraTags(prompt, settings, context.loras);
  if (!loras.ok) return loras;

  // Model first: its defaults fill what the user and the guild leave unset.
  const modelChoice = pick(input.model?.trim() || undefined, flags.model, 'The model', (a, b) => a === b);
  if (!modelChoice.ok) return modelChoice;
  const modelName = modelChoice.value ?? settings.defaults.model ?? context.defaultModel ?? context.models[0]?.name;
  if (modelName === undefined) {
    return err(new UserError(Identifiers.UnknownModel, 'No model is installed yet; ask the bot owner to add one under MODELS_DIR.'));
  }
  // Only installed model names get through, whether or not the worker is up: a path or a made-up name never
  // reaches the worker, and the answer never shows where models live on the server.
  const chosenBy = modelChoice.value !== undefined ? '' : settings.defaults.model !== undefined ? " (this server's default)" : " (the bot's default)";
  const unknownModel = unknownModelError(modelName, context.models, { brokenReason: context.brokenReason, chosenBy });
  if (unknownModel) return err(unknownModel);
  const model = context.models.find((m) => m.name === modelName)!;
  const modelDefaults = model.defaults;

  const control = parseControlOptions(
    { net: input.control, strength: input.controlStrength, preprocess: input.preprocess },
    flags,
    model,
    context.models,
    input.controlImage === true,
    context.depthInstalled,
  );
  if (!control.ok) return control;
  if (control.value?.preprocess === 'none') notes.push(CONTROL_TEXT.mapAsIs);

  const stepsMax = Math.min(BOUNDS.steps.max, limits.maxSteps);
  const stepsWhy = limits.maxSteps < BOUNDS.steps.max ? " (this server's max steps)" : '';
  const stepsPicked = optionOrFlag(
    parseIntOption,
    { option: 'Steps', flag: '`--steps`', both: 'Steps' },
    input.steps,
    flags.steps,
    BOUNDS.steps.min,
    stepsMax,
    stepsWhy,
  );
  if (!stepsPicked.ok) return stepsPicked;
  // Defaults above the guild's max (a model default, a limit lowered later) are clamped, not refused: the user did not ask for them.
  const steps = stepsPicked.value ?? Math.min(settings.defaults.steps ?? modelDefaults.steps ?? REQUEST_DEFAULTS.steps, stepsMax);

  const cfgPicked = optionOrFlag(
    parseNumberOption,
    { option: 'CFG', flag: '`--cfg`', both: 'CFG' },
    input.cfg,
    flags.cfg,
    BOUNDS.cfg.min,
    BOUNDS.cfg.max,
  );
  if (!cfgPicked.ok) return cfgPicked;
  const cfg = cfgPicked.value ?? settings.defaults.cfg ?? modelDefaults.cfg ?? REQUEST_DEFAULTS.cfg;

  const samplerRaw = pick(input.sampler, flags.sampler, 'The sampler', (a, b) => normalizeSamplerName(a) === normalizeSamplerName(b));
  if (!samplerRaw.ok) return samplerRaw;
  let sampler: SamplerName = settings.defaults.sampler ?? modelDefaults.sampler ?? REQUEST_DEFAULTS.sampler;
  if (samplerRaw.value !== undefined) {
    const name = normalizeSamplerName(samplerRaw.value);
    if (name === undefined) {
      return err(new UserError(Identifiers.UnknownSampler, `Unknown sampler \`${samplerRaw.value}\`; use one of: ${SAMPLER_NAMES.join(', ')}.`));
    }
    sampler = name;
  }

  const clipSkipPicked = optionOrFlag(
    parseIntOption,
    { option: 'Clip skip', flag: '`--clip-skip`', both: 'Clip skip' },
    input.clipSkip,
    flags.clipSkip,
    BOUNDS.clipSkip.min,
    BOUNDS.clipSkip.max,
  );
  if (!clipSkipPicked.ok) return clipSkipPicked;
  const clipSkip = clipSkipPicked.value ?? modelDefaults.clipSkip ?? REQUEST_DEFAULTS.clipSkip;

  const seedPicked = optionOrFlag(
    parseIntOption,
    { option: 'Seed', flag: '`--seed`', both: 'The seed' },
    input.seed,
    flags.seed,
    BOUNDS.seed.min,
    BOUNDS.seed.max,
  );
  if (!seedPicked.ok) return seedPicked;

  const countMax = Math.min(BOUNDS.count.max, limits.maxCount);
  const countWhy = limits.maxCount < BOUNDS.count.max ? " (this server's max count)" : '';
  const countPicked = optionOrFlag(
    parseIntOption,
    { option: 'Count', flag: '`--count`', both: 'Count' },
    input.count,
    flags.count,
    BOUNDS.count.min,
    countMax,
    countWhy,
  );
  if (!countPicked.ok) return countPicked;
  const count = countPicked.value ?? Math.min(settings.defaults.count ?? 1, countMax);

  // Size: `size` option, `--size` or `--ar` (one of them), else the default size.
  const sizeSources = [input.size?.trim() || undefined, flags.size, flags.ar].filter((s): s is string => s !== undefined);
  if (sizeSources.length > 1 && new Set(sizeSources.map((s) => s.toLowerCase())).size > 1) {
    return err(invalid('The size is set more than once (size option, `--size`, `--ar`); keep one.'));
  }
  // SDXL (#12) draws at about 1024×1024 and worse far below it: that is its default when nothing else says.
  const sdxl = model.family === 'sdxl';
  const familyDefault = sdxl ? 1024 : undefined;
  const defaultWidth = settings.defaults.width ?? modelDefaults.width ?? familyDefault ?? REQUEST_DEFAULTS.width;
  const defaultHeight = settings.defaults.height ?? modelDefaults.height ?? familyDefault ?? REQUEST_DEFAULTS.height;
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
      // SDXL: the nearest of its training buckets rather than any size of the right shape.
      ({ width, height } = (sdxl ? sdxlSizeForRatio : sizeForRatio)(spec.value.ratio, defaultWidth * defaultHeight));
      notes.push(`${spec.value.label} → ${width}x${height}${sdxl ? ' (SDXL bucket)' : ''}`);
    }
  }
  // A model exported for one size draws that size only: fit the request to it here rather than fail in the worker.
  const fixed = model.fixedSize;
  if (fixed && (width !== fixed[0] || height !== fixed[1])) {
    if (userSized || settings.defaults.width !== undefined)
      notes.push(`${modelName} draws ${fixed[0]}x${fixed[1]} only; used that instead of ${width}x${height}`);
    [width, height] = fixed;
  }
  if (fixed && width * height > limits.maxPixels) {
    return err(
      new UserError(
        Identifiers.InvalidSize,
        `\`${modelName}\` draws ${width}x${height} (${width * height} pixels) only, over this server's max pixels (${limits.maxPixels}). Ask an admin to raise it in /config limits, or pick another model.`,
      ),
    );
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
  const baseNegative = input.negative ?? settings.defaults.negativePrompt ?? modelDefaults.negativePrompt ?? '';
  const negativeParts = [baseNegative, ...flags.no].map((part) => cleanPromptText(part).trim()).filter(hasVisibleCharacter);
  const negativePrompt = negativeParts.join(', ');
  if (negativePrompt.length > BOUNDS.negativeChars) {
    return err(invalid(`The negative prompt has ${negativePrompt.length} characters; shorten it to ${BOUNDS.negativeChars} or fewer.`));
  }
  // The negative prompt is shown in the public result message too, so the server's banned words apply to it as well.
  const bannedNegative = findBannedWord(negativePrompt, settings.bannedWords);
  if (bannedNegative !== undefined) {
    return err(
      new UserError(
        Identifiers.NotAllowed,
        `This server does not allow \`${bannedNegative}\` in prompts; remove it from the negative prompt and try again.`,
        { word: bannedNegative },
      ),
    );
  }
  const negativeTooLong = promptTooLongMessage(negativePrompt, 'negative prompt');
  if (negativeTooLong) return err(new UserError(Identifiers.PromptTooLong, negativeTooLong));

  return ok({
    model: modelName,
    prompt,
    negativePrompt,
    steps,
    cfg,
    sampler,
    width,
    height,
    count,
    seed: seedPicked.value,
    clipSkip,
    notes,
    ...(control.value ? { control: control.value } : {}),
    sizeGiven: userSized,
  });
}
