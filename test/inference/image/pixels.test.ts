import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import { UserError } from '../../../src/errors.js';
import { imageToTensor, lanczosUpscale, previewPng, previewScale, tensorToRgb } from '../../../src/inference/image/pixels.js';

describe('tensorToRgb', () => {
  it("maps [-1, 1] to 0..255 with diffusers' clamp and numpy's round-half-to-even, planar to interleaved", () => {
    // One 2x1 image: R plane, G plane, B plane.
    const t = Float32Array.from([-1, 1, 0, 2, -3, 1 / 255]);
    // 0 → 127.5 → 128 (half to even), 1/255 → 128.0 exactly: (x+1)·127.5.
    expect([...tensorToRgb(t, 2, 1)]).toEqual([0, 128, 0, 255, 255, 128]);
  });
});

describe('previewPng', () => {
  const rgb = Buffer.from(Array.from({ length: 8 * 6 * 3 }, (_, i) => (i * 37) % 256));

  it('upscales by an integer factor exactly like nearest-neighbour resizing', async () => {
    const p = previewPng(rgb, 8, 6, 4);
    expect([p.width, p.height]).toEqual([32, 24]);
    const { data, info } = await sharp(p.png).raw().toBuffer({ resolveWithObject: true });
    expect([info.width, info.height, info.channels]).toEqual([32, 24, 3]);
    const ref = await sharp(rgb, { raw: { width: 8, height: 6, channels: 3 } })
      .resize(32, 24, { kernel: 'nearest' })
      .raw()
      .toBuffer();
    expect(data.equals(ref)).toBe(true);
  });

  it('picks the largest factor that fits the target size', () => {
    expect(previewScale(64, 64, 256)).toBe(4);
    expect(previewScale(96, 64, 256)).toBe(2);
    expect(previewScale(512, 512, 256)).toBe(1);
  });
});

describe('reading images', () => {
  it('covers and centre-crops an init image to the generation size, in [-1, 1]', async () => {
    // 4x2: left half black, right half white; cover-resized to 2x2 keeps the middle two columns.
    const src = await sharp(Buffer.from([0, 0, 0, 0, 0, 0, 255, 255, 255, 255, 255, 255, 0, 0, 0, 0, 0, 0, 255, 255, 255, 255, 255, 255]), {
      raw: { width: 4, height: 2, channels: 3 },
    })
      .png()
      .toBuffer();
    const t = await imageToTensor(src, 2, 2);
    expect(t).toHaveLength(12);
    expect(Math.min(...t)).toBeGreaterThanOrEqual(-1);
    expect(Math.max(...t)).toBeLessThanOrEqual(1);
    expect(t[0]).toBeLessThan(0); // left pixel dark
    expect(t[1]).toBeGreaterThan(0); // right pixel light
  });

  it('upscales 2x with Lanczos', async () => {
    const src = await sharp({ create: { width: 10, height: 6, channels: 3, background: '#808080' } })
      .png()
      .toBuffer();
    const up = await lanczosUpscale(src, 2);
    expect([up.width, up.height]).toEqual([20, 12]);
    expect((await sharp(up.png).metadata()).width).toBe(20);
  });

  it('gives a UserError that names the formats that work for bytes that are not an image', async () => {
    const error = await imageToTensor(new Uint8Array([1, 2, 3]), 8, 8).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(UserError);
    expect((error as Error).message).toMatch(/Use a PNG, JPEG or WebP file/);
  });
});
