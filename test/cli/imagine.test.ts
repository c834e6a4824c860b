import { mkdir, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { encodeSafetensors } from '../../src/inference/weights/safetensors.js';
import { readPngText } from '../../src/protocol/png-text.js';
import { runImagineCli } from '../fixtures/run-imagine-cli.js';
import { makeTempDir, writeTinyModel } from '../fixtures/tiny-models.js';
import { SPM_FIXTURE_DIR, writeTinyMarian } from '../fixtures/tiny-marian.js';

let dir: string;

const imagine = (args: string[]) => runImagineCli(dir, 'tiny', args);

beforeAll(async () => {
  dir = await makeTempDir();
  await writeTinyModel(path.join(dir, 'models', 'tiny'), { manifest: { defaults: { steps: 5, width: 64, height: 64, sampler: 'ddim', cfg: 4 } } });
});
afterAll(async () => rm(dir, { recursive: true, force: true }));

describe('imagine CLI', () => {
  it('writes a PNG with the model defaults and the parameters embedded, and --from regenerates it byte for byte', async () => {
    const first = await imagine(['a cat in a space suit', '--seed', '5', '--out', 'cat.png']);
    expect(first.code).toBe(0);
    expect(first.stdout).toMatch(/cat\.png {2}seed 5 {2}64x64/);
    const png = await readFile(path.join(dir, 'cat.png'));
    expect(readPngText(png).get('parameters')).toBe(
      'a cat in a space suit\nSteps: 5, Sampler: DDIM, CFG scale: 4, Seed: 5, Size: 64x64, Model: tiny',
    );
    const again = await imagine(['--from', 'cat.png', '--out', 'again.png']);
    expect(again.code).toBe(0);
    expect((await readFile(path.join(dir, 'again.png'))).equals(png)).toBe(true);
  });

  it('translates a Chinese prompt with the installed translator, and keeps it as typed with --no-translate', async () => {
    // A tiny translator that answers "a cat" to anything (test/fixtures/tiny-marian.ts), where models:pull puts it.
    const vocab = JSON.parse(await readFile(path.join(SPM_FIXTURE_DIR, 'vocab.json'), 'utf-8')) as Record<string, number>;
    const sequence = [vocab['\u2581a'], vocab['\u2581ca'], vocab.t, 0];
    await writeTinyMarian(
      { vocab: Object.keys(vocab).length, sequence, startToken: vocab['<pad>'], errorToken: vocab['\u2581mars'] },
      'merged',
      path.join(dir, 'models', 'opus-mt-zh-en'),
    );
    const r = await imagine(['一只猫', '--seed', '5', '--out', 'zh.png']);
    expect(r.code).toBe(0);
    expect(r.stderr).toContain('translated prompt: a cat');
    expect(readPngText(await readFile(path.join(dir, 'zh.png'))).get('parameters')).toBe(
      '一只猫\nSteps: 5, Sampler: DDIM, CFG scale: 4, Seed: 5, Size: 64x64, Model: tiny, Translated prompt: "a cat"',
    );
    const off = await imagine(['一只猫', '--seed', '5', '--no-translate', '--out', 'zh-off.png']);
    expect(off.code).toBe(0);
    expect(off.stderr).not.toContain('translated prompt');
    expect(readPngText(await readFile(path.join(dir, 'zh-off.png'))).get('parameters')).not.toContain('Translated prompt');
    await rm(path.join(dir, 'models', 'opus-mt-zh-en'), { recursive: true });
  });

  it('numbers the files of a batch and uses consecutive seeds', async () => {
    const r = await imagine(['a dog', '--count', '2', '--seed', '9', '--size', '128x64', '--sampler', 'DPM++ 2M Karras', '--out', 'dogs/dog.png']);
    expect(r.code).toBe(0);
    expect((await readdir(path.join(dir, 'dogs'))).sort()).toEqual(['dog-1.png', 'dog-2.png']);
    const meta = await sharp(path.join(dir, 'dogs', 'dog-2.png')).metadata();
    expect([meta.width, meta.height]).toEqual([128, 64]);
    expect(readPngText(await readFile(path.join(dir, 'dogs', 'dog-2.png'))).get('parameters')).toMatch(
      /Sampler: DPM\+\+ 2M Karras, CFG scale: 4, Seed: 10,/,
    );
  });

  it('inpaints with --mask and outpaints with --zoom-out and --pan, keeping the source where it is not repainted', async () => {
    await imagine(['a cat', '--seed', '3', '--size', '96x64', '--out', 'edit-src.png']);
    const mask = Buffer.alloc(96 * 64);
    for (let y = 0; y < 64; y++) mask.fill(255, y * 96, y * 96 + 32);
    await sharp(mask, { raw: { width: 96, height: 64, channels: 1 } })
      .png()
      .toFile(path.join(dir, 'mask.png'));
    const inpainted = await imagine([
      'a dog',
      '--init',
      'edit-src.png',
      '--mask',
      'mask.png',
      '--mask-blur',
      '2',
      '--seed',
      '4',
      '--out',
      'inpainted.png',
    ]);
    expect(inpainted.code).toBe(0);
    expect(inpainted.stdout).toMatch(/inpainted\.png {2}seed 4 {2}96x64/);
    const srcRgb = await sharp(path.join(dir, 'edit-src.png')).raw().toBuffer();
    const outRgb = await sharp(path.join(dir, 'inpainted.png')).raw().toBuffer();
    // Right of the mask (plus the blur's reach) the source comes back byte for byte.
    for (let y = 0; y < 64; y++)
      expect(outRgb.subarray((y * 96 + 40) * 3, (y * 96 + 96) * 3).equals(srcRgb.subarray((y * 96 + 40) * 3, (y * 96 + 96) * 3))).toBe(true);
    expect(readPngText(await readFile(path.join(dir, 'inpainted.png'))).get('parameters')).toMatch(/Mask blur: 2, Masked content: original$/);

    const zoomed = await imagine(['a dog', '--init', 'edit-src.png', '--zoom-out', '2', '--out', 'zoomed.png']);
    expect(zoomed.code).toBe(0);
    expect(zoomed.stdout).toMatch(/zoomed\.png {2}seed \d+ {2}96x64/);
    const panned = await imagine(['a dog', '--init', 'edit-src.png', '--pan', 'up', '--out', 'panned.png']);
    expect(panned.code).toBe(0);
    expect(panned.stdout).toMatch(/panned\.png {2}seed \d+ {2}96x96/);

    const wrong = await imagine(['a dog', '--mask', 'mask.png']);
    expect([wrong.code, wrong.stderr.trim()]).toEqual([2, 'imagine: --mask needs --init IMG: the picture to edit.']);
    const both = await imagine(['a dog', '--init', 'edit-src.png', '--zoom-out', '2', '--pan', 'left']);
    expect([both.code, both.stderr.trim()]).toEqual([2, 'imagine: Use one of --mask, --zoom-out and --pan; got --zoom-out and --pan.']);
    const dir4 = await imagine(['a dog', '--init', 'edit-src.png', '--pan', 'sideways']);
    expect([dir4.code, dir4.stderr.trim()]).toEqual([2, 'imagine: --pan must be one of left, right, up, down; got "sideways".']);
  });

  it('runs img2img and upscale from files', async () => {
    await imagine(['a cat', '--seed', '1', '--out', 'src.png']);
    const i2i = await imagine(['a cat', '--init', 'src.png', '--strength', '0.5', '--out', 'i2i.png']);
    expect(i2i.code).toBe(0);
    expect(readPngText(await readFile(path.join(dir, 'i2i.png'))).get('parameters')).toMatch(/Denoising strength: 0\.5/);
    const up = await imagine(['a cat', '--upscale', 'src.png', '--out', 'up.png']);
    expect(up.code).toBe(0);
    expect((await sharp(path.join(dir, 'up.png')).metadata()).width).toBe(128);
  });

  it('prints token ids as one JSON line per prompt', async () => {
    const r = await imagine(['tokens', 'a photo of a cat', 'how are you doing?']);
    expect(r.code).toBe(0);
    expect(
      r.stdout
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l)),
    ).toEqual([
      { ids: [49406, 320, 1125, 539, 320, 2368, 49407], count: 7, truncated: false },
      { ids: [49406, 829, 631, 592, 1960, 286, 49407], count: 7, truncated: false },
    ]);
  });

  it('--chunks places an embedding from EMBEDDINGS_DIR as a generation does: whole, in the next chunk when it does not fit', async () => {
    // 3 vectors; after 73 tokens only 2 places are left in chunk 0, so A1111 moves the whole embedding to chunk 1.
    await mkdir(path.join(dir, 'embeddings'), { recursive: true });
    await writeFile(
      path.join(dir, 'embeddings', 'negxl.safetensors'),
      encodeSafetensors({ emb_params: { shape: [3, 768], data: new Array<number>(3 * 768).fill(0.5) } }),
    );
    try {
      const r = await imagine(['tokens', '--chunks', `${'cat '.repeat(73)}embedding:negxl dog`]);
      expect(r.code).toBe(0);
      const lines = r.stdout
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l));
      expect(lines).toHaveLength(2);
      const cat = 2368;
      const eos = 49407;
      expect(lines[0].ids).toEqual([49406, ...new Array<number>(73).fill(cat), eos, eos, eos]);
      expect(lines[0].embeddings).toBeUndefined();
      // The ids after CLIP's 49,408 tokens stand for the embedding's rows; "dog" (1929) follows them.
      expect(lines[1].ids.slice(0, 6)).toEqual([49406, 49408, 49409, 49410, 1929, eos]);
      expect(lines[1].embeddings).toEqual([{ name: 'negxl', ids: [49408, 49409, 49410] }]);
    } finally {
      await rm(path.join(dir, 'embeddings'), { recursive: true, force: true });
    }
  });

  it("prints each prompt's chunks with ids and multipliers with --chunks", async () => {
    const r = await imagine(['tokens', '--chunks', 'a (cat:1.3) BREAK [dog]', 'photo']);
    expect(r.code).toBe(0);
    const eos = (n: number) => new Array<number>(n).fill(49407);
    const ones = (n: number) => new Array<number>(n).fill(1);
    expect(
      r.stdout
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l)),
    ).toEqual([
      { prompt: 0, chunk: 0, ids: [49406, 320, 2368, ...eos(74)], multipliers: [1, 1, 1.3, ...ones(74)] },
      { prompt: 0, chunk: 1, ids: [49406, 1929, ...eos(75)], multipliers: [1, 1 / 1.1, ...ones(75)] },
      { prompt: 1, chunk: 0, ids: [49406, 1125, ...eos(75)], multipliers: ones(77) },
    ]);
  });

  it.each([
    [['a cat', '--steps', 'many'], /--steps must be a whole number from 1 to 150; got "many"/],
    [['a cat', '--bogus'], /Unknown option '--bogus'/],
    [['a cat', '--size', '65x64'], /Width must be a multiple of 8; got 65/],
    [['a cat', '--sampler', 'heun'], /Unknown sampler|heun/i],
    [['a cat', '--model', 'nope'], /Unknown model "nope"/],
    [['a cat', '--init', 'missing.png'], /Cannot read the --init image "missing.png": ENOENT/],
    [['a cat', '--strength', '0.5'], /--strength needs --init/],
    [[], /Missing prompt/],
    [['a cat', '--clip-skip', '13'], /--clip-skip must be from 1 to 12; got 13/],
    [['a cat', '--clip-skip', '2'], /cannot use clip skip 2: its text encoder \(text_encoder\/model.onnx\) has no "hidden_states.N" outputs/],
  ])('exits 2 with one line for bad arguments %j', async (args, message) => {
    const r = await imagine([...args, '--out', 'bad.png']);
    expect(r.code).toBe(2);
    const lines = r.stderr.split('\n').filter((l) => l.startsWith('imagine:'));
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(message);
    await expect(readFile(path.join(dir, 'bad.png'))).rejects.toThrow();
  });

  it('exits 1 naming the file when the model folder is broken, writing nothing', async () => {
    await writeTinyModel(path.join(dir, 'models', 'broken'), { omit: ['vae_decoder'] });
    const r = await imagine(['a cat', '--model', 'broken', '--out', 'broken.png']);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/Missing vae_decoder: .*broken\/vae_decoder\/model\.onnx/);
    await expect(readFile(path.join(dir, 'broken.png'))).rejects.toThrow();
  });

  it('rejects an unreadable init image with the formats that work', async () => {
    await writeFile(path.join(dir, 'junk.png'), 'not an image');
    const r = await imagine(['a cat', '--init', 'junk.png', '--out', 'junk-out.png']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/Cannot read the init image: .*Use a PNG, JPEG or WebP file/);
  });
});
