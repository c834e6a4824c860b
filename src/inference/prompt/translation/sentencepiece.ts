/**
 * SentencePiece unigram tokenizer for MarianMT (Helsinki-NLP opus-mt), read from the files an opus-mt export ships:
 * `source.spm` / `target.spm` (SentencePiece ModelProto) and `vocab.json` (Marian's own piece → id table, shared by
 * both sides). Marian segments with the spm model and then looks each piece up in vocab.json, unknown → `<unk>`,
 * and appends `</s>` (transformers' MarianTokenizer does the same), so the spm ids themselves are never used.
 *
 * Checked piece for piece against the sentencepiece library on a model trained in test/fixtures/sentencepiece/.
 * Normalisation: the model's precompiled charsmap (a double-array trie of the nmt_nfkc rules) is not interpreted;
 * NFKC plus sentencepiece's nmt rules (control characters removed, odd spaces made spaces) reproduce it for the
 * text prompts carry. A model with another normalizer (e.g. `identity`) is honoured by name.
 */
import { readFile } from 'node:fs/promises';

import { ModelLoadError } from '../../../errors.js';

/** sentencepiece_model.proto `SentencePiece.Type`. */
export const PieceType = { Normal: 1, Unknown: 2, Control: 3, UserDefined: 4, Unused: 5, Byte: 6 } as const;

export interface SpmPiece {
  piece: string;
  score: number;
  type: number;
}

export interface SpmModel {
  pieces: SpmPiece[];
  /** trainer_spec.model_type: 1 unigram, 2 BPE, 3 word, 4 char. Only unigram is supported. */
  modelType: number;
  byteFallback: boolean;
  unkSurface: string;
  normalizerName: string;
  addDummyPrefix: boolean;
  removeExtraWhitespaces: boolean;
  escapeWhitespaces: boolean;
}

// ---- protobuf wire format: only what ModelProto needs (varint, 64-bit, length-delimited, 32-bit) ----

class Reader {
  pos = 0;
  constructor(readonly buf: Uint8Array) {}
  get done(): boolean {
    return this.pos >= this.buf.length;
  }
  varint(): number {
    let result = 0;
    let shift = 0;
    for (;;) {
      if (this.pos >= this.buf.length) throw new Error('truncated varint');
      const b = this.buf[this.pos++];
      // Field values here (enums, bools, ids, lengths) fit in 53 bits; multiply instead of << to avoid int32 wrap.
      result += (b & 0x7f) * 2 ** shift;
      shift += 7;
      if ((b & 0x80) === 0) return result;
    }
  }
  bytes(): Uint8Array {
    const len = this.varint();
    const out = this.buf.subarray(this.pos, this.pos + len);
    if (out.length !== len) throw new Error('truncated field');
    this.pos += len;
    return out;
  }
  float(): number {
    const v = new DataView(this.buf.buffer, this.buf.byteOffset + this.pos, 4).getFloat32(0, true);
    this.pos += 4;
    return v;
  }
  skip(wireType: number): void {
    if (wireType === 0) this.varint();
    else if (wireType === 1) this.pos += 8;
    else if (wireType === 2) this.bytes();
    else if (wireType === 5) this.pos += 4;
    else throw new Error(`unsupported wire type ${wireType}`);
  }
  /** Iterates (field number, wire type); the callback must consume the value or call skip. */
  fields(visit: (field: number, wireType: number) => void): void {
    while (!this.done) {
      const key = this.varint();
      visit(Math.floor(key / 8), key & 7);
    }
  }
}

const utf8 = new TextDecoder('utf-8');

/** Parses a SentencePiece ModelProto (sentencepiece_model.proto field numbers). */
export function parseSpmModel(bytes: Uint8Array): SpmModel {
  const model: SpmModel = {
    pieces: [],
    modelType: 1,
    byteFallback: false,
    unkSurface: ' \u2047 ',
    normalizerName: 'nmt_nfkc',
    addDummyPrefix: true,
    removeExtraWhitespaces: true,
    escapeWhitespaces: true,
  };
  const top = new Reader(bytes);
  top.fields((field, wire) => {
    if (field === 1 && wire === 2) {
      const r = new Reader(top.bytes());
      const piece: SpmPiece = { piece: '', score: 0, type: PieceType.Normal };
      r.fields((f, w) => {
        if (f === 1 && w === 2) piece.piece = utf8.decode(r.bytes());
        else if (f === 2 && w === 5) piece.score = r.float();
        else if (f === 3 && w === 0) piece.type = r.varint();
        else r.skip(w);
      });
      model.pieces.push(piece);
    } else if (field === 2 && wire === 2) {
      const r = new Reader(top.bytes());
      r.fields((f, w) => {
        if (f === 3 && w === 0) model.modelType = r.varint();
        else if (f === 35 && w === 0) model.byteFallback = r.varint() !== 0;
        else if (f === 44 && w === 2) model.unkSurface = utf8.decode(r.bytes());
        else r.skip(w);
      });
    } else if (field === 3 && wire === 2) {
      const r = new Reader(top.bytes());
      r.fields((f, w) => {
        if (f === 1 && w === 2) model.normalizerName = utf8.decode(r.bytes());
        else if (f === 3 && w === 0) model.addDummyPrefix = r.varint() !== 0;
        else if (f === 4 && w === 0) model.removeExtraWhitespaces = r.varint() !== 0;
        else if (f === 5 && w === 0) model.escapeWhitespaces = r.varint() !== 0;
        else r.skip(w);
      });
    } else {
      top.skip(wire);
    }
  });
  return model;
}

