import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { UserError } from '../../../src/errors.js';
import { EmbeddingLibrary, loadEmbeddingFile, type EncoderTarget } from '../../../src/inference/prompt/embedding-files.js';
import { encodeSafetensors } from '../../../src/inference/weights/safetensors.js';
import { a1111Embedding, f32Bytes, Op, PickleWriter, zip } from '../weights/torch-file.js';

async function tempDir(): Promise<string> {
  return mkdtemp(path.join(os.tmpdir(), 'embeddings-'));
}

/** SDXL's text encoders as an embedding must fit them: text_encoder takes clip_l, text_encoder_2 clip_g. */
const SDXL_ENCODERS: EncoderTarget[] = [
  { width: 768, part: 'clip_l' },
  { width: 1280, part: 'clip_g' },
];

const row = (width: number, base: number) => Array.from({ length: width }, (_, i) => base + i / 8);

/** A diffusers concept (`learned_embeds.bin`): {'<cat-toy>': tensor [width]}. */
function diffusersConcept(token: string, values: number[]): Uint8Array {
  const p = new PickleWriter()
    .proto(2)
    .op(Op.EMPTY_DICT)
    .put()
    .str(token)
    .tensor('FloatStorage', '0', values.length, [values.length], [1])
    .op(Op.SETITEM)
    .op(Op.STOP);
  return zip({ 'learned_embeds/data.pkl': p.bytes(), 'learned_embeds/data/0': f32Bytes(values) });
}

describe('loadEmbeddingFile', () => {
  it('reads an A1111 .pt: name from the file stem, N vectors, A1111 hash (sha256 of the file)', async () => {
    const dir = await tempDir();
    const file = path.join(dir, 'EasyNegative.pt');
    const bytes = a1111Embedding('something-else', [row(768, 1), row(768, 2)]);
    await writeFile(file, bytes);
    const e = await loadEmbeddingFile(file);
    const sha = createHash('sha256').update(bytes).digest('hex');
    expect(e).toMatchObject({ name: 'EasyNegative', kind: 'single', count: 2, sha256: sha, shorthash: sha.slice(0, 12) });
    expect(e.shorthash).toMatch(/^[0-9a-f]{12}$/);
    expect(e.vectors.get(768)!.subarray(766, 770)).toEqual(Float32Array.from([1 + 766 / 8, 1 + 767 / 8, 2, 2 + 1 / 8]));
  });

  it('reads .safetensors emb_params (fp16), SDXL clip_l + clip_g, and a diffusers concept .bin', async () => {
    const dir = await tempDir();
    await writeFile(
      path.join(dir, 'neg.safetensors'),
      encodeSafetensors({ emb_params: { shape: [3, 1024], data: [...row(1024, 0), ...row(1024, 1), ...row(1024, 2)], dtype: 'F16' } }),
    );
    await writeFile(
      path.join(dir, 'xl.safetensors'),
      encodeSafetensors({ clip_g: { shape: [1, 1280], data: row(1280, 5) }, clip_l: { shape: [1, 768], data: row(768, 6) } }),
    );
    await writeFile(path.join(dir, 'learned_embeds.bin'), diffusersConcept('<cat-toy>', row(768, 3)));
    const neg = await loadEmbeddingFile(path.join(dir, 'neg.safetensors'));
    expect(neg).toMatchObject({ kind: 'single', count: 3 });
    expect(neg.vectors.get(1024)![1024 + 8]).toBe(2); // row 1, column 8 = 1 + 8/8
    const xl = await loadEmbeddingFile(path.join(dir, 'xl.safetensors'));
    expect(xl).toMatchObject({ kind: 'sdxl', count: 1 });
    expect(xl.vectors.get(768)![0]).toBe(6);
    expect(xl.vectors.get(1280)![0]).toBe(5);
    const concept = await loadEmbeddingFile(path.join(dir, 'learned_embeds.bin'));
    expect(concept).toMatchObject({ name: 'learned_embeds', kind: 'single', count: 1 });
    expect(concept.vectors.get(768)![8]).toBe(4);
  });

  it.each([
    [
      'two terms in string_to_param',
      () => {
        const p = new PickleWriter().proto(2).op(Op.EMPTY_DICT).put().str('string_to_param').op(Op.EMPTY_DICT).put().op(Op.MARK);
        p.str('*')
          .tensor('FloatStorage', '0', 4, [1, 4], [4, 1])
          .str('#')
          .tensor('FloatStorage', '0', 4, [1, 4], [4, 1])
          .op(Op.SETITEMS)
          .op(Op.SETITEM)
          .op(Op.STOP);
        return { name: 'two.pt', bytes: zip({ 'a/data.pkl': p.bytes(), 'a/data/0': f32Bytes([1, 2, 3, 4]) }) };
      },
      /two\.pt has 2 terms in string_to_param/,
    ],
    [
      'an unrelated safetensors (a LoRA)',
      () => ({
        name: 'lora.safetensors',
        bytes: encodeSafetensors({
          'lora_te_x.lora_up.weight': { shape: [2, 2], data: [1, 2, 3, 4] },
          'lora_te_x.lora_down.weight': { shape: [2, 2], data: [1, 2, 3, 4] },
        }),
      }),
      /lora\.safetensors is neither an A1111 embedding .* it has: lora_te_x\.lora_up\.weight, lora_te_x\.lora_down\.weight/,
    ],
    [
      'NaN vectors',
      () => ({ name: 'nan.safetensors', bytes: encodeSafetensors({ emb_params: { shape: [1, 2], data: [1, Number.NaN] } }) }),
      /nan\.safetensors: the 2-wide vectors contain NaN/,
    ],
    [
      'SDXL halves with different counts',
      () => ({
        name: 'xl.safetensors',
        bytes: encodeSafetensors({
          clip_l: { shape: [2, 768], data: new Float32Array(1536) },
          clip_g: { shape: [1, 1280], data: new Float32Array(1280) },
        }),
      }),
      /clip_l has 2 vectors but clip_g has 1/,
    ],
  ])('refuses %s', async (_what, build, message) => {
    const dir = await tempDir();
    const { name, bytes } = build();
    await writeFile(path.join(dir, name), bytes);
    await expect(loadEmbeddingFile(path.join(dir, name))).rejects.toThrow(message);
  });
});

