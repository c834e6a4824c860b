import { randomInt } from 'node:crypto';
import { existsSync } from 'node:fs';
import type { ButtonInteraction } from 'discord.js';
import type { UserError } from '../../errors.js';
import type { GuildSettings } from '../../config/guild-settings.js';
import { MAX_SEED, REQUEST_DEFAULTS, type ControlPreprocessor, type JobRequest, type ModelSummary } from '../../protocol/generate-request.js';
import type { Job } from '../../queue/job.js';
import { outputRef } from '../../store/image-files.js';
import type { BotContext } from '../bot-context.js';
import { previewEveryOf } from '../commands/imagine.js';
import { controlButtonIds, type ControlAction } from '../custom-id-codec.js';
import { controlErrors } from '../options/control-options.js';
import { checkAgainstGuild } from '../options/guild-checks.js';
import { checkAllowedChannel } from '../preconditions/allowed-channel.js';
import { replyUserError } from '../reply-user-error.js';
import { err, ok, type Result } from '../result.js';
import { noLongerStored, submitJob } from '../submit-job.js';
import type { ButtonJob } from './image-buttons.js';
import { finishedParent } from './button-parent.js';
import type { ComponentHandler } from './component-handler.js';

/**
 * The ControlNet unit a 🎛 press makes: the parent's own net when it had one (so a chain of presses keeps the net
 * the user chose) with its preprocessor and strength; otherwise a net named like "canny", else the model's first.
 * A finished picture is not a map, so "none" becomes canny (depth for a net named like "depth").
 */
export function controlForButton(
  parent: Job,
  nets: readonly string[],
): { net: string; preprocess: ControlPreprocessor; strength: number; cannyLow?: number; cannyHigh?: number } {
  const previous = parent.request.controls?.[0];
  const kept = previous ? nets.find((n) => n === previous.net) : undefined;
  const net = kept ?? nets.find((n) => /canny/i.test(n)) ?? nets[0];
  const derived: ControlPreprocessor = /depth/i.test(net) ? 'depth' : 'canny';
  const preprocess = kept && previous!.preprocess !== 'none' ? previous!.preprocess : derived;
  // Canny thresholds the parent was tuned with carry over when its canny unit does.
  const thresholds =
    kept && previous!.preprocess === 'canny'
      ? {
          ...(previous!.cannyLow !== undefined ? { cannyLow: previous!.cannyLow } : {}),
          ...(previous!.cannyHigh !== undefined ? { cannyHigh: previous!.cannyHigh } : {}),
        }
      : {};
  return { net, preprocess, strength: kept ? previous!.strength : REQUEST_DEFAULTS.control.strength, ...thresholds };
}

/**
 * The request "🎛 Use as control" makes from image n of a finished job: the same prompt and settings at that
 * image's size, drawn from text with a new seed, guided by the stored image (its reference, read after the
 * acknowledgement). Refused at once when the model has no ControlNets, and checked against the guild's settings
 * and the models as they are now, like every button.
 */
export function requestFromControlButton(
  parent: Job,
  action: ControlAction,
  settings: GuildSettings,
  models: readonly ModelSummary[],
  /** Whether the depth preprocessor's model is installed; a depth net's press is refused without it. */
  depthInstalled?: () => boolean,
): Result<ButtonJob, UserError> {
  const index = Number(action.slice(1)) - 1;
  const output = parent.outputs[index];
  if (!output || !existsSync(output.path)) return err(noLongerStored('imageN', index + 1));
  const model = models.find((m) => m.name === parent.request.model);
  const nets = model?.controlNets ?? [];
  if (model && nets.length === 0) {
    return err(controlErrors.buttonNoNets(model.name));
  }
  const unit = model ? controlForButton(parent, nets) : undefined;
  if (unit?.preprocess === 'depth' && depthInstalled?.() === false) return err(controlErrors.depthMissing());
  const { seed: _seed, ...rest } = parent.request;
  const request: JobRequest = {
    ...rest,
    previewEvery: previewEveryOf(settings),
    seed: randomInt(0, MAX_SEED),
    width: output.width,
    height: output.height,
    mode: { kind: 'txt2img' },
    // The model's absence is reported by checkAgainstGuild below, naming the installed ones.
    controls: unit ? [{ ...unit, image: { ref: outputRef(parent.id, index) } }] : [],
  };
  const checked = checkAgainstGuild(request, settings, models);
  return checked.ok ? ok({ kind: 'control', request }) : checked;
}

/** 🎛 Use as control under a result. Anyone may press it; the new job is the presser's and counts against their limits. */
export function controlButton(context: BotContext): ComponentHandler {
  return {
    matches: (customId: string) => controlButtonIds.decode(customId) !== undefined,
    async handle(interaction: ButtonInteraction): Promise<void> {
      const id = controlButtonIds.decode(interaction.customId)!;
      const found = finishedParent(context, interaction, id.jobId);
      if (!found.ok) return replyUserError(interaction, found.error, context.logger);
      const parent = found.value;
      const settings = context.settings.get(interaction.guildId!);
      const channel = checkAllowedChannel(settings, interaction.channelId);
      if (!channel.ok) return replyUserError(interaction, channel.error, context.logger);
      const built = requestFromControlButton(parent, id.action, settings, context.models(), context.depthInstalled);
      if (!built.ok) return replyUserError(interaction, built.error, context.logger);
      const submitted = submitJob(context, interaction, settings, { ...built.value, parentJobId: parent.id });
      if (!submitted.ok) return replyUserError(interaction, submitted.error, context.logger);
    },
  };
}
