/**
 * Textual-inversion embedding files, read the way AUTOMATIC1111 reads them (modules/textual_inversion/
 * textual_inversion.py, `load_from_file`), without running any pickled code:
 * - A1111 `.pt`: {string_to_param: {'*': [N, C]}, string_to_token, name, step, …} (string_to_param may be the
 *   ParameterDict of the original textual_inversion repo);
 * - `.safetensors` with one tensor, usually `emb_params` [N, C];
 * - diffusers concepts (`learned_embeds.bin`): {'<token>': [C]};
 * - SDXL: {clip_l: [N, 768], clip_g: [N, 1280]}: clip_l goes to text_encoder (CLIP ViT-L), clip_g to text_encoder_2
 *   (OpenCLIP ViT-bigG), as A1111's `textual_inversion_key` picks them per encoder.
 * The name is the file stem, as in A1111 (the `name` stored inside a .pt is ignored there too). The hash is A1111's:
 * sha256 of the file, hex; infotexts use its first 12 characters ("TI hashes: EasyNegative: c74b4e810b03").
 */
import { createHash } from 'node:crypto';
import { readdir, readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { Identifiers, UserError } from '../../errors.js';
import { SafetensorsFile, WeightsFileError, type Tensor } from '../weights/safetensors.js';
import { PickledObject, readTorchFile, TorchTensor } from '../weights/torch-pickle.js';

/** File types A1111 reads embeddings from (images with embedded data are not supported). */
export const EMBEDDING_EXTENSIONS = ['.pt', '.bin', '.safetensors'] as const;

/** Known text-encoder widths, to describe an embedding in errors. */
const WIDTH_NAMES: Record<number, string> = { 768: 'SD 1.x', 1024: 'SD 2.x' };

export interface EmbeddingFile {
  /** The file stem: what users type in prompts. */
  name: string;
  file: string;
  /** 'sdxl' files carry one block of vectors per SDXL text encoder; 'single' ones one block for one encoder. */
  kind: 'single' | 'sdxl';
  /** Vectors keyed by their width: [count × width] row-major, float32. SDXL files have 768 (clip_l) and 1280 (clip_g). */
  vectors: ReadonlyMap<number, Float32Array>;
  /** SDXL files: each encoder's vectors by the file's own key, so a file whose halves are swapped cannot pass by width. */
  sdxl?: Readonly<Record<SdxlPart, EncoderVectors>>;
  /** Vectors per encoder, N: the prompt tokens the embedding takes. */
  count: number;
  /** sha256 of the file, hex (A1111's `hash`). */
  sha256: string;
  /** First 12 hex digits of sha256 (A1111's `shorthash`, shown in infotexts). */
  shorthash: string;
}

/** The two halves of an SDXL embedding, named as in the file (and A1111's `textual_inversion_key`). */
export type SdxlPart = 'clip_l' | 'clip_g';

export interface EncoderVectors {
  width: number;
  /** [count × width] row-major. */
  data: Float32Array;
}

/**
 * One text encoder of a model, as an embedding must fit it: its token table's row width, and on SDXL which half of
 * an SDXL embedding it takes (text_encoder: clip_l, text_encoder_2: clip_g).
 */
export interface EncoderTarget {
  width: number;
  part?: SdxlPart;
}

/** Describes an embedding's shape for error messages: "SD 1.x (768 wide)", "SDXL (clip_l 768 + clip_g 1280)". */
export function describeEmbedding(e: Pick<EmbeddingFile, 'kind' | 'vectors' | 'sdxl'>): string {
  if (e.sdxl) return `SDXL (clip_l ${e.sdxl.clip_l.width} + clip_g ${e.sdxl.clip_g.width})`;
  const width = [...e.vectors.keys()][0];
  return WIDTH_NAMES[width] ? `${WIDTH_NAMES[width]} (${width} wide)` : `${width} wide`;
}

/** Describes a model by its text encoders: "SD 1.x (text encoder 768 wide)", "SDXL (text encoders 768 + 1280 wide)". */
function describeModel(encoders: readonly EncoderTarget[]): string {
  if (encoders.some((e) => e.part)) return `SDXL (text encoders ${encoders.map((e) => e.width).join(' + ')} wide)`;
  const width = encoders[0].width;
  return `${WIDTH_NAMES[width] ?? `${width}-wide`} (text encoder ${width} wide)`;
}

/** The rank-1 or rank-2 tensor as [N, C] rows. */
function rows(t: { shape: number[]; data: Float32Array }, what: string, file: string): { count: number; width: number; data: Float32Array } {
  const shape = t.shape.length === 1 ? [1, t.shape[0]] : t.shape.length === 3 && t.shape[0] === 1 ? t.shape.slice(1) : t.shape;
  if (shape.length !== 2 || shape[0] < 1 || shape[1] < 1) {
    throw new WeightsFileError(`${file}: ${what} has shape [${t.shape.join(', ')}]; an embedding is [vectors, width]`, file);
  }
  return { count: shape[0], width: shape[1], data: t.data };
}

type Entries = Map<string, unknown>;

function isTensor(v: unknown): v is { shape: number[]; data: Float32Array } {
  return v instanceof TorchTensor || (typeof v === 'object' && v !== null && 'shape' in v && (v as Tensor).data instanceof Float32Array);
}

/** Interprets a loaded file's top-level mapping as one of the known layouts. */
export function embeddingFromEntries(entries: Entries, file: string): Pick<EmbeddingFile, 'kind' | 'vectors' | 'count' | 'sdxl'> {
  const single = (t: unknown, what: string) => {
    if (!isTensor(t)) throw new WeightsFileError(`${file}: ${what} is not a tensor`, file);
    const r = rows(t, what, file);
    return { kind: 'single' as const, vectors: new Map([[r.width, r.data]]), count: r.count };
  };
  if (entries.has('string_to_param')) {
    let params = entries.get('string_to_param');
    // Files from the original textual_inversion repo (and torch 1.11) store an nn.ParameterDict.
    if (params instanceof PickledObject && params.state instanceof Map) params = params.state.get('_parameters');
    if (!(params instanceof Map)) throw new WeightsFileError(`${file}: string_to_param is not a dict of tensors`, file);
    if (params.size !== 1) throw new WeightsFileError(`${file} has ${params.size} terms in string_to_param; an embedding file has exactly one`, file);
    return single([...params.values()][0], 'string_to_param');
  }
  if (entries.has('clip_l') && entries.has('clip_g')) {
    const l = rows(asTensor(entries.get('clip_l'), 'clip_l', file), 'clip_l', file);
    const g = rows(asTensor(entries.get('clip_g'), 'clip_g', file), 'clip_g', file);
    if (l.count !== g.count) throw new WeightsFileError(`${file}: clip_l has ${l.count} vectors but clip_g has ${g.count}; they must match`, file);
    if (l.width === g.width)
      throw new WeightsFileError(`${file}: clip_l and clip_g are both ${l.width} wide; an SDXL embedding has 768 and 1280`, file);
    return {
      kind: 'sdxl',
      vectors: new Map([
        [l.width, l.data],
        [g.width, g.data],
      ]),
      sdxl: { clip_l: { width: l.width, data: l.data }, clip_g: { width: g.width, data: g.data } },
      count: l.count,
    };
  }
  if (entries.has('emb_params')) return single(entries.get('emb_params'), 'emb_params');
  const tensors = [...entries].filter(([, v]) => isTensor(v));
  if (tensors.length === 1 && entries.size === 1) return single(tensors[0][1], `"${tensors[0][0]}"`);
  const keys = [...entries.keys()].map(String);
  throw new WeightsFileError(
    `${file} is neither an A1111 embedding (string_to_param), an SDXL one (clip_l + clip_g), nor a diffusers concept (one tensor); it has: ${keys.slice(0, 8).join(', ') || 'nothing'}`,
    file,
  );
}

function asTensor(v: unknown, what: string, file: string): { shape: number[]; data: Float32Array } {
  if (!isTensor(v)) throw new WeightsFileError(`${file}: ${what} is not a tensor`, file);
  return v;
}

/** Loads one embedding file; errors are WeightsFileError naming the file and what is wrong. */
export async function loadEmbeddingFile(file: string): Promise<EmbeddingFile> {
  const bytes = new Uint8Array(await readFile(file));
  return parseEmbeddingFile(bytes, file);
}

export function parseEmbeddingFile(bytes: Uint8Array, file: string): EmbeddingFile {
  const ext = path.extname(file).toLowerCase();
  let entries: Entries;
  if (ext === '.safetensors') {
    const st = SafetensorsFile.parse(bytes, file);
    entries = new Map(st.names.map((n) => [n, st.tensor(n)]));
  } else if (ext === '.pt' || ext === '.bin') {
    const root = readTorchFile(bytes, file);
    if (!(root instanceof Map))
      throw new WeightsFileError(`${file} holds a ${Array.isArray(root) ? 'list' : typeof root}, not a dict; not an embedding`, file);
    entries = root;
  } else {
    throw new WeightsFileError(`${file}: embeddings are read from ${EMBEDDING_EXTENSIONS.join(', ')} files`, file);
  }
  const shape = embeddingFromEntries(entries, file);
  for (const [width, data] of shape.vectors) {
    if (!data.every(Number.isFinite)) throw new WeightsFileError(`${file}: the ${width}-wide vectors contain NaN or infinite values`, file);
  }
  const sha256 = createHash('sha256').update(bytes).digest('hex');
  return { name: path.basename(file, path.extname(file)), file, ...shape, sha256, shorthash: sha256.slice(0, 12) };
}

/** The prefix ComfyUI (and some prompt collections) put before an embedding name. */
const EMBEDDING_PREFIX = /^embedding:/i;

/**
 * Every embedding in a folder (and its sub-folders, as A1111 walks them), by name. Bad files are skipped with a
 * reason; empty files and other extensions are ignored. Call `refresh()` before a job: it rescans only when a
 * file was added, removed or changed (A1111 checks the folder's mtime; sizes and mtimes of the files are checked
 * here too, since replacing a file in place does not touch the folder's mtime).
 */
export class EmbeddingLibrary {
  private byName = new Map<string, EmbeddingFile>();
  private byLowerName = new Map<string, EmbeddingFile>();
  private signature = '';
  /** Files that could not be read, with the reason (also passed to `log`). */
  skipped: { file: string; reason: string }[] = [];

  constructor(
    readonly dir: string,
    private readonly log: (message: string) => void = () => {},
  ) {}

  static async scan(dir: string, log?: (message: string) => void): Promise<EmbeddingLibrary> {
    const library = new EmbeddingLibrary(dir, log);
    await library.refresh();
    return library;
  }

  get embeddings(): ReadonlyMap<string, EmbeddingFile> {
    return this.byName;
  }

  /** Rescans when the folder's files changed; returns whether it did. A missing folder is an empty library. */
  async refresh(): Promise<boolean> {
    const files = await listFiles(this.dir);
    const stats = await Promise.all(
      files.map(async (f) => ({
        file: f,
        ...(await stat(f).then(
          (s) => ({ size: s.size, mtime: s.mtimeMs }),
          () => ({ size: 0, mtime: 0 }),
        )),
      })),
    );
    const signature = stats.map((s) => `${s.file}\0${s.size}\0${s.mtime}`).join('\n');
    if (signature === this.signature) return false;
    this.signature = signature;
    const byName = new Map<string, EmbeddingFile>();
    const byLowerName = new Map<string, EmbeddingFile>();
    const skipped: { file: string; reason: string }[] = [];
    // Sorted paths make the winner of a name clash the same on every machine.
    for (const s of stats.sort((a, b) => (a.file < b.file ? -1 : 1))) {
      if (s.size === 0) continue;
      let embedding: EmbeddingFile;
      try {
        embedding = await loadEmbeddingFile(s.file);
      } catch (error) {
        const reason = (error as Error).message;
        skipped.push({ file: s.file, reason });
        this.log(`embedding skipped: ${reason}`);
        continue;
      }
      const lower = embedding.name.toLowerCase();
      const clash = byLowerName.get(lower);
      if (clash) {
        const reason = `${s.file}: an embedding named "${clash.name}" is already loaded from ${clash.file}; names are matched regardless of case, rename one`;
        skipped.push({ file: s.file, reason });
        this.log(`embedding skipped: ${reason}`);
        continue;
      }
      byName.set(embedding.name, embedding);
      byLowerName.set(lower, embedding);
    }
    this.byName = byName;
    this.byLowerName = byLowerName;
    this.skipped = skipped;
    return true;
  }

  /**
   * The embedding a prompt word names: `EasyNegative` or `embedding:EasyNegative` (optionally with the file's
   * extension after the prefix). Matching ignores case, as in A1111, where names are compared after CLIP's
   * tokenizer has lower-cased them.
   */
  find(word: string): EmbeddingFile | undefined {
    let name = word;
    if (EMBEDDING_PREFIX.test(name)) {
      name = name.replace(EMBEDDING_PREFIX, '');
      const ext = path.extname(name).toLowerCase();
      if ((EMBEDDING_EXTENSIONS as readonly string[]).includes(ext)) name = name.slice(0, -ext.length);
    }
    return this.byName.get(name) ?? this.byLowerName.get(name.toLowerCase());
  }

  /**
   * The vectors of `embedding` for each text encoder of a model, in the order given (SD 1.x: one 768 wide; SD 2.x:
   * one 1024 wide; SDXL: text_encoder takes clip_l, text_encoder_2 clip_g). An embedding made for another model
   * family is a UserError naming both, never a silent mismatch: A1111 skips such files at load time and then reads
   * the name as plain words; here the user is told why their word would do nothing.
   */
  vectorsFor(embedding: EmbeddingFile, encoders: readonly EncoderTarget[]): Float32Array[] {
    const sdxlModel = encoders.some((e) => e.part);
    const rows = encoders.map((e) => {
      if (!sdxlModel) return embedding.kind === 'single' ? embedding.vectors.get(e.width) : undefined;
      const half = e.part ? embedding.sdxl?.[e.part] : undefined;
      return half?.width === e.width ? half.data : undefined;
    });
    if (rows.some((r) => r === undefined)) {
      throw new UserError(
        Identifiers.InvalidArgument,
        `The embedding ${embedding.name} is for ${describeEmbedding(embedding)} models, but this model is ${describeModel(encoders)}. Remove it from the prompt or use one made for this model.`,
        { embedding: embedding.name, file: embedding.file },
      );
    }
    return rows as Float32Array[];
  }
}

/** Files with an embedding extension under `dir`, recursively (symlinked folders followed, as A1111 does). */
async function listFiles(dir: string, depth = 0): Promise<string[]> {
  let names: import('node:fs').Dirent[];
  try {
    names = await readdir(dir, { withFileTypes: true });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw error;
  }
  const out: string[] = [];
  for (const entry of names) {
    const full = path.join(dir, entry.name);
    let isDir = entry.isDirectory();
    if (entry.isSymbolicLink())
      isDir = await stat(full).then(
        (s) => s.isDirectory(),
        () => false,
      );
    // A depth bound instead of cycle detection: a symlink loop must not hang the scan.
    if (isDir) {
      if (depth < 8) out.push(...(await listFiles(full, depth + 1)));
    } else if ((EMBEDDING_EXTENSIONS as readonly string[]).includes(path.extname(entry.name).toLowerCase())) {
      out.push(full);
    }
  }
  return out;
}
