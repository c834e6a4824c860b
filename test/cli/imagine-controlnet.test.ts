import { readFile, rm } from 'node:fs/promises';
import path from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { canny } from '../../src/inference/image/canny.js';
import { readPngText } from '../../src/protocol/png-text.js';
import { addControlNets } from '../fixtures/tiny-controlnet.js';
import { runImagineCli } from '../fixtures/run-imagine-cli.js';
import { makeTempDir, writeTinyModel } from '../fixtures/tiny-models.js';

let dir: string;

const imagine = (args: string[]) => runImagineCli(dir, 'cn', args);

const rgb = Buffer.alloc(64 * 64 * 3);
beforeAll(async () => {
  dir = await makeTempDir();
  const model = await writeTinyModel(path.join(dir, 'models', 'cn'), { manifest: { defaults: { steps: 2, width: 64, height: 64 } } });
  await addControlNets(model, { edges: {} });
  // A bright disc on a dark background: a ring of Canny edges.
  for (let i = 0; i < 64 * 64; i++) rgb.fill(((i % 64) - 32) ** 2 + (Math.floor(i / 64) - 32) ** 2 < 300 ? 230 : 20, i * 3, i * 3 + 3);
  await sharp(rgb, { raw: { width: 64, height: 64, channels: 3 } })
    .png()
    .toFile(path.join(dir, 'disc.png'));
});
afterAll(async () => rm(dir, { recursive: true, force: true }));

describe('imagine CLI with ControlNet', () => {
  it('--control-image/--control with --preprocess canny writes the image, <out>-control.png with the edges, and the A1111 infotext', async () => {
    const r = await imagine([
      'a planet',
      '--seed',
      '1',
      '--control-image',
      'disc.png',
      '--control',
      'edges',
      '--control-strength',
      '0.8',
      '--preprocess',
      'canny',
      '--canny-low',
      '50',
      '--canny-high',
      '120',
      '--out',
      'cn.png',
    ]);
    expect(r.stderr).not.toMatch(/imagine:/);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('cn-control.png  control map 1 (canny)');
    const { data } = await sharp(path.join(dir, 'cn-control.png')).raw().toBuffer({ resolveWithObject: true });
    const edges = canny(rgb, 64, 64, 3, 50, 120);
    expect(edges.filter((v) => v === 255).length).toBeGreaterThan(20);
    for (let i = 0; i < edges.length; i++) expect(data[i * 3]).toBe(edges[i]);
    expect(readPngText(await readFile(path.join(dir, 'cn.png'))).get('parameters')).toContain(
      'ControlNet 0: "Module: canny, Model: edges, Weight: 0.8, Resize Mode: Crop and Resize, Processor Res: 64, Threshold A: 50, Threshold B: 120,',
    );
  });

  it('refuses a --control without its --control-image, and an unknown preprocessor', async () => {
    const a = await imagine(['x', '--control', 'edges']);
    expect(a.code).toBe(2);
    expect(a.stderr).toMatch(/one --control NAME per --control-image FILE/);
    const b = await imagine(['x', '--control-image', 'disc.png', '--control', 'edges', '--preprocess', 'hed']);
    expect(b.code).toBe(2);
    expect(b.stderr).toMatch(/--preprocess must be one of none, canny, depth; got "hed"/);
  });
});
