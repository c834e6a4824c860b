import { Identifiers, UserError } from '../../errors.js';
import type { GuildSettings } from '../../config/guild-settings.js';
import type { JobRequest, ModelSummary } from '../../protocol/generate-request.js';
import { err, ok, type Result } from '../result.js';
import { invalid } from './invalid.js';
import { findBannedWord } from './prompt-checks.js';
import { checkLorasAllowed } from './lora-checks.js';
import { CONTROL_TEXT, findNet } from './control-options.js';

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
    /** Where the name came from when the user did not type it: " (this server's default)". */
    chosenBy?: string;
    /** The message's opening, for callers that reuse an old job's model. */
    lead?: (name: string) => string;
  } = {},
): UserError | undefined {
  if (models.some((m) => m.name === modelName)) return undefined;
  const names = models.map((m) => `\`${m.name}\``).join(', ') || 'none installed';
  const chosenBy = options.chosenBy ?? '';
  const name = escapeName(modelName);
  const why = options.brokenReason?.(modelName)
    ? `The model \`${name}\`${chosenBy} could not be loaded and is set aside until the bot owner fixes it`
    : !/^[\w.-]+$/.test(modelName)
      ? `Name an installed model, not a folder path${chosenBy}`
      : options.lead
        ? options.lead(name)
        : `Unknown model \`${name}\`${chosenBy}`;
  return new UserError(Identifiers.UnknownModel, `${why}; choose one of: ${names}.`, { model: modelName });
}

const lowered = (limit: string) => `(an admin lowered ${limit} in /config limits)`;

/**
 * A stored request (a button reuses an old job's) against the guild's settings and the models as they are now: a
 * word banned, a limit lowered or a model removed since the job ran must stop its buttons too, or they would get
 * around /imagine's checks. The text checks /imagine makes on input (flags, length, tokens) held when the job was
 * made and do not change, so they are not repeated. Messages say what to run instead: a button cannot be edited.
 */
export function checkAgainstGuild(request: JobRequest, settings: GuildSettings, models: readonly ModelSummary[]): Result<void, UserError> {
  const { limits } = settings;
  for (const [text, which] of [
    [request.prompt, 'prompt'],
    [request.negativePrompt, 'negative prompt'],
  ] as const) {
    const banned = findBannedWord(text, settings.bannedWords);
    if (banned !== undefined) {
      return err(
        new UserError(
          Identifiers.NotAllowed,
          `This server does not allow \`${banned}\` in prompts, and this image's ${which} has it; run /imagine with a new ${which}.`,
          {
            word: banned,
          },
        ),
      );
    }
  }
  // A LoRA an admin has disallowed since the job ran (/config loras) stops its buttons too.
  const loras = checkLorasAllowed(request.prompt, settings);
  if (!loras.ok) return loras;
  if (request.steps > limits.maxSteps) {
    return err(
      invalid(
        `This image used ${request.steps} steps; this server now allows ${limits.maxSteps} ${lowered('max steps')}. Run /imagine with ${limits.maxSteps} steps or fewer.`,
        {
          value: request.steps,
          max: limits.maxSteps,
        },
      ),
    );
  }
  if (request.count > limits.maxCount) {
    return err(
      invalid(
        `This job made ${request.count} images; this server now allows ${limits.maxCount} per job ${lowered('max count')}. Use V or U on one image, or run /imagine with a count of ${limits.maxCount} or fewer.`,
        { value: request.count, max: limits.maxCount },
      ),
    );
  }
  const pixels = request.width * request.height;
  if (pixels > limits.maxPixels) {
    return err(
      new UserError(
        Identifiers.InvalidSize,
        `This image is ${request.width}x${request.height} (${pixels} pixels); this server now allows ${limits.maxPixels} per image ${lowered('max pixels')}. Run /imagine with a smaller size.`,
      ),
    );
  }
  const unknown = unknownModelError(request.model, models, {
    lead: (name) => `The model \`${name}\` of this image is no longer installed; run /imagine with another model`,
  });
  if (unknown) return err(unknown);
  const model = models.find((m) => m.name === request.model);
  // A ControlNet removed from the model folder since the job ran would fail the job after it waited its turn.
  for (const unit of model ? (request.controls ?? []) : []) {
    if (findNet(model!, unit.net) === undefined) {
      return err(new UserError(Identifiers.NotFound, CONTROL_TEXT.netGone(unit.net, request.model), { net: unit.net }));
    }
  }
  // img2img starts by encoding the image, which needs the encoder; the worker would fail the job after it waited
  // its turn. Upscale does not need it (plain Lanczos then), so only img2img is refused here.
  if (request.mode.kind === 'img2img' && model !== undefined && !model.hasVaeEncoder) {
    return err(
      new UserError(
        Identifiers.InvalidModel,
        `The model \`${request.model}\` has no vae_encoder, so it can't vary an upscaled or img2img image. Use 🔄, or V on an image made from text.`,
        { model: request.model },
      ),
    );
  }
  return ok(undefined);
}
