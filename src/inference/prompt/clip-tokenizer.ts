import { readFile } from 'node:fs/promises';
import path from 'node:path';

import { ModelLoadError } from '../../errors.js';
import { PY_SPACE, textCleanup } from './text-cleanup.js';

// Port of OpenAI's CLIP tokenizer (openai/CLIP clip/simple_tokenizer.py, `SimpleTokenizer`), reading the
// Hugging Face files (`vocab.json`, `merges.txt`) that a diffusers model folder ships in `tokenizer/`, as
// transformers' `CLIPTokenizer` does (models/clip/tokenization_clip.py). docs/tokenizer.md lists where it differs.

/** CLIP's context length: the text encoder's position embeddings cover 77 tokens, BOS and EOS included. */
export const CLIP_MAX_LENGTH = 77;

const BOS_TOKEN = '<|startoftext|>';
const EOS_TOKEN = '<|endoftext|>';
const END_OF_WORD = '</w>';

// How many distinct words keep their BPE result. A prompt has a few dozen words and a server sees a vocabulary of
// some thousands, so this keeps every common word while bounding memory in a bot that runs for months (OpenAI's
// cache is unbounded).
const WORD_CACHE_LIMIT = 20_000;

// OpenAI's `pat`, compiled in Python with regex.IGNORECASE. The `u` flag gives \p{} and, like Python, simple case
// folding under `i` (so `'s` also matches "'ſ"). Python's \s replaces JavaScript's, which differs (see PY_SPACE).
const WORD_PATTERN = new RegExp(
  `<\\|startoftext\\|>|<\\|endoftext\\|>|'s|'t|'re|'ve|'m|'ll|'d|[\\p{L}]+|[\\p{N}]|[^${PY_SPACE}\\p{L}\\p{N}]+`,
  'giu',
);

// GPT-2's `bytes_to_unicode` (also in simple_tokenizer.py): printable Latin-1 bytes stand for themselves and the
// other 68 bytes (controls, space, soft hyphen…) map to U+0100 onwards, so every byte is a visible character.
const BYTE_TO_CHAR: string[] = [];
const CHAR_TO_BYTE = new Map<string, number>();
{
  let next = 0;
  for (let byte = 0; byte < 256; byte++) {
    const printable = (byte >= 0x21 && byte <= 0x7e) || (byte >= 0xa1 && byte <= 0xac) || byte >= 0xae;
    const char = String.fromCharCode(printable ? byte : 256 + next++);
    BYTE_TO_CHAR[byte] = char;
    CHAR_TO_BYTE.set(char, byte);
  }
}

const utf8Encoder = new TextEncoder();
const utf8Decoder = new TextDecoder('utf-8');

/** Options shared by {@link ClipTokenizer.fromFolder} and {@link ClipTokenizer.fromData}. */
export interface ClipTokenizerOptions {
  /**
   * The id `encodePadded` fills with; overrides the tokenizer files. SD 1.x pads with `<|endoftext|>` (49407),
   * SD 2.x and SDXL's second encoder with `!` (0).
   * @default the `pad_token` of special_tokens_map.json or tokenizer_config.json, else `<|endoftext|>`
   */
  padTokenId?: number;
}

/** The ids of one prompt, wrapped in BOS and EOS and cut to the window, not padded. */
export interface ClipEncoding {
  /** `[BOS, ...tokens, EOS]`, at most `maxLength` long. */
  ids: number[];
  /** How many ids the whole prompt needs, BOS and EOS included: more than `maxLength` when truncated. */
  count: number;
  /** Whether tokens were dropped to fit `maxLength`. */
  truncated: boolean;
  /** How many prompt tokens were dropped (`count - ids.length`). */
  droppedTokens: number;
  /** The dropped tokens decoded back to (cleaned, lower-case) text, so the user can see what was cut; '' when none. */
  droppedText: string;
}

/** {@link ClipEncoding} padded to a fixed length, ready to feed the text encoder's `input_ids`. */
export interface ClipPaddedEncoding extends Omit<ClipEncoding, 'ids'> {
  inputIds: Int32Array;
}

