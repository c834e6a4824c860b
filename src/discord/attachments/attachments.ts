/**
 * Pictures users upload to /imagine and /edit: checked before the acknowledgement from what Discord says about
 * them (type, size, dimensions), then downloaded after it (Discord's 3-second rule) with a timeout and a byte cap
 * that holds while streaming, checked again from their own bytes (magic bytes, header dimensions through sharp),
 * and fitted to the model's size grid. Nothing here trusts the URL's content: it is someone's upload.
 */
import sharp from 'sharp';
import { Identifiers, UserError } from '../../errors.js';
import { text, type LocalizedText } from '../../i18n/translate.js';
import { userError } from '../../i18n/user-error.js';
import { REQUEST_BOUNDS } from '../../protocol/generate-request.js';
import { err, ok, type Result } from '../result.js';

/** Pixels of an upload's header above which it is refused unread: a 20000×20000 PNG is a few bytes and 1.6 GB decoded. */
export const MAX_UPLOAD_PIXELS = 4096 * 4096;
/** How long a download may take before it is given up. */
export const DOWNLOAD_TIMEOUT_MS = 15_000;

const TYPES = ['image/png', 'image/jpeg', 'image/webp'] as const;
const FORMATS: Record<string, string> = { png: 'PNG', jpeg: 'JPEG', webp: 'WebP' };

/** What Discord tells about an attachment (discord.js `Attachment`), before anything is downloaded. */
export interface AttachmentInfo {
  url: string;
  name: string;
  size: number;
  contentType?: string | null;
  width?: number | null;
  height?: number | null;
}

/** What an upload is, as messages name it. */
export type UploadKind = 'image' | 'mask' | 'control';

const refuse = (message: LocalizedText, details: Record<string, unknown> = {}) => userError(Identifiers.InvalidArgument, message, details);
const mib = (bytes: number) => `${Math.round((bytes / 1024 / 1024) * 10) / 10} MiB`;

