/**
 * Long prompts as AUTOMATIC1111 reads them (modules/sd_hijack_clip.py, `tokenize_line`): the prompt is parsed for
 * attention (prompt-parser.ts), each weighted run is tokenized without BOS/EOS, and the tokens fill chunks of 75,
 * each sent to the text encoder on its own as `[BOS] + 75 + [EOS]` = 77 ids with one multiplier per id. The
 * encodings are then joined along the sequence axis, which the UNet's cross-attention takes at any length.
 *
 * Rules kept from A1111:
 * - a chunk that fills up with a comma among its last 20 tokens moves the text after that comma to the next chunk
 *   (`comma_padding_backtrack` = 20), so a phrase is not cut in two;
 * - BREAK ends the chunk (padding the rest);
 * - a textual-inversion embedding never straddles two chunks;
 * - padding is EOS with multiplier 1.0; on tokenizers whose pad id differs (SD 2.x, SDXL's second encoder) every id
 *   after the first EOS becomes the pad id, as A1111's `process_tokens` does;
 * - an empty prompt is one chunk `[BOS, EOS × 76]`.
 */
import { Identifiers, UserError } from '../../errors.js';
import { REQUEST_BOUNDS } from '../../protocol/generate-request.js';
import type { ClipTokenizer } from './clip-tokenizer.js';
import type { EmbeddingLookup, PromptEmbedding } from './embeddings.js';
import { isBreak, parsePromptAttention } from './prompt-parser.js';

/** Prompt tokens per chunk: CLIP's 77 positions less BOS and EOS. */
export const CHUNK_TOKENS = REQUEST_BOUNDS.promptChunks.tokens;
/** Ids per chunk as fed to the text encoder. */
export const CHUNK_LENGTH = CHUNK_TOKENS + 2;
/**
 * The most chunks one prompt may take (600 tokens). Each chunk is one text-encoder run and widens every UNet
 * cross-attention, so this bounds the cost of a single request; A1111 has no limit, but its UI counter stops
 * being useful long before this.
 */
export const MAX_PROMPT_CHUNKS = REQUEST_BOUNDS.promptChunks.max;
/** A1111's `comma_padding_backtrack` default: how far back a comma may be to move the tail to the next chunk. */
export const COMMA_BACKTRACK = 20;

/** One chunk, ready for the text encoder: 77 ids and the multiplier of each (1.0 on BOS, EOS and padding). */
export interface PromptChunk {
  ids: number[];
  multipliers: number[];
}

export interface ChunkedPrompt {
  /** At least one chunk. */
  chunks: PromptChunk[];
  /** A1111's token count: 75 per full chunk plus the tokens of the last one (the "N/75" counter of its UI). */
  tokenCount: number;
  /** The embeddings the prompt used, each once, in order of first use. */
  embeddings: PromptEmbedding[];
}

export interface ChunkOptions {
  /** Textual-inversion embeddings the prompt may name. */
  embeddings?: EmbeddingLookup;
  /** @default MAX_PROMPT_CHUNKS */
  maxChunks?: number;
  /** Names the text in the error message. @default 'prompt' */
  what?: 'prompt' | 'negative prompt';
}

type Item = { id: number } | { embedding: PromptEmbedding };

/**
 * Splits a prompt into A1111's 77-id chunks with per-token attention multipliers.
 * @throws UserError when the prompt needs more than `maxChunks` chunks, or names an embedding too long for a chunk.
 */
