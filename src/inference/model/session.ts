/**
 * The only module that imports onnxruntime-node: the bot process never loads it (STYLE.md, imports). Wraps an
 * InferenceSession with what the pipeline needs: the model's I/O contract read from the session itself
 * (exporters differ in names, dtypes and shapes: reference/inference.md §1.3), dtype conversion at the boundary
 * (fp16 ⇄ fp32, int64 timesteps), feed validation with a readable error, and timing of every run.
 */
import { stat } from 'node:fs/promises';
import ort from 'onnxruntime-node';
import { InferenceError, ModelLoadError } from '../../errors.js';
import { float16ToFloat32, float32ToFloat16 } from './float16.js';

// bool: the optimum merged decoders' `use_cache_branch` switch (translation/marian.ts); float64 only for ControlNets'
// `conditioning_scale` (axodox/OnnxStack exports declare it double).
export type TensorType = 'float32' | 'float16' | 'int32' | 'int64' | 'bool' | 'float64';

/** One input or output as the model declares it; symbolic dimensions are strings. */
export interface IoSpec {
  name: string;
  type: TensorType;
  shape: ReadonlyArray<number | string>;
}

/** A value to feed: numbers in any array form; the session converts to the input's declared dtype. */
export interface Feed {
  data: Float32Array | Int32Array | ArrayLike<number>;
  dims: readonly number[];
}

export interface OutputTensor {
  data: Float32Array;
  dims: number[];
}

/** Accumulates session.run time across all sessions of a generation (benchmarks and timings). */
export class RunClock {
  totalMs = 0;
  runs = 0;
}

export type SessionOptions = ort.InferenceSession.SessionOptions;

// onnxruntime's process-wide logger prints provider-loading failures (e.g. a missing CUDA library) itself, in
// colour, once per session, before the session options apply. Each such failure also reaches us as an error
// that we report with a fix, so only fatal lines stay on stderr.
ort.env.logLevel = 'fatal';

/** The execution providers onnxruntime-node was built with (cpu, webgpu bundled; cuda when installed). */
export function supportedBackends(): { name: string; bundled: boolean }[] {
  return ort.listSupportedBackends().map((b) => ({ name: b.name, bundled: b.bundled }));
}

const SUPPORTED_TYPES: ReadonlySet<string> = new Set(['float32', 'float16', 'int32', 'int64', 'bool', 'float64']);

function toSpecs(file: string, metadata: readonly ort.InferenceSession.ValueMetadata[]): Map<string, IoSpec> {
  const specs = new Map<string, IoSpec>();
  for (const m of metadata) {
    if (!m.isTensor) throw new ModelLoadError(`${file}: value "${m.name}" is not a tensor`, file);
    if (!SUPPORTED_TYPES.has(m.type)) {
      throw new ModelLoadError(`${file}: "${m.name}" has dtype ${m.type}; supported: float32, float16, int32, int64, bool, float64`, file);
    }
    specs.set(m.name, { name: m.name, type: m.type as TensorType, shape: m.shape });
  }
  return specs;
}

function describe(specs: Iterable<IoSpec>): string {
  return [...specs].map((s) => `${s.name}: ${s.type}[${s.shape.join(', ')}]`).join('; ');
}

export class ModelSession {
  private constructor(
    /** Path of model.onnx, used in every error message. */
    readonly file: string,
    private readonly session: ort.InferenceSession,
    readonly inputs: ReadonlyMap<string, IoSpec>,
    readonly outputs: ReadonlyMap<string, IoSpec>,
    /** Bytes on disk of model.onnx plus its external data (used for the memory budget). */
    readonly sizeBytes: number,
  ) {}

  /**
   * Open a model by path, so external weights (weights.pb, model.onnx_data) next to it resolve. A failure is a
   * ModelLoadError naming the file and onnxruntime's reason.
   */
  static async load(file: string, options: SessionOptions = {}, sizeBytes?: number): Promise<ModelSession> {
    try {
      await stat(file);
    } catch {
      throw new ModelLoadError(`Missing model file: ${file}`, file);
    }
    let session: ort.InferenceSession;
    try {
      session = await ort.InferenceSession.create(file, options);
    } catch (error) {
      throw new ModelLoadError(`Cannot load ${file}: ${(error as Error).message}`, file, { cause: error });
    }
    return new ModelSession(
      file,
      session,
      toSpecs(file, session.inputMetadata),
      toSpecs(file, session.outputMetadata),
      sizeBytes ?? (await stat(file)).size,
    );
  }

  /**
   * Open a model from bytes in memory: a text encoder whose token table was grown for textual-inversion
   * embeddings (onnx-initializers.ts). `file` is the model's path, for error messages; the model must keep its
   * weights inline (external data would resolve against the working directory, not the model's folder).
   */
  static async fromBytes(bytes: Uint8Array, file: string, options: SessionOptions = {}): Promise<ModelSession> {
    let session: ort.InferenceSession;
    try {
      session = await ort.InferenceSession.create(bytes, options);
    } catch (error) {
      throw new ModelLoadError(`Cannot load ${file} from memory: ${(error as Error).message}`, file, { cause: error });
    }
    return new ModelSession(file, session, toSpecs(file, session.inputMetadata), toSpecs(file, session.outputMetadata), bytes.byteLength);
  }

