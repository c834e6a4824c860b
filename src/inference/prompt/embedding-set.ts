/**
 * Textual-inversion embeddings for the text encoders of a loaded model (one on SD 1.x/2.x, two on SDXL). The ONNX
 * text encoder takes only `input_ids`, so an embedding's vectors become new rows of its token table
 * (onnx-initializers.ts) and the prompt refers to them by id; on SDXL the same ids index clip_l rows in
 * text_encoder's table and clip_g rows in text_encoder_2's. A grown encoder is a whole second copy of the text
 * encoder (about 250 MB fp16, 500 MB fp32 for SD 1.5; SDXL adds text_encoder_2, about 1.4 GB fp16), so grown
 * encoders are cached per set of embeddings (in id order) and only a few sets are kept, least recently used
 * released first; a prompt without embeddings uses the model's own sessions.
 *
 * SDXL's pooled embedding: A1111 and diffusers take text_encoder_2's pooled output at the EOS token. transformers'
 * CLIP finds that position as `input_ids.argmax(-1)` when the config has the legacy eos_token_id 2 (SDXL's
 * text_encoder_2 has it, and exports keep that ArgMax), which holds only while EOS (49407) is the highest id. The
 * embeddings' ids are above it, so such an encoder would pool at the embedding instead. Each grown pooled encoder is
 * therefore probed (poolsAtHighestId); when it pools at the highest id, its table gets one more row, a copy of
 * EOS's, above the embeddings, and the prompt feeds that id where the tokenizer put EOS: the same vector at the same
 * position, now also the highest id. Encoders that pool at the first EOS (newer exports) are fed unchanged.
 */
import { readFile, readdir, stat } from 'node:fs/promises';
import path from 'node:path';
import { ModelLoadError } from '../../errors.js';
import { readExternalData } from '../model/external-data.js';
import { findTokenEmbedding, growTokenEmbedding, readExternalTable, readTokenEmbeddingRow } from '../model/onnx-initializers.js';
import type { LoadedModel } from '../model/loaded-model.js';
import { ModelSession, type SessionOptions } from '../model/session.js';
import type { EncoderTarget } from './embedding-files.js';
import { PromptEmbeddings, type EmbeddingSource } from './embeddings.js';

/** One of the model's text encoders, as EmbeddingSet grows it. */
export interface GrowableEncoder {
  /** The model's own encoder: used as is when a prompt names no embedding. */
  session: ModelSession;
  /** Its model.onnx path: read again (not kept in memory) when a new set of embeddings needs a grown copy. */
  modelFile: string;
  /** Its token table's width and, on SDXL, which half of an SDXL embedding it takes. */
  target: EncoderTarget;
  /**
   * The pooled output the UNet reads from this encoder (SDXL's text_encoder_2: `text_embeds`) and the tokenizer's
   * BOS and EOS ids: its grown copies are probed for where they pool (see the file comment).
   */
  pooled?: { output: string; bosId: number; eosId: number };
  /** Reads model bytes; tests pass bytes held in memory. @default readFile(modelFile) */
  readModel?: () => Promise<Uint8Array>;
}

export interface EmbeddingSetOptions {
  /** The embeddings folder (EmbeddingLibrary) or any source of embedding files. */
  library: EmbeddingSource;
  /** The model's text encoders, in the model's order (SDXL: text_encoder, then text_encoder_2). */
  encoders: readonly GrowableEncoder[];
  /** Rows in each token table before growing: the tokenizer's vocabulary size (49,408 for CLIP). */
  vocabSize: number;
  sessionOptions?: SessionOptions;
  /** Sets of grown encoders kept. @default 2 */
  cacheSize?: number;
  /** External weight files above this many bytes are handed to onnxruntime in pieces (tests lower it). @default 2 GiB */
  maxPiece?: number;
  /**
   * Called with the bytes a new set of grown encoders will take before it is built, so the owner can free memory
   * (the engine unloads other models to stay within MODEL_MEMORY_BUDGET_MIB). The estimate is the size of the
   * encoders' folders (their model.onnx and external weights): a grown copy holds as much again.
   */
  reserve?: (bytes: number) => Promise<void>;
}

