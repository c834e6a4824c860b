/**
 * ControlNet (issue #15) on tiny generated nets and a ControlNet-ready UNet in the axodox/OnnxStack naming with
 * SD 1.5's residual layout scaled down (test/fixtures/tiny-controlnet.ts). The residuals the UNet receives are
 * checked against values computed here from each net's own inputs and the fixture's formula: scaled by strength
 * (or by the net through conditioning_scale, not twice), the control map batched for both halves of guidance,
 * two nets summed, zeros for plain jobs (then the image is the plain UNet's exactly).
 */
import { rm } from 'node:fs/promises';
import path from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { ModelLoadError, UserError } from '../../src/errors.js';
import { createEngine, type OnnxEngineHandle } from '../../src/inference/engine.js';
import { canny } from '../../src/inference/image/canny.js';
import { pngToRgb } from '../../src/inference/image/pixels.js';
import { loadModel, releaseModel } from '../../src/inference/model/loaded-model.js';
import { ModelSession, type Feed } from '../../src/inference/model/session.js';
import { inspectModelFolder, modelSummary } from '../../src/model-folder/model-folder.js';
import type { ControlUnit, GenerateRequest } from '../../src/protocol/generate-request.js';
import { parseParameters } from '../../src/protocol/png-parameters.js';
import {
  addControlNets,
  addSdxlControlNets,
  expectedResidual,
  residualNames,
  tinyControlNet,
  type ControlLayout,
} from '../fixtures/tiny-controlnet.js';
import { makeTempDir, writeTinyModel, writeTinySdxlModel } from '../fixtures/tiny-models.js';
import { mkdir, writeFile } from 'node:fs/promises';
import { smallRequest } from '../fixtures/requests.js';

let root: string;
let engine: OnnxEngineHandle;
const SIZE = 64;
/** Left half white, right half a dark red: the map's mean differs across the latent. */
let controlPng: Uint8Array;
let controlRgb: Buffer;

const base: GenerateRequest = smallRequest({
  model: 'cn',
  prompt: 'a house by a lake',
  negativePrompt: 'blurry',
  steps: 3,
  width: SIZE,
  height: SIZE,
});
const unit = (net: string, strength: number, extra: Partial<ControlUnit> = {}): ControlUnit => ({
  net,
  image: controlPng,
  strength,
  preprocess: 'none',
  ...extra,
});

beforeAll(async () => {
  root = await makeTempDir();
  await writeTinyModel(path.join(root, 'plain'));
  const cn = await writeTinyModel(path.join(root, 'cn'));
  await addControlNets(cn, { edges: { seed: 1 }, second: { seed: 2 }, scaled: { seed: 3, conditioningScale: true } });
  // An SDXL ControlNet in an SD 1.x folder: refused when used, naming the file.
  await mkdir(path.join(cn, 'controlnet', 'xl'), { recursive: true });
  await writeFile(path.join(cn, 'controlnet', 'xl', 'model.onnx'), tinyControlNet('sdxl'));
  await addSdxlControlNets(await writeTinySdxlModel(path.join(root, 'xl')), { edges: { seed: 2 } });
  await mkdir(path.join(root, 'xl', 'controlnet', 'sd15'), { recursive: true });
  await writeFile(path.join(root, 'xl', 'controlnet', 'sd15', 'model.onnx'), tinyControlNet('sd15', { hiddenSize: 20 }));
  controlRgb = Buffer.alloc(SIZE * SIZE * 3);
  for (let i = 0; i < SIZE * SIZE; i++) {
    const left = i % SIZE < SIZE / 2;
    controlRgb.set(left ? [255, 255, 255] : [120, 10, 30], i * 3);
  }
  controlPng = new Uint8Array(
    await sharp(controlRgb, { raw: { width: SIZE, height: SIZE, channels: 3 } })
      .png()
      .toBuffer(),
  );
  engine = await createEngine({ modelsDir: root });
});

afterAll(async () => {
  await engine?.dispose();
  await rm(root, { recursive: true, force: true });
});