  /** The declared input, or a ModelLoadError naming what the model has instead. */
  input(name: string): IoSpec {
    const spec = this.inputs.get(name);
    if (!spec) throw new ModelLoadError(`${this.file} has no input "${name}"; it has: ${describe(this.inputs.values())}`, this.file);
    return spec;
  }

  /** The output called `name`, or the first output when the model names it differently. */
  output(name?: string): IoSpec {
    if (name && this.outputs.has(name)) return this.outputs.get(name)!;
    if (name === undefined) return this.outputs.values().next().value!;
    throw new ModelLoadError(`${this.file} has no output "${name}"; it has: ${describe(this.outputs.values())}`, this.file);
  }

  /**
   * Run with feeds converted to each input's declared dtype; returns the requested outputs as float32.
   * Feeds are checked against the model first so a mismatch names the inputs and dims instead of surfacing
   * as an opaque onnxruntime error (transformers.js validateInputs does the same).
   */
  async run(feeds: Record<string, Feed>, outputNames: readonly string[], clock?: RunClock): Promise<Record<string, OutputTensor>> {
    const missing = [...this.inputs.keys()].filter((n) => !(n in feeds));
    const extra = Object.keys(feeds).filter((n) => !this.inputs.has(n));
    if (missing.length || extra.length) {
      throw new InferenceError(
        `${this.file}: feeds do not match the model (missing: ${missing.join(', ') || 'none'}; unexpected: ${extra.join(', ') || 'none'}). ` +
          `Model inputs: ${describe(this.inputs.values())}`,
      );
    }
    const ortFeeds: Record<string, ort.Tensor> = {};
    for (const [name, feed] of Object.entries(feeds)) {
      const spec = this.inputs.get(name)!;
      if (feed.dims.length !== spec.shape.length) {
        throw new InferenceError(
          `${this.file}: input "${name}" expects rank ${spec.shape.length} [${spec.shape.join(', ')}], got dims [${feed.dims.join(', ')}]`,
        );
      }
      ortFeeds[name] = toTensor(spec.type, feed);
    }
    const started = performance.now();
    let results: ort.InferenceSession.ReturnType;
    try {
      results = await this.session.run(ortFeeds, outputNames as string[]);
    } catch (error) {
      const dims = Object.entries(feeds)
        .map(([n, f]) => `${n}[${f.dims.join(',')}]`)
        .join(' ');
      throw new InferenceError(`${this.file}: run failed with ${dims}: ${(error as Error).message}`, { cause: error });
    } finally {
      if (clock) {
        clock.totalMs += performance.now() - started;
        clock.runs++;
      }
    }
    const out: Record<string, OutputTensor> = {};
    for (const name of outputNames) {
      const tensor = results[name];
      out[name] = { data: fromTensor(tensor), dims: [...tensor.dims] };
      tensor.dispose();
    }
    return out;
  }

  async release(): Promise<void> {
    await this.session.release();
  }
}

function toTensor(type: TensorType, feed: Feed): ort.Tensor {
  const dims = [...feed.dims];
  const n = dims.reduce((a, b) => a * b, 1);
  if (feed.data.length !== n) throw new InferenceError(`Feed has ${feed.data.length} values for dims [${dims.join(', ')}]`);
  switch (type) {
    case 'float32':
      return new ort.Tensor('float32', feed.data instanceof Float32Array ? feed.data : Float32Array.from(feed.data), dims);
    case 'float16':
      return new ort.Tensor('float16', float32ToFloat16(feed.data), dims);
    case 'int32':
      return new ort.Tensor('int32', feed.data instanceof Int32Array ? feed.data : Int32Array.from(feed.data, Math.round), dims);
    case 'float64':
      return new ort.Tensor('float64', Float64Array.from(feed.data), dims);
    case 'int64':
      return new ort.Tensor('int64', BigInt64Array.from(Array.from(feed.data, (v) => BigInt(Math.round(v)))), dims);
    case 'bool':
      return new ort.Tensor(
        'bool',
        Uint8Array.from(feed.data, (v) => (v ? 1 : 0)),
        dims,
      );
  }
}

function fromTensor(tensor: ort.Tensor): Float32Array {
  switch (tensor.type) {
    case 'float32':
      // Copy: the tensor's buffer belongs to onnxruntime and is released with it.
      return new Float32Array(tensor.data as Float32Array);
    case 'float16':
      return float16ToFloat32(tensor.data as Uint16Array);
    default:
      throw new InferenceError(`Unsupported output dtype ${tensor.type}`);
  }
}
