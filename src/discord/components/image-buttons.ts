import { randomInt } from 'node:crypto';
import { existsSync } from 'node:fs';
import type { ButtonInteraction } from 'discord.js';
import { Identifiers, type UserError } from '../../errors.js';
import { text } from '../../i18n/translate.js';
import { userError } from '../../i18n/user-error.js';
import { MAX_SEED, REQUEST_DEFAULTS, type JobRequest, type ModelSummary } from '../../protocol/generate-request.js';
import { outputRef } from '../../store/image-files.js';
import type { Job, JobKind } from '../../queue/job.js';
import type { JobService } from '../../queue/job-service.js';
import type { BotContext } from '../bot-context.js';
import { previewEveryOf } from '../commands/imagine.js';
import { imageButtonIds, imageIndexOf, type ImageAction } from '../custom-id-codec.js';
import { checkAgainstGuild } from '../options/guild-checks.js';
import { checkAllowedChannel } from '../preconditions/allowed-channel.js';
import { replyUserError } from '../reply-user-error.js';
import { err, ok, type Result } from '../result.js';
import { noLongerStored, submitJob } from '../submit-job.js';
import type { GuildSettings } from '../../config/guild-settings.js';
import { finishedParent } from './button-parent.js';
import type { ComponentHandler } from './component-handler.js';

/** A button's job; img2img-style jobs refer to the stored PNG they start from, never carry its bytes. */
export interface ButtonJob {
  kind: JobKind;
  request: JobRequest;
}

/**
 * The request a button makes from a stored job. Reroll keeps everything but the seed; V<n> and U<n> work on image
 * n of the job and make one image. Synchronous, so the interaction is acknowledged right after: a job that needs
 * the stored PNG names its path (checked to exist) and the file is read after the acknowledgement.
 * The result is checked against the guild's settings and the models as they are now, like a new /imagine: the
 * parent passed the checks of its day, which may since have changed.
 */
export function requestFromButton(
  parent: Job,
  action: ImageAction,
  settings: GuildSettings,
  models: readonly ModelSummary[],
  /** Whether a stored input (an upload, a mask) still exists; 🔄 of an edit reuses them. */
  hasImage: (ref: string) => boolean = () => true,
): Result<ButtonJob, UserError> {
  const built = buildFromButton(parent, action, settings, hasImage);
  if (!built.ok) return built;
  const checked = checkAgainstGuild(built.value.request, settings, models);
  return checked.ok ? built : checked;
}

function buildFromButton(
  parent: Job,
  action: ImageAction,
  settings: GuildSettings,
  hasImage: (ref: string) => boolean,
): Result<ButtonJob, UserError> {
  const base: JobRequest = { ...parent.request, previewEvery: previewEveryOf(settings) };
  if (action === 'reroll') {
    // A reroll of an img2img or an edit starts from the same stored pictures; refused now if one was removed.
    const mode = parent.request.mode as { image?: { ref: string }; mask?: { ref: string } };
    for (const input of [mode.image, mode.mask, ...(parent.request.controls ?? []).map((unit) => unit.image)])
      if (input?.ref && !hasImage(input.ref)) return err(noLongerStored('source'));
    const { seed: _seed, ...rest } = base;
    return ok({ kind: 'reroll', request: { ...rest, mode: parent.request.mode } });
  }
  const index = imageIndexOf(action)!;
  const output = parent.outputs[index];
  if (!output) return err(noLongerStored('imageN', index + 1));
  if (action.startsWith('v')) {
    if (parent.request.mode.kind === 'txt2img' || parent.request.mode.kind === 'variation') {
      const request: JobRequest = {
        ...base,
        seed: output.seed,
        count: 1,
        width: output.width,
        height: output.height,
        mode: { kind: 'variation', subseed: randomInt(0, MAX_SEED), strength: REQUEST_DEFAULTS.variationStrength },
      };
      return ok({ kind: 'variation', request });
    }
  }
  if (!existsSync(output.path)) return err(noLongerStored('imageN', index + 1));
  const image = { ref: outputRef(parent.id, index) };
  if (action.startsWith('v')) {
    // An upscaled or img2img image has no seed noise to vary; redo it from its own pixels instead.
    return ok({
      kind: 'variation',
      request: {
        ...base,
        seed: randomInt(0, MAX_SEED),
        count: 1,
        width: output.width,
        height: output.height,
        mode: { kind: 'img2img', image, strength: REQUEST_DEFAULTS.imageVariationStrength },
      },
    });
  }
  const width = output.width * 2;
  const height = output.height * 2;
  if (width * height > settings.limits.maxPixels) {
    return err(
      userError(Identifiers.InvalidSize, text('error.upscaleTooBig', { width, height, pixels: width * height, max: settings.limits.maxPixels })),
    );
  }
  // The upscale refines the image's own pixels; ControlNet does not run on upscales (and has nothing to add).
  const { controls: _controls, ...plain } = base;
  return ok({
    kind: 'upscale',
    request: { ...plain, seed: output.seed, count: 1, width, height, mode: { kind: 'upscale', image, strength: REQUEST_DEFAULTS.upscaleStrength } },
  });
}

