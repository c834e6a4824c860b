import type { AutocompleteInteraction, ChatInputCommandInteraction } from 'discord.js';
import { IMAGINE_OPTIONS } from '../../../commands/imagine.js';
import type { GuildSettingsSchema } from '../../config/guild-settings.js';
import type { BotContext } from '../bot-context.js';
import type { CommandHandler } from '../command-registry.js';
import { parseImagineOptions, type ImagineParams } from '../options/imagine-options.js';
import { SIZE_PRESETS } from '../options/size.js';
import { checkAllowedChannel } from '../preconditions/allowed-channel.js';
import { replyUserError } from '../reply-user-error.js';
import { submitJob } from '../submit-job.js';
import { REQUEST_DEFAULTS, type JobRequest } from '../../protocol/generate-request.js';
import type { GuildSettings } from '../../config/guild-settings.js';
import type { UserError } from '../../errors.js';
import { checkAttachment, type AttachmentInfo, type UploadKind } from '../attachments/attachments.js';
import { attachmentInfo, checkCanEdit, storeUpload, type UploadStore } from '../attachments/uploads.js';
import { invalid } from '../options/invalid.js';
import { text, translator } from '../../i18n/translate.js';
import { memberLocale } from '../locale.js';
import type { Result } from '../result.js';

/** Builds the engine request from parsed options and the guild's preview and translation settings. */
export function toJobRequest(params: ImagineParams, previewEvery: number, translate = true): JobRequest {
  return {
    model: params.model,
    prompt: params.prompt,
    negativePrompt: params.negativePrompt,
    steps: params.steps,
    cfg: params.cfg,
    sampler: params.sampler,
    width: params.width,
    height: params.height,
    count: params.count,
    ...(params.seed === undefined ? {} : { seed: params.seed }),
    mode: { kind: 'txt2img' },
    previewEvery,
    // Only when set, so jobs without it read as they did before clip skip existed.
    ...(params.clipSkip === 1 ? {} : { clipSkip: params.clipSkip }),
    // Only when off: the engine translates by default, and jobs stay as they were stored before.
    ...(translate ? {} : { translate: false }),
  };
}

export function previewEveryOf(settings: ReturnType<typeof GuildSettingsSchema.parse>): number {
  return settings.preview.enabled ? settings.preview.everySteps : 0;
}

/** How this bot downloads and stores uploads. */
export function uploadStore(context: BotContext): UploadStore {
  return { images: context.images, fetch: context.fetch };
}

/** The checks an upload gets before the acknowledgement: the model can encode pictures, and Discord's type and size. */
export function checkUploadFirst(
  context: BotContext,
  upload: AttachmentInfo,
  what: UploadKind,
  settings: GuildSettings,
  model: string,
  doing: 'img2img' | 'edit',
): Result<void, UserError> {
  const encoder = checkCanEdit(model, context.models(), doing);
  if (!encoder.ok) return encoder;
  return checkAttachment(upload, what, settings.limits.maxUploadBytes);
}

/**
 * The `control` choices: the nets of the model the command names (as typed so far), else of the default model; a
 * model not (yet) recognised offers every installed net, each named with its model.
 */
export function controlChoices(context: BotContext, guildId: string | null, typedModel: string | null): { name: string; value: string }[] {
  const models = context.models();
  const settings = guildId ? context.settings.get(guildId) : undefined;
  const name = typedModel?.trim() || settings?.defaults.model || context.defaultModel || models[0]?.name;
  const model = models.find((m) => m.name === name);
  if (model) return (model.controlNets ?? []).map((net) => ({ name: net, value: net }));
  return models.flatMap((m) => (m.controlNets ?? []).map((net) => ({ name: `${net} (${m.name})`, value: net })));
}

