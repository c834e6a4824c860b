/**
 * MarianMT (Helsinki-NLP opus-mt) translation with the ONNX files optimum exports (the layout of
 * `Xenova/opus-mt-zh-en` / `onnx-community/opus-mt-zh-en`): `onnx/encoder_model.onnx` and either the merged decoder
 * `onnx/decoder_model_merged.onnx` (one graph, `use_cache_branch` picks the first step or the cached steps) or the
 * pair `decoder_model.onnx` + `decoder_with_past_model.onnx`. Greedy decoding with the key/value cache: each step
 * feeds only the newest token. Input and output names are read from the sessions, not assumed.
 *
 * Decoder I/O as optimum names it: `input_ids`, `encoder_hidden_states`, `encoder_attention_mask`,
 * `past_key_values.{i}.{decoder|encoder}.{key|value}` [batch, heads, seq, head_dim], `use_cache_branch` (merged
 * only) → `logits` [batch, seq, vocab], `present.{i}.{decoder|encoder}.{key|value}`. The encoder's cross-attention
 * cache is computed on the first step and reused: the cached branch passes it through (or omits it).
 */
import { access, readFile } from 'node:fs/promises';
import path from 'node:path';

import { ModelLoadError } from '../../../errors.js';
import { type Feed, ModelSession, type OutputTensor, type SessionOptions } from '../../model/session.js';
import { MarianTokenizer } from './sentencepiece.js';

/** The generation settings Marian's config.json / generation_config.json carry. */
export interface MarianGenerationConfig {
  /** Marian starts decoding from `<pad>` (decoder_start_token_id = pad_token_id). */
  decoderStartTokenId: number;
  eosTokenId: number;
  padTokenId: number;
  /** Most new tokens to generate; a prompt is short, so this stops a model that never emits `</s>` quickly. */
  maxNewTokens: number;
  /** Tokens never chosen (opus-mt bans `<pad>` through bad_words_ids). */
  bannedTokenIds: number[];
  /** config.json's decoder_attention_heads and d_model / heads: the cache shape when the graph leaves them symbolic. */
  heads?: number;
  headDim?: number;
}

/** A translator as the prompt code sees it: text in, text out. */
export interface Translator {
  translate(text: string): Promise<string>;
}

const PAST_INPUT = /^past_key_values\.(\d+)\.(decoder|encoder)\.(key|value)$/;

/** Greedy encoder-decoder generation over ONNX sessions; see the module comment for the I/O contract. */
export class MarianGenerator {
  private readonly pastNames: { input: string; present: string; encoder: boolean }[];

  constructor(
    private readonly encoder: ModelSession,
    /** The first-step decoder; for a merged export, the same session as `withPast`. */
    private readonly firstDecoder: ModelSession,
    private readonly withPast: ModelSession,
    readonly config: MarianGenerationConfig,
  ) {
    this.pastNames = [...withPast.inputs.keys()].flatMap((name) => {
      const m = PAST_INPUT.exec(name);
      return m ? [{ input: name, present: `present.${m[1]}.${m[2]}.${m[3]}`, encoder: m[2] === 'encoder' }] : [];
    });
    if (this.pastNames.length === 0) {
      throw new ModelLoadError(
        `${withPast.file} has no past_key_values.* inputs; use an optimum export with past (decoder_model_merged.onnx)`,
        withPast.file,
      );
    }
    for (const p of this.pastNames) {
      if (!p.encoder || !withPast.outputs.has(p.present)) firstDecoder.output(p.present);
    }
  }

