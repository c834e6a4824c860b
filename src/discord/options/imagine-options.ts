import { Identifiers, type UserError } from '../../errors.js';
import { text, type LocalizedText } from '../../i18n/translate.js';
import { userError } from '../../i18n/user-error.js';
import { BOUNDS, type GuildSettings } from '../../config/guild-settings.js';
import { REQUEST_DEFAULTS, type JobRequest, type ModelSummary } from '../../protocol/generate-request.js';
import { normalizeSamplerName, SAMPLER_NAMES, type SamplerName } from '../../protocol/samplers.js';
import { err, ok, type Result } from '../result.js';
import { unknownModelError } from './guild-checks.js';
import { parseControlOptions, type ControlChoice } from './control-options.js';
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
  /** Shown with the job's queue message ("16:9 → 680x384"), in the job's language. */
  notes: LocalizedText[];
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
  const notes: LocalizedText[] = [];

  // Cleaned before the flags are read, so a zero-width character cannot hide a flag or make an empty prompt look full.
  const flagged = extractPromptFlags(cleanPromptText(input.prompt));
  if (!flagged.ok) return flagged;
  const flags = flagged.value;
  const prompt = flags.prompt.trim();
  if (!hasVisibleCharacter(prompt)) return err(invalid(text('error.promptEmpty')));
  if (prompt.length > BOUNDS.promptChars) {
    return err(userError(Identifiers.PromptTooLong, text('error.promptChars', { length: prompt.length, max: BOUNDS.promptChars })));
  }
  const promptTooLong = promptTooLongMessage(prompt, 'prompt');
  if (promptTooLong) return err(userError(Identifiers.PromptTooLong, promptTooLong));
  const banned = findBannedWord(prompt, settings.bannedWords);
  if (banned !== undefined) {
    return err(userError(Identifiers.NotAllowed, text('error.banned', { word: banned }), { word: banned }));
  }
  const loras = checkLoraTags(prompt, settings, context.loras);
  if (!loras.ok) return loras;

  // Model first: its defaults fill what the user and the guild leave unset.
  const modelChoice = pick(input.model?.trim() || undefined, flags.model, 'model', (a, b) => a === b);
  if (!modelChoice.ok) return modelChoice;
  const modelName = modelChoice.value ?? settings.defaults.model ?? context.defaultModel ?? context.models[0]?.name;
  if (modelName === undefined) {
    return err(userError(Identifiers.UnknownModel, text('error.noModel')));
  }
  // Only installed model names get through, whether or not the worker is up: a path or a made-up name never
  // reaches the worker, and the answer never shows where models live on the server.
  const chosenBy = modelChoice.value !== undefined ? undefined : settings.defaults.model !== undefined ? 'server' : 'bot';
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
  if (control.value?.preprocess === 'none') notes.push(text('control.mapAsIs'));

  const stepsMax = Math.min(BOUNDS.steps.max, limits.maxSteps);
  const stepsPicked = optionOrFlag(parseIntOption, 'steps', input.steps, flags.steps, {
    min: BOUNDS.steps.min,
    max: stepsMax,
    lowered: limits.maxSteps < BOUNDS.steps.max,
  });
  if (!stepsPicked.ok) return stepsPicked;
  // Defaults above the guild's max (a model default, a limit lowered later) are clamped, not refused: the user did not ask for them.
  const steps = stepsPicked.value ?? Math.min(settings.defaults.steps ?? modelDefaults.steps ?? REQUEST_DEFAULTS.steps, stepsMax);

  const cfgPicked = optionOrFlag(parseNumberOption, 'cfg', input.cfg, flags.cfg, BOUNDS.cfg);
  if (!cfgPicked.ok) return cfgPicked;
  const cfg = cfgPicked.value ?? settings.defaults.cfg ?? modelDefaults.cfg ?? REQUEST_DEFAULTS.cfg;

  const samplerRaw = pick(input.sampler, flags.sampler, 'sampler', (a, b) => normalizeSamplerName(a) === normalizeSamplerName(b));
  if (!samplerRaw.ok) return samplerRaw;
  let sampler: SamplerName = settings.defaults.sampler ?? modelDefaults.sampler ?? REQUEST_DEFAULTS.sampler;
  if (samplerRaw.value !== undefined) {
    const name = normalizeSamplerName(samplerRaw.value);
    if (name === undefined) {
      return err(
        userError(Identifiers.UnknownSampler, text('error.unknownSampler', { sampler: samplerRaw.value, samplers: SAMPLER_NAMES.join(', ') })),
      );
    }
    sampler = name;
  }

  const clipSkipPicked = optionOrFlag(parseIntOption, 'clipSkip', input.clipSkip, flags.clipSkip, BOUNDS.clipSkip);
  if (!clipSkipPicked.ok) return clipSkipPicked;
  const clipSkip = clipSkipPicked.value ?? modelDefaults.clipSkip ?? REQUEST_DEFAULTS.clipSkip;

  const seedPicked = optionOrFlag(parseIntOption, 'seed', input.seed, flags.seed, BOUNDS.seed);
  if (!seedPicked.ok) return seedPicked;

  const countMax = Math.min(BOUNDS.count.max, limits.maxCount);
  const countPicked = optionOrFlag(parseIntOption, 'count', input.count, flags.count, {
    min: BOUNDS.count.min,
    max: countMax,
    lowered: limits.maxCount < BOUNDS.count.max,
  });
  if (!countPicked.ok) return countPicked;
  const count = countPicked.value ?? Math.min(settings.defaults.count ?? 1, countMax);

  // Size: `size` option, `--size` or `--ar` (one of them), else the default size.
  const sizeSources = [input.size?.trim() || undefined, flags.size, flags.ar].filter((s): s is string => s !== undefined);
  if (sizeSources.length > 1 && new Set(sizeSources.map((s) => s.toLowerCase())).size > 1) {
    return err(invalid(text('error.sizeTwice')));
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
        return err(userError(Identifiers.InvalidSize, text('error.sizeNotAllowed', { width, height, multiple, min, max, suggestion })));
      }
    } else {
      // SDXL: the nearest of its training buckets rather than any size of the right shape.
      ({ width, height } = (sdxl ? sdxlSizeForRatio : sizeForRatio)(spec.value.ratio, defaultWidth * defaultHeight));
      notes.push(text('job.note.ratio', { label: spec.value.label, width, height, sdxl }));
    }
  }
  // A model exported for one size draws that size only: fit the request to it here rather than fail in the worker.
  const fixed = model.fixedSize;
  if (fixed && (width !== fixed[0] || height !== fixed[1])) {
    if (userSized || settings.defaults.width !== undefined)
      notes.push(text('job.note.fixedSize', { model: modelName, width: fixed[0], height: fixed[1], askedWidth: width, askedHeight: height }));
    [width, height] = fixed;
  }
  if (fixed && width * height > limits.maxPixels) {
    return err(
      userError(
        Identifiers.InvalidSize,
        text('error.fixedSizeTooBig', { model: modelName, width, height, pixels: width * height, max: limits.maxPixels }),
      ),
    );
  }
  if (width * height > limits.maxPixels) {
    if (userSized) {
      const fit = Math.sqrt(limits.maxPixels / (width * height));
      const floor8 = (v: number) => Math.max(BOUNDS.side.min, Math.floor(v / BOUNDS.side.multiple) * BOUNDS.side.multiple);
      const suggestion = `${floor8(width * fit)}x${floor8(height * fit)}`;
      return err(
        userError(Identifiers.InvalidSize, text('error.tooManyPixels', { width, height, pixels: width * height, max: limits.maxPixels, suggestion })),
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
    return err(invalid(text('error.negativeChars', { length: negativePrompt.length, max: BOUNDS.negativeChars })));
  }
  // The negative prompt is shown in the public result message too, so the server's banned words apply to it as well.
  const bannedNegative = findBannedWord(negativePrompt, settings.bannedWords);
  if (bannedNegative !== undefined) {
    return err(userError(Identifiers.NotAllowed, text('error.bannedNegative', { word: bannedNegative }), { word: bannedNegative }));
  }
  const negativeTooLong = promptTooLongMessage(negativePrompt, 'negative');
  if (negativeTooLong) return err(userError(Identifiers.PromptTooLong, negativeTooLong));

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