/** /imagine: parse and check synchronously, answer problems ephemerally, queue and defer otherwise. */
export function imagineCommand(context: BotContext): CommandHandler {
  return {
    name: 'imagine',
    async execute(interaction: ChatInputCommandInteraction) {
      const settings = context.settings.get(interaction.guildId!);
      const channel = checkAllowedChannel(settings, interaction.channelId);
      if (!channel.ok) return replyUserError(interaction, channel.error, context.logger);
      const o = interaction.options;
      const controlAttachment = o.getAttachment(IMAGINE_OPTIONS.controlImage);
      const parsed = parseImagineOptions(
        {
          prompt: o.getString(IMAGINE_OPTIONS.prompt, true),
          negative: o.getString(IMAGINE_OPTIONS.negative) ?? undefined,
          size: o.getString(IMAGINE_OPTIONS.size) ?? undefined,
          steps: o.getInteger(IMAGINE_OPTIONS.steps) ?? undefined,
          cfg: o.getNumber(IMAGINE_OPTIONS.cfg) ?? undefined,
          clipSkip: o.getInteger(IMAGINE_OPTIONS.clipSkip) ?? undefined,
          sampler: o.getString(IMAGINE_OPTIONS.sampler) ?? undefined,
          seed: o.getInteger(IMAGINE_OPTIONS.seed) ?? undefined,
          count: o.getInteger(IMAGINE_OPTIONS.count) ?? undefined,
          model: o.getString(IMAGINE_OPTIONS.model) ?? undefined,
          control: o.getString(IMAGINE_OPTIONS.control) ?? undefined,
          controlStrength: o.getNumber(IMAGINE_OPTIONS.controlStrength) ?? undefined,
          preprocess: o.getString(IMAGINE_OPTIONS.preprocess) ?? undefined,
          controlImage: controlAttachment !== null,
        },
        {
          settings,
          models: context.models(),
          brokenReason: context.brokenReason,
          defaultModel: context.defaultModel,
          loras: context.loras?.(),
          depthInstalled: context.depthInstalled,
        },
      );
      if (!parsed.ok) return replyUserError(interaction, parsed.error, context.logger);
      const request = toJobRequest(parsed.value, previewEveryOf(settings), settings.translate);
      const attachment = o.getAttachment(IMAGINE_OPTIONS.image);
      const strength = o.getNumber(IMAGINE_OPTIONS.strength);
      if (!attachment && strength !== null) {
        return replyUserError(interaction, invalid(text('error.strengthWithoutImage')), context.logger);
      }
      const upload = attachment ? attachmentInfo(attachment) : undefined;
      if (upload) {
        const checked = checkUploadFirst(context, upload, 'image', settings, request.model, 'img2img');
        if (!checked.ok) return replyUserError(interaction, checked.error, context.logger);
      }
      const control = parsed.value.control;
      const controlUpload = controlAttachment && control ? attachmentInfo(controlAttachment) : undefined;
      if (controlUpload) {
        // A control image is only read, never encoded: no vae_encoder needed, the same type and size checks.
        const checked = checkAttachment(controlUpload, 'control', settings.limits.maxUploadBytes);
        if (!checked.ok) return replyUserError(interaction, checked.error, context.logger);
      }
      let prepare: (() => Promise<JobRequest>) | undefined;
      if (upload || controlUpload) {
        const fixedSize = context.models().find((m) => m.name === request.model)?.fixedSize;
        // The picture keeps its aspect at about the area the model or server draws by default (or `size` asks for).
        const target = { area: request.width * request.height, maxPixels: settings.limits.maxPixels, fixedSize };
        prepare = async () => {
          let prepared = request;
          if (upload) {
            const stored = await storeUpload(uploadStore(context), upload, 'image', settings, target);
            prepared = {
              ...prepared,
              width: stored.width,
              height: stored.height,
              mode: { kind: 'img2img', image: { ref: stored.ref }, strength: strength ?? REQUEST_DEFAULTS.img2imgStrength },
            };
          }
          if (controlUpload && control) {
            const stored = await storeUpload(uploadStore(context), controlUpload, 'control', settings, target);
            // Without a picture to start from or a size the user chose, the control image's aspect sets the size, as
            // an img2img upload's does; otherwise the engine crops it to cover the picture (A1111's Crop and Resize).
            const sized = upload || parsed.value.sizeGiven ? {} : { width: stored.width, height: stored.height };
            prepared = { ...prepared, ...sized, controls: [{ ...control, image: { ref: stored.ref } }] };
          }
          return prepared;
        };
      }
      const submitted = submitJob(context, interaction, settings, {
        kind: 'imagine',
        request,
        prepare,
        notes: parsed.value.notes,
      });
      if (!submitted.ok) return replyUserError(interaction, submitted.error, context.logger);
    },
    async autocomplete(interaction: AutocompleteInteraction) {
      const focused = interaction.options.getFocused(true);
      const typed = String(focused.value).toLowerCase();
      let choices: { name: string; value: string }[] = [];
      if (focused.name === IMAGINE_OPTIONS.model) {
        choices = context.models().map((m) => ({ name: m.name, value: m.name }));
      } else if (focused.name === IMAGINE_OPTIONS.control) {
        choices = controlChoices(context, interaction.guildId, interaction.options.getString(IMAGINE_OPTIONS.model));
      } else if (focused.name === IMAGINE_OPTIONS.size) {
        const tr = translator(memberLocale(interaction));
        const ratios = ['1:1', '16:9', '9:16', '3:2', '2:3', '4:3', '3:4'];
        // Presets shown in the member's language; the value Discord sends back stays the English preset name.
        choices = [...SIZE_PRESETS.map((p) => ({ name: tr(`size.${p.name}`), value: p.name })), ...ratios.map((name) => ({ name, value: name }))];
        if (/^\d+\s*[x×]\s*\d+$/.test(typed)) choices.unshift({ name: typed, value: typed });
      }
      await interaction.respond(choices.filter((c) => c.name.toLowerCase().includes(typed)).slice(0, 25));
    },
  };
}