/** A text encoder for one job's prompts: the model's own, or a grown copy. */
export interface JobTextEncoder {
  session: ModelSession;
  /** Feed `id` where the tokenizer put `eos` (a copy of EOS's row above the embeddings; see the file comment). */
  eosStandIn?: { eos: number; id: number };
}

/** The ids to feed `encoder` for a tokenizer's chunk `ids`. */
export function inputIdsFor(encoder: JobTextEncoder, ids: readonly number[]): Int32Array {
  const out = Int32Array.from(ids);
  const standIn = encoder.eosStandIn;
  if (standIn) for (let i = 0; i < out.length; i++) if (out[i] === standIn.eos) out[i] = standIn.id;
  return out;
}

interface Grown {
  encoders: Promise<JobTextEncoder[]>;
  /** Bytes the grown copies hold (their model bytes and external weights), once built. */
  bytes: number;
  pins: number;
  lastUsed: number;
}

export class EmbeddingSet {
  private readonly cache = new Map<string, Grown>();
  private clock = 0;

  constructor(private readonly options: EmbeddingSetOptions) {}

  /** A fresh lookup for one generation's prompts (positive and negative share it, and so share grown encoders). */
  lookup(): PromptEmbeddings {
    const o = this.options;
    return new PromptEmbeddings(
      o.library,
      o.vocabSize,
      o.encoders.map((e) => e.target),
    );
  }

  /**
   * Runs `fn` with text encoders that know the ids `lookup` handed out, one per model encoder in order: the model's
   * own when the prompts used no embedding, else grown ones (built on first use, then cached). The sessions stay
   * open while `fn` runs even if other sets evict them from the cache meanwhile.
   */
  async withTextEncoders<T>(lookup: PromptEmbeddings, fn: (encoders: readonly JobTextEncoder[]) => Promise<T>): Promise<T> {
    if (lookup.used.length === 0) return fn(this.options.encoders.map((e) => ({ session: e.session })));
    const key = lookup.key;
    let entry = this.cache.get(key);
    if (!entry) {
      const grown: Grown = { encoders: Promise.resolve([]), bytes: 0, pins: 0, lastUsed: 0 };
      grown.encoders = this.grow(lookup, grown);
      entry = grown;
      this.cache.set(key, entry);
      entry.encoders.catch(() => this.cache.delete(key));
    }
    entry.pins++;
    entry.lastUsed = ++this.clock;
    try {
      return await fn(await entry.encoders);
    } finally {
      entry.pins--;
      await this.evict();
    }
  }

  /** Number of grown sets held (tests, and the memory report). */
  get cachedSessions(): number {
    return this.cache.size;
  }

  /** Bytes the grown encoders hold now (the engine counts them against the model memory budget). */
  get heldBytes(): number {
    let total = 0;
    for (const entry of this.cache.values()) total += entry.bytes;
    return total;
  }

  /** Grows every encoder in turn (one model file in memory at a time); a failure releases those already built. */
  private async grow(lookup: PromptEmbeddings, entry: Grown): Promise<JobTextEncoder[]> {
    if (this.options.reserve) {
      const sizes = await Promise.all(this.options.encoders.map((e) => folderBytes(path.dirname(e.modelFile))));
      await this.options.reserve(sizes.reduce((a, b) => a + b, 0));
    }
    const built: JobTextEncoder[] = [];
    try {
      for (const [index, encoder] of this.options.encoders.entries()) {
        const grown = await this.growOne(encoder, index, lookup);
        entry.bytes += grown.bytes;
        built.push(grown.encoder);
      }
      return built;
    } catch (error) {
      await Promise.all(built.map((b) => b.session.release()));
      throw error;
    }
  }