  /** Source ids (with `</s>`) → generated ids, without the start token and the final `</s>`. */
  async generate(inputIds: readonly number[]): Promise<number[]> {
    const seq = inputIds.length;
    const mask: Feed = { data: new Array(seq).fill(1), dims: [1, seq] };
    const encoderFeeds: Record<string, Feed> = { input_ids: { data: inputIds, dims: [1, seq] } };
    if (this.encoder.inputs.has('attention_mask')) encoderFeeds.attention_mask = mask;
    const hiddenName = this.encoder.outputs.has('last_hidden_state') ? 'last_hidden_state' : this.encoder.output().name;
    const hidden = (await this.encoder.run(encoderFeeds, [hiddenName]))[hiddenName];

    const out: number[] = [];
    let past: Map<string, OutputTensor> | undefined;
    let next = this.config.decoderStartTokenId;
    for (let step = 0; step < this.config.maxNewTokens; step++) {
      const session = past ? this.withPast : this.firstDecoder;
      const feeds: Record<string, Feed> = {
        input_ids: { data: [next], dims: [1, 1] },
        encoder_hidden_states: { data: hidden.data, dims: hidden.dims },
      };
      if (session.inputs.has('encoder_attention_mask')) feeds.encoder_attention_mask = mask;
      if (session.inputs.has('use_cache_branch')) feeds.use_cache_branch = { data: [past ? 1 : 0], dims: [1] };
      for (const p of this.pastNames) {
        if (!session.inputs.has(p.input)) continue;
        // The merged graph needs every past input even on the first step: empty along the sequence axis.
        feeds[p.input] = past?.get(p.input) ?? emptyPast(session, p.input, this.config);
      }
      const wanted = ['logits', ...this.pastNames.map((p) => p.present).filter((n) => session.outputs.has(n))];
      const result = await session.run(feeds, wanted);

      const nextPast = new Map<string, OutputTensor>();
      for (const p of this.pastNames) {
        // The cross-attention cache does not change after the first step; keep the first step's copy (the cached
        // branch of a merged export passes it through, decoder_with_past_model.onnx does not output it).
        const keep = p.encoder && past?.get(p.input);
        nextPast.set(p.input, keep || result[p.present]);
      }
      past = nextPast;

      next = this.argmaxLast(result.logits);
      if (next === this.config.eosTokenId) break;
      out.push(next);
    }
    return out;
  }

  private argmaxLast(logits: OutputTensor): number {
    const vocab = logits.dims[logits.dims.length - 1];
    const offset = logits.data.length - vocab;
    let best = -1;
    let bestScore = Number.NEGATIVE_INFINITY;
    for (let i = 0; i < vocab; i++) {
      if (this.config.bannedTokenIds.includes(i)) continue;
      const v = logits.data[offset + i];
      if (v > bestScore) {
        bestScore = v;
        best = i;
      }
    }
    return best;
  }

  async release(): Promise<void> {
    const sessions = new Set([this.encoder, this.firstDecoder, this.withPast]);
    await Promise.all([...sessions].map((s) => s.release()));
  }
}

/** [batch=1, heads, 0, head_dim]: heads and head_dim from the input's declared shape, else from config.json. */
function emptyPast(session: ModelSession, name: string, config: MarianGenerationConfig): Feed {
  const shape = session.input(name).shape;
  const heads = typeof shape[1] === 'number' ? shape[1] : config.heads;
  const headDim = typeof shape[3] === 'number' ? shape[3] : config.headDim;
  if (heads === undefined || headDim === undefined) {
    throw new ModelLoadError(
      `${session.file}: "${name}" has symbolic heads/head_dim [${shape.join(', ')}] and config.json has no decoder_attention_heads/d_model; put the model's config.json next to it`,
      session.file,
    );
  }
  return { data: new Float32Array(0), dims: [1, heads, 0, headDim] };
}

/** Files a translator folder may hold, best first (fp32 before quantized: translation quality over size). */
const ENCODER_FILES = ['encoder_model.onnx', 'encoder_model_quantized.onnx', 'encoder_model_fp16.onnx'];
const MERGED_FILES = ['decoder_model_merged.onnx', 'decoder_model_merged_quantized.onnx', 'decoder_model_merged_fp16.onnx'];
const PAIR_FILES: [string, string][] = [
  ['decoder_model.onnx', 'decoder_with_past_model.onnx'],
  ['decoder_model_quantized.onnx', 'decoder_with_past_model_quantized.onnx'],
];

async function exists(file: string): Promise<boolean> {
  try {
    await access(file);
    return true;
  } catch {
    return false;
  }
}

async function firstExisting(dir: string, names: readonly string[]): Promise<string | undefined> {
  for (const sub of ['onnx', '.']) {
    for (const name of names) {
      const file = path.join(dir, sub, name);
      if (await exists(file)) return file;
    }
  }
  return undefined;
}

