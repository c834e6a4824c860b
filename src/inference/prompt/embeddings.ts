/**
 * The seam between the prompt chunker and textual-inversion embeddings. The chunker asks `find(word)` for each
 * word a user typed; an embedding comes back as the token ids it occupies in the text encoder's extended
 * vocabulary (ids ≥ the tokenizer's vocabulary size, rows appended to the encoder's token table by
 * EmbeddingSet in embedding-set.ts). The chunker counts `ids.length` toward the 75-token chunk and, as A1111
 * does, never splits an embedding across chunks. SDXL's two encoders share the ids (both tokenizers have CLIP's
 * vocabulary): id k is row k of clip_l in text_encoder's table and row k of clip_g in text_encoder_2's.
 */
import type { EmbeddingFile, EncoderTarget } from './embedding-files.js';

/** A textual-inversion embedding as the chunker sees it: the token ids it occupies in the (extended) vocabulary. */
export interface PromptEmbedding {
  name: string;
  ids: readonly number[];
  hash: string;
}
/** Finds embeddings by the names users type (`EasyNegative`, `embedding:EasyNegative`). */
export interface EmbeddingLookup {
  find(word: string): PromptEmbedding | undefined;
}

/** An embedding a prompt used, with the vectors its ids stand for. */
export interface UsedEmbedding extends PromptEmbedding {
  file: EmbeddingFile;
  /** Per text encoder (in the model's order), [ids.length × width] rows, row k for ids[k]. */
  rows: readonly Float32Array[];
}

/** What PromptEmbeddings needs from the library (EmbeddingLibrary, or a stub in tests). */
export interface EmbeddingSource {
  find(word: string): EmbeddingFile | undefined;
  /** The vectors for each of the model's text encoders; throws a UserError when the embedding is for another model family. */
  vectorsFor(embedding: EmbeddingFile, encoders: readonly EncoderTarget[]): Float32Array[];
}

/** A lookup that never finds anything: models without embeddings, and tests of the chunker alone. */
export const NO_EMBEDDINGS: EmbeddingLookup = { find: () => undefined };

/**
 * The lookup for one generation (positive and negative prompt together): the first embedding found gets ids
 * firstId, firstId+1, …, the next one continues after it, and a name found twice keeps its ids. `used` then says
 * which rows the text encoder needs, in id order (EmbeddingSet.withTextEncoder builds it from that).
 * `hash` is A1111's shorthash (12 hex digits of the file's sha256), for "TI hashes" in infotexts.
 */
export class PromptEmbeddings implements EmbeddingLookup {
  private readonly byFile = new Map<string, UsedEmbedding>();
  private nextId: number;

  constructor(
    private readonly source: EmbeddingSource,
    /** The first free id: the text encoder's token-table rows (the tokenizer's vocabulary size, 49,408 for CLIP). */
    readonly firstId: number,
    /** The model's text encoders these ids are for: one on SD 1.x/2.x, clip_l and clip_g on SDXL. */
    readonly encoders: readonly EncoderTarget[],
  ) {
    this.nextId = firstId;
  }

  find(word: string): PromptEmbedding | undefined {
    const file = this.source.find(word);
    if (!file) return undefined;
    const seen = this.byFile.get(file.file);
    if (seen) return seen;
    const rows = this.source.vectorsFor(file, this.encoders);
    const count = rows[0].length / this.encoders[0].width;
    const ids = Array.from({ length: count }, (_, k) => this.nextId + k);
    this.nextId += count;
    const used: UsedEmbedding = { name: file.name, ids, hash: file.shorthash, file, rows };
    this.byFile.set(file.file, used);
    return used;
  }

  /** The embeddings found so far, in id order. */
  get used(): readonly UsedEmbedding[] {
    return [...this.byFile.values()];
  }

  /** Identifies the rows `used` needs: same key, same grown encoder (names in id order and each file's hash). */
  get key(): string {
    return this.used.map((u) => `${u.name}@${u.file.sha256}`).join('\n');
  }

  /** All rows of `used` for text encoder `encoder`, concatenated in id order: the rows to append to its token table. */
  rows(encoder = 0): Float32Array {
    const width = this.encoders[encoder].width;
    const out = new Float32Array((this.nextId - this.firstId) * width);
    for (const u of this.used) out.set(u.rows[encoder], (u.ids[0] - this.firstId) * width);
    return out;
  }
}

/**
 * A lookup that only counts: each embedding found gets as many ids (from `firstId` on) as it has vectors, without
 * checking that it fits a model. `imagine tokens --chunks` uses it, with a tokenizer alone, to show where
 * embeddings fall in the chunks exactly as a generation would place them.
 */
export class CountingEmbeddings implements EmbeddingLookup {
  private readonly byFile = new Map<string, PromptEmbedding>();
  private nextId: number;

  constructor(
    private readonly source: Pick<EmbeddingSource, 'find'>,
    firstId: number,
  ) {
    this.nextId = firstId;
  }

  find(word: string): PromptEmbedding | undefined {
    const file = this.source.find(word);
    if (!file) return undefined;
    let found = this.byFile.get(file.file);
    if (!found) {
      found = { name: file.name, ids: Array.from({ length: file.count }, (_, k) => this.nextId + k), hash: file.shorthash };
      this.nextId += file.count;
      this.byFile.set(file.file, found);
    }
    return found;
  }
}
