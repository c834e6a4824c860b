/**
 * Masks for inpainting and outpainting, as AUTOMATIC1111's inpaint tab treats them (modules/processing.py): white
 * = repaint. The source and the mask are both brought to the generation size; the latent mask is the mask at 1/8
 * size rounded to 0/1; the result is pasted over the source with the mask blurred, so outside the blurred edge the
 * source's pixels come back unchanged.
 */
import sharp from 'sharp';
import { Identifiers, UserError } from '../../errors.js';
import type { PanDirection } from '../../protocol/generate-request.js';
import { readImage } from './pixels.js';

/** An RGB picture as interleaved bytes. */
export interface Rgb {
  data: Buffer;
  width: number;
  height: number;
}

/** A single-channel mask, one byte per pixel (0 keep … 255 repaint). */
export interface Mask {
  data: Buffer;
  width: number;
  height: number;
}

/** Any image sharp reads, resized to exactly `width`×`height` (stretched: the mask must stay aligned with it). */
export async function readRgb(bytes: Uint8Array, width: number, height: number, what: string): Promise<Rgb> {
  const img = await readImage(bytes, what);
  const data = await img
    .flatten({ background: '#000000' })
    .toColourspace('srgb')
    .resize(width, height, { fit: 'fill', kernel: 'lanczos3' })
    .raw()
    .toBuffer();
  return { data, width, height };
}

/**
 * A mask image (any size, any format) as luminance at `width`×`height`. Transparent pixels count as black, so a
 * PNG painted white on a transparent layer works as well as a black-and-white one.
 */
export async function readMask(bytes: Uint8Array, width: number, height: number): Promise<Mask> {
  const img = await readImage(bytes, 'mask');
  const data = await img
    .flatten({ background: '#000000' })
    .greyscale()
    .resize(width, height, { fit: 'fill', kernel: 'lanczos3' })
    .extractChannel(0)
    .raw()
    .toBuffer();
  return { data, width, height };
}

/** True when no pixel is at least half white: there is nothing to repaint. */
export function isEmptyMask(mask: Mask): boolean {
  return !mask.data.some((v) => v >= 128);
}

/** Gaussian blur of the mask edge (A1111's "Mask blur"); 0 keeps it as it is. */
export async function blurMask(mask: Mask, sigma: number): Promise<Mask> {
  if (sigma <= 0) return mask;
  const data = await sharp(mask.data, { raw: { width: mask.width, height: mask.height, channels: 1 } })
    .blur(Math.max(0.3, sigma))
    .extractChannel(0)
    .raw()
    .toBuffer();
  return { data, width: mask.width, height: mask.height };
}

/**
 * The mask at latent size (1/8), rounded to 0 or 1 as A1111 does (`np.around` after a bicubic resize). `nearest`
 * instead gives diffusers' inpainting-UNet mask (a nearest resize, binarised at 0.5).
 */
export async function latentMask(mask: Mask, kernel: 'cubic' | 'nearest' = 'cubic'): Promise<Float32Array> {
  const w = mask.width / 8;
  const h = mask.height / 8;
  const small = await sharp(mask.data, { raw: { width: mask.width, height: mask.height, channels: 1 } })
    .resize(w, h, { fit: 'fill', kernel })
    .extractChannel(0)
    .raw()
    .toBuffer();
  return Float32Array.from(small, (v) => (v >= 128 ? 1 : 0));
}

/**
 * A1111's overlay: the generated picture where the (blurred) mask is white, the source where it is black, a blend
 * between. Where the mask is 0 the source's bytes are copied as they are, so they survive byte for byte.
 */
export function pasteBack(source: Rgb, generated: Rgb, mask: Mask): Buffer {
  const out = Buffer.alloc(source.data.length);
  for (let i = 0, p = 0; p < mask.data.length; p++, i += 3) {
    const a = mask.data[p];
    for (let c = 0; c < 3; c++) {
      out[i + c] =
        a === 0
          ? source.data[i + c]
          : a === 255
            ? generated.data[i + c]
            : Math.round((source.data[i + c] * (255 - a) + generated.data[i + c] * a) / 255);
    }
  }
  return out;
}

