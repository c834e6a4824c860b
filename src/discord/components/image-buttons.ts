import { randomInt } from 'node:crypto';
import { existsSync } from 'node:fs';
import type { ButtonInteraction } from 'discord.js';
import { Identifiers, UserError } from '../../errors.js';
import { MAX_SEED, REQUEST_DEFAULTS, type JobRequest } from '../../protocol/generate-request.js';
import { outputRef } from '../../store/image-files.js';
import type { Job, JobKind } from '../../queue/job.js';
import type { BotContext } from '../bot-context.js';
import { previewEveryOf } from '../commands/imagine.js';
import { imageButtonIds, imageIndexOf, type ImageAction } from '../custom-id-codec.js';
import { checkAllowedChannel } from '../preconditions/allowed-channel.js';
import { replyUserError } from '../reply-user-error.js';
import { err, ok, type Result } from '../result.js';
import { noLongerStored, submitJob } from '../submit-job.js';
import type { GuildSettings } from '../../config/guild-settings.js';
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
 */
export function requestFromButton(parent: Job, action: ImageAction, settings: GuildSettings): Result<ButtonJob, UserError> {
  const base: JobRequest = { ...parent.request, previewEvery: previewEveryOf(settings) };
  if (action === 'reroll') {
    const { seed: _seed, ...rest } = base;
    return ok({ kind: 'reroll', request: { ...rest, mode: parent.request.mode } });
  }
  const index = imageIndexOf(action)!;
  const output = parent.outputs[index];
  if (!output) return err(noLongerStored(`Image ${index + 1} of that job`));
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
  if (!existsSync(output.path)) return err(noLongerStored(`Image ${index + 1} of that job`));
  const image = { ref: outputRef(parent.id, index) };
  if (action.startsWith('v')) {
    // An upscaled or img2img image has no seed noise to vary; redo it from its own pixels instead.
    return ok({ kind: 'variation', request: { ...base, seed: randomInt(0, MAX_SEED), count: 1, width: output.width, height: output.height, mode: { kind: 'img2img', image, strength: REQUEST_DEFAULTS.imageVariationStrength } } });
  }
  const width = output.width * 2;
  const height = output.height * 2;
  if (width * height > settings.limits.maxPixels) {
    return err(
      new UserError(
        Identifiers.InvalidSize,
        `Upscaling makes ${width}x${height} (${width * height} pixels); this server allows ${settings.limits.maxPixels} per image. Ask an admin to raise max pixels in /config limits.`,
      ),
    );
  }
  return ok({ kind: 'upscale', request: { ...base, seed: output.seed, count: 1, width, height, mode: { kind: 'upscale', image, strength: REQUEST_DEFAULTS.upscaleStrength } } });
}

/** 🔄, V1..V4, U1..U4. Anyone may press them; the new job is the presser's and counts against their limits. */
export function imageButtons(context: BotContext): ComponentHandler {
  return {
    matches: (customId: string) => imageButtonIds.decode(customId) !== undefined,
    async handle(interaction: ButtonInteraction): Promise<void> {
      const id = imageButtonIds.decode(interaction.customId)!;
      const parent = context.jobs.get(id.jobId);
      if (!parent) return replyUserError(interaction, noLongerStored('That image'), context.logger);
      if (parent.state !== 'done') return replyUserError(interaction, new UserError(Identifiers.NotFound, 'That job has no finished image to work from.'), context.logger);
      const settings = context.settings.get(interaction.guildId!);
      const channel = checkAllowedChannel(settings, interaction.channelId);
      if (!channel.ok) return replyUserError(interaction, channel.error, context.logger);
      const built = requestFromButton(parent, id.action, settings);
      if (!built.ok) return replyUserError(interaction, built.error, context.logger);
      const submitted = submitJob(context, interaction, settings, { ...built.value, parentJobId: parent.id });
      if (!submitted.ok) return replyUserError(interaction, submitted.error, context.logger);
    },
  };
}