/** Where the data came from, so a problem is reported as a ModelLoadError naming the file or as a TypeError. */
interface Source {
  vocab: string;
  merges: string;
  fail(message: string, file: string): never;
  /** Folder loads also require the 512 byte-level tokens, which a small hand-made test vocabulary leaves out. */
  requireByteTokens: boolean;
}

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  return typeof value === 'string' ? `the string ${JSON.stringify(value)}` : `${typeof value} ${String(value)}`;
}

function checkLength(value: unknown, name: string): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 2) {
    throw new TypeError(`Expected \`${name}\` to be an integer of at least 2 (room for BOS and EOS), got \`${String(value)}\` (${typeof value})`);
  }
  return value;
}

function checkText(text: unknown): string {
  if (typeof text !== 'string') throw new TypeError(`Expected \`text\` to be a string, got ${describe(text)}`);
  return text;
}

function parseVocab(value: unknown, source: Source): Map<string, number> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    source.fail(`${source.vocab} must be a JSON object mapping each token to its id, got ${describe(value)}.`, source.vocab);
  }
  const vocab = new Map<string, number>();
  const owner: string[] = [];
  // for-in rather than Object.entries: no 49,408 two-element arrays on the way to the Map.
  for (const token in value) {
    const id: unknown = (value as Record<string, unknown>)[token];
    if (typeof id !== 'number' || !Number.isInteger(id) || id < 0) {
      source.fail(`${source.vocab}: token ${JSON.stringify(token)} has id ${describe(id)}; ids must be non-negative integers.`, source.vocab);
    }
    if (owner[id] !== undefined) {
      source.fail(
        `${source.vocab}: tokens ${JSON.stringify(owner[id])} and ${JSON.stringify(token)} both have id ${id}; each id must belong to one token.`,
        source.vocab,
      );
    }
    owner[id] = token;
    vocab.set(token, id);
  }
  for (const special of [BOS_TOKEN, EOS_TOKEN]) {
    if (!vocab.has(special)) {
      source.fail(`${source.vocab} has no ${special} token, so it is not a CLIP vocabulary.`, source.vocab);
    }
  }
  if (source.requireByteTokens) {
    const missing = BYTE_TO_CHAR.flatMap((char) => [char, char + END_OF_WORD]).filter((token) => !vocab.has(token));
    if (missing.length > 0) {
      source.fail(
        `${source.vocab} lacks ${missing.length} of the 512 byte-level CLIP tokens (first: ${JSON.stringify(missing[0])}), ` +
          'so it is not a CLIP BPE vocabulary; GPT-2 style vocabularies, for one, have no </w> tokens.',
        source.vocab,
      );
    }
  }
  return vocab;
}

function parseMerges(merges: string | readonly string[], source: Source): Map<string, number> {
  const lines = typeof merges === 'string' ? merges.split('\n') : merges;
  const ranks = new Map<string, number>();
  let rank = 0;
  for (let index = 0; index < lines.length; index++) {
    let line = lines[index];
    if (line.endsWith('\r')) line = line.slice(0, -1);
    // The header line ("#version: 0.2") is not a merge; transformers and OpenAI both skip it.
    if (line === '' || (index === 0 && line.startsWith('#version'))) continue;
    // indexOf rather than split(' '): no array per line, which is a third of the load time of the real file.
    const space = line.indexOf(' ');
    if (space <= 0 || space === line.length - 1 || line.indexOf(' ', space + 1) !== -1) {
      source.fail(`${source.merges} line ${index + 1}: expected two tokens separated by one space, got ${JSON.stringify(line)}.`, source.merges);
    }
    // A pair listed twice keeps its later rank, as Python's dict(zip(merges, range(len(merges)))) does.
    ranks.set(line, rank++);
  }
  return ranks;
}

/** `pad_token` may be a string or an AddedToken object (`{"content": "!", ...}`), or null when unset. */
function padTokenName(config: unknown, file: string, source: Source): string | undefined {
  if (typeof config !== 'object' || config === null || Array.isArray(config)) {
    source.fail(`${file} must be a JSON object, got ${describe(config)}.`, file);
  }
  const value = (config as Record<string, unknown>).pad_token;
  if (value === undefined || value === null) return undefined;
  if (typeof value === 'string') return value;
  if (typeof value === 'object' && typeof (value as Record<string, unknown>).content === 'string') {
    return (value as { content: string }).content;
  }
  source.fail(`${file}: pad_token must be a token string or an object with a string "content", got ${describe(value)}.`, file);
}