/** The checks that need no download: answered ephemerally, before the acknowledgement. */
export function checkAttachment(attachment: AttachmentInfo, what: UploadKind, maxBytes: number): Result<void, UserError> {
  // Discord sets content_type from the file; a missing one is left to the magic-byte check after the download.
  const type = attachment.contentType?.split(';')[0].trim().toLowerCase();
  if (type && !(TYPES as readonly string[]).includes(type)) {
    return err(refuse(text('error.uploadType', { what, name: attachment.name.replace(/[`\r\n]/g, '').slice(0, 80), type })));
  }
  if (attachment.size > maxBytes) {
    return err(refuse(text('error.uploadSize', { what, size: mib(attachment.size), max: mib(maxBytes) })));
  }
  if (attachment.width && attachment.height && attachment.width * attachment.height > MAX_UPLOAD_PIXELS) {
    return err(tooManyPixels(what, attachment.width, attachment.height));
  }
  return ok(undefined);
}

const tooManyPixels = (what: UploadKind, width: number, height: number) =>
  refuse(text('error.uploadPixels', { what, width, height, max: MAX_UPLOAD_PIXELS }));

/**
 * Downloads `url`, refusing more than `maxBytes` while it streams (a wrong or missing Content-Length cannot make it
 * read more) and giving up after `timeoutMs`. Failures are UserErrors: the message says what to do, never the URL.
 */
export async function downloadAttachment(
  url: string,
  what: UploadKind,
  options: { maxBytes: number; timeoutMs?: number; fetch?: typeof fetch },
): Promise<Buffer> {
  const timeoutMs = options.timeoutMs ?? DOWNLOAD_TIMEOUT_MS;
  const signal = AbortSignal.timeout(timeoutMs);
  const unreachable = () => refuse(text('error.uploadUnreachable', { what }));
  const timedOut = () => refuse(text('error.uploadTimeout', { what, seconds: timeoutMs / 1000 }));
  let response: Response;
  try {
    response = await (options.fetch ?? fetch)(url, { signal, redirect: 'follow' });
  } catch {
    throw signal.aborted ? timedOut() : unreachable();
  }
  if (!response.ok || !response.body) throw unreachable();
  const tooBig = () => refuse(text('error.uploadTooBig', { what, max: mib(options.maxBytes) }));
  const declared = Number(response.headers.get('content-length'));
  if (Number.isFinite(declared) && declared > options.maxBytes) {
    await response.body.cancel().catch(() => undefined);
    throw tooBig();
  }
  const chunks: Uint8Array[] = [];
  let received = 0;
  const reader = response.body.getReader();
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      received += value.byteLength;
      if (received > options.maxBytes) {
        await reader.cancel().catch(() => undefined);
        throw tooBig();
      }
      chunks.push(value);
    }
  } catch (error) {
    if (error instanceof UserError) throw error;
    throw signal.aborted ? timedOut() : unreachable();
  }
  return Buffer.concat(chunks);
}

/** The format from the first bytes, whatever the name or content type claim. */
export function sniffImageType(bytes: Uint8Array): 'png' | 'jpeg' | 'webp' | undefined {
  const b = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (b.length >= 8 && b.subarray(0, 8).equals(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]))) return 'png';
  if (b.length >= 3 && b[0] === 0xff && b[1] === 0xd8 && b[2] === 0xff) return 'jpeg';
  if (b.length >= 12 && b.toString('latin1', 0, 4) === 'RIFF' && b.toString('latin1', 8, 12) === 'WEBP') return 'webp';
  return undefined;
}

/**
 * Checks downloaded bytes: a PNG, JPEG or WebP by its magic bytes, with a header of at most MAX_UPLOAD_PIXELS. Only
 * the header is read (sharp's metadata), and `limitInputPixels` stops any later decode of a lying file as well.
 */
export async function inspectUpload(bytes: Uint8Array, what: UploadKind): Promise<{ width: number; height: number; format: string }> {
  const format = sniffImageType(bytes);
  if (!format) throw refuse(text('error.uploadNotImage', { what }));
  let meta: Awaited<ReturnType<ReturnType<typeof sharp>['metadata']>>;
  try {
    // metadata() reads the header only, so it runs without a pixel limit (with one it refuses a bomb with an
    // unhelpful error); the size is checked just below, and every decode after this sets the limit.
    meta = await sharp(bytes, { limitInputPixels: false }).metadata();
  } catch {
    throw refuse(text('error.uploadDamaged', { what, format: FORMATS[format] }));
  }
  const { width, height } = meta;
  if (!width || !height) throw refuse(text('error.uploadNoSize', { what }));
  if (width * height > MAX_UPLOAD_PIXELS) throw tooManyPixels(what, width, height);
  return { width, height, format };
}

/**
 * The request size for a picture of `width`×`height`: its aspect, about `area` pixels (the size the model or server
 * draws by default), sides multiples of 8 within the request bounds, and at most `maxPixels`. A model that draws one
 * size gets that size (the picture is then cropped to its aspect).
 */
export function fitToGrid(
  width: number,
  height: number,
  options: { area: number; maxPixels: number; fixedSize?: readonly [number, number] },
): { width: number; height: number } {
  if (options.fixedSize) return { width: options.fixedSize[0], height: options.fixedSize[1] };
  const { min, max, multiple } = REQUEST_BOUNDS.side;
  const aspect = width / height;
  let area = Math.min(options.area, options.maxPixels);
  for (;;) {
    const w = Math.min(max, Math.max(min, Math.round(Math.sqrt(area * aspect) / multiple) * multiple));
    const h = Math.min(max, Math.max(min, Math.round(Math.sqrt(area / aspect) / multiple) * multiple));
    // Rounding up can go over the limit; shrink the target until it fits (the minimum always does).
    if (w * h <= options.maxPixels || (w === min && h === min)) return { width: w, height: h };
    area *= 0.95;
  }
}

/** The picture as a PNG of exactly `width`×`height`: EXIF orientation applied, cropped to the aspect from the centre. */
export async function toRequestPng(bytes: Uint8Array, width: number, height: number): Promise<Buffer> {
  return sharp(bytes, { limitInputPixels: MAX_UPLOAD_PIXELS }).rotate().resize(width, height, { fit: 'cover' }).removeAlpha().png().toBuffer();
}

/**
 * A mask as a greyscale PNG of `width`×`height` (white = repaint), stretched to the picture as A1111 does. Reports
 * whether it is empty (nothing at or above half grey: the job would change nothing) or full (everything is white:
 * the whole picture is redrawn, which is plain img2img).
 */
export async function toMaskPng(bytes: Uint8Array, width: number, height: number): Promise<{ png: Buffer; empty: boolean; full: boolean }> {
  // A transparent area of a mask drawn in an editor counts as black, not as whatever colour it hides.
  const grey = await sharp(bytes, { limitInputPixels: MAX_UPLOAD_PIXELS })
    .rotate()
    .flatten({ background: '#000000' })
    .greyscale()
    .resize(width, height, { fit: 'fill' })
    .raw()
    .toBuffer();
  let white = 0;
  for (const v of grey) if (v >= 128) white++;
  const png = await sharp(grey, { raw: { width, height, channels: 1 } })
    .toColourspace('b-w')
    .png()
    .toBuffer();
  return { png, empty: white === 0, full: white === grey.length };
}

/** The refusal for a mask with nothing white in it, before anything is queued. */
export const emptyMaskError = () => refuse(text('error.maskEmpty'));

// ---- Vary (Region) ---------------------------------------------------------------------------------------

export const REGIONS = ['left', 'right', 'top', 'bottom', 'centre'] as const;
export type Region = (typeof REGIONS)[number];
/** A box in percent of the picture: x, y from the top left, then width and height. */
export interface RegionBox {
  x: number;
  y: number;
  w: number;
  h: number;
}

/** The box (percent) of a named region. */
export function regionBox(region: Region | RegionBox): RegionBox {
  if (typeof region === 'object') return region;
  switch (region) {
    case 'left':
      return { x: 0, y: 0, w: 50, h: 100 };
    case 'right':
      return { x: 50, y: 0, w: 50, h: 100 };
    case 'top':
      return { x: 0, y: 0, w: 100, h: 50 };
    case 'bottom':
      return { x: 0, y: 50, w: 100, h: 50 };
    case 'centre':
      return { x: 25, y: 25, w: 50, h: 50 };
  }
}

/** Parses `x,y,w,h` in percent (what the region box field takes). */
export function parseRegionBox(typed: string): Result<RegionBox, UserError> {
  const parts = typed.split(',').map((p) => Number(p.trim().replace(/%$/, '')));
  if (parts.length !== 4 || parts.some((n) => !Number.isFinite(n) || n < 0 || n > 100)) return err(refuse(text('error.regionBox')));
  const [x, y, w, h] = parts;
  if (w < 1 || h < 1) return err(refuse(text('error.regionEmpty')));
  if (x + w > 100 || y + h > 100) return err(refuse(text('error.regionEdge')));
  return ok({ x, y, w, h });
}

/** A mask PNG of `width`×`height`: black, with the region white (repaint). */
export async function regionMask(region: Region | RegionBox, width: number, height: number): Promise<Buffer> {
  const box = regionBox(region);
  const left = Math.round((box.x / 100) * width);
  const top = Math.round((box.y / 100) * height);
  const w = Math.max(1, Math.min(width - left, Math.round((box.w / 100) * width)));
  const h = Math.max(1, Math.min(height - top, Math.round((box.h / 100) * height)));
  const data = Buffer.alloc(width * height);
  for (let y = top; y < top + h; y++) data.fill(255, y * width + left, y * width + left + w);
  return sharp(data, { raw: { width, height, channels: 1 } })
    .toColourspace('b-w')
    .png()
    .toBuffer();
}
