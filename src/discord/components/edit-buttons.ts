import { randomInt } from 'node:crypto';
import { existsSync } from 'node:fs';
import { ComponentType, TextInputStyle, type ButtonInteraction, type ModalSubmitInteraction } from 'discord.js';
import { Identifiers, type UserError } from '../../errors.js';
import { text, translator } from '../../i18n/translate.js';
import { userError } from '../../i18n/user-error.js';
import { memberLocale } from '../locale.js';
import type { GuildSettings } from '../../config/guild-settings.js';
import {
  MAX_SEED,
  REQUEST_BOUNDS,
  REQUEST_DEFAULTS,
  type JobRequest,
  type ModelSummary,
  type PanDirection,
} from '../../protocol/generate-request.js';
import { outputRef } from '../../store/image-files.js';
import type { Job, JobKind } from '../../queue/job.js';
import { parseRegionBox, regionMask, REGIONS, type Region, type RegionBox } from '../attachments/attachments.js';
import { checkCanEdit } from '../attachments/uploads.js';
import type { BotContext } from '../bot-context.js';
import { previewEveryOf } from '../commands/imagine.js';
import { editButtonIds, regionModalIds, type EditAction } from '../custom-id-codec.js';
import { checkAgainstGuild } from '../options/guild-checks.js';
import { checkAllowedChannel } from '../preconditions/allowed-channel.js';
import { replyUserError } from '../reply-user-error.js';
import { err, ok, type Result } from '../result.js';
import { noLongerStored, submitJob } from '../submit-job.js';
import { finishedParent } from './button-parent.js';
import type { ComponentHandler } from './component-handler.js';

/** The text field of the Vary (Region) form. */
export const REGION_FIELD = 'region';

const PAN: Partial<Record<EditAction, PanDirection>> = { panleft: 'left', panright: 'right', panup: 'up', pandown: 'down' };
const ZOOM: Partial<Record<EditAction, number>> = { zoom2: 2, zoom15: 1.5 };

/** A job an edit button makes; Vary (Region) also names the region its mask covers (drawn after the ack). */
export interface EditButtonJob {
  kind: JobKind;
  request: JobRequest;
  region?: Region | RegionBox;
}

/** The canvas a pan makes, as the engine grows it (src/inference/image/mask.ts `outpaintCanvas`): half a side, to the grid of 8. */
export function panCanvas(width: number, height: number, pan: PanDirection): { width: number; height: number } {
  const sideways = pan === 'left' || pan === 'right';
  return { width: width + (sideways ? Math.round(width / 2 / 8) * 8 : 0), height: height + (sideways ? 0 : Math.round(height / 2 / 8) * 8) };
}

/** The img2img strengths of Vary (Subtle) and (Strong) for a model: its imagine-bot.json, else the defaults. */
export function varyStrengths(model: ModelSummary | undefined): { subtle: number; strong: number } {
  return model?.variation ?? REQUEST_DEFAULTS.vary;
}

/**
 * The request an edit button makes from a finished single-image job: every one starts from the stored PNG (its path
 * checked to exist, read after the acknowledgement), draws a new seed, and is checked against the guild's settings
 * and the models as they are now, like any button.
 */
export function requestFromEditButton(
  parent: Job,
  action: EditAction,
  settings: GuildSettings,
  models: readonly ModelSummary[],
  region?: Region | RegionBox,
): Result<EditButtonJob, UserError> {
  if (parent.outputs.length !== 1) {
    return err(userError(Identifiers.InvalidArgument, text('error.singleImageOnly')));
  }
  const output = parent.outputs[0];
  if (!existsSync(output.path)) return err(noLongerStored('image'));
  const model = models.find((m) => m.name === parent.request.model);
  const encoder = checkCanEdit(parent.request.model, models, 'edit');
  if (!encoder.ok) return encoder;
  const image = { ref: outputRef(parent.id, 0) };
  const base: JobRequest = {
    ...parent.request,
    previewEvery: previewEveryOf(settings),
    seed: randomInt(0, MAX_SEED),
    count: 1,
    width: output.width,
    height: output.height,
  };
  let built: EditButtonJob;
  const zoom = ZOOM[action];
  const pan = PAN[action];
  if (zoom !== undefined) {
    built = { kind: 'zoom', request: { ...base, mode: { kind: 'outpaint', image, strength: REQUEST_DEFAULTS.outpaintStrength, zoom } } };
  } else if (pan !== undefined) {
    if (model?.fixedSize) {
      return err(userError(Identifiers.InvalidSize, text('error.fixedSizePan', { model: parent.request.model })));
    }
    // The picture grows by half: refused here, at the click, rather than after it waited its turn.
    const canvas = panCanvas(output.width, output.height, pan);
    const pixels = canvas.width * canvas.height;
    if (pixels > settings.limits.maxPixels || canvas.width > REQUEST_BOUNDS.side.max || canvas.height > REQUEST_BOUNDS.side.max) {
      const bySide = pixels <= settings.limits.maxPixels;
      const max = bySide ? REQUEST_BOUNDS.side.max : settings.limits.maxPixels;
      return err(
        userError(
          Identifiers.InvalidSize,
          text('error.panTooBig', { direction: pan, width: canvas.width, height: canvas.height, pixels, max, bySide }),
        ),
      );
    }
    built = { kind: 'pan', request: { ...base, mode: { kind: 'outpaint', image, strength: REQUEST_DEFAULTS.outpaintStrength, pan } } };
  } else if (action === 'subtle' || action === 'strong') {
    const strength = varyStrengths(model)[action];
    built = { kind: action === 'subtle' ? 'vary-subtle' : 'vary-strong', request: { ...base, mode: { kind: 'img2img', image, strength } } };
  } else {
    if (region === undefined) throw new TypeError('Expected a region for Vary (Region)');
    // The mask reference is filled in once the mask is drawn and stored, after the acknowledgement.
    const mode = { kind: 'inpaint' as const, image, mask: image, ...REQUEST_DEFAULTS.inpaint };
    built = { kind: 'vary-region', request: { ...base, mode }, region };
  }
  // ControlNet runs with img2img (Vary Subtle/Strong keep the parent's control) but not with in- or outpainting,
  // which keep the picture's own pixels around what they draw.
  if (built.request.mode.kind !== 'img2img' && built.request.controls) {
    const { controls: _controls, ...plain } = built.request;
    built = { ...built, request: plain };
  }
  const checked = checkAgainstGuild(built.request, settings, models);
  return checked.ok ? ok(built) : checked;
}

