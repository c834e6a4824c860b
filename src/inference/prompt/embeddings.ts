/**
 * The seam between the prompt chunker and textual-inversion embeddings. The chunker asks `find(word)` for each
 * word a user typed; an embedding comes back as the token ids it occupies in the text encoder's extended
 * vocabulary (ids ≥ the tokenizer's vocabulary size, rows appended to the encoder's token table by
 * EmbeddingSet in embedding-set.ts). The chunker counts `ids.length` toward the 75-token chunk and, as A1111
 * does, never splits an embedding across chunks.
 */
import type { EmbeddingFile } from './embedding-files.js';

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
  /** [ids.length × width] rows, row k for ids[k]. */
  rows: Float32Array;
}

/** What PromptEmbeddings needs from the library (EmbeddingLibrary, or a stub in tests). */
export interface EmbeddingSource {
  find(word: string): EmbeddingFile | undefined;
  /** The vectors for this encoder; throws a UserError when the embedding is for another model family. */
  vectorsFor(embedding: EmbeddingFile, width: number, modelWidths?: readonly number[]): Float32Array;
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
    /** The width of the encoder these ids are for. */
    readonly width: number,
    /** Widths of all the model's text encoders (SDXL: [768, 1280]), to refuse embeddings of another family. */
    readonly modelWidths: readonly number[] = [width],
  ) {
    this.nextId = firstId;
  }

  find(word: string): PromptEmbedding | undefined {
    const file = this.source.find(word);
    if (!file) return undefined;
    const seen = this.byFile.get(file.file);
    if (seen) return seen;
    const rows = this.source.vectorsFor(file, this.width, this.modelWidths);
    const count = rows.length / this.width;
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

  /** All rows of `used`, concatenated in id order: the rows to append to the token table. */
  rows(): Float32Array {
    const out = new Float32Array((this.nextId - this.firstId) * this.width);
    for (const u of this.used) out.set(u.rows, (u.ids[0] - this.firstId) * this.width);
    return out;
  }
}