/** The mask's bounding box of pixels ≥ 50 %, grown by `padding` and clamped to the picture; undefined when empty. */
export function maskBox(mask: Mask, padding: number): { x: number; y: number; width: number; height: number } | undefined {
  let x0 = mask.width;
  let y0 = mask.height;
  let x1 = -1;
  let y1 = -1;
  for (let y = 0; y < mask.height; y++) {
    for (let x = 0; x < mask.width; x++) {
      if (mask.data[y * mask.width + x] < 128) continue;
      if (x < x0) x0 = x;
      if (x > x1) x1 = x;
      if (y < y0) y0 = y;
      if (y > y1) y1 = y;
    }
  }
  if (x1 < 0) return undefined;
  const left = Math.max(0, x0 - padding);
  const top = Math.max(0, y0 - padding);
  const right = Math.min(mask.width, x1 + 1 + padding);
  const bottom = Math.min(mask.height, y1 + 1 + padding);
  return { x: left, y: top, width: right - left, height: bottom - top };
}

/** A crop of an RGB picture or a mask (same layout, `channels` bytes per pixel). */
export function crop<T extends Rgb | Mask>(image: T, box: { x: number; y: number; width: number; height: number }, channels: 1 | 3): T {
  const data = Buffer.alloc(box.width * box.height * channels);
  for (let y = 0; y < box.height; y++) {
    const from = ((box.y + y) * image.width + box.x) * channels;
    image.data.copy(data, y * box.width * channels, from, from + box.width * channels);
  }
  return { ...image, data, width: box.width, height: box.height };
}

/** Resize raw pixels (`channels` bytes each). */
export async function resizeRaw<T extends Rgb | Mask>(image: T, width: number, height: number, channels: 1 | 3): Promise<T> {
  const data = await sharp(image.data, { raw: { width: image.width, height: image.height, channels } })
    .resize(width, height, { fit: 'fill', kernel: 'lanczos3' })
    .raw()
    .toBuffer();
  return { ...image, data, width, height };
}

/** Copy `part` into `into` at (x, y). */
export function paste<T extends Rgb | Mask>(into: T, part: T, x: number, y: number, channels: 1 | 3): T {
  const data = Buffer.from(into.data);
  for (let row = 0; row < part.height; row++) {
    part.data.copy(data, ((y + row) * into.width + x) * channels, row * part.width * channels, (row + 1) * part.width * channels);
  }
  return { ...into, data };
}

/**
 * The canvas and mask of Midjourney's Zoom Out / Pan for a source of `width`×`height`: zoom shrinks the source by
 * `zoom` and centres it on a canvas of the same size; pan grows the canvas by half in that direction (rounded to a
 * multiple of 8). The new area is filled by repeating the source's edge pixels (a neutral start for the encoder)
 * and is white in the mask; where the source sits the mask is black, so the source is kept as it is.
 */
export async function outpaintCanvas(
  source: Rgb,
  how: { zoom?: number; pan?: PanDirection },
): Promise<{ canvas: Rgb; mask: Mask; placed: { x: number; y: number; width: number; height: number } }> {
  const { width, height } = source;
  let canvasW = width;
  let canvasH = height;
  let placed: { x: number; y: number; width: number; height: number };
  if (how.zoom !== undefined) {
    const w = Math.max(8, Math.round(width / how.zoom));
    const h = Math.max(8, Math.round(height / how.zoom));
    placed = { x: Math.floor((width - w) / 2), y: Math.floor((height - h) / 2), width: w, height: h };
  } else {
    const growW = how.pan === 'left' || how.pan === 'right' ? Math.round(width / 2 / 8) * 8 : 0;
    const growH = how.pan === 'up' || how.pan === 'down' ? Math.round(height / 2 / 8) * 8 : 0;
    canvasW = width + growW;
    canvasH = height + growH;
    placed = { x: how.pan === 'left' ? growW : 0, y: how.pan === 'up' ? growH : 0, width, height };
  }
  const part = placed.width === width && placed.height === height ? source : await resizeRaw(source, placed.width, placed.height, 3);
  const canvasData = await sharp(part.data, { raw: { width: part.width, height: part.height, channels: 3 } })
    .extend({
      left: placed.x,
      top: placed.y,
      right: canvasW - placed.x - placed.width,
      bottom: canvasH - placed.y - placed.height,
      extendWith: 'copy',
    })
    .raw()
    .toBuffer();
  const maskData = Buffer.alloc(canvasW * canvasH, 255);
  for (let y = placed.y; y < placed.y + placed.height; y++) maskData.fill(0, y * canvasW + placed.x, y * canvasW + placed.x + placed.width);
  return { canvas: { data: canvasData, width: canvasW, height: canvasH }, mask: { data: maskData, width: canvasW, height: canvasH }, placed };
}

/** The refusal for a mask with nothing white in it. */
export function emptyMaskError(): UserError {
  return new UserError(
    Identifiers.InvalidArgument,
    'The mask is empty (all black): nothing to repaint. Paint white where the picture should change.',
  );
}