/** Runs a request, recording every ControlNet call (file, feeds, outputs) and every UNet feed. */
async function recorded(request: GenerateRequest) {
  const nets: { net: string; feeds: Record<string, Feed> }[] = [];
  const unet: Record<string, Feed>[] = [];
  const real = ModelSession.prototype.run;
  const spy = vi.spyOn(ModelSession.prototype, 'run').mockImplementation(function (this: ModelSession, f, names, clock) {
    if (this.file.includes(`${path.sep}controlnet${path.sep}`)) nets.push({ net: path.basename(path.dirname(this.file)), feeds: f });
    if (this.file.endsWith(path.join('unet', 'model.onnx'))) unet.push(f);
    return real.call(this, f, names, clock);
  });
  try {
    const result = await engine.generate(request);
    return { result, nets, unet };
  } finally {
    spy.mockRestore();
  }
}

/** Expected residual i of a net for the whole batch of one call, from that call's net inputs. */
function expectedBatch(seed: number, feeds: Record<string, Feed>, i: number, scale: number, layout: ControlLayout = 'sd15'): Float32Array {
  const [n, C, h, w] = feeds.sample.dims;
  const [, , H, W] = feeds.controlnet_cond.dims;
  const rows: Float32Array[] = [];
  for (let b = 0; b < n; b++) {
    const slice = (f: Feed) => (f.data as Float32Array).subarray((b * f.data.length) / n, ((b + 1) * f.data.length) / n);
    rows.push(
      expectedResidual(
        layout,
        seed,
        i,
        { cond: slice(feeds.controlnet_cond), H, W, ehs: slice(feeds.encoder_hidden_states), sample: slice(feeds.sample), C, h, w },
        scale,
      ).data,
    );
  }
  const out = new Float32Array(rows.reduce((a, r) => a + r.length, 0));
  for (const [b, r] of rows.entries()) out.set(r, b * r.length);
  return out;
}

function maxDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  expect(a.length).toBe(b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

describe('ControlNet model folders', () => {
  it('lists controlnet/<name>/ per model, in the summary the bot gets', async () => {
    expect(modelSummary(await inspectModelFolder(path.join(root, 'cn'))).controlNets).toEqual(['edges', 'scaled', 'second', 'xl']);
    expect(modelSummary(await inspectModelFolder(path.join(root, 'plain'))).controlNets).toEqual([]);
  });

  it('reads a ControlNet-ready UNet from its input names: 12 down residuals and the mid one, in index order', async () => {
    const model = await loadModel(await inspectModelFolder(path.join(root, 'cn')), {});
    try {
      expect(model.unetContract.control?.names).toEqual(residualNames('sd15'));
      expect(model.unetContract.control?.names).toHaveLength(13);
      // An opened net's bytes are charged to the model (the engine's memory budget reads sizeBytes).
      const before = model.sizeBytes;
      const net = await model.controlNet!('edges');
      expect(net.session.sizeBytes).toBeGreaterThan(0);
      expect(model.sizeBytes).toBe(before + net.session.sizeBytes);
      await model.controlNet!('edges'); // opened once
      expect(model.sizeBytes).toBe(before + net.session.sizeBytes);
    } finally {
      await releaseModel(model);
    }
  });
});

describe('ControlNet jobs', () => {
  it('a plain job on a ControlNet-ready UNet feeds zero residuals and draws exactly what the plain UNet draws', async () => {
    const { result, unet } = await recorded(base);
    const plain = await engine.generate({ ...base, model: 'plain' });
    expect(unet.length).toBe(3); // batch-2 guidance: one call per step
    for (const name of residualNames('sd15')) expect([...(unet[0][name].data as Float32Array)].every((v) => v === 0)).toBe(true);
    expect(unet[0].mid_block_additional_residual.dims).toEqual([2, 16, 1, 1]); // 64 px → latent 8 → /8
    expect(unet[0].down_block_0_additional_residual.dims).toEqual([2, 4, 8, 8]);
    expect(unet[0].down_block_3_additional_residual.dims).toEqual([2, 4, 4, 4]);
    expect(await pngToRgb(result.images[0].png)).toEqual(await pngToRgb(plain.images[0].png));
    expect(result.controlMaps).toBeUndefined();
  });

  it('scales residuals by strength, batches the map for both halves of guidance, and returns the map', async () => {
    const { result, nets, unet } = await recorded({ ...base, controls: [unit('edges', 0.5)] });
    expect(nets.length).toBe(3);
    expect(unet.length).toBe(3);
    for (const [step, call] of nets.entries()) {
      const cond = call.feeds.controlnet_cond;
      expect(cond.dims).toEqual([2, 3, SIZE, SIZE]);
      const half = SIZE * SIZE * 3;
      // Both halves are the map in [0, 1], channel-first: white left (1), dark red right (120/255 on R).
      const data = cond.data as Float32Array;
      expect([...data.subarray(0, half)]).toEqual([...data.subarray(half)]);
      expect(data[0]).toBe(1);
      expect(data[SIZE - 1]).toBeCloseTo(120 / 255, 6);
      expect(data[SIZE * SIZE + SIZE - 1]).toBeCloseTo(10 / 255, 6);
      // The net saw the UNet's own inputs for that call.
      expect(call.feeds.sample.data).toEqual(unet[step].sample.data);
      expect(call.feeds.encoder_hidden_states.data).toEqual(unet[step].encoder_hidden_states.data);
      residualNames('sd15').forEach((name, i) => {
        expect(maxDiff(unet[step][name].data, expectedBatch(1, call.feeds, i, 0.5))).toBeLessThan(1e-5);
      });
    }
    // The two halves of a residual differ (uncond vs cond context), so the batch really carries both.
    const mid = unet[0].mid_block_additional_residual.data as Float32Array;
    expect(mid[0]).not.toBeCloseTo(mid[16], 4);
    expect(result.controlMaps).toHaveLength(1);
    expect(await pngToRgb(result.controlMaps![0].png)).toEqual(controlRgb);
    const plain = await engine.generate(base);
    expect(await pngToRgb(result.images[0].png)).not.toEqual(await pngToRgb(plain.images[0].png));
    const params = parseParameters(result.images[0].parameters);
    expect(params.controlNets).toEqual([
      { module: 'none', model: 'edges', weight: 0.5, processorRes: 64, thresholdA: undefined, thresholdB: undefined },
    ]);
    expect(result.images[0].parameters).toContain(
      'ControlNet 0: "Module: none, Model: edges, Weight: 0.5, Resize Mode: Crop and Resize, Processor Res: 64, Guidance Start: 0, Guidance End: 1, Pixel Perfect: False, Control Mode: Balanced"',
    );
  });

  it('adds the residuals of two nets, each at its own strength', async () => {
    const { nets, unet } = await recorded({ ...base, cfg: 1, controls: [unit('edges', 0.5), unit('second', 1.5)] });
    expect(nets.map((n) => n.net)).toEqual(['edges', 'second', 'edges', 'second', 'edges', 'second']);
    for (let step = 0; step < 3; step++) {
      const [a, b] = [nets[2 * step].feeds, nets[2 * step + 1].feeds];
      expect(a.controlnet_cond.dims).toEqual([1, 3, SIZE, SIZE]); // no guidance: batch 1
      residualNames('sd15').forEach((name, i) => {
        const sum = expectedBatch(1, a, i, 0.5).map((v, k) => v + expectedBatch(2, b, i, 1.5)[k]);
        expect(maxDiff(unet[step][name].data, sum)).toBeLessThan(1e-5);
      });
    }
  });

  it('lets a net with conditioning_scale scale its own residuals (not multiplied again on the host)', async () => {
    const { nets, unet } = await recorded({ ...base, controls: [unit('scaled', 0.7)] });
    expect(Array.from(nets[0].feeds.conditioning_scale.data)).toEqual([0.7]);
    residualNames('sd15').forEach((name, i) => {
      expect(maxDiff(unet[0][name].data, expectedBatch(3, nets[0].feeds, i, 0.7))).toBeLessThan(1e-5);
    });
  });

  it('strength 0 draws the plain image', async () => {
    const r = await engine.generate({ ...base, controls: [unit('edges', 0)] });
    const plain = await engine.generate(base);
    expect(await pngToRgb(r.images[0].png)).toEqual(await pngToRgb(plain.images[0].png));
  });

  it('preprocess "canny" feeds the net the Canny edges of the resized image and records the thresholds', async () => {
    const { result, nets } = await recorded({ ...base, cfg: 1, controls: [unit('edges', 1, { preprocess: 'canny', cannyLow: 50, cannyHigh: 120 })] });
    const edges = canny(controlRgb, SIZE, SIZE, 3, 50, 120);
    expect(edges.some((v) => v === 255)).toBe(true);
    const cond = nets[0].feeds.controlnet_cond.data as Float32Array;
    for (let i = 0; i < edges.length; i++) for (let c = 0; c < 3; c++) expect(cond[c * SIZE * SIZE + i]).toBe(edges[i] / 255);
    expect(parseParameters(result.images[0].parameters).controlNets?.[0]).toMatchObject({ module: 'canny', thresholdA: 50, thresholdB: 120 });
  });
});

describe('ControlNet errors say what to change', () => {
  it('an unknown net lists the ones the model has', async () => {
    await expect(engine.generate({ ...base, controls: [unit('pose', 1)] })).rejects.toThrow(
      /no ControlNet "pose"; it has: edges, scaled, second, xl/,
    );
  });

  it('a model whose UNet is not ControlNet-ready says to replace unet/model.onnx', async () => {
    const error = await engine.generate({ ...base, model: 'plain', controls: [unit('edges', 1)] }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(UserError);
    expect((error as Error).message).toMatch(/cannot use ControlNet.*ControlNet-ready UNet/);
  });

  it('an SDXL net on an SD 1.x UNet is a load error naming the net file', async () => {
    const error = await engine.generate({ ...base, controls: [unit('xl', 1)] }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ModelLoadError);
    expect((error as Error).message).toContain(path.join('controlnet', 'xl', 'model.onnx'));
    expect((error as Error).message).toMatch(/SDXL ControlNet/);
  });

  it('depth without the depth model says how to install it', async () => {
    await expect(engine.generate({ ...base, controls: [unit('edges', 1, { preprocess: 'depth' })] })).rejects.toThrow(
      /depth-anything-v2-small.*onnx\/model\.onnx/,
    );
  });

  it('the request schema bounds units, strength and thresholds', async () => {
    await expect(engine.generate({ ...base, controls: [unit('edges', 2.5)] })).rejects.toThrow(/ControlNet strength must be from 0 to 2/);
    await expect(engine.generate({ ...base, controls: [unit('edges', 1, { cannyLow: 200, cannyHigh: 100 })] })).rejects.toThrow(/low threshold/);
    await expect(engine.generate({ ...base, controls: Array.from({ length: 4 }, () => unit('edges', 1)) })).rejects.toThrow(
      /At most 3 ControlNet units/,
    );
  });
});

describe('ControlNet on SDXL', () => {
  it('reads 9 down residuals and the mid one at 1/4 of the latent; plain jobs feed zeros of those shapes', async () => {
    const { unet } = await recorded({ ...base, model: 'xl', cfg: 5 });
    const names = residualNames('sdxl');
    expect(names).toHaveLength(10);
    expect(unet[0].mid_block_additional_residual.dims).toEqual([2, 16, 2, 2]); // 64 px → latent 8 → /4
    expect(unet[0].down_block_8_additional_residual.dims).toEqual([2, 16, 2, 2]);
    for (const name of names) expect([...(unet[0][name].data as Float32Array)].every((v) => v === 0)).toBe(true);
  });

  it("feeds the net the UNet's pooled text and size ids, and its residuals × strength to the UNet", async () => {
    const { nets, unet, result } = await recorded({ ...base, model: 'xl', cfg: 5, controls: [unit('edges', 0.6)] });
    expect(nets).toHaveLength(3);
    for (const [step, call] of nets.entries()) {
      expect(call.feeds.text_embeds.data).toEqual(unet[step].text_embeds.data);
      expect(call.feeds.time_ids.data).toEqual(unet[step].time_ids.data);
      expect(call.feeds.controlnet_cond.dims).toEqual([2, 3, SIZE, SIZE]);
      residualNames('sdxl').forEach((name, i) => {
        expect(maxDiff(unet[step][name].data, expectedBatch(2, call.feeds, i, 0.6, 'sdxl'))).toBeLessThan(1e-5);
      });
    }
    expect(result.controlMaps).toHaveLength(1);
  });

  it('an SD 1.x net cannot be used on an SDXL model (and the reverse), naming the file', async () => {
    const error = await engine.generate({ ...base, model: 'xl', controls: [unit('sd15', 1)] }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ModelLoadError);
    expect((error as Error).message).toMatch(/an SD 1\.x\/2\.x ControlNet, but the model's UNet is SDXL/);
  });
});