/** A region as typed in the form: one of the names (a few spellings) or a box `x,y,w,h` in percent. */
export function parseRegion(typed: string): Result<Region | RegionBox, UserError> {
  const word = typed.trim().toLowerCase();
  const aliases: Record<string, Region> = {
    center: 'centre',
    middle: 'centre',
    up: 'top',
    down: 'bottom',
    'top half': 'top',
    'bottom half': 'bottom',
    'left half': 'left',
    'right half': 'right',
    // What a Chinese-speaking member types.
    左: 'left',
    左边: 'left',
    右: 'right',
    右边: 'right',
    上: 'top',
    上面: 'top',
    下: 'bottom',
    下面: 'bottom',
    中间: 'centre',
    中心: 'centre',
  };
  const named = (REGIONS as readonly string[]).includes(word) ? (word as Region) : aliases[word];
  if (named) return ok(named);
  if (/^[\d.,%\s]+$/.test(word)) return parseRegionBox(word);
  return err(userError(Identifiers.InvalidArgument, text('error.regionName', { regions: REGIONS.join(', ') })));
}

/**
 * Zoom Out, pan, Vary (Subtle/Strong) queue a job on the click, through the same checks, fair queue and store as
 * every button. Vary (Region) first opens a form asking which part to redraw; its submission queues the inpaint,
 * whose mask the bot draws and stores under DATA_DIR/inputs after the acknowledgement.
 */
export function editButtons(context: BotContext): ComponentHandler {
  const submit = (interaction: ButtonInteraction | ModalSubmitInteraction, parent: Job, action: EditAction, region?: Region | RegionBox) => {
    const settings = context.settings.get(interaction.guildId!);
    const channel = checkAllowedChannel(settings, interaction.channelId!);
    if (!channel.ok) return replyUserError(interaction, channel.error, context.logger);
    const built = requestFromEditButton(parent, action, settings, context.models(), region);
    if (!built.ok) return replyUserError(interaction, built.error, context.logger);
    const { kind, request } = built.value;
    const prepare =
      built.value.region === undefined || request.mode.kind !== 'inpaint'
        ? undefined
        : async (): Promise<JobRequest> => {
            const mask = await regionMask(built.value.region!, request.width, request.height);
            const ref = await context.images.writeInput(mask);
            return { ...request, mode: { ...(request.mode as Extract<JobRequest['mode'], { kind: 'inpaint' }>), mask: { ref } } };
          };
    const submitted = submitJob(context, interaction, settings, { kind, request, prepare, parentJobId: parent.id });
    if (!submitted.ok) return replyUserError(interaction, submitted.error, context.logger);
  };

  return {
    matches: (customId: string) => editButtonIds.decode(customId) !== undefined,
    async handle(interaction: ButtonInteraction): Promise<void> {
      const id = editButtonIds.decode(interaction.customId)!;
      const parent = finishedParent(context, interaction, id.jobId);
      if (!parent.ok) return replyUserError(interaction, parent.error, context.logger);
      if (id.action !== 'region') return submit(interaction, parent.value, id.action);
      // Check what can be checked now, so the form is not filled in for nothing.
      const settings = context.settings.get(interaction.guildId!);
      const channel = checkAllowedChannel(settings, interaction.channelId);
      if (!channel.ok) return replyUserError(interaction, channel.error, context.logger);
      const probe = requestFromEditButton(parent.value, 'region', settings, context.models(), 'centre');
      if (!probe.ok) return replyUserError(interaction, probe.error, context.logger);
      const tr = translator(memberLocale(interaction));
      await interaction.showModal({
        custom_id: regionModalIds.encode('submit', parent.value.id),
        title: tr('modal.region.title'),
        components: [
          {
            type: ComponentType.ActionRow,
            components: [
              {
                type: ComponentType.TextInput,
                custom_id: REGION_FIELD,
                label: tr('modal.region.label'),
                style: TextInputStyle.Short,
                placeholder: tr('modal.region.placeholder'),
                value: 'centre',
                required: true,
                max_length: 40,
              },
            ],
          },
        ],
      });
    },
    matchesModal: (customId: string) => regionModalIds.decode(customId) !== undefined,
    async handleModal(interaction: ModalSubmitInteraction): Promise<void> {
      const id = regionModalIds.decode(interaction.customId)!;
      const parent = finishedParent(context, interaction, id.jobId);
      if (!parent.ok) return replyUserError(interaction, parent.error, context.logger);
      const region = parseRegion(interaction.fields.getTextInputValue(REGION_FIELD));
      if (!region.ok) return replyUserError(interaction, region.error, context.logger);
      return submit(interaction, parent.value, 'region', region.value);
    },
  };
}
