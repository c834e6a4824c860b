import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { UserError } from '../../../src/errors.js';
import { fromFloat16Bits } from '../../../src/inference/model/float16.js';
import { scanGraph } from '../../../src/inference/model/onnx-initializers.js';
import { ModelSession } from '../../../src/inference/model/session.js';
import { mergeLoras, type WeightedLora } from '../../../src/inference/lora/apply-loras.js';
import { readLoraNetwork } from '../../../src/inference/lora/lora-file.js';
import { parseLoraKey, sgmToDiffusers } from '../../../src/inference/lora/lora-keys.js';
import { addnetHash } from '../../../src/inference/lora/lora-library.js';
import { encodeSafetensors, SafetensorsFile, type SafetensorsDtype } from '../../../src/inference/weights/safetensors.js';
import { baseConv, baseQ, CONV_INIT, Q_IN, Q_INIT, Q_OUT, TE_INIT, tinyTextGraph, tinyUnetGraph, type TinyLoraGraph } from './lora-fixtures.js';

const K = 'down_blocks_0_attentions_0_transformer_blocks_0_attn1_to_q';
const C = 'down_blocks_0_resnets_0_conv1';

// LoRA matrices, values exact in bf16 and fp16 (multiples of 1/8 in a small range).
const RANK = 2;
const qDown = [0.5, -0.25, 1, 0.125, -0.5, 0.75, 0.25, -1]; // [2, 4]
const qUp = [1, 0.5, -0.5, 0.25, 0.125, -1]; // [3, 2]
const cDown = Array.from({ length: RANK * 9 }, (_, k) => ((k % 7) - 3) * 0.125); // [2, 1, 3, 3]
const cUp = [0.5, -1, 0.25, 0.75]; // [2, 2, 1, 1]

function kohya(options: { alpha?: number; dtype?: SafetensorsDtype; conv?: boolean; prefix?: string } = {}): Uint8Array {
  const dtype = options.dtype ?? 'F32';
  const p = options.prefix ?? 'lora_unet_';
  const t: Parameters<typeof encodeSafetensors>[0] = {
    [`${p}${K}.lora_down.weight`]: { shape: [RANK, Q_IN], data: qDown, dtype },
    [`${p}${K}.lora_up.weight`]: { shape: [Q_OUT, RANK], data: qUp, dtype },
  };
  if (options.alpha !== undefined) t[`${p}${K}.alpha`] = { shape: [], data: [options.alpha], dtype };
  if (options.conv !== false) {
    t[`${p}${C}.lora_down.weight`] = { shape: [RANK, 1, 3, 3], data: cDown, dtype };
    t[`${p}${C}.lora_up.weight`] = { shape: [2, RANK, 1, 1], data: cUp, dtype };
    if (options.alpha !== undefined) t[`${p}${C}.alpha`] = { shape: [], data: [options.alpha], dtype };
  }
  return encodeSafetensors(t, { ss_base_model_version: 'sd_v1' });
}

/** ΔW_q[o][i] = s · Σ_r up[o,r]·down[r,i], computed here independently of merge.ts. */
const dq = (s: number, o: number, i: number) => s * (qUp[o * 2] * qDown[i] + qUp[o * 2 + 1] * qDown[4 + i]);
const dc = (s: number, o: number, k: number) => s * (cUp[o * 2] * cDown[k] + cUp[o * 2 + 1] * cDown[9 + k]);

async function writeGraph(g: TinyLoraGraph): Promise<string> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'lora-'));
  const file = path.join(dir, 'model.onnx');
  await writeFile(file, g.bytes);
  if (g.external) await writeFile(path.join(dir, g.external.location), g.external.data);
  return file;
}

function network(bytes: Uint8Array, name = 'style'): WeightedLora['network'] {
  return readLoraNetwork(SafetensorsFile.parse(bytes, `${name}.safetensors`), name);
}

/** An initializer's values as float32, from inline bytes or the given external buffers. */
function weights(bytes: Uint8Array, name: string, external?: { path: string; data: Uint8Array }[]): number[] {
  const loc = scanGraph(bytes).initializers.get(name)!;
  const n = loc.dims.reduce((a, b) => a * b, 1);
  const size = loc.dtype === 'float32' ? 4 : 2;
  const src = loc.inline ? bytes : external!.find((e) => e.path === loc.external!.location)!.data;
  const start = loc.inline ? loc.inline.start : loc.external!.offset;
  const view = new DataView(src.buffer, src.byteOffset + start, n * size);
  return Array.from({ length: n }, (_, k) => (size === 4 ? view.getFloat32(k * 4, true) : fromFloat16Bits(view.getUint16(k * 2, true))));
}