export function chunkPrompt(tokenizer: ClipTokenizer, prompt: string, options: ChunkOptions = {}): ChunkedPrompt {
  const what = options.what ?? 'prompt';
  const maxChunks = options.maxChunks ?? MAX_PROMPT_CHUNKS;
  const comma = tokenizer.tokenId(',</w>');
  const eos = tokenizer.eosTokenId;
  const chunks: PromptChunk[] = [];
  const used = new Map<string, PromptEmbedding>();
  let tokens: number[] = [];
  let multipliers: number[] = [];
  let tokenCount = 0;
  let lastComma = -1;

  const nextChunk = (isLast = false) => {
    tokenCount += isLast ? tokens.length : CHUNK_TOKENS;
    const ids = [tokenizer.bosTokenId, ...tokens, ...new Array<number>(CHUNK_TOKENS - tokens.length).fill(eos), eos];
    if (tokenizer.padTokenId !== eos) {
      // SD 2.x / OpenCLIP: the first EOS ends the text and everything after it is the pad id (A1111 process_tokens).
      const end = ids.indexOf(eos);
      ids.fill(tokenizer.padTokenId, end + 1);
    }
    chunks.push({ ids, multipliers: [1, ...multipliers, ...new Array<number>(CHUNK_TOKENS - multipliers.length).fill(1), 1] });
    tokens = [];
    multipliers = [];
    lastComma = -1;
  };

  for (const run of parsePromptAttention(prompt)) {
    if (isBreak(run)) {
      nextChunk();
      continue;
    }
    for (const item of runItems(tokenizer, run.text, options.embeddings)) {
      // An embedding takes A1111's path for the first token of its name: never a comma, so only the full-chunk
      // checks apply to it.
      if ('id' in item && item.id === comma) {
        lastComma = tokens.length;
      } else if (tokens.length === CHUNK_TOKENS && lastComma !== -1 && tokens.length - lastComma <= COMMA_BACKTRACK) {
        const at = lastComma + 1;
        const movedTokens = tokens.slice(at);
        const movedMultipliers = multipliers.slice(at);
        tokens = tokens.slice(0, at);
        multipliers = multipliers.slice(0, at);
        nextChunk();
        tokens = movedTokens;
        multipliers = movedMultipliers;
      }
      if (tokens.length === CHUNK_TOKENS) nextChunk();
      if ('id' in item) {
        tokens.push(item.id);
        multipliers.push(run.weight);
        continue;
      }
      const { embedding } = item;
      if (embedding.ids.length > CHUNK_TOKENS) {
        throw new UserError(
          Identifiers.PromptTooLong,
          `The embedding "${embedding.name}" has ${embedding.ids.length} vectors, more than the ${CHUNK_TOKENS} one chunk holds; remove it from the ${what}.`,
          { embedding: embedding.name },
        );
      }
      if (tokens.length + embedding.ids.length > CHUNK_TOKENS) nextChunk();
      used.set(embedding.name, embedding);
      for (const id of embedding.ids) {
        tokens.push(id);
        multipliers.push(run.weight);
      }
    }
  }
  if (tokens.length > 0 || chunks.length === 0) nextChunk(true);

  if (chunks.length > maxChunks) {
    throw new UserError(
      Identifiers.PromptTooLong,
      `Your ${what} needs ${chunks.length} chunks of ${CHUNK_TOKENS} tokens; the most is ${maxChunks} — shorten it.`,
      { chunks: chunks.length, maxChunks },
    );
  }
  return { chunks, tokenCount, embeddings: [...used.values()] };
}

// A word an embedding may be named by: anything between spaces and commas (names hold `-`, `_`, `.` and, for
// `embedding:name`, a colon; brackets were already taken out by the parser).
const WORD = /[^\s,]+/gu;
// Sentence punctuation after a name ("…, EasyNegative.") is not part of it.
const TRAILING_PUNCTUATION = /[.!?;:]+$/u;

/** The run's token ids, with each word that names an embedding replaced by the embedding's ids. */
function runItems(tokenizer: ClipTokenizer, text: string, lookup: EmbeddingLookup | undefined): Item[] {
  const items: Item[] = [];
  const pushText = (piece: string) => {
    for (const id of tokenizer.tokenizeWords(piece)) items.push({ id });
  };
  if (!lookup) {
    pushText(text);
    return items;
  }
  let done = 0;
  for (const match of text.matchAll(WORD)) {
    let word = match[0];
    let embedding = lookup.find(word);
    if (!embedding) {
      const bare = word.replace(TRAILING_PUNCTUATION, '');
      if (bare !== word && bare !== '') {
        embedding = lookup.find(bare);
        word = bare;
      }
    }
    if (!embedding) continue;
    // Splitting at whitespace or a comma does not change CLIP's words, so the text around tokenizes as it would whole.
    pushText(text.slice(done, match.index));
    items.push({ embedding });
    done = match.index + word.length;
  }
  pushText(text.slice(done));
  return items;
}
