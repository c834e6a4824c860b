/**
 * Inpainting and outpainting on tiny models whose VAE encoder and decoder are not inverses (an average pool and a
 * colour mix versus a different colour mix and a nearest upscale), so a pixel outside the mask survives only if
 * the result is really pasted back over the source.
 */
import { rm } from 'node:fs/promises';
import path from 'node:path';
import ort from 'onnxruntime-node';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { UserError } from '../../../src/errors.js';
import { createEngine, type OnnxEngineHandle } from '../../../src/inference/engine.js';
import { ModelSession, type Feed } from '../../../src/inference/model/session.js';
import type { GenerateRequest, GenerateResult } from '../../../src/protocol/generate-request.js';
import { parseParameters } from '../../../src/protocol/png-parameters.js';
import { readPngText } from '../../../src/protocol/png-text.js';
import { makeTempDir, writeTinyModel } from '../../fixtures/tiny-models.js';

let root: string;
let engine: OnnxEngineHandle;
let source: Buffer;
let sourcePng: Uint8Array;

const SIZE = 64;
/** Pixels further than this from the mask's edge must be the source's exactly (mask blur 4 → ~3σ). */
const MARGIN = 13;

async function png(raw: Buffer, width: number, height: number, channels: 1 | 3 = 3): Promise<Uint8Array> {
  return new Uint8Array(await sharp(raw, { raw: { width, height, channels } }).png().toBuffer());
}

async function rgbOf(bytes: Uint8Array): Promise<{ data: Buffer; width: number; height: number }> {
  const { data, info } = await sharp(bytes).removeAlpha().raw().toBuffer({ resolveWithObject: true });
  return { data, width: info.width, height: info.height };
}

/** White (repaint) where `white(x, y)`. */
async function maskPng(white: (x: number, y: number) => boolean, width = SIZE, height = SIZE): Promise<Uint8Array> {
  const data = Buffer.alloc(width * height);
  for (let y = 0; y < height; y++) for (let x = 0; x < width; x++) data[y * width + x] = white(x, y) ? 255 : 0;
  return png(data, width, height, 1);
}

function req(mode: GenerateRequest['mode'], overrides: Partial<GenerateRequest> = {}): GenerateRequest {
  return {
    model: 'base',
    prompt: 'a red fox',
    negativePrompt: '',
    steps: 6,
    cfg: 7,
    sampler: 'euler',
    width: SIZE,
    height: SIZE,
    count: 1,
    seed: 7,
    mode,
    previewEvery: 0,
    ...overrides,
  };
}

const inpaint = (mask: Uint8Array, extra: Partial<Extract<GenerateRequest['mode'], { kind: 'inpaint' }>> = {}): GenerateRequest['mode'] => ({
  kind: 'inpaint',
  image: sourcePng,
  mask,
  strength: 0.75,
  maskBlur: 4,
  fill: 'original',
  area: 'whole',
  padding: 32,
  ...extra,
});

/** How many pixels of `region` differ between two same-size RGB pictures. */
function differing(a: Buffer, b: Buffer, width: number, region: (x: number, y: number) => boolean): { differ: number; total: number } {
  let differ = 0;
  let total = 0;
  for (let p = 0; p < a.length / 3; p++) {
    const x = p % width;
    const y = Math.floor(p / width);
    if (!region(x, y)) continue;
    total++;
    if (a[p * 3] !== b[p * 3] || a[p * 3 + 1] !== b[p * 3 + 1] || a[p * 3 + 2] !== b[p * 3 + 2]) differ++;
  }
  return { differ, total };
}

beforeAll(async () => {
  root = await makeTempDir('imagine-inpaint-');
  await writeTinyModel(path.join(root, 'base'));
  await writeTinyModel(path.join(root, 'inpaint9'), { inpaintUnet: true });
  await writeTinyModel(path.join(root, 'no-encoder'), { vaeEncoder: false });
  source = Buffer.alloc(SIZE * SIZE * 3);
  for (let y = 0; y < SIZE; y++) for (let x = 0; x < SIZE; x++) source.set([(x * 4) & 255, (y * 4) & 255, ((x ^ y) * 8) & 255], (y * SIZE + x) * 3);
  sourcePng = await png(source, SIZE, SIZE);
  engine = await createEngine({ modelsDir: root });
});

afterAll(async () => {
  await engine?.dispose();
  await rm(root, { recursive: true, force: true });
});