// ---- normalisation ----

const SPACE_MARK = '\u2581';

// sentencepiece builder.cc (BuildNmtNFKCMap): control characters are dropped, and these become a plain space.
const NMT_REMOVED = /[\u0001-\u0008\u000B\u000E-\u001F\u007F\u008F\u009F]/g;
const NMT_SPACES = /[\u0009\u000A\u000C\u000D\u1680\u200B-\u200F\u2028\u2029\u2581\uFEFF\uFFFD]/g;

export function normalize(model: SpmModel, text: string): string {
  let s = text;
  if (model.normalizerName.startsWith('nmt_')) s = s.replace(NMT_REMOVED, '').replace(NMT_SPACES, ' ');
  if (model.normalizerName.includes('nfkc')) s = s.normalize('NFKC');
  if (model.removeExtraWhitespaces) s = s.replace(/ +/g, ' ').replace(/^ | $/g, '');
  if (s.length === 0) return s;
  if (model.addDummyPrefix) s = ` ${s}`;
  if (model.escapeWhitespaces) s = s.replaceAll(' ', SPACE_MARK);
  return s;
}

// sentencepiece unigram_model.cc: an unknown character costs this much below the worst piece.
const UNK_PENALTY = 10;

/** A SentencePiece unigram segmenter: text → pieces (Viterbi, as the library's Model::Encode) and pieces → text. */
export class SentencePiece {
  private readonly byPiece = new Map<string, number>();
  private readonly anyPiece = new Map<string, number>();
  private readonly maxPieceChars: number;
  private readonly minScore: number;
  private readonly maxScore: number;
  readonly unkId: number;

  constructor(readonly model: SpmModel) {
    if (model.modelType !== 1) throw new Error(`only unigram SentencePiece models are supported (model_type ${model.modelType})`);
    let maxChars = 1;
    let min = Number.POSITIVE_INFINITY;
    let max = Number.NEGATIVE_INFINITY;
    let unk = -1;
    model.pieces.forEach((p, id) => {
      this.anyPiece.set(p.piece, id);
      if (p.type === PieceType.Unknown) unk = id;
      // Control and unknown pieces (</s>, <unk>) are never matched in text, as in the library's trie.
      if (p.type === PieceType.Normal || p.type === PieceType.UserDefined || p.type === PieceType.Unused) {
        this.byPiece.set(p.piece, id);
        maxChars = Math.max(maxChars, [...p.piece].length);
      }
      if (p.type === PieceType.Normal) {
        min = Math.min(min, p.score);
        max = Math.max(max, p.score);
      }
    });
    if (unk < 0) throw new Error('the model has no <unk> piece');
    this.unkId = unk;
    this.maxPieceChars = maxChars;
    this.minScore = min;
    this.maxScore = max;
  }

  /** Segments text into pieces exactly as `sp.encode(text, out_type=str)`. */
  encodePieces(text: string): string[] {
    const normalized = normalize(this.model, text);
    const chars = [...normalized];
    const n = chars.length;
    if (n === 0) return [];
    // best[i]: best score of a segmentation of chars[0..i); from[i]: where its last piece starts; id -1 = unknown.
    const best = new Float64Array(n + 1).fill(Number.NEGATIVE_INFINITY);
    const from = new Int32Array(n + 1);
    const pieceId = new Int32Array(n + 1);
    best[0] = 0;
    const unkScore = this.minScore - UNK_PENALTY;
    for (let start = 0; start < n; start++) {
      if (best[start] === Number.NEGATIVE_INFINITY) continue;
      let hasSingle = false;
      let s = '';
      for (let len = 1; len <= this.maxPieceChars && start + len <= n; len++) {
        s += chars[start + len - 1];
        const id = this.byPiece.get(s);
        if (id === undefined) continue;
        const p = this.model.pieces[id];
        if (p.type === PieceType.Unused) continue;
        if (len === 1) hasSingle = true;
        // User-defined pieces always win, as the library scores them above any normal segmentation.
        const score = p.type === PieceType.UserDefined ? len * this.maxScore - 0.1 : p.score;
        const total = best[start] + score;
        // Strictly greater: on a tie the library keeps the first candidate it met (the shorter last piece).
        if (total > best[start + len]) {
          best[start + len] = total;
          from[start + len] = start;
          pieceId[start + len] = id;
        }
      }
      if (!hasSingle) {
        const total = best[start] + unkScore;
        if (total > best[start + 1]) {
          best[start + 1] = total;
          from[start + 1] = start;
          pieceId[start + 1] = -1;
        }
      }
    }
    const spans: { text: string; id: number }[] = [];
    for (let end = n; end > 0; end = from[end]) spans.push({ text: chars.slice(from[end], end).join(''), id: pieceId[end] });
    spans.reverse();
    const out: string[] = [];
    let prevUnk = false;
    for (const span of spans) {
      const unk = span.id < 0;
      if (unk && this.model.byteFallback) {
        for (const b of new TextEncoder().encode(span.text)) out.push(`<0x${b.toString(16).toUpperCase().padStart(2, '0')}>`);
      } else if (unk && prevUnk) {
        // The library merges a run of unknown characters into one unknown piece.
        out[out.length - 1] += span.text;
      } else {
        out.push(unk ? span.text : this.model.pieces[span.id].piece);
      }
      prevUnk = unk;
    }
    return out;
  }