/** True when `dir` looks like a Marian translator folder (tokenizer files and an encoder). */
export async function isTranslatorFolder(dir: string): Promise<boolean> {
  return (
    (await exists(path.join(dir, 'source.spm'))) &&
    (await exists(path.join(dir, 'vocab.json'))) &&
    (await firstExisting(dir, ENCODER_FILES)) !== undefined
  );
}

async function readJson(file: string): Promise<Record<string, unknown>> {
  try {
    return JSON.parse(await readFile(file, 'utf-8')) as Record<string, unknown>;
  } catch {
    return {};
  }
}

/** Reads config.json and generation_config.json; Marian's values stand in for what they lack. */
export async function readGenerationConfig(dir: string, tokenizer: MarianTokenizer): Promise<MarianGenerationConfig> {
  const config = { ...(await readJson(path.join(dir, 'config.json'))), ...(await readJson(path.join(dir, 'generation_config.json'))) };
  const num = (key: string, fallback: number) => (typeof config[key] === 'number' ? (config[key] as number) : fallback);
  const pad = num('pad_token_id', tokenizer.special.pad);
  const bad = Array.isArray(config.bad_words_ids)
    ? (config.bad_words_ids as unknown[]).flatMap((w) => (Array.isArray(w) && w.length === 1 && typeof w[0] === 'number' ? [w[0]] : []))
    : [pad];
  return {
    decoderStartTokenId: num('decoder_start_token_id', pad),
    eosTokenId: num('eos_token_id', tokenizer.special.eos),
    padTokenId: pad,
    // Prompts are short; Marian's max_length (512) would let a looping model run for seconds.
    maxNewTokens: Math.min(num('max_length', 512), 256),
    bannedTokenIds: bad,
    ...(typeof config.decoder_attention_heads === 'number' && typeof config.d_model === 'number'
      ? { heads: config.decoder_attention_heads, headDim: config.d_model / config.decoder_attention_heads }
      : {}),
  };
}

/** A loaded opus-mt model: tokenizer + generator. Runs on the CPU: it is small and leaves the GPU to diffusion. */
export class MarianTranslator implements Translator {
  constructor(
    readonly dir: string,
    readonly tokenizer: MarianTokenizer,
    readonly generator: MarianGenerator,
  ) {}

  static async load(dir: string, options: SessionOptions = {}): Promise<MarianTranslator> {
    const tokenizer = await MarianTokenizer.fromFolder(dir);
    const encoderFile = await firstExisting(dir, ENCODER_FILES);
    if (!encoderFile)
      throw new ModelLoadError(`${dir} has no onnx/encoder_model.onnx; download the translator with: npm run models:pull -- opus-mt-zh-en`, dir);
    const mergedFile = await firstExisting(dir, MERGED_FILES);
    let first: string | undefined;
    let withPast: string | undefined;
    if (mergedFile) {
      first = withPast = mergedFile;
    } else {
      for (const [a, b] of PAIR_FILES) {
        const fa = await firstExisting(dir, [a]);
        const fb = await firstExisting(dir, [b]);
        if (fa && fb) {
          first = fa;
          withPast = fb;
          break;
        }
      }
    }
    if (!first || !withPast) {
      throw new ModelLoadError(
        `${dir} has no onnx/decoder_model_merged.onnx (nor decoder_model.onnx + decoder_with_past_model.onnx); re-download with: npm run models:pull -- opus-mt-zh-en`,
        dir,
      );
    }
    const encoder = await ModelSession.load(encoderFile, options);
    const firstSession = await ModelSession.load(first, options);
    const pastSession = withPast === first ? firstSession : await ModelSession.load(withPast, options);
    const generator = new MarianGenerator(encoder, firstSession, pastSession, await readGenerationConfig(dir, tokenizer));
    return new MarianTranslator(dir, tokenizer, generator);
  }

  async translate(text: string): Promise<string> {
    if (text.trim() === '') return text;
    return this.tokenizer.decode(await this.generator.generate(this.tokenizer.encode(text)));
  }

  async release(): Promise<void> {
    await this.generator.release();
  }
}