  private async growOne(o: GrowableEncoder, index: number, lookup: PromptEmbeddings): Promise<{ encoder: JobTextEncoder; bytes: number }> {
    const file = o.modelFile;
    const bytes = await (o.readModel ?? (() => readFile(file).then((b) => new Uint8Array(b.buffer, b.byteOffset, b.byteLength))))();
    // A table kept in an external file (large exports) comes inline in the grown copy; the other external
    // initializers are handed to onnxruntime from memory, since a model made from bytes has no folder to look in.
    const info = findTokenEmbedding(bytes, file);
    const table = info.external ? await readExternalTable(file, info) : undefined;
    if (info.width !== o.target.width) {
      throw new ModelLoadError(`${file}: the token table is ${info.width} wide but the encoder's output is ${o.target.width} wide`, file);
    }
    let rows = lookup.rows(index);
    // The EOS copy's id, right after the embeddings' (unused when the encoder pools at the first EOS).
    const standInId = lookup.firstId + rows.length / info.width;
    if (o.pooled) {
      const withEos = new Float32Array(rows.length + info.width);
      withEos.set(rows);
      withEos.set(readTokenEmbeddingRow(bytes, o.pooled.eosId, file, table), rows.length);
      rows = withEos;
    }
    const grown = growTokenEmbedding(bytes, rows, file, table);
    if (grown.firstId !== lookup.firstId) {
      throw new ModelLoadError(
        `${file}: the token table has ${grown.firstId} rows but the tokenizer has ${lookup.firstId} tokens; the tokenizer and this text encoder do not belong together`,
        file,
      );
    }
    // The model's other external weights (an fp32 SDXL text_encoder_2 keeps 2.8 GB in model.onnx_data) come from memory.
    const { bytes: model, external } = await readExternalData(
      grown.bytes,
      file,
      (tensor) => new ModelLoadError(`${file}: "${tensor}" is over the 4 GiB one in-memory buffer can hold; embeddings cannot be added`, file),
      this.options.maxPiece,
    );
    const sessionOptions = this.options.sessionOptions;
    const externalData = [...external].map(([location, data]) => ({ path: location, data }));
    const session = await ModelSession.fromBytes(model, file, externalData.length ? { ...sessionOptions, externalData } : sessionOptions);
    const held = model.byteLength + externalData.reduce((sum, e) => sum + e.data.byteLength, 0);
    if (!o.pooled) return { encoder: { session }, bytes: held };
    try {
      const highest = await poolsAtHighestId(session, o.pooled, lookup.firstId);
      return { encoder: highest ? { session, eosStandIn: { eos: o.pooled.eosId, id: standInId } } : { session }, bytes: held };
    } catch (error) {
      await session.release();
      throw error;
    }
  }

  /** Releases least recently used grown sets beyond cacheSize, skipping those in use. */
  private async evict(): Promise<void> {
    const limit = this.options.cacheSize ?? 2;
    const idle = [...this.cache.entries()].filter(([, e]) => e.pins === 0).sort((a, b) => a[1].lastUsed - b[1].lastUsed);
    while (this.cache.size > limit && idle.length > 0) {
      const [key, entry] = idle.shift()!;
      this.cache.delete(key);
      await releaseAll(entry.encoders);
    }
  }

  /** Releases every grown encoder (the model is being unloaded). */
  async release(): Promise<void> {
    const entries = [...this.cache.values()];
    this.cache.clear();
    await Promise.all(entries.map((e) => releaseAll(e.encoders)));
  }
}

/** The bytes of the files directly in `dir` (an encoder's model.onnx and its external weights); 0 when unreadable. */
async function folderBytes(dir: string): Promise<number> {
  const entries = await readdir(dir, { withFileTypes: true }).catch(() => []);
  const sizes = await Promise.all(
    entries
      .filter((e) => e.isFile())
      .map((e) =>
        stat(path.join(dir, e.name)).then(
          (s) => s.size,
          () => 0,
        ),
      ),
  );
  return sizes.reduce((a, b) => a + b, 0);
}

async function releaseAll(encoders: Promise<JobTextEncoder[]>): Promise<void> {
  await encoders.then(
    (list) => Promise.all(list.map((e) => e.session.release())),
    () => {},
  );
}

/** Tokens per probe: one CLIP chunk (some exports fix the sequence axis at 77). */
const PROBE_LENGTH = 77;

