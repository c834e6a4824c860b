/**
 * CI's check of the bundled default model: it loads from models/imagine-tiny, generates at its native size with
 * its own defaults, and tells the user which prompt words it does not know. (Training is not re-run in CI; what
 * the model draws is scored by tools/train/evaluate.py, reported in its model card.)
 */
import { readdir, stat } from 'node:fs/promises';
import path from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createEngine, type OnnxEngineHandle } from '../../src/inference/engine.js';
import { ModelSession } from '../../src/inference/model/session.js';
import { readModelManifest } from '../../src/model-folder/model-manifest.js';
import type { GenerateRequest } from '../../src/protocol/generate-request.js';
import type { SamplerName } from '../../src/protocol/samplers.js';

const MODELS_DIR = path.resolve('models');
const MODEL_DIR = path.join(MODELS_DIR, 'imagine-tiny');
let engine: OnnxEngineHandle;
let base: GenerateRequest;

async function folderBytes(dir: string): Promise<number> {
  let total = 0;
  for (const e of await readdir(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    total += e.isDirectory() ? await folderBytes(p) : (await stat(p)).size;
  }
  return total;
}

beforeAll(async () => {
  engine = await createEngine({ modelsDir: MODELS_DIR });
  const { defaults } = await readModelManifest(MODEL_DIR);
  base = {
    model: 'imagine-tiny',
    prompt: 'a red apple on a blue background',
    negativePrompt: '',
    steps: defaults.steps ?? 20,
    cfg: defaults.cfg ?? 3,
    sampler: (defaults.sampler ?? 'euler') as SamplerName,
    width: defaults.width ?? 256,
    height: defaults.height ?? 256,
    count: 1,
    seed: 1,
    mode: { kind: 'txt2img' },
    previewEvery: 5,
  };
});
afterAll(async () => engine?.dispose());

describe('the bundled imagine-tiny model', () => {
  it('is listed with its defaults and weighs under 50 MB', async () => {
    const models = await engine.listModels();
    const tiny = models.find((m) => m.name === 'imagine-tiny');
    expect(tiny).toBeDefined();
    expect(tiny!.defaults.width).toBeGreaterThan(0);
    expect(await folderBytes(MODEL_DIR)).toBeLessThan(50 * 1024 * 1024);
  });

  it('generates a picture at its native size with previews, deterministically', async () => {
    const previews: number[] = [];
    const a = await engine.generate(base, { onStep: (p) => p.preview && previews.push(p.step) });
    const b = await engine.generate(base);
    expect(Buffer.from(a.images[0].png).equals(Buffer.from(b.images[0].png))).toBe(true);
    const { data, info } = await sharp(a.images[0].png).raw().toBuffer({ resolveWithObject: true });
    expect([info.width, info.height]).toEqual([base.width, base.height]);
    expect(previews.length).toBeGreaterThan(0);
    // Not a flat or empty image: the channels vary across the picture.
    const mean = data.reduce((s, v) => s + v, 0) / data.length;
    const variance = data.reduce((s, v) => s + (v - mean) ** 2, 0) / data.length;
    expect(Math.sqrt(variance)).toBeGreaterThan(5);
    expect(a.warnings).toEqual([]);
  });

  it('previews take the cheap path: the 32×32 latent through the latent→RGB matrix, never the learned decoder', async () => {
    // The matrix path shows the latent picture scaled up by whole pixels (8×8 blocks of one colour); a preview run
    // through vae_decoder would be a 256×256 picture with detail inside the blocks.
    const previews: { png: Uint8Array; width: number }[] = [];
    const result = await engine.generate(base, { onStep: (p) => p.preview && previews.push(p.preview) });
    expect(previews.length).toBeGreaterThan(0);
    for (const preview of previews) {
      const { data, info } = await sharp(preview.png).raw().toBuffer({ resolveWithObject: true });
      const block = info.width / 32;
      expect(Number.isInteger(block)).toBe(true);
      let inside = 0;
      for (let y = 0; y < info.height; y++) {
        for (let x = 0; x < info.width; x++) {
          const at = (y * info.width + x) * info.channels;
          const corner = (Math.floor(y / block) * block * info.width + Math.floor(x / block) * block) * info.channels;
          for (let c = 0; c < 3; c++) inside = Math.max(inside, Math.abs(data[at + c] - data[corner + c]));
        }
      }
      expect(inside).toBe(0);
    }
    // …while the final picture, from the decoder, has detail inside its 8×8 blocks.
    const { data } = await sharp(result.images[0].png).raw().toBuffer({ resolveWithObject: true });
    let differing = 0;
    for (let y = 0; y < 256; y++) {
      for (let x = 0; x < 256; x++) {
        const corner = ((y & ~7) * 256 + (x & ~7)) * 3;
        if (data[(y * 256 + x) * 3] !== data[corner]) differing++;
      }
    }
    expect(differing / (256 * 256)).toBeGreaterThan(0.1);
  });

  it('decodes with a learned decoder: a 32×32 disc comes out closer to the sharp 256×256 disc than a ×8 bilinear upscale', async () => {
    // v1's decoder was a ×8 bilinear upscale (torch's align_corners=False). The learned one was trained to turn
    // 32×32 renders into the 256×256 render of the same scene; a plain disc (not one of its sprites, edges
    // antialiased by 4×4 supersampling) must come out sharper too: measured +5.4 dB over bilinear (tools/train has
    // the held-out scene numbers, about +7 dB). A bilinear or untrained decoder gives +0 dB.
    const n = 256;
    const background = [45, 95, 215].map((v) => v / 127.5 - 1);
    const disc = [245, 215, 50].map((v) => v / 127.5 - 1);
    const big = new Float32Array(3 * n * n);
    for (let y = 0; y < n; y++) {
      for (let x = 0; x < n; x++) {
        let cover = 0;
        for (const dy of [-0.375, -0.125, 0.125, 0.375]) {
          for (const dx of [-0.375, -0.125, 0.125, 0.375]) cover += ((x + 0.5 + dx - 128) ** 2 + (y + 0.5 + dy - 128) ** 2 <= 72 * 72 ? 1 : 0) / 16;
        }
        for (let c = 0; c < 3; c++) big[c * n * n + y * n + x] = background[c] * (1 - cover) + disc[c] * cover;
      }
    }
    const small = new Float32Array(3 * 32 * 32); // the 8×8 mean: what the UNet works at
    for (let c = 0; c < 3; c++) {
      for (let y = 0; y < n; y++) {
        for (let x = 0; x < n; x++) small[c * 1024 + (y >> 3) * 32 + (x >> 3)] += big[c * n * n + y * n + x] / 64;
      }
    }
    const bilinear = new Float32Array(3 * n * n);
    const clampIndex = (v: number) => Math.min(31, Math.max(0, v));
    for (let c = 0; c < 3; c++) {
      const p = (yy: number, xx: number) => small[c * 1024 + clampIndex(yy) * 32 + clampIndex(xx)];
      for (let y = 0; y < n; y++) {
        const sy = Math.max(0, (y + 0.5) / 8 - 0.5);
        const y0 = Math.floor(sy);
        const fy = sy - y0;
        for (let x = 0; x < n; x++) {
          const sx = Math.max(0, (x + 0.5) / 8 - 0.5);
          const x0 = Math.floor(sx);
          const fx = sx - x0;
          bilinear[c * n * n + y * n + x] =
            (1 - fy) * ((1 - fx) * p(y0, x0) + fx * p(y0, x0 + 1)) + fy * ((1 - fx) * p(y0 + 1, x0) + fx * p(y0 + 1, x0 + 1));
        }
      }
    }
    const decoder = await ModelSession.load(path.join(MODEL_DIR, 'vae_decoder', 'model.onnx'));
    const { sample } = await decoder.run({ latent_sample: { data: small, dims: [1, 3, 32, 32] } }, ['sample']);
    await decoder.release();
    expect(sample.dims).toEqual([1, 3, n, n]);
    const psnr = (out: Float32Array) => {
      let se = 0;
      for (let i = 0; i < out.length; i++) se += ((out[i] - big[i]) / 2) ** 2;
      return 10 * Math.log10(out.length / se);
    };
    expect(psnr(sample.data) - psnr(bilinear)).toBeGreaterThan(3);
  });

  it('still draws for words outside its vocabulary and names them', async () => {
    const r = await engine.generate({ ...base, prompt: 'a red apple next to a xylophone', previewEvery: 0 });
    expect(r.images).toHaveLength(1);
    expect(r.warnings.join(' ')).toMatch(/does not know these words.*\bxylophone\b/);
    expect(r.warnings.join(' ')).not.toMatch(/\bapple\b.*does not know|know these words:.*\bapple\b/);
  });
});

/** Mean colour (0–255) of the two bottom corners (32×64 each) of a decoded picture: ground, beside the subject. */
async function groundColour(png: Uint8Array): Promise<number[]> {
  const { data, info } = await sharp(png).raw().toBuffer({ resolveWithObject: true });
  const sum = [0, 0, 0];
  let n = 0;
  for (let y = info.height - 64; y < info.height; y++) {
    for (const x0 of [0, info.width - 32]) {
      for (let x = x0; x < x0 + 32; x++, n++) for (let c = 0; c < 3; c++) sum[c] += data[(y * info.width + x) * info.channels + c];
    }
  }
  return sum.map((v) => v / n);
}

/** The scene generator's ground and flat colours (tools/train/scenes.py, scenes_v2.py): which is nearest. */
const GROUNDS: Record<string, number[]> = {
  mars: [196, 88, 48],
  moon: [172, 172, 176],
  beach: [238, 212, 150],
  snow: [250, 250, 252],
  forest: [46, 128, 58],
  sea: [28, 88, 178],
  space: [12, 9, 36],
  red: [215, 40, 40],
  orange: [245, 140, 30],
  yellow: [245, 215, 50],
  blue: [45, 95, 215],
  pink: [245, 150, 195],
  gray: [128, 128, 128],
};
const nearestGround = (rgb: number[]) =>
  Object.entries(GROUNDS).reduce(
    (best, [name, ref]) => {
      const d = ref.reduce((s, v, i) => s + (v - rgb[i]) ** 2, 0);
      return d < best.d ? { name, d } : best;
    },
    { name: '', d: Number.POSITIVE_INFINITY },
  ).name;

describe('the bundled model reads Chinese (v2)', () => {
  const PRIMER_ZH = '一只穿着宇航服的猫在火星上散步';

  it('says so in imagine-bot.json, so a Chinese prompt is neither translated nor reported as unknown words', async () => {
    const manifest = await readModelManifest(MODEL_DIR);
    expect(manifest.languages).toEqual(['en', 'zh']);
    const r = await engine.generate({ ...base, prompt: PRIMER_ZH, previewEvery: 0 });
    expect(r.warnings).toEqual([]);
    expect(r.translations).toBeUndefined();
  });

  it('names the Chinese words it does not know', async () => {
    const r = await engine.generate({ ...base, prompt: '一只猫在火星上弹钢琴', previewEvery: 0 });
    expect(r.warnings.join(' ')).toMatch(/does not know these words, so they had no effect: 弹钢琴\./);
  });

  it("draws the primer's scene from the Chinese and the English prompt, and a blue background when asked instead", async () => {
    // The bottom corners (beside the suit) show the ground of the scene the prompt names. evaluate_v2.py scores
    // subject, accessory and scene on held-out prompts; this checks the shipped graphs through the engine's own path.
    const bottom = async (prompt: string, seed: number) => {
      const r = await engine.generate({ ...base, prompt, seed, previewEvery: 0 });
      return nearestGround(await groundColour(r.images[0].png));
    };
    const seeds = [1, 2, 3, 4];
    const zh = await Promise.all(seeds.map((seed) => bottom(PRIMER_ZH, seed)));
    const en = await Promise.all(seeds.map((seed) => bottom('a cat in a space suit walking on mars', seed)));
    const blue = await Promise.all(seeds.map((seed) => bottom('一只猫在蓝色背景上', seed)));
    expect(zh.filter((g) => g === 'mars').length).toBeGreaterThanOrEqual(3);
    expect(en.filter((g) => g === 'mars').length).toBeGreaterThanOrEqual(3);
    expect(blue.filter((g) => g === 'blue').length).toBeGreaterThanOrEqual(3);
  });
});

describe('the bundled model starts from a picture', () => {
  it('ships a vae_encoder that inverts its decoder on flat colour: a flat picture comes back through img2img at a low strength', async () => {
    // The encoder is an 8×8 average pool: the exact inverse of a ×8 bilinear upscale, and only close to the inverse
    // of the learned decoder (bilinear plus a learned correction), which leaves flat colour flat (eval.json: at most
    // a fraction of a level off on flat scenes). So a flat colour survives the round trip; only the one low-noise
    // denoising step changes it (about 7/255 on average). A wrong encoder (another scale, another size) drifts by
    // tens to a hundred.
    const flat = await sharp({ create: { width: 256, height: 256, channels: 3, background: { r: 40, g: 120, b: 200 } } })
      .png()
      .toBuffer();
    const result = await engine.generate({
      ...base,
      prompt: 'a blue background',
      seed: 1,
      mode: { kind: 'img2img', image: new Uint8Array(flat), strength: 0.05 },
    });
    const { data } = await sharp(result.images[0].png).raw().toBuffer({ resolveWithObject: true });
    let drift = 0;
    for (let i = 0; i < data.length; i += 3) drift += Math.abs(data[i] - 40) + Math.abs(data[i + 1] - 120) + Math.abs(data[i + 2] - 200);
    expect(drift / (data.length / 3) / 3).toBeLessThan(12);
  });
});

/** Mean of red minus green (0–255) over the upper and the lower half of a decoded picture. */
async function redMinusGreenByHalf(png: Uint8Array): Promise<{ top: number; bottom: number }> {
  const { data, info } = await sharp(png).raw().toBuffer({ resolveWithObject: true });
  const half = (y0: number) => {
    let sum = 0;
    for (let y = y0; y < y0 + info.height / 2; y++) {
      for (let x = 0; x < info.width; x++) sum += data[(y * info.width + x) * info.channels] - data[(y * info.width + x) * info.channels + 1];
    }
    return sum / ((info.width * info.height) / 2);
  };
  return { top: half(0), bottom: half(info.height / 2) };
}

/** Horizontal centre (0–255) of the pixels far from the picture's border colour: where the subject is. */
async function subjectCentreX(png: Uint8Array): Promise<number> {
  const { data, info } = await sharp(png).raw().toBuffer({ resolveWithObject: true });
  const at = (x: number, y: number) => (y * info.width + x) * info.channels;
  const border = [0, 1, 2].map((c) => {
    let s = 0;
    for (let x = 0; x < info.width; x++) s += data[at(x, 0) + c] + data[at(x, info.height - 1) + c];
    return s / (2 * info.width);
  });
  let sx = 0;
  let n = 0;
  for (let y = 0; y < info.height; y++) {
    for (let x = 0; x < info.width; x++) {
      const d = Math.hypot(...[0, 1, 2].map((c) => data[at(x, y) + c] - border[c]));
      if (d > 80) {
        sx += x;
        n++;
      }
    }
  }
  return sx / n;
}

/**
 * Six seeds of one prompt: the subject's horizontal centre spans more than this (px at 256×256; 7 px at 32×32). v2's
 * first stage drew them within 37 px of each other (four near-copies); the above/below stage's data moves and
 * mirrors figures more (at step 8,303 its model spanned 84 px).
 */
const SPREAD_PX = 56;
describe('the bundled model stacks two subjects and varies its pictures (v2, above/below stage)', () => {
  it('puts the subject asked to be above in the upper half, in English and in Chinese', async () => {
    // A red apple and a green frog on white: the upper half is redder than the lower half exactly when the apple is
    // on top. evaluate_v2.py scores held-out pairs; this checks the shipped graphs through the engine's own path.
    const appleOnTop = async (prompt: string, seed: number) => {
      const r = await engine.generate({ ...base, prompt, seed, previewEvery: 0 });
      const { top, bottom } = await redMinusGreenByHalf(r.images[0].png);
      return top > bottom;
    };
    const seeds = [1, 2, 3, 4];
    const cases: [string, boolean][] = [
      ['an apple above a frog on a white background', true],
      ['an apple below a frog on a white background', false],
      ['一个苹果在一只青蛙的上面，白色背景', true],
      ['一只青蛙在一个苹果的上面，白色背景', false],
    ];
    for (const [prompt, want] of cases) {
      const got = await Promise.all(seeds.map((seed) => appleOnTop(prompt, seed)));
      expect(got.filter((g) => g === want).length, prompt).toBeGreaterThanOrEqual(3);
    }
  });

  it('draws the subject in different places for different seeds of one prompt', async () => {
    const xs = await Promise.all(
      [1, 2, 3, 4, 5, 6].map(async (seed) => {
        const r = await engine.generate({ ...base, prompt: 'a cat on a blue background', seed, previewEvery: 0 });
        return subjectCentreX(r.images[0].png);
      }),
    );
    expect(Math.max(...xs) - Math.min(...xs)).toBeGreaterThan(SPREAD_PX);
  });
});
