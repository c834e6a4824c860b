import type { AutocompleteInteraction, ChatInputCommandInteraction } from 'discord.js';
import { EDIT_OPTIONS } from '../../../commands/edit.js';
import { REQUEST_DEFAULTS, type JobRequest } from '../../protocol/generate-request.js';
import { emptyMaskError } from '../attachments/attachments.js';
import { attachmentInfo, storeMask, storeUpload } from '../attachments/uploads.js';
import type { BotContext } from '../bot-context.js';
import type { CommandHandler } from '../command-registry.js';
import { parseImagineOptions } from '../options/imagine-options.js';
import { checkAllowedChannel } from '../preconditions/allowed-channel.js';
import { replyUserError } from '../reply-user-error.js';
import { submitJob } from '../submit-job.js';
import { checkUploadFirst, previewEveryOf, toJobRequest, uploadStore } from './imagine.js';

/**
 * /edit: inpaint an uploaded picture through an uploaded mask. The options are parsed and both attachments checked
 * from what Discord says before the acknowledgement; the downloads, the mask check (an empty mask is refused, a full
 * one is plain img2img) and the store writes follow it.
 */
export function editCommand(context: BotContext): CommandHandler {
  return {
    name: 'edit',
    async execute(interaction: ChatInputCommandInteraction) {
      const settings = context.settings.get(interaction.guildId!);
      const channel = checkAllowedChannel(settings, interaction.channelId);
      if (!channel.ok) return replyUserError(interaction, channel.error, context.logger);
      const o = interaction.options;
      const parsed = parseImagineOptions(
        {
          prompt: o.getString(EDIT_OPTIONS.prompt, true),
          negative: o.getString(EDIT_OPTIONS.negative) ?? undefined,
          steps: o.getInteger(EDIT_OPTIONS.steps) ?? undefined,
          seed: o.getInteger(EDIT_OPTIONS.seed) ?? undefined,
          model: o.getString(EDIT_OPTIONS.model) ?? undefined,
          // One picture in, one out.
          count: 1,
        },
        { settings, models: context.models(), brokenReason: context.brokenReason, defaultModel: context.defaultModel },
      );
      if (!parsed.ok) return replyUserError(interaction, parsed.error, context.logger);
      const base: JobRequest = { ...toJobRequest(parsed.value, previewEveryOf(settings), settings.translate), count: 1 };
      const image = attachmentInfo(o.getAttachment(EDIT_OPTIONS.image, true));
      const mask = attachmentInfo(o.getAttachment(EDIT_OPTIONS.mask, true));
      for (const [upload, what] of [
        [image, 'image'],
        [mask, 'mask'],
      ] as const) {
        const checked = checkUploadFirst(context, upload, what, settings, base.model, 'edit');
        if (!checked.ok) return replyUserError(interaction, checked.error, context.logger);
      }
      const strength = o.getNumber(EDIT_OPTIONS.strength) ?? REQUEST_DEFAULTS.inpaint.strength;
      const maskBlur = o.getInteger(EDIT_OPTIONS.maskBlur) ?? REQUEST_DEFAULTS.inpaint.maskBlur;
      const onlyMasked = o.getBoolean(EDIT_OPTIONS.onlyMasked) ?? false;
      const fixedSize = context.models().find((m) => m.name === base.model)?.fixedSize;
      const target = { area: base.width * base.height, maxPixels: settings.limits.maxPixels, fixedSize };
      const store = uploadStore(context);
      const prepare = async (): Promise<JobRequest> => {
        const stored = await storeUpload(store, image, 'image', settings, target);
        const storedMask = await storeMask(store, mask, settings, stored.width, stored.height);
        if (storedMask.empty) throw emptyMaskError();
        const sized = { ...base, width: stored.width, height: stored.height };
        // Everything white repaints everything: that is img2img, which needs no mask (and no paste-back).
        if (storedMask.full) return { ...sized, mode: { kind: 'img2img', image: { ref: stored.ref }, strength } };
        return {
          ...sized,
          mode: {
            kind: 'inpaint',
            image: { ref: stored.ref },
            mask: { ref: storedMask.ref },
            strength,
            maskBlur,
            fill: REQUEST_DEFAULTS.inpaint.fill,
            area: onlyMasked ? 'only-masked' : 'whole',
            padding: REQUEST_DEFAULTS.inpaint.padding,
          },
        };
      };
      const submitted = submitJob(context, interaction, settings, { kind: 'edit', request: base, prepare, notes: parsed.value.notes });
      if (!submitted.ok) return replyUserError(interaction, submitted.error, context.logger);
    },
    async autocomplete(interaction: AutocompleteInteraction) {
      const typed = String(interaction.options.getFocused(true).value).toLowerCase();
      const choices = context.models().map((m) => ({ name: m.name, value: m.name }));
      await interaction.respond(choices.filter((c) => c.name.toLowerCase().includes(typed)).slice(0, 25));
    },
  };
}
