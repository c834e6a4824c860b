/**
 * Pixels in and out of the pipeline, through sharp (libvips): NCHW float tensors in [-1, 1] ⇄ PNG, init images
 * resized to the generation size, Lanczos upscaling. Every failure to read an image is a UserError that says
 * which formats work.
 */
import sharp, { type Sharp } from 'sharp';
import { deflateSync } from 'node:zlib';
import { Identifiers, UserError } from '../../errors.js';
import { makeChunk, PNG_SIGNATURE } from '../../protocol/png-text.js';

/** Fixed PNG settings: the same pixels always give the same bytes (determinism is tested on bytes). */
const PNG_OPTIONS = { compressionLevel: 6, adaptiveFiltering: false, palette: false } as const;

/** One image of an NCHW batch, `[3, height, width]` in [-1, 1], to interleaved RGB bytes. */
export function tensorToRgb(data: Float32Array, width: number, height: number, offset = 0): Buffer {
  const plane = width * height;
  const rgb = Buffer.alloc(plane * 3);
  // A Uint8ClampedArray view clamps to 0..255 and rounds half to even on store, which is exactly diffusers'
  // `(x / 2 + 0.5).clamp(0, 1) * 255` then numpy's round(); no branches in the hot loop.
  const out = new Uint8ClampedArray(rgb.buffer, rgb.byteOffset, rgb.byteLength);
  for (let c = 0; c < 3; c++) {
    const base = offset + c * plane;
    for (let i = 0, j = c; i < plane; i++, j += 3) out[j] = (data[base + i] + 1) * 127.5;
  }
  return rgb;
}

export async function rgbToPng(rgb: Buffer, width: number, height: number): Promise<Buffer> {
  return sharp(rgb, { raw: { width, height, channels: 3 } })
    .png(PNG_OPTIONS)
    .toBuffer();
}

/** Decode any image sharp reads (PNG, JPEG, WebP, GIF, AVIF, TIFF), or throw a UserError naming the problem. */
export async function readImage(bytes: Uint8Array, what: string): Promise<Sharp> {
  const img = sharp(bytes, { failOn: 'error' });
  try {
    const meta = await img.metadata();
    if (!meta.width || !meta.height) throw new Error('no dimensions');
  } catch (error) {
    throw new UserError(Identifiers.UnreadableImage, `Cannot read the ${what}: ${(error as Error).message}. Use a PNG, JPEG or WebP file.`);
  }
  return img;
}

/**
 * An init image as an NCHW tensor `[1, 3, height, width]` in [-1, 1] (diffusers: x / 255 · 2 − 1), resized to
 * cover the generation size and centre-cropped, so the aspect ratio is kept rather than stretched.
 */
export async function imageToTensor(bytes: Uint8Array, width: number, height: number, what = 'init image'): Promise<Float32Array> {
  const img = await readImage(bytes, what);
  const { data } = await img
    .removeAlpha()
    .toColourspace('srgb')
    .resize(width, height, { fit: 'cover', kernel: 'lanczos3' })
    .raw()
    .toBuffer({ resolveWithObject: true });
  const plane = width * height;
  const out = new Float32Array(3 * plane);
  for (let i = 0; i < plane; i++) {
    for (let c = 0; c < 3; c++) out[c * plane + i] = (data[i * 3 + c] / 255) * 2 - 1;
  }
  return out;
}

/** Size of an image without decoding its pixels. */
export async function imageSize(bytes: Uint8Array, what = 'image'): Promise<{ width: number; height: number }> {
  const meta = await (await readImage(bytes, what)).metadata();
  return { width: meta.width!, height: meta.height! };
}

/** Lanczos resize by `factor` (sharp's lanczos3), returned as PNG. */
export async function lanczosUpscale(
  bytes: Uint8Array,
  factor: number,
  what = 'image to upscale',
): Promise<{ png: Buffer; width: number; height: number }> {
  const img = await readImage(bytes, what);
  const meta = await img.metadata();
  const width = meta.width! * factor;
  const height = meta.height! * factor;
  const png = await img.removeAlpha().resize(width, height, { kernel: 'lanczos3' }).png(PNG_OPTIONS).toBuffer();
  return { png, width, height };
}

/** Decoded RGB bytes of an image we produced (3 channels, no alpha). */
export async function pngToRgb(png: Uint8Array): Promise<Buffer> {
  return sharp(png).removeAlpha().raw().toBuffer();
}

/**
 * Small preview PNG from RGB bytes, upscaled by an integer factor with nearest neighbour (keeps latent pixels
 * crisp). Encoded synchronously with zlib at level 1: a 256×256 preview takes about a millisecond, and doing it
 * here avoids a hop to sharp's thread pool, which on a small CPU waits behind onnxruntime's spinning threads and
 * made each preview cost several milliseconds of the generation.
 */
export function previewPng(rgb: Buffer, width: number, height: number, scale: number): { png: Buffer; width: number; height: number } {
  const w = width * scale;
  const h = height * scale;
  const stride = w * 3 + 1; // one filter-type byte (0: none) per row
  const raw = Buffer.alloc(stride * h);
  for (let sy = 0; sy < height; sy++) {
    // Expand one source row into the first of its `scale` output rows, then copy that row down.
    const first = sy * scale * stride;
    let d = first + 1;
    for (let sx = 0; sx < width; sx++) {
      const s = (sy * width + sx) * 3;
      for (let k = 0; k < scale; k++, d += 3) {
        raw[d] = rgb[s];
        raw[d + 1] = rgb[s + 1];
        raw[d + 2] = rgb[s + 2];
      }
    }
    for (let k = 1; k < scale; k++) raw.copy(raw, first + k * stride, first, first + stride);
  }
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(w, 0);
  ihdr.writeUInt32BE(h, 4);
  ihdr[8] = 8; // bit depth
  ihdr[9] = 2; // colour type: RGB
  const png = Buffer.concat([
    PNG_SIGNATURE,
    makeChunk('IHDR', ihdr),
    makeChunk('IDAT', deflateSync(raw, { level: 1 })),
    makeChunk('IEND', Buffer.alloc(0)),
  ]);
  return { png, width: w, height: h };
}

/** Largest integer factor that keeps the longer side at most `target` (at least 1). */
export function previewScale(width: number, height: number, target: number): number {
  return Math.max(1, Math.floor(target / Math.max(width, height)));
}

/** Interleaved RGB bytes → an NCHW tensor `[3, height, width]` in [-1, 1] (diffusers: x / 255 · 2 − 1). */
export function rgbToTensor(rgb: Uint8Array, width: number, height: number): Float32Array {
  const plane = width * height;
  const out = new Float32Array(3 * plane);
  for (let i = 0; i < plane; i++) {
    for (let c = 0; c < 3; c++) out[c * plane + i] = (rgb[i * 3 + c] / 255) * 2 - 1;
  }
  return out;
}