describe('inpainting with an ordinary (4-channel) UNet: masked img2img', () => {
  it('repaints the white half and keeps every pixel beyond the blurred edge byte for byte', async () => {
    const result = await engine.generate(req(inpaint(await maskPng((x) => x < SIZE / 2))));
    const out = await rgbOf(result.images[0].png);
    expect([out.width, out.height]).toEqual([SIZE, SIZE]);
    expect(differing(out.data, source, SIZE, (x) => x >= SIZE / 2 + MARGIN)).toEqual({ differ: 0, total: (SIZE / 2 - MARGIN) * SIZE });
    const inside = differing(out.data, source, SIZE, (x) => x < SIZE / 2 - MARGIN);
    expect(inside.differ / inside.total).toBeGreaterThan(0.9);
  });

  it('would not keep the unmasked pixels without the paste-back (the tiny VAE is not an identity)', async () => {
    const result = await engine.generate(req({ kind: 'img2img', image: sourcePng, strength: 0.2 }));
    const out = await rgbOf(result.images[0].png);
    const right = differing(out.data, source, SIZE, (x) => x >= SIZE / 2 + MARGIN);
    expect(right.differ / right.total).toBeGreaterThan(0.9);
  });

  it('takes a mask of another size (resized), and writes A1111 inpaint fields into the PNG', async () => {
    const result = await engine.generate(req(inpaint(await maskPng((x) => x < 8, 16, 16), { maskBlur: 2, fill: 'latent-noise' })));
    const out = await rgbOf(result.images[0].png);
    expect(differing(out.data, source, SIZE, (x) => x >= SIZE / 2 + 8).differ).toBe(0);
    const text = readPngText(result.images[0].png).get('parameters')!;
    expect(text).toMatch(/Denoising strength: 0\.75, Mask blur: 2, Masked content: latent noise$/);
    expect(parseParameters(text).maskBlur).toBe(2);
  });

  it('works on the mask box only (plus padding) with "only masked", leaving everything else untouched', async () => {
    const inBox = (x: number, y: number) => x >= 40 && x < 56 && y >= 40 && y < 56;
    const result = await engine.generate(req(inpaint(await maskPng(inBox), { area: 'only-masked', padding: 4, maskBlur: 0 })));
    const out = await rgbOf(result.images[0].png);
    expect(differing(out.data, source, SIZE, (x, y) => !inBox(x, y)).differ).toBe(0);
    expect(differing(out.data, source, SIZE, inBox).differ).toBeGreaterThan(200);
    expect(readPngText(result.images[0].png).get('parameters')).toMatch(/Inpaint area: Only masked, Masked area padding: 4/);
  });

  it('refuses an empty mask, and treats an all-white mask as plain img2img', async () => {
    const error = await engine.generate(req(inpaint(await maskPng(() => false)))).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(UserError);
    expect((error as Error).message).toBe('The mask is empty (all black): nothing to repaint. Paint white where the picture should change.');
    const all = await rgbOf((await engine.generate(req(inpaint(await maskPng(() => true))))).images[0].png);
    const changed = differing(all.data, source, SIZE, () => true);
    expect(changed.differ / changed.total).toBeGreaterThan(0.9);
  });

  it('needs a vae_encoder and says so', async () => {
    await expect(engine.generate(req(inpaint(await maskPng((x) => x < 8)), { model: 'no-encoder' }))).rejects.toThrow(/has no vae_encoder/);
  });
});