  /** Joins pieces back into text as `sp.decode_pieces`: `▁` → space, the dummy prefix dropped, byte pieces decoded. */
  decodePieces(pieces: readonly string[]): string {
    const bytes: number[] = [];
    let out = '';
    let first = true;
    const flush = () => {
      if (bytes.length) out += new TextDecoder('utf-8').decode(Uint8Array.from(bytes.splice(0)));
    };
    for (const piece of pieces) {
      const byte = /^<0x([0-9A-F]{2})>$/.exec(piece);
      const id = this.anyPiece.get(piece);
      // A piece the model does not have (a merged run of unknown characters) decodes as the unknown surface.
      const type = id === undefined ? PieceType.Unknown : this.model.pieces[id].type;
      if (byte && type === PieceType.Byte) {
        bytes.push(Number.parseInt(byte[1], 16));
        first = false;
        continue;
      }
      flush();
      if (type === PieceType.Control) continue;
      let text = type === PieceType.Unknown ? this.model.unkSurface : piece.replaceAll(SPACE_MARK, ' ');
      if (first && this.model.addDummyPrefix && type !== PieceType.Unknown && text.startsWith(' ')) text = text.slice(1);
      first = false;
      out += text;
    }
    flush();
    return out;
  }

  /** Decodes the model's own ids (`sp.decode(ids)`). */
  decodeIds(ids: readonly number[]): string {
    return this.decodePieces(ids.map((id) => this.model.pieces[id]?.piece ?? this.model.pieces[this.unkId].piece));
  }
}

/** Marian's special tokens, by name in vocab.json. */
export interface MarianSpecialIds {
  eos: number;
  unk: number;
  pad: number;
}

/**
 * MarianTokenizer: source.spm segments the input, vocab.json numbers the pieces (unknown → `<unk>`), `</s>` ends
 * it; target.spm joins the output pieces. Language-code prefixes (`>>cmn<<`) of multilingual models are not used.
 */
export class MarianTokenizer {
  private readonly idToPiece: string[] = [];
  readonly special: MarianSpecialIds;

  constructor(
    private readonly source: SentencePiece,
    private readonly target: SentencePiece,
    private readonly vocab: ReadonlyMap<string, number>,
    file = 'vocab.json',
  ) {
    for (const [piece, id] of vocab) this.idToPiece[id] = piece;
    const need = (name: string) => {
      const id = vocab.get(name);
      if (id === undefined) throw new ModelLoadError(`${file} has no "${name}" entry; it is not a Marian vocabulary`, file);
      return id;
    };
    this.special = { eos: need('</s>'), unk: need('<unk>'), pad: need('<pad>') };
  }

  /** Reads `source.spm`, `target.spm` and `vocab.json` from a model folder. */
  static async fromFolder(dir: string): Promise<MarianTokenizer> {
    const read = async (name: string) => {
      const file = `${dir}/${name}`;
      try {
        return await readFile(file);
      } catch {
        throw new ModelLoadError(
          `Missing ${file}: the translator folder needs source.spm, target.spm and vocab.json (npm run models:pull -- opus-mt-zh-en)`,
          file,
        );
      }
    };
    const spm = (name: string, bytes: Uint8Array) => {
      try {
        return new SentencePiece(parseSpmModel(bytes));
      } catch (error) {
        throw new ModelLoadError(`${dir}/${name} is not a usable SentencePiece model: ${(error as Error).message}`, `${dir}/${name}`, {
          cause: error,
        });
      }
    };
    const [src, tgt, vocabBytes] = await Promise.all([read('source.spm'), read('target.spm'), read('vocab.json')]);
    const vocab = new Map(Object.entries(JSON.parse(vocabBytes.toString('utf-8')) as Record<string, number>));
    return new MarianTokenizer(spm('source.spm', src), spm('target.spm', tgt), vocab, `${dir}/vocab.json`);
  }

  /** Source text → input ids, `</s>` appended. */
  encode(text: string): number[] {
    return [...this.source.encodePieces(text).map((p) => this.vocab.get(p) ?? this.special.unk), this.special.eos];
  }

  /** Output ids → text, special tokens skipped (skip_special_tokens=True). */
  decode(ids: readonly number[]): string {
    const skip = new Set([this.special.eos, this.special.unk, this.special.pad]);
    const pieces = ids.filter((id) => !skip.has(id)).map((id) => this.idToPiece[id] ?? '');
    return this.target.decodePieces(pieces.filter((p) => p !== '')).trim();
  }
}
