import { Identifiers, type UserError } from '../../errors.js';
import { text } from '../../i18n/translate.js';
import { userError } from '../../i18n/user-error.js';
import type { GuildSettings } from '../../config/guild-settings.js';
import type { JobRequest, ModelSummary } from '../../protocol/generate-request.js';
import { err, ok, type Result } from '../result.js';
import { invalid } from './invalid.js';
import { findBannedWord } from './prompt-checks.js';
import { checkLorasAllowed } from './lora-checks.js';
import { controlErrors, findNet } from './control-options.js';

/** A name typed by a user, shown back inside backticks: no backticks or line breaks of its own. */
function escapeName(name: string): string {
  return name.replace(/[`\r\n]/g, '').slice(0, 100);
}

/**
 * The refusal for a model that is not an installed one users may pick, shared by /imagine and the buttons. The bot
 * reads MODELS_DIR itself (ModelCatalog), so the list is known whether or not the worker is up; an empty list means
 * nothing is installed. A folder path is never echoed back: the answer never shows where models live.
 */
export function unknownModelError(
  modelName: string,
  models: readonly { name: string }[],
  options: {
    /** Why an installed model is set aside (it failed to load), if it is. */
    brokenReason?: (model: string) => string | undefined;
    /** Where the name came from when the user did not type it: this server's default or the bot's. */
    chosenBy?: 'server' | 'bot';
    /** The model is an old job's (a button), no longer installed. */
    stored?: boolean;
  } = {},
): UserError | undefined {
  if (models.some((m) => m.name === modelName)) return undefined;
  const names = models.map((m) => `\`${m.name}\``).join(', ');
  const { chosenBy } = options;
  const model = escapeName(modelName);
  const message = options.brokenReason?.(modelName)
    ? text('error.brokenModel', { model, models: names, chosenBy })
    : !/^[\w.-]+$/.test(modelName)
      ? text('error.modelPath', { models: names, chosenBy })
      : options.stored
        ? text('error.modelGone', { model, models: names })
        : text('error.unknownModel', { model, models: names, chosenBy });
  return userError(Identifiers.UnknownModel, message, { model: modelName });
}

/**
 * A stored request (a button reuses an old job's) against the guild's settings and the models as they are now: a
 * word banned, a limit lowered or a model removed since the job ran must stop its buttons too, or they would get
 * around /imagine's checks. The text checks /imagine makes on input (flags, length, tokens) held when the job was
 * made and do not change, so they are not repeated. Messages say what to run instead: a button cannot be edited.
 */
export function checkAgainstGuild(request: JobRequest, settings: GuildSettings, models: readonly ModelSummary[]): Result<void, UserError> {
  const { limits } = settings;
  for (const [prompt, part] of [
    [request.prompt, 'prompt'],
    [request.negativePrompt, 'negative'],
  ] as const) {
    const banned = findBannedWord(prompt, settings.bannedWords);
    if (banned !== undefined) {
      return err(userError(Identifiers.NotAllowed, text('error.storedBanned', { word: banned, part }), { word: banned }));
    }
  }
  // A LoRA an admin has disallowed since the job ran (/config loras) stops its buttons too.
  const loras = checkLorasAllowed(request.prompt, settings);
  if (!loras.ok) return loras;
  if (request.steps > limits.maxSteps) {
    return err(invalid(text('error.storedSteps', { steps: request.steps, max: limits.maxSteps }), { value: request.steps, max: limits.maxSteps }));
  }
  if (request.count > limits.maxCount) {
    return err(invalid(text('error.storedCount', { count: request.count, max: limits.maxCount }), { value: request.count, max: limits.maxCount }));
  }
  const pixels = request.width * request.height;
  if (pixels > limits.maxPixels) {
    return err(
      userError(Identifiers.InvalidSize, text('error.storedPixels', { width: request.width, height: request.height, pixels, max: limits.maxPixels })),
    );
  }
  const unknown = unknownModelError(request.model, models, { stored: true });
  if (unknown) return err(unknown);
  const model = models.find((m) => m.name === request.model);
  // A ControlNet removed from the model folder since the job ran would fail the job after it waited its turn.
  for (const unit of model ? (request.controls ?? []) : []) {
    if (findNet(model!, unit.net) === undefined) {
      return err(controlErrors.netGone(unit.net, request.model));
    }
  }
  // img2img starts by encoding the image, which needs the encoder; the worker would fail the job after it waited
  // its turn. Upscale does not need it (plain Lanczos then), so only img2img is refused here.
  if (request.mode.kind === 'img2img' && model !== undefined && !model.hasVaeEncoder) {
    return err(userError(Identifiers.InvalidModel, text('error.storedNoEncoder', { model: request.model }), { model: request.model }));
  }
  return ok(undefined);
}