async function readOptional(file: string): Promise<string | undefined> {
  try {
    return await readFile(file, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new ModelLoadError(`Cannot read ${file}: ${(error as Error).message}`, file, { cause: error });
  }
}

function parseJson(text: string, file: string, source: Source): unknown {
  try {
    return JSON.parse(text);
  } catch (error) {
    source.fail(`${file} is not valid JSON (${(error as Error).message}).`, file);
  }
}

/**
 * OpenAI's CLIP BPE tokenizer over a Hugging Face `vocab.json` + `merges.txt`: the same clean-up (ftfy, HTML
 * entities, whitespace, lower case), the same word split and the same merges, so the same ids.
 *
 * @example
 * const tokenizer = await ClipTokenizer.fromFolder(path.join(modelDir, 'tokenizer'));
 * const { inputIds, truncated, droppedText } = tokenizer.encodePadded(prompt);
 */
export class ClipTokenizer {
  /** Id of `<|startoftext|>`, first in every encoding (49406 in CLIP). */
  readonly bosTokenId: number;
  /** Id of `<|endoftext|>`, last in every encoding (49407 in CLIP); also stands for tokens missing from the vocabulary. */
  readonly eosTokenId: number;
  /** The id `encodePadded` fills with: 49407 for SD 1.x, 0 (`!`) for SD 2.x. */
  readonly padTokenId: number;
  /** Number of tokens in the vocabulary (49,408 in CLIP). */
  readonly vocabSize: number;

  private readonly encoder: Map<string, number>;
  private readonly decoder: string[];
  private readonly ranks: Map<string, number>;
  private readonly wordCache = new Map<string, readonly number[]>();

  private constructor(encoder: Map<string, number>, ranks: Map<string, number>, padTokenId: number) {
    this.encoder = encoder;
    this.ranks = ranks;
    this.decoder = [];
    for (const [token, id] of encoder) this.decoder[id] = token;
    this.vocabSize = encoder.size;
    this.bosTokenId = encoder.get(BOS_TOKEN)!;
    this.eosTokenId = encoder.get(EOS_TOKEN)!;
    this.padTokenId = padTokenId;
  }

  /**
   * Loads a diffusers `tokenizer/` folder: `vocab.json` and `merges.txt`, and the pad token from
   * `special_tokens_map.json` or else `tokenizer_config.json` when present.
   * @throws ModelLoadError naming the file when a file is missing, unreadable or malformed.
   */
  static async fromFolder(tokenizerDir: string, options: ClipTokenizerOptions = {}): Promise<ClipTokenizer> {
    const vocabFile = path.join(tokenizerDir, 'vocab.json');
    const mergesFile = path.join(tokenizerDir, 'merges.txt');
    const source: Source = {
      vocab: vocabFile,
      merges: mergesFile,
      requireByteTokens: true,
      fail(message, file) {
        throw new ModelLoadError(message, file);
      },
    };
    const specialFile = path.join(tokenizerDir, 'special_tokens_map.json');
    const configFile = path.join(tokenizerDir, 'tokenizer_config.json');
    const [vocabText, mergesText, specialText, configText] = await Promise.all([vocabFile, mergesFile, specialFile, configFile].map(readOptional));
    for (const [text, file] of [
      [vocabText, vocabFile],
      [mergesText, mergesFile],
    ] as const) {
      if (text === undefined) {
        source.fail(
          `Missing tokenizer file ${file}: a CLIP tokenizer folder needs vocab.json and merges.txt (the diffusers tokenizer/ layout).`,
          file,
        );
      }
    }
    const vocab = parseVocab(parseJson(vocabText!, vocabFile, source), source);
    const ranks = parseMerges(mergesText!, source);
    if (ranks.size === 0) source.fail(`${mergesFile} has no merges: expected one "first second" pair per line after "#version".`, mergesFile);

    let padTokenId = options.padTokenId;
    if (padTokenId === undefined) {
      // transformers lets special_tokens_map.json override tokenizer_config.json, so it is read first.
      for (const [text, file] of [
        [specialText, specialFile],
        [configText, configFile],
      ] as const) {
        if (text === undefined) continue;
        const pad = padTokenName(parseJson(text, file, source), file, source);
        if (pad === undefined) continue;
        const id = vocab.get(pad);
        if (id === undefined) source.fail(`${file}: pad_token ${JSON.stringify(pad)} is not in ${vocabFile}.`, file);
        padTokenId = id;
        break;
      }
    }
    return ClipTokenizer.create(vocab, ranks, padTokenId);
  }

  /**
   * Builds a tokenizer from data in memory, for tests with a hand-made vocabulary. `merges` is the text of a
   * merges.txt or its lines; a leading `#version` line is skipped. The vocabulary must hold `<|startoftext|>` and
   * `<|endoftext|>`; tokens it lacks encode as `<|endoftext|>`.
   * @throws TypeError when the data is malformed.
   */
  static fromData(vocab: Record<string, number>, merges: string | readonly string[], options: ClipTokenizerOptions = {}): ClipTokenizer {
    const source: Source = {
      vocab: 'vocab',
      merges: 'merges',
      requireByteTokens: false,
      fail(message) {
        throw new TypeError(message);
      },
    };
    if (typeof merges !== 'string' && !Array.isArray(merges)) {
      throw new TypeError(`Expected \`merges\` to be the text of merges.txt or an array of its lines, got ${describe(merges)}`);
    }
    return ClipTokenizer.create(parseVocab(vocab, source), parseMerges(merges, source), options.padTokenId);
  }

  private static create(vocab: Map<string, number>, ranks: Map<string, number>, padTokenId: number | undefined): ClipTokenizer {
    const tokenizer = new ClipTokenizer(vocab, ranks, padTokenId ?? vocab.get(EOS_TOKEN)!);
    if (!Number.isInteger(tokenizer.padTokenId) || tokenizer.decoder[tokenizer.padTokenId] === undefined) {
      throw new TypeError(`Expected \`padTokenId\` to be an id in the vocabulary, got \`${String(padTokenId)}\` (${typeof padTokenId})`);
    }
    return tokenizer;
  }

  /**
   * The BPE tokens of a prompt after clean-up, without BOS and EOS, e.g. "a photo" → ["a</w>", "photo</w>"].
   */
  tokenize(text: string): string[] {
    const tokens: string[] = [];
    // Not cached (the cache holds ids): this is for showing tokens, not for the generation path. A token missing
    // from the vocabulary shows as itself here, though it encodes as <|endoftext|>.
    for (const [word] of textCleanup(checkText(text)).matchAll(WORD_PATTERN)) {
      if (word === BOS_TOKEN || word === EOS_TOKEN) tokens.push(word);
      else tokens.push(...this.bpe(word));
    }
    return tokens;
  }

  /**
   * Encodes a prompt as `[BOS, ...tokens, EOS]`, not padded. A prompt longer than `maxLength` keeps its first
   * `maxLength - 2` tokens and still ends with EOS, as `clip.tokenize(truncate=True)` and transformers do; the
   * result says how much was cut.
   */
  encode(text: string, maxLength: number = CLIP_MAX_LENGTH): ClipEncoding {
    checkLength(maxLength, 'maxLength');
    const tokens = this.promptIds(text);
    const room = maxLength - 2;
    const truncated = tokens.length > room;
    const kept = truncated ? tokens.slice(0, room) : tokens;
    const dropped = truncated ? tokens.slice(room) : [];
    return {
      ids: [this.bosTokenId, ...kept, this.eosTokenId],
      count: tokens.length + 2,
      truncated,
      droppedTokens: dropped.length,
      droppedText: truncated ? this.decode(dropped).trim() : '',
    };
  }

  /**
   * The ids of a piece of prompt without BOS and EOS and without any length limit, as transformers'
   * `tokenizer(text, add_special_tokens=False, truncation=False)`: what the long-prompt chunker (prompt-chunks.ts)
   * tokenizes each weighted run with.
   */
  tokenizeWords(text: string): number[] {
    return this.promptIds(text);
  }

  /** The id of one vocabulary token such as `",</w>"`, or undefined when the vocabulary lacks it. */
  tokenId(token: string): number | undefined {
    return this.encoder.get(token);
  }

  /** {@link encode}, then padded with {@link padTokenId} to exactly `length` ids. */
  encodePadded(text: string, length: number = CLIP_MAX_LENGTH): ClipPaddedEncoding {
    const { ids, ...rest } = this.encode(text, length);
    const inputIds = new Int32Array(length).fill(this.padTokenId);
    inputIds.set(ids);
    return { inputIds, ...rest };
  }

  /**
   * Turns ids back into text as OpenAI's `decode` does: each `</w>` becomes a space (so the text ends with one)
   * and BOS/EOS appear as `<|startoftext|>`/`<|endoftext|>` unless `skipSpecialTokens` is set.
   */
  decode(ids: readonly number[], options: { skipSpecialTokens?: boolean } = {}): string {
    const bytes: number[] = [];
    for (const id of ids) {
      const token = Number.isInteger(id) ? this.decoder[id] : undefined;
      if (token === undefined) {
        throw new TypeError(`Expected token ids in the vocabulary (0–${this.decoder.length - 1}), got \`${String(id)}\``);
      }
      if (options.skipSpecialTokens && (id === this.bosTokenId || id === this.eosTokenId)) continue;
      for (const char of token) {
        const byte = CHAR_TO_BYTE.get(char);
        // A hand-made vocabulary may hold characters outside the byte alphabet: keep them as they are.
        if (byte === undefined) bytes.push(...utf8Encoder.encode(char));
        else bytes.push(byte);
      }
    }
    // A cut in the middle of a multi-byte character decodes to U+FFFD, like Python's errors="replace".
    return utf8Decoder.decode(Uint8Array.from(bytes)).replaceAll(END_OF_WORD, ' ');
  }

  /** The ids of the prompt's tokens, without BOS and EOS. */
  private promptIds(text: string): number[] {
    const ids: number[] = [];
    for (const [word] of textCleanup(checkText(text)).matchAll(WORD_PATTERN)) {
      for (const id of this.wordIds(word)) ids.push(id);
    }
    return ids;
  }

  private wordIds(word: string): readonly number[] {
    const cached = this.wordCache.get(word);
    if (cached !== undefined) return cached;
    let ids: number[];
    // The special tokens, when they appear in the prompt text, are single tokens without </w> (OpenAI seeds its
    // BPE cache with them).
    if (word === BOS_TOKEN) ids = [this.bosTokenId];
    else if (word === EOS_TOKEN) ids = [this.eosTokenId];
    else ids = this.bpe(word).map((token) => this.encoder.get(token) ?? this.eosTokenId);
    if (this.wordCache.size >= WORD_CACHE_LIMIT) {
      // Map keeps insertion order, so this evicts the oldest word.
      this.wordCache.delete(this.wordCache.keys().next().value!);
    }
    this.wordCache.set(word, ids);
    return ids;
  }

  /** OpenAI's `bpe`: UTF-8 bytes as symbols, `</w>` on the last, then merge the lowest-ranked pair until none is left. */
  private bpe(word: string): string[] {
    const bytes = utf8Encoder.encode(word);
    let symbols = Array.from(bytes, (byte) => BYTE_TO_CHAR[byte]);
    symbols[symbols.length - 1] += END_OF_WORD;
    while (symbols.length > 1) {
      let bestRank = Infinity;
      let best = -1;
      for (let i = 0; i < symbols.length - 1; i++) {
        const rank = this.ranks.get(`${symbols[i]} ${symbols[i + 1]}`);
        if (rank !== undefined && rank < bestRank) {
          bestRank = rank;
          best = i;
        }
      }
      if (best < 0) break;
      const first = symbols[best];
      const second = symbols[best + 1];
      // Every occurrence of the pair merges in the same pass, left to right without overlap, as in OpenAI's loop.
      const merged: string[] = [];
      for (let i = 0; i < symbols.length; i++) {
        if (symbols[i] === first && i < symbols.length - 1 && symbols[i + 1] === second) {
          merged.push(first + second);
          i++;
        } else {
          merged.push(symbols[i]);
        }
      }
      symbols = merged;
    }
    return symbols;
  }
}
