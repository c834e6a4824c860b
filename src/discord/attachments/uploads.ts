import type { Attachment } from 'discord.js';
import { Identifiers, type UserError } from '../../errors.js';
import { text } from '../../i18n/translate.js';
import { userError } from '../../i18n/user-error.js';
import type { GuildSettings } from '../../config/guild-settings.js';
import type { ModelSummary } from '../../protocol/generate-request.js';
import type { ImageFiles } from '../../store/image-files.js';
import { err, ok, type Result } from '../result.js';
import { downloadAttachment, fitToGrid, inspectUpload, toMaskPng, toRequestPng, type AttachmentInfo, type UploadKind } from './attachments.js';

/** Where uploads are stored; `fetch` is replaceable for tests. */
export interface UploadStore {
  images: Pick<ImageFiles, 'writeInput'>;
  fetch?: typeof fetch;
  timeoutMs?: number;
}

/** discord.js's Attachment as the checks read it. */
export function attachmentInfo(attachment: Attachment): AttachmentInfo {
  return {
    url: attachment.url,
    name: attachment.name,
    size: attachment.size,
    contentType: attachment.contentType,
    width: attachment.width,
    height: attachment.height,
  };
}

/**
 * The picture-editing modes start by encoding the picture, which needs the model's vae_encoder; without one the
 * worker would fail the job after it waited its turn, so it is refused before the acknowledgement.
 */
export function checkCanEdit(modelName: string, models: readonly ModelSummary[], doing: 'img2img' | 'edit'): Result<void, UserError> {
  const model = models.find((m) => m.name === modelName);
  if (model && !model.hasVaeEncoder) {
    const others = models
      .filter((m) => m.hasVaeEncoder)
      .map((m) => `\`${m.name}\``)
      .join(', ');
    return err(userError(Identifiers.InvalidModel, text('error.noEncoder', { model: modelName, doing, others }), { model: modelName }));
  }
  return ok(undefined);
}

/** The size target of an upload: the request's own area (the model's or server's default size, or `size`). */
export interface UploadTarget {
  area: number;
  maxPixels: number;
  fixedSize?: readonly [number, number];
}

/**
 * After the acknowledgement: downloads the picture, checks its bytes, fits it to the model's grid keeping its aspect
 * and stores it under DATA_DIR/inputs. Returns the reference the request carries (never the URL: it expires).
 */
export async function storeUpload(
  store: UploadStore,
  attachment: AttachmentInfo,
  what: UploadKind,
  settings: GuildSettings,
  target: UploadTarget,
): Promise<{ ref: string; width: number; height: number }> {
  const bytes = await downloadAttachment(attachment.url, what, {
    maxBytes: settings.limits.maxUploadBytes,
    fetch: store.fetch,
    timeoutMs: store.timeoutMs,
  });
  const { width, height } = await inspectUpload(bytes, what);
  const size = fitToGrid(width, height, target);
  const png = await toRequestPng(bytes, size.width, size.height);
  return { ref: await store.images.writeInput(png), ...size };
}

/** Same for a mask, stretched to the picture's request size; refuses an empty one. `full` = all white. */
export async function storeMask(
  store: UploadStore,
  attachment: AttachmentInfo,
  settings: GuildSettings,
  width: number,
  height: number,
): Promise<{ ref: string; empty: boolean; full: boolean }> {
  const bytes = await downloadAttachment(attachment.url, 'mask', {
    maxBytes: settings.limits.maxUploadBytes,
    fetch: store.fetch,
    timeoutMs: store.timeoutMs,
  });
  await inspectUpload(bytes, 'mask');
  const mask = await toMaskPng(bytes, width, height);
  if (mask.empty) return { ref: '', empty: true, full: false };
  return { ref: await store.images.writeInput(mask.png), empty: false, full: mask.full };
}