describe('EmbeddingLibrary', () => {
  async function library(): Promise<{ dir: string; lib: EmbeddingLibrary; logged: string[] }> {
    const dir = await tempDir();
    await mkdir(path.join(dir, 'negatives'));
    await writeFile(
      path.join(dir, 'negatives', 'EasyNegative.safetensors'),
      encodeSafetensors({ emb_params: { shape: [2, 768], data: new Float32Array(1536).fill(0.5) } }),
    );
    await writeFile(path.join(dir, 'sd2-style.pt'), a1111Embedding('sd2-style', [row(1024, 0)]));
    await writeFile(path.join(dir, 'broken.pt'), new Uint8Array([1, 2, 3]));
    await writeFile(path.join(dir, 'empty.pt'), new Uint8Array(0));
    await writeFile(path.join(dir, 'notes.txt'), 'not an embedding');
    const logged: string[] = [];
    const lib = await EmbeddingLibrary.scan(dir, (m) => logged.push(m));
    return { dir, lib, logged };
  }

  it('scans sub-folders, skips a bad file with its reason, ignores empty and other files', async () => {
    const { dir, lib, logged } = await library();
    expect([...lib.embeddings.keys()].sort()).toEqual(['EasyNegative', 'sd2-style']);
    expect(lib.skipped).toEqual([{ file: path.join(dir, 'broken.pt'), reason: expect.stringContaining('broken.pt is not a zip archive') }]);
    expect(logged).toEqual([expect.stringMatching(/^embedding skipped: .*broken\.pt is not a zip archive/)]);
  });

  it('finds names as typed, in any case, and with the embedding: prefix', async () => {
    const { lib } = await library();
    for (const word of ['EasyNegative', 'easynegative', 'EASYNEGATIVE', 'embedding:EasyNegative', 'embedding:easynegative.safetensors']) {
      expect(lib.find(word)?.name).toBe('EasyNegative');
    }
    expect(lib.find('Easy')).toBeUndefined();
    expect(lib.find('embedding:')).toBeUndefined();
  });

  it('refuses an embedding of another model family with a UserError naming both', async () => {
    const { lib } = await library();
    const sd1 = lib.find('EasyNegative')!;
    expect(lib.vectorsFor(sd1, [{ width: 768 }])[0]).toHaveLength(1536);
    expect(() => lib.vectorsFor(sd1, [{ width: 1024 }])).toThrow(UserError);
    expect(() => lib.vectorsFor(sd1, [{ width: 1024 }])).toThrow(
      'The embedding EasyNegative is for SD 1.x (768 wide) models, but this model is SD 2.x (text encoder 1024 wide).',
    );
    expect(() => lib.vectorsFor(sd1, SDXL_ENCODERS)).toThrow(
      'is for SD 1.x (768 wide) models, but this model is SDXL (text encoders 768 + 1280 wide)',
    );
  });

  it("gives an SDXL file's clip_l to text_encoder and clip_g to text_encoder_2, and refuses it on SD 1.x and with swapped halves", async () => {
    const dir = await tempDir();
    await writeFile(
      path.join(dir, 'negXL.safetensors'),
      encodeSafetensors({
        clip_g: { shape: [2, 1280], data: [...row(1280, 5), ...row(1280, 6)] },
        clip_l: { shape: [2, 768], data: [...row(768, 1), ...row(768, 2)] },
      }),
    );
    // A file whose keys name the wrong halves (clip_l 1280 wide): it must not pass by width.
    await writeFile(
      path.join(dir, 'swapped.safetensors'),
      encodeSafetensors({ clip_l: { shape: [1, 1280], data: row(1280, 0) }, clip_g: { shape: [1, 768], data: row(768, 0) } }),
    );
    const lib = await EmbeddingLibrary.scan(dir);
    const xl = lib.find('embedding:negXL')!;
    const [l, g] = lib.vectorsFor(xl, SDXL_ENCODERS);
    expect([l.length, g.length]).toEqual([2 * 768, 2 * 1280]);
    expect([l[0], l[768], g[0], g[1280]]).toEqual([1, 2, 5, 6]);
    // The model's encoder order decides which half comes first.
    expect(lib.vectorsFor(xl, [SDXL_ENCODERS[1], SDXL_ENCODERS[0]])[0]).toBe(g);
    expect(() => lib.vectorsFor(xl, [{ width: 768 }])).toThrow(UserError);
    expect(() => lib.vectorsFor(xl, [{ width: 768 }])).toThrow(
      'The embedding negXL is for SDXL (clip_l 768 + clip_g 1280) models, but this model is SD 1.x (text encoder 768 wide). Remove it from the prompt or use one made for this model.',
    );
    expect(() => lib.vectorsFor(lib.find('swapped')!, SDXL_ENCODERS)).toThrow(
      'The embedding swapped is for SDXL (clip_l 1280 + clip_g 768) models, but this model is SDXL (text encoders 768 + 1280 wide).',
    );
  });

  it('keeps the first (by path) of two names differing only in case, and rescans when files change', async () => {
    const { dir, lib } = await library();
    await writeFile(path.join(dir, 'easynegative.pt'), a1111Embedding('x', [row(768, 9)]));
    expect(await lib.refresh()).toBe(true);
    expect(lib.find('EasyNegative')!.file).toBe(path.join(dir, 'easynegative.pt'));
    expect(lib.skipped.map((s) => s.reason)).toContainEqual(
      expect.stringMatching(/EasyNegative\.safetensors: an embedding named "easynegative" is already loaded from .*easynegative\.pt/),
    );
    expect(await lib.refresh()).toBe(false);
  });

  it('treats a missing folder as empty', async () => {
    const lib = await EmbeddingLibrary.scan(path.join(await tempDir(), 'nope'));
    expect(lib.embeddings.size).toBe(0);
  });
});
