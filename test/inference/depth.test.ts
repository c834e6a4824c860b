/**
 * The "depth" preprocessor (#15) with a stand-in for Depth Anything V2 Small at its installed path
 * (MODELS_DIR/depth-anything-v2-small/onnx/model.onnx, the HF repository's layout): predicted_depth = mean over
 * the normalised RGB channels, so a bright area is "near" and the min–max map shows it at 255.
 */
import { mkdir, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createEngine, type OnnxEngineHandle } from '../../src/inference/engine.js';
import { pngToRgb } from '../../src/inference/image/pixels.js';
import { depthInputSize } from '../../src/inference/model/depth.js';
import { GraphBuilder } from '../fixtures/onnx-graph.js';
import { smallRequest } from '../fixtures/requests.js';
import { addControlNets } from '../fixtures/tiny-controlnet.js';
import { makeTempDir, writeTinyModel } from '../fixtures/tiny-models.js';

let root: string;
let engine: OnnxEngineHandle;

beforeAll(async () => {
  root = await makeTempDir();
  await addControlNets(await writeTinyModel(path.join(root, 'cn')), { depth: {} });
  const g = new GraphBuilder();
  g.op('ReduceMean', ['pixel_values'], { axes: [1], keepdims: 0 }, 'predicted_depth');
  const depthDir = path.join(root, 'depth-anything-v2-small', 'onnx');
  await mkdir(depthDir, { recursive: true });
  await writeFile(
    path.join(depthDir, 'model.onnx'),
    g.build(
      [{ name: 'pixel_values', type: 'float32', shape: ['batch', 3, 'height', 'width'] }],
      [{ name: 'predicted_depth', type: 'float32', shape: ['batch', 'height', 'width'] }],
    ),
  );
  engine = await createEngine({ modelsDir: root });
});

afterAll(async () => {
  await engine?.dispose();
  await rm(root, { recursive: true, force: true });
});

describe('depth preprocessor', () => {
  it('sizes the model input as the DPT processor does: the scale nearest 1, sides multiples of 14', () => {
    expect(depthInputSize(64, 64)).toEqual({ width: 518, height: 518 });
    expect(depthInputSize(1024, 512)).toEqual({ width: 1036, height: 518 });
    expect(depthInputSize(512, 768)).toEqual({ width: 518, height: 784 }); // 768·518/512 = 777 → 56·14
  });

  it('runs the installed depth model and returns its min–max map, bright where near', async () => {
    const rgb = Buffer.alloc(64 * 64 * 3);
    for (let i = 0; i < 64 * 64; i++) rgb.fill(i % 64 < 32 ? 250 : 10, i * 3, i * 3 + 3);
    const image = new Uint8Array(
      await sharp(rgb, { raw: { width: 64, height: 64, channels: 3 } })
        .png()
        .toBuffer(),
    );
    const result = await engine.generate(
      smallRequest({
        model: 'cn',
        prompt: 'a room',
        steps: 1,
        cfg: 1,
        seed: 1,
        controls: [{ net: 'depth', image, strength: 1, preprocess: 'depth' }],
      }),
    );
    const map = await pngToRgb(result.controlMaps![0].png);
    expect(map.length).toBe(64 * 64 * 3);
    // Bicubic resizes overshoot at the edge, so the flat halves sit a little inside 0..255.
    const left = map[(10 * 64 + 2) * 3];
    expect(left).toBeGreaterThan(240); // bright input: near
    expect(map[(10 * 64 + 61) * 3]).toBeLessThan(15); // dark input: far
    expect([map[(10 * 64 + 2) * 3 + 1], map[(10 * 64 + 2) * 3 + 2]]).toEqual([left, left]); // grey
  });

  it('without the model, says how to install it and never shows the server path (the message reaches Discord)', async () => {
    const bare = await makeTempDir();
    await addControlNets(await writeTinyModel(path.join(bare, 'cn')), { depth: {} });
    const other = await createEngine({ modelsDir: bare });
    try {
      const image = new Uint8Array(
        await sharp({ create: { width: 8, height: 8, channels: 3, background: '#888' } })
          .png()
          .toBuffer(),
      );
      const failed = await other
        .generate(smallRequest({ model: 'cn', steps: 1, controls: [{ net: 'depth', image, strength: 1, preprocess: 'depth' }] }))
        .then(
          () => undefined,
          (error: Error) => error,
        );
      expect(failed?.message).toMatch(/^The "depth" preprocessor needs Depth Anything V2 Small.*`npm run models:pull -- depth-anything-v2-small`/);
      expect(failed?.message).not.toContain(bare);
    } finally {
      await other.dispose();
      await rm(bare, { recursive: true, force: true });
    }
  });
});
