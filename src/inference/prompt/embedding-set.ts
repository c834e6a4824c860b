/**
 * Textual-inversion embeddings for one text encoder of a loaded model. The ONNX text encoder takes only
 * `input_ids`, so an embedding's vectors become new rows of its token table (onnx-initializers.ts) and the prompt
 * refers to them by id. A grown encoder is a whole second copy of the text encoder (about 250 MB fp16, 500 MB
 * fp32 for SD 1.5), so grown sessions are cached per set of embeddings (in id order) and only a few are kept,
 * least recently used released first; a prompt without embeddings uses the model's own session.
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { ModelLoadError } from '../../errors.js';
import { externalDataFiles, findTokenEmbedding, growTokenEmbedding, readExternalTable } from '../model/onnx-initializers.js';
import type { LoadedModel } from '../model/loaded-model.js';
import { ModelSession, type SessionOptions } from '../model/session.js';
import { PromptEmbeddings, type EmbeddingSource } from './embeddings.js';

export interface EmbeddingSetOptions {
  /** The embeddings folder (EmbeddingLibrary) or any source of embedding files. */
  library: EmbeddingSource;
  /** The model's own text encoder: used as is when a prompt names no embedding. */
  textEncoder: ModelSession;
  /** Its model.onnx path: read again (not kept in memory) when a new set of embeddings needs a grown copy. */
  modelFile: string;
  /** Rows in the token table before growing: the tokenizer's vocabulary size (49,408 for CLIP). */
  vocabSize: number;
  /** This encoder's width (768 SD 1.x, 1024 SD 2.x). */
  width: number;
  /** All the model's text-encoder widths (SDXL: [768, 1280]). @default [width] */
  modelWidths?: readonly number[];
  sessionOptions?: SessionOptions;
  /** Grown sessions kept. @default 2 */
  cacheSize?: number;
  /** Reads model bytes; tests pass bytes held in memory. @default readFile(modelFile) */
  readModel?: () => Promise<Uint8Array>;
}

interface Grown {
  session: Promise<ModelSession>;
  pins: number;
  lastUsed: number;
}

export class EmbeddingSet {
  private readonly cache = new Map<string, Grown>();
  private clock = 0;

  constructor(private readonly options: EmbeddingSetOptions) {}

  /** A fresh lookup for one generation's prompts (positive and negative share it, and so share one encoder). */
  lookup(): PromptEmbeddings {
    const o = this.options;
    return new PromptEmbeddings(o.library, o.vocabSize, o.width, o.modelWidths ?? [o.width]);
  }

  /**
   * Runs `fn` with a text encoder that knows the ids `lookup` handed out: the model's own encoder when the
   * prompts used no embedding, else a grown one (built on first use, then cached). The session stays open while
   * `fn` runs even if other sets evict it from the cache meanwhile.
   */
  async withTextEncoder<T>(lookup: PromptEmbeddings, fn: (encoder: ModelSession) => Promise<T>): Promise<T> {
    if (lookup.used.length === 0) return fn(this.options.textEncoder);
    const key = lookup.key;
    let entry = this.cache.get(key);
    if (!entry) {
      entry = { session: this.grow(lookup), pins: 0, lastUsed: 0 };
      this.cache.set(key, entry);
      entry.session.catch(() => this.cache.delete(key));
    }
    entry.pins++;
    entry.lastUsed = ++this.clock;
    try {
      return await fn(await entry.session);
    } finally {
      entry.pins--;
      await this.evict();
    }
  }

  /** Number of grown sessions held (tests, and the memory report). */
  get cachedSessions(): number {
    return this.cache.size;
  }

  private async grow(lookup: PromptEmbeddings): Promise<ModelSession> {
    const o = this.options;
    const bytes = await (o.readModel ?? (() => readFile(o.modelFile).then((b) => new Uint8Array(b.buffer, b.byteOffset, b.byteLength))))();
    // A table kept in an external file (large exports) comes inline in the grown copy; the other external
    // initializers are handed to onnxruntime from memory, since a model made from bytes has no folder to look in.
    const info = findTokenEmbedding(bytes, o.modelFile);
    const table = info.external ? await readExternalTable(o.modelFile, info) : undefined;
    const grown = growTokenEmbedding(bytes, lookup.rows(), o.modelFile, table);
    if (grown.firstId !== lookup.firstId) {
      throw new ModelLoadError(
        `${o.modelFile}: the token table has ${grown.firstId} rows but the tokenizer has ${lookup.firstId} tokens; the tokenizer/ and text_encoder/ folders do not belong together`,
        o.modelFile,
      );
    }
    if (grown.info.width !== o.width) {
      throw new ModelLoadError(
        `${o.modelFile}: the token table is ${grown.info.width} wide but the encoder's output is ${o.width} wide`,
        o.modelFile,
      );
    }
    const files = externalDataFiles(grown.bytes, o.modelFile);
    const externalData = await Promise.all(
      files.map(async (location) => ({ path: location, data: new Uint8Array(await readFile(path.resolve(path.dirname(o.modelFile), location))) })),
    );
    return ModelSession.fromBytes(grown.bytes, o.modelFile, files.length ? { ...o.sessionOptions, externalData } : o.sessionOptions);
  }

  /** Releases least recently used grown sessions beyond cacheSize, skipping those in use. */
  private async evict(): Promise<void> {
    const limit = this.options.cacheSize ?? 2;
    const idle = [...this.cache.entries()].filter(([, e]) => e.pins === 0).sort((a, b) => a[1].lastUsed - b[1].lastUsed);
    while (this.cache.size > limit && idle.length > 0) {
      const [key, entry] = idle.shift()!;
      this.cache.delete(key);
      await entry.session.then(
        (s) => s.release(),
        () => {},
      );
    }
  }

  /** Releases every grown session (the model is being unloaded). */
  async release(): Promise<void> {
    const entries = [...this.cache.values()];
    this.cache.clear();
    await Promise.all(
      entries.map((e) =>
        e.session.then(
          (s) => s.release(),
          () => {},
        ),
      ),
    );
  }
}

/**
 * The EmbeddingSet of a loaded model's text encoder: vocabulary size from its tokenizer, width from the encoder's
 * `last_hidden_state` (else the UNet's context width). Release it with the model (`set.release()`).
 */
export function embeddingSetFor(
  model: Pick<LoadedModel, 'textEncoder' | 'tokenizer' | 'unetContract'>,
  library: EmbeddingSource,
  sessionOptions?: SessionOptions,
  cacheSize?: number,
): EmbeddingSet {
  const declared = model.textEncoder.outputs.get('last_hidden_state')?.shape[2];
  const width = typeof declared === 'number' && declared > 0 ? declared : model.unetContract.hiddenSize;
  return new EmbeddingSet({
    library,
    textEncoder: model.textEncoder,
    modelFile: model.textEncoder.file,
    vocabSize: model.tokenizer.vocabSize,
    width,
    sessionOptions,
    cacheSize,
  });
}