describe('inpainting with a 9-channel inpainting UNet', () => {
  it('feeds latents ‖ mask ‖ masked-image latents as diffusers does, to both halves of the guidance batch', async () => {
    const feeds: Record<string, Feed>[] = [];
    // Capture without changing behaviour: wrap the real method.
    const real = ModelSession.prototype.run;
    const capture = vi.spyOn(ModelSession.prototype, 'run').mockImplementation(function (this: ModelSession, f, names, clock) {
      if (this.file.includes(`${path.sep}inpaint9${path.sep}unet`)) feeds.push(f);
      return real.call(this, f, names, clock);
    });
    let result: GenerateResult;
    try {
      result = await engine.generate(req(inpaint(await maskPng((x) => x < SIZE / 2)), { model: 'inpaint9' }));
    } finally {
      capture.mockRestore();
    }
    expect(feeds.length).toBeGreaterThan(0);
    const sample = feeds[0].sample;
    const h = SIZE / 8;
    expect(sample.dims).toEqual([2, 9, h, h]);

    // The expected conditioning, computed here from diffusers' recipe with the model's own encoder.
    const plane = SIZE * SIZE;
    const masked = new Float32Array(3 * plane);
    for (let p = 0; p < plane; p++) for (let c = 0; c < 3; c++) masked[c * plane + p] = p % SIZE < SIZE / 2 ? 0 : (source[p * 3 + c] / 255) * 2 - 1;
    const encoder = await ort.InferenceSession.create(path.join(root, 'inpaint9', 'vae_encoder', 'model.onnx'));
    const encoded = (await encoder.run({ sample: new ort.Tensor('float32', masked, [1, 3, SIZE, SIZE]) })).latent_sample.data as Float32Array;
    await encoder.release();
    const data = sample.data as Float32Array;
    const lp = h * h;
    for (const batch of [0, 1]) {
      const at = (channel: number, i: number) => data[batch * 9 * lp + channel * lp + i];
      for (let i = 0; i < lp; i++) {
        expect(at(4, i)).toBe(i % h < h / 2 ? 1 : 0);
        for (let c = 0; c < 4; c++) expect(at(5 + c, i)).toBeCloseTo(encoded[c * lp + i] * 0.18215, 5);
      }
    }
    const out = await rgbOf(result.images[0].png);
    expect(differing(out.data, source, SIZE, (x) => x >= SIZE / 2 + MARGIN).differ).toBe(0);
  });

  it('still draws a whole picture (txt2img) with the mask all ones', async () => {
    const result = await engine.generate(req({ kind: 'txt2img' }, { model: 'inpaint9' }));
    expect(result.images).toHaveLength(1);
  });
});

describe('outpainting', () => {
  it('zoom out 2x: the source, halved with Lanczos, sits in the middle and is kept; the border is new', async () => {
    const result = await engine.generate(req({ kind: 'outpaint', image: sourcePng, strength: 1, zoom: 2 }));
    const out = await rgbOf(result.images[0].png);
    expect([out.width, out.height]).toEqual([SIZE, SIZE]);
    const half = await sharp(source, { raw: { width: SIZE, height: SIZE, channels: 3 } })
      .resize(SIZE / 2, SIZE / 2, { fit: 'fill', kernel: 'lanczos3' })
      .raw()
      .toBuffer();
    const inner = (x: number, y: number) => x >= 16 + MARGIN && x < 48 - MARGIN && y >= 16 + MARGIN && y < 48 - MARGIN;
    let checked = 0;
    for (let y = 0; y < SIZE; y++) {
      for (let x = 0; x < SIZE; x++) {
        if (!inner(x, y)) continue;
        checked++;
        const o = (y * SIZE + x) * 3;
        const s = ((y - 16) * (SIZE / 2) + (x - 16)) * 3;
        expect([...out.data.subarray(o, o + 3)]).toEqual([...half.subarray(s, s + 3)]);
      }
    }
    expect(checked).toBeGreaterThan(0);
    expect(readPngText(result.images[0].png).get('parameters')).toMatch(/Outpaint: Zoom out 2$/);
  });

  it('pan left: the canvas grows by half on the left, the source is kept on the right', async () => {
    const result = await engine.generate(req({ kind: 'outpaint', image: sourcePng, strength: 1, pan: 'left' }));
    const out = await rgbOf(result.images[0].png);
    expect([out.width, out.height]).toEqual([SIZE + SIZE / 2, SIZE]);
    for (let y = 0; y < SIZE; y++) {
      for (let x = SIZE / 2 + MARGIN; x < SIZE + SIZE / 2; x++) {
        const o = (y * out.width + x) * 3;
        const s = (y * SIZE + (x - SIZE / 2)) * 3;
        expect(out.data[o]).toBe(source[s]);
        expect(out.data[o + 1]).toBe(source[s + 1]);
        expect(out.data[o + 2]).toBe(source[s + 2]);
      }
    }
    const added = differing(out.data, Buffer.alloc(out.data.length), out.width, (x) => x < SIZE / 2 - MARGIN);
    expect(added.total).toBeGreaterThan(0);
  });

  it('asks for exactly one of zoom and pan', async () => {
    await expect(engine.generate(req({ kind: 'outpaint', image: sourcePng, strength: 1 }))).rejects.toThrow(
      'Give either a zoom-out factor or a pan direction.',
    );
  });
});