/** One claimed button; `jobId` once the job is in the store. */
interface InFlightEntry {
  key: string;
  jobId?: string;
}

/**
 * U<n> jobs queued or running, by parent job and button. U makes the same image whoever presses it (same seed, same
 * pixels), so a second press while the first is in flight is pointed at it rather than queueing a copy. 🔄 and V
 * draw a new seed on every press: each is a different image someone may want, so they are not tracked.
 * In memory only: after a restart at worst one duplicate runs. Past `limit` entries the oldest is forgotten (its
 * button can then be doubled again, nothing worse), so entries of jobs whose end was never seen cannot pile up.
 */
export class ButtonsInFlight {
  readonly #byKey = new Map<string, InFlightEntry>();
  readonly #byJob = new Map<string, InFlightEntry>();

  constructor(
    jobs: Pick<JobService, 'on'>,
    readonly limit = 1000,
  ) {
    const settled = (job: Job) => {
      const entry = this.#byJob.get(job.id);
      if (entry) this.release(entry);
    };
    jobs.on('done', settled);
    jobs.on('failed', settled);
    jobs.on('cancelled', settled);
  }

  get(key: string): InFlightEntry | undefined {
    return this.#byKey.get(key);
  }

  /** Takes `key` for a job about to be submitted; undefined when a job holds it already. */
  claim(key: string): InFlightEntry | undefined {
    if (this.#byKey.has(key)) return undefined;
    const entry: InFlightEntry = { key };
    this.#byKey.set(key, entry);
    if (this.#byKey.size > this.limit) this.release(this.#byKey.values().next().value!);
    return entry;
  }

  queued(entry: InFlightEntry, jobId: string): void {
    if (this.#byKey.get(entry.key) !== entry) return;
    entry.jobId = jobId;
    this.#byJob.set(jobId, entry);
  }

  /** Frees the entry's key, unless the entry was already dropped and the key is someone else's now. */
  release(entry: InFlightEntry): void {
    if (this.#byKey.get(entry.key) === entry) this.#byKey.delete(entry.key);
    if (entry.jobId !== undefined) this.#byJob.delete(entry.jobId);
  }
}

/** Points a second press at the job the first one made: its message when posted, else where it stands. */
function alreadyQueued(context: BotContext, entry: InFlightEntry): UserError {
  const job = entry.jobId === undefined ? undefined : context.jobs.get(entry.jobId);
  let where: { link?: string; position?: number; running?: boolean } = {};
  if (job?.messageId) {
    where = { link: `https://discord.com/channels/${job.guildId}/${job.channelId}/${job.messageId}` };
  } else if (job) {
    const position = context.jobs.position(job.id);
    where = position ? { position: position.position } : { running: true };
  }
  return userError(Identifiers.NotAllowed, text('error.alreadyQueued', where));
}

/** 🔄, V1..V4, U1..U4. Anyone may press them; the new job is the presser's and counts against their limits. */
export function imageButtons(context: BotContext): ComponentHandler {
  const inFlight = new ButtonsInFlight(context.jobs);
  return {
    matches: (customId: string) => imageButtonIds.decode(customId) !== undefined,
    async handle(interaction: ButtonInteraction): Promise<void> {
      const id = imageButtonIds.decode(interaction.customId)!;
      const found = finishedParent(context, interaction, id.jobId);
      if (!found.ok) return replyUserError(interaction, found.error, context.logger);
      const parent = found.value;
      const settings = context.settings.get(interaction.guildId!);
      const channel = checkAllowedChannel(settings, interaction.channelId);
      if (!channel.ok) return replyUserError(interaction, channel.error, context.logger);
      const built = requestFromButton(parent, id.action, settings, context.models(), (ref) => context.images.has(ref));
      if (!built.ok) return replyUserError(interaction, built.error, context.logger);
      let claim: InFlightEntry | undefined;
      if (built.value.kind === 'upscale') {
        const key = `${parent.id}:${id.action}`;
        const holder = inFlight.get(key);
        if (holder) return replyUserError(interaction, alreadyQueued(context, holder), context.logger);
        claim = inFlight.claim(key);
      }
      const submitted = submitJob(context, interaction, settings, {
        ...built.value,
        parentJobId: parent.id,
        onQueued: (job) => claim && inFlight.queued(claim, job.id),
        onDropped: () => claim && inFlight.release(claim),
      });
      if (!submitted.ok) {
        if (claim) inFlight.release(claim);
        return replyUserError(interaction, submitted.error, context.logger);
      }
    },
  };
}