const model = (unet: string, te1?: string) => ({ name: 'tiny', family: 'sd1' as const, files: { unet, ...(te1 ? { te1 } : {}) } });

/** Expected stored (transposed) q weights and conv weights after adding deltas with scale s. */
function expectedQ(s: number): number[] {
  const out: number[] = [];
  for (let i = 0; i < Q_IN; i++) for (let o = 0; o < Q_OUT; o++) out.push(baseQ(o, i) + dq(s, o, i));
  return out;
}
function expectedConv(s: number): number[] {
  const out: number[] = [];
  for (let o = 0; o < 2; o++) for (let k = 0; k < 9; k++) out.push(baseConv(o, 0, Math.floor(k / 3), k % 3) + dc(s, o, k));
  return out;
}

describe('mergeLoras', () => {
  it('adds weight · alpha/rank · up @ down, transposed into a MatMul initializer and as is into a 3×3 Conv (LoCon)', async () => {
    const unet = await writeGraph(tinyUnetGraph());
    const merged = await mergeLoras(model(unet), [{ network: network(kohya({ alpha: 1 })), weight: 0.8 }]);
    const g = merged.graphs.unet!;
    const s = (0.8 * 1) / RANK;
    expect(g.patched).toBe(2);
    expectClose(weights(g.bytes, Q_INIT), expectedQ(s), 1e-6);
    expectClose(weights(g.bytes, CONV_INIT), expectedConv(s), 1e-6);
    // onnxruntime runs the patched bytes: q = x @ (W + ΔW)ᵀ.
    const session = await ModelSession.fromBytes(g.bytes, unet);
    const x = [1, 2, -1, 0.5];
    const out = await session.run({ x: { data: x, dims: [1, 4] }, img: { data: new Array(9).fill(1), dims: [1, 1, 3, 3] } }, ['q']);
    await session.release();
    const want = [0, 1, 2].map((o) => x.reduce((acc, xi, i) => acc + xi * (baseQ(o, i) + dq(s, o, i)), 0));
    expectClose(Array.from(out.q.data), want, 1e-5);
    // The file on disk is untouched.
    expect(weights(new Uint8Array(await readFile(unet)), Q_INIT)).toEqual(weights(tinyUnetGraph().bytes, Q_INIT));
    expect(merged.notes.at(-1)).toMatch(/merged LoRA style:0.8 into "tiny" in \d+ ms/);
  });

  it('alpha defaults to the rank (scale = weight); a diffusers/PEFT file (lora_A/lora_B) merges the same', async () => {
    const unet = await writeGraph(tinyUnetGraph());
    const peft = encodeSafetensors({
      'unet.down_blocks.0.attentions.0.transformer_blocks.0.attn1.to_q.lora_A.weight': { shape: [RANK, Q_IN], data: qDown },
      'unet.down_blocks.0.attentions.0.transformer_blocks.0.attn1.to_q.lora_B.weight': { shape: [Q_OUT, RANK], data: qUp },
    });
    const a = await mergeLoras(model(unet), [{ network: network(peft), weight: 1 }]);
    const b = await mergeLoras(model(unet), [{ network: network(kohya({ conv: false })), weight: 1 }]);
    expectClose(weights(a.graphs.unet!.bytes, Q_INIT), expectedQ(1), 1e-6);
    expect(weights(b.graphs.unet!.bytes, Q_INIT)).toEqual(weights(a.graphs.unet!.bytes, Q_INIT));
  });

  it('two LoRAs add their deltas; weight 0.5 halves one', async () => {
    const unet = await writeGraph(tinyUnetGraph());
    const one = network(kohya({ alpha: 2 }), 'one');
    const two = network(kohya({ alpha: 1 }), 'two');
    const merged = await mergeLoras(model(unet), [
      { network: one, weight: 1 },
      { network: two, weight: 0.5 },
    ]);
    const s = 1 + 0.5 * (1 / RANK);
    expectClose(weights(merged.graphs.unet!.bytes, Q_INIT), expectedQ(s), 1e-6);
    expectClose(weights(merged.graphs.unet!.bytes, CONV_INIT), expectedConv(s), 1e-6);
  });

  it.each(['F16', 'BF16'] as const)('casts back to a float16 model from %s LoRA tensors', async (dtype) => {
    const unet = await writeGraph(tinyUnetGraph({ dtype: 'float16' }));
    const merged = await mergeLoras(model(unet), [{ network: network(kohya({ alpha: 1, dtype })), weight: 1 }]);
    const got = weights(merged.graphs.unet!.bytes, Q_INIT);
    // fp16 has 11 significant bits: |w| < 2 rounds within 2^-11.
    expectClose(got, expectedQ(0.5), 2 ** -10);
    expect(scanGraph(merged.graphs.unet!.bytes).initializers.get(Q_INIT)!.dtype).toBe('float16');
  });

  it('patches external weights in buffers handed to onnxruntime, leaving the data file as it was', async () => {
    const g = tinyUnetGraph({ external: true });
    const unet = await writeGraph(g);
    const merged = await mergeLoras(model(unet), [{ network: network(kohya({ alpha: 1 })), weight: 1 }]);
    const patched = merged.graphs.unet!;
    expect(patched.externalData?.map((e) => e.path)).toEqual(['weights.pb']);
    expectClose(weights(patched.bytes, Q_INIT, patched.externalData), expectedQ(0.5), 1e-6);
    expectClose(weights(patched.bytes, CONV_INIT, patched.externalData), expectedConv(0.5), 1e-6);
    expect(new Uint8Array(await readFile(path.join(path.dirname(unet), 'weights.pb')))).toEqual(g.external!.data);
    const session = await ModelSession.fromBytes(patched.bytes, unet, { externalData: patched.externalData });
    const out = await session.run({ x: { data: [1, 0, 0, 0], dims: [1, 4] }, img: { data: new Array(9).fill(0), dims: [1, 1, 3, 3] } }, ['q']);
    await session.release();
    expectClose(
      Array.from(out.q.data),
      [0, 1, 2].map((o) => baseQ(o, 0) + dq(0.5, o, 0)),
      1e-5,
    );
  });

  it('hands an external file larger than a buffer may be to onnxruntime in pieces, relocating the initializers', async () => {
    const g = tinyUnetGraph({ external: true });
    const unet = await writeGraph(g);
    // 50-byte pieces: q (48 bytes) alone, then conv (72 bytes, over the limit) alone.
    const merged = await mergeLoras(model(unet), [{ network: network(kohya({ alpha: 1 })), weight: 1 }], { maxPiece: 50 });
    const patched = merged.graphs.unet!;
    expect(patched.externalData?.map((e) => [e.path, e.data.length])).toEqual([
      ['weights.pb.piece0', 48],
      ['weights.pb.piece1', 72],
    ]);
    expectClose(weights(patched.bytes, Q_INIT, patched.externalData), expectedQ(0.5), 1e-6);
    expectClose(weights(patched.bytes, CONV_INIT, patched.externalData), expectedConv(0.5), 1e-6);
    const session = await ModelSession.fromBytes(patched.bytes, unet, { externalData: patched.externalData });
    const out = await session.run({ x: { data: [1, 0, 0, 0], dims: [1, 4] }, img: { data: new Array(9).fill(1), dims: [1, 1, 3, 3] } }, ['q', 'c']);
    await session.release();
    expectClose(
      Array.from(out.q.data),
      [0, 1, 2].map((o) => baseQ(o, 0) + dq(0.5, o, 0)),
      1e-5,
    );
    const conv = expectedConv(0.5);
    expectClose(
      Array.from(out.c.data),
      [0, 1].map((o) => conv.slice(o * 9, o * 9 + 9).reduce((a, b) => a + b, 0)),
      1e-5,
    );
  });

  it('merges kohya text-encoder modules (lora_te_) into the text encoder graph', async () => {
    const unet = await writeGraph(tinyUnetGraph());
    const te1 = await writeGraph({ bytes: tinyTextGraph() });
    const down = [1, 0, 0, 0];
    const up = [0, 1, 0, 0];
    const lora = encodeSafetensors({
      'lora_te_text_model_encoder_layers_0_self_attn_q_proj.lora_down.weight': { shape: [1, 4], data: down },
      'lora_te_text_model_encoder_layers_0_self_attn_q_proj.lora_up.weight': { shape: [4, 1], data: up },
    });
    const merged = await mergeLoras(model(unet, te1), [{ network: network(lora), weight: 2 }]);
    expect(merged.graphs.unet).toBeUndefined();
    const before = weights(tinyTextGraph(), TE_INIT);
    const after = weights(merged.graphs.te1!.bytes, TE_INIT);
    // ΔW[o=1][i=0] = 2; stored transposed at [i=0][o=1] = index 1.
    expect(after.map((v, k) => v - before[k])).toEqual([0, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
  });

  it('refuses LoHa naming the file, a LoRA for another family, a graph fused by an optimizer, and a LoRA whose layers do not fit', async () => {
    const loha = encodeSafetensors({ [`lora_unet_${K}.hada_w1_a`]: { shape: [3, 2], data: [0, 0, 0, 0, 0, 0] } });
    expect(() => network(loha, 'hada')).toThrow(/LoRA hada\.safetensors: is a LoHa/);
    const unet = await writeGraph(tinyUnetGraph());
    await expect(mergeLoras({ ...model(unet), family: 'sdxl' }, [{ network: network(kohya()), weight: 1 }])).rejects.toThrow(
      /LoRA "style" \(style\.safetensors\) is for SD 1\.x; the model "tiny" is SDXL/,
    );
    const fused = await writeGraph(tinyUnetGraph({ fused: true }));
    await expect(mergeLoras(model(fused), [{ network: network(kohya()), weight: 1 }])).rejects.toThrow(
      /fused by an optimizer \(MultiHeadAttention nodes\)/,
    );
    const other = encodeSafetensors({
      'lora_unet_up_blocks_3_attentions_2_proj_in.lora_down.weight': { shape: [1, 4], data: [1, 1, 1, 1] },
      'lora_unet_up_blocks_3_attentions_2_proj_in.lora_up.weight': { shape: [3, 1], data: [1, 1, 1] },
    });
    const err = await mergeLoras(model(unet), [{ network: network(other, 'odd'), weight: 1 }]).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UserError);
    expect((err as Error).message).toMatch(/LoRA "odd" \(odd\.safetensors\) does not fit model "tiny" \(SD 1\.x\): only 0 of 1 layers match/);
  });
});

describe('LoRA keys', () => {
  it('maps kohya SDXL SGM names to diffusers names deterministically', () => {
    expect(parseLoraKey('lora_unet_input_blocks_4_1_transformer_blocks_0_attn1_to_q.lora_down.weight')).toEqual({
      graph: 'unet',
      module: 'down_blocks_1_attentions_0_transformer_blocks_0_attn1_to_q',
      part: 'down',
      sgm: true,
    });
    expect(sgmToDiffusers('input_blocks_8_1_proj_in')).toBe('down_blocks_2_attentions_1_proj_in');
    expect(sgmToDiffusers('input_blocks_1_0_in_layers_2')).toBe('down_blocks_0_resnets_0_conv1');
    expect(sgmToDiffusers('input_blocks_3_0_op')).toBe('down_blocks_0_downsamplers_0_conv');
    expect(sgmToDiffusers('middle_block_1_transformer_blocks_9_attn2_to_k')).toBe('mid_block_attentions_0_transformer_blocks_9_attn2_to_k');
    expect(sgmToDiffusers('middle_block_2_emb_layers_1')).toBe('mid_block_resnets_1_time_emb_proj');
    expect(sgmToDiffusers('output_blocks_5_1_transformer_blocks_1_ff_net_2')).toBe('up_blocks_1_attentions_2_transformer_blocks_1_ff_net_2');
    expect(sgmToDiffusers('output_blocks_2_2_conv')).toBe('up_blocks_0_upsamplers_0_conv');
    expect(sgmToDiffusers('output_blocks_7_0_skip_connection')).toBe('up_blocks_2_resnets_1_conv_shortcut');
    expect(parseLoraKey('lora_te2_text_model_encoder_layers_3_mlp_fc1.alpha')).toEqual({
      graph: 'te2',
      module: 'text_model_encoder_layers_3_mlp_fc1',
      part: 'alpha',
    });
    expect(parseLoraKey('text_encoder_2.text_model.encoder.layers.3.self_attn.k_proj.lora_B.weight')).toEqual({
      graph: 'te2',
      module: 'text_model_encoder_layers_3_self_attn_k_proj',
      part: 'up',
    });
  });

  it('hashes the data section as A1111 does for Lora hashes (header changes do not change it)', () => {
    const a = encodeSafetensors({ w: { shape: [2], data: [1, 2] } });
    const b = encodeSafetensors({ w: { shape: [2], data: [1, 2] } }, { ss_output_name: 'renamed' });
    expect(addnetHash(a)).toBe(addnetHash(b));
    // sha256 of the 8 data bytes (two little-endian float32s 1 and 2), computed independently.
    expect(addnetHash(a)).toBe('b9c80b5adeca450753a16950c3cc655d271f7bef7a485bc83f112b72fef21d37');
  });
});

function expectClose(got: number[], want: number[], tol: number): void {
  expect(got.length).toBe(want.length);
  got.forEach((g, k) => {
    if (Math.abs(g - want[k]) > tol) expect.fail(`value ${k}: got ${g}, want ${want[k]} (±${tol})`);
  });
}