/**
 * Whether a grown encoder's pooled output is taken at the highest token id (`input_ids.argmax(-1)`) rather than at
 * the first EOS. Two inputs that differ only after an embedding id tell them apart: [BOS, e, EOS, 0, …] and
 * [BOS, e, 0, …]. Pooling at the highest id picks position 1 in both, whose state a causal encoder computes from
 * positions 0–1 alone, so the outputs match; pooling at the first EOS picks position 2 in one and position 0 (no
 * EOS: the argmax of all-false) in the other, so they differ.
 */
export async function poolsAtHighestId(
  session: ModelSession,
  pooled: { output: string; bosId: number; eosId: number },
  embeddingId: number,
): Promise<boolean> {
  const run = async (third: number) => {
    const ids = new Int32Array(PROBE_LENGTH);
    ids.set([pooled.bosId, embeddingId, third]);
    const out = await session.run({ input_ids: { data: ids, dims: [1, PROBE_LENGTH] } }, [pooled.output]);
    return out[pooled.output].data;
  };
  const withEos = await run(pooled.eosId);
  const without = await run(0);
  let scale = 0;
  let diff = 0;
  for (let i = 0; i < withEos.length; i++) {
    scale = Math.max(scale, Math.abs(withEos[i]), Math.abs(without[i]));
    diff = Math.max(diff, Math.abs(withEos[i] - without[i]));
  }
  // fp16 encoders on a GPU need not repeat a position bit for bit; different positions differ by far more.
  return diff <= 1e-3 * scale + 1e-6;
}

/** A fixed dimension of an output, else undefined (symbolic). */
function declaredWidth(session: ModelSession, output: string): number | undefined {
  const dim = session.outputs.get(output)?.shape[2];
  return typeof dim === 'number' && dim > 0 ? dim : undefined;
}

/**
 * The EmbeddingSet of a loaded model: vocabulary size from its tokenizer; each encoder's width from its declared
 * outputs (else the UNet's context width, split on SDXL). SDXL's text_encoder takes clip_l and text_encoder_2 clip_g,
 * whose pooled `text_embeds` is probed after growing. Release it with the model (`set.release()`).
 */
export function embeddingSetFor(
  model: Pick<LoadedModel, 'textEncoder' | 'tokenizer' | 'unetContract' | 'sdxl'>,
  library: EmbeddingSource,
  sessionOptions?: SessionOptions,
  cacheSize?: number,
  reserve?: EmbeddingSetOptions['reserve'],
): EmbeddingSet {
  const sdxl = model.sdxl;
  const hidden = model.unetContract.hiddenSize;
  if (!sdxl) {
    const width = declaredWidth(model.textEncoder, 'last_hidden_state') ?? hidden;
    return new EmbeddingSet({
      library,
      encoders: [{ session: model.textEncoder, modelFile: model.textEncoder.file, target: { width } }],
      vocabSize: model.tokenizer.vocabSize,
      sessionOptions,
      cacheSize,
      ...(reserve ? { reserve } : {}),
    });
  }
  const widthOf = (session: ModelSession, hiddenState: string) => declaredWidth(session, hiddenState) ?? declaredWidth(session, 'last_hidden_state');
  const declared1 = widthOf(model.textEncoder, sdxl.hiddenState1);
  const declared2 = widthOf(sdxl.textEncoder2, sdxl.hiddenState2);
  // The UNet's context is the two widths side by side (768 + 1280), so one declared width gives the other.
  const width1 = declared1 ?? (declared2 !== undefined ? hidden - declared2 : 768);
  const width2 = declared2 ?? hidden - width1;
  const tokenizer2 = sdxl.tokenizer2;
  return new EmbeddingSet({
    library,
    encoders: [
      { session: model.textEncoder, modelFile: model.textEncoder.file, target: { width: width1, part: 'clip_l' } },
      {
        session: sdxl.textEncoder2,
        modelFile: sdxl.textEncoder2.file,
        target: { width: width2, part: 'clip_g' },
        pooled: { output: 'text_embeds', bosId: tokenizer2.bosTokenId, eosId: tokenizer2.eosTokenId },
      },
    ],
    vocabSize: model.tokenizer.vocabSize,
    sessionOptions,
    cacheSize,
    ...(reserve ? { reserve } : {}),
  });
}
