import path from 'node:path';
import { fileURLToPath } from 'node:url';
import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import { canny } from '../../../src/inference/image/canny.js';

const dir = path.join(path.dirname(fileURLToPath(import.meta.url)), '../../fixtures/canny');

async function raw(file: string, gray = false): Promise<{ data: Uint8Array; width: number; height: number; channels: number }> {
  // sharp expands 8-bit grey PNGs to sRGB; their one channel is channel 0.
  const img = sharp(path.join(dir, file));
  const { data, info } = await (gray ? img.extractChannel(0) : img).raw().toBuffer({ resolveWithObject: true });
  return { data: new Uint8Array(data), width: info.width, height: info.height, channels: info.channels };
}

describe('canny (against cv2.Canny fixtures, test/fixtures/canny/README.md)', () => {
  for (const name of ['shapes', 'photo', 'noise']) {
    for (const kind of ['rgb', 'gray'] as const) {
      for (const [low, high] of [
        [100, 200],
        [50, 100],
        [20, 60],
      ]) {
        it(`${name} ${kind} ${low}/${high} equals OpenCV exactly`, async () => {
          const img = await raw(kind === 'rgb' ? `${name}.png` : `${name}-gray.png`, kind === 'gray');
          expect(img.channels).toBe(kind === 'rgb' ? 3 : 1);
          const expected = await raw(`${name}-${kind}-${low}-${high}.png`, true);
          const edges = canny(img.data, img.width, img.height, img.channels, low, high);
          const edgeCount = expected.data.reduce((n, v) => n + (v ? 1 : 0), 0);
          // Every fixture but the smooth grey "photo" at 100/200 has edges, so equality is not trivially all-zero.
          if (!(name === 'photo' && kind === 'gray' && high === 200)) expect(edgeCount).toBeGreaterThan(0);
          let differing = 0;
          for (let i = 0; i < edges.length; i++) if (edges[i] !== expected.data[i]) differing++;
          expect(differing).toBe(0);
        });
      }
    }
  }

  it('swaps thresholds given the wrong way round, as OpenCV does', async () => {
    const img = await raw('shapes.png');
    expect(canny(img.data, img.width, img.height, 3, 200, 100)).toEqual(canny(img.data, img.width, img.height, 3, 100, 200));
  });

  it('a flat image has no edges', () => {
    expect(canny(new Uint8Array(16 * 16 * 3).fill(77), 16, 16, 3, 1, 2).every((v) => v === 0)).toBe(true);
  });
});
