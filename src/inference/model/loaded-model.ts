/**
 * A model folder with its sessions open and its I/O contract worked out once: latent channels, context width,
 * fixed sizes, batch support, timestep dtype/shape, LCM guidance input, VAE encoder output kind. Everything is
 * read from the sessions' metadata, never assumed (exporters differ: reference/inference.md §1.3).
 */
import path from 'node:path';
import { ModelLoadError } from '../../errors.js';
import type { ModelFolder } from '../../model-folder/model-folder.js';
import type { ModelFamily } from '../../model-folder/model-manifest.js';
import { SD_LATENT_RGB, type LatentRgbMatrix } from '../image/previews.js';
import { ModelSession, type IoSpec, type SessionOptions } from './session.js';
import { createScheduler, SchedulerConfigError, type CreatedScheduler } from '../schedulers/index.js';
import { ClipTokenizer } from '../prompt/clip-tokenizer.js';
import type { EmbeddingLookup } from '../prompt/embeddings.js';
import type { SamplerName } from '../../protocol/samplers.js';


export interface UnetContract {
  latentChannels: number;
  /** [h, w] when the UNet was exported with a fixed latent size (then only that image size works). */
  fixedLatentSize?: [number, number];
  /** Text embedding width (cross_attention_dim), from encoder_hidden_states. */
  hiddenSize: number;
  /** False when the batch dimension is fixed to 1: guidance then needs two UNet calls. */
  acceptsBatch2: boolean;
  timestep: IoSpec;
  /**
   * Tokens the UNet's encoder_hidden_states takes when that axis is fixed (a static-shape export: 77, one chunk).
   * Undefined when dynamic, as in diffusers/optimum exports: then a prompt of k chunks is fed as 77·k tokens.
   */
  sequenceLength?: number;
  /** Width of LCM's guidance embedding input `timestep_cond`, when the UNet has it. */
  timestepCondDim?: number;
}

export interface LoadedModel {
  folder: ModelFolder;
  family: ModelFamily;
  tokenizer: ClipTokenizer;
  textEncoder: ModelSession;
  unet: ModelSession;
  vaeDecoder: ModelSession;
  vaeEncoder?: ModelSession;
  /** What the VAE encoder returns: a sampled latent, or mean ‖ logvar to sample from. */
  vaeEncoderOutput?: 'latent_sample' | 'latent_parameters';
  previewDecoder?: ModelSession;
  previewMatrix?: LatentRgbMatrix;
  unetContract: UnetContract;
  /**
   * How many `hidden_states.K` outputs the text encoder has (K = 0 … n−1: the embeddings, then each layer), as
   * exports made with output_hidden_states have; 0 when it has none, and then clip skip above 1 is refused.
   */
  hiddenStates: number;
  /** The text encoder's final layer norm, read from its file on the first clip-skip request (see clip-skip.ts). */
  finalLayerNorm?: Promise<import('../prompt/clip-skip.js').FinalLayerNorm>;
  /** Textual-inversion embeddings prompts may name; undefined when the model has none. */
  embeddings?: EmbeddingLookup;
  /** Words the model knows (lower case), from imagine-bot.json; prompts using others get a warning. */
  knownWords?: ReadonlySet<string>;
  /** Bytes of every loaded model file, charged against the engine's memory budget. */
  sizeBytes: number;
}

function fixedDim(d: number | string | undefined): number | undefined {
  return typeof d === 'number' && d > 0 ? d : undefined;
}

function unetContract(unet: ModelSession): UnetContract {
  const sample = unet.input('sample');
  const ehs = unet.input('encoder_hidden_states');
  const timestep = unet.input('timestep');
  unet.output('out_sample');
  if (sample.shape.length !== 4) throw new ModelLoadError(`${unet.file}: "sample" must be 4-D [batch, channels, h, w], it is [${sample.shape.join(', ')}]`, unet.file);
  const latentChannels = fixedDim(sample.shape[1]) ?? 4;
  const hiddenSize = fixedDim(ehs.shape[2]);
  if (!hiddenSize) throw new ModelLoadError(`${unet.file}: "encoder_hidden_states" must declare its width (dim 2), it is [${ehs.shape.join(', ')}]`, unet.file);
  if (timestep.type !== 'float32' && timestep.type !== 'int64' && timestep.type !== 'float16' && timestep.type !== 'int32') {
    throw new ModelLoadError(`${unet.file}: unsupported timestep dtype ${timestep.type}`, unet.file);
  }
  const h = fixedDim(sample.shape[2]);
  const w = fixedDim(sample.shape[3]);
  const cond = unet.inputs.get('timestep_cond');
  for (const name of unet.inputs.keys()) {
    if (!['sample', 'timestep', 'encoder_hidden_states', 'timestep_cond'].includes(name)) {
      throw new ModelLoadError(`${unet.file}: unexpected UNet input "${name}" (SDXL-style UNets are not supported yet)`, unet.file);
    }
  }
  return {
    latentChannels,
    fixedLatentSize: h && w ? [h, w] : undefined,
    hiddenSize,
    sequenceLength: fixedDim(ehs.shape[1]),
    acceptsBatch2: fixedDim(sample.shape[0]) === undefined || fixedDim(sample.shape[0]) === 2,
    timestep,
    timestepCondDim: cond ? (fixedDim(cond.shape[1]) ?? 256) : undefined,
  };
}

/** Number of consecutive `hidden_states.0`, `hidden_states.1`, … outputs. */
function countHiddenStates(textEncoder: ModelSession): number {
  let n = 0;
  while (textEncoder.outputs.has(`hidden_states.${n}`)) n++;
  return n;
}

/** The manifest's family when it names one; else the sessions, then the folder's guess from its tokenizer files. */
function detectFamily(folder: ModelFolder, hiddenSize: number): ModelFamily {
  if (folder.familySource === 'manifest') return folder.family!;
  // SD 2.x has a 1024-wide OpenCLIP text encoder, SD 1.x a 768-wide CLIP one.
  if (hiddenSize === 1024) return 'sd2';
  return folder.family ?? 'sd1';
}

/** Open every session of a checked model folder (in parallel) and derive its contract. */
export async function loadModel(folder: ModelFolder, sessionOptions: SessionOptions): Promise<LoadedModel> {
  makeScheduler(folder, 'euler'); // a broken scheduler config fails the load, not the first job
  const { files } = folder;
  const tokenizerPromise = ClipTokenizer.fromFolder(files.tokenizerDir);
  const [tokenizer, textEncoder, unet, vaeDecoder, vaeEncoder, previewDecoder] = await Promise.all([
    tokenizerPromise,
    ModelSession.load(files.textEncoder, sessionOptions),
    ModelSession.load(files.unet, sessionOptions),
    ModelSession.load(files.vaeDecoder, sessionOptions),
    files.vaeEncoder ? ModelSession.load(files.vaeEncoder, sessionOptions) : undefined,
    files.previewDecoder ? ModelSession.load(files.previewDecoder, sessionOptions) : undefined,
  ]);
  const contract = unetContract(unet);
  textEncoder.input('input_ids');
  if (!textEncoder.outputs.has('last_hidden_state')) {
    throw new ModelLoadError(`${textEncoder.file} has no output "last_hidden_state"`, textEncoder.file);
  }
  vaeDecoder.input('latent_sample');
  let vaeEncoderOutput: LoadedModel['vaeEncoderOutput'];
  if (vaeEncoder) {
    vaeEncoder.input('sample');
    if (vaeEncoder.outputs.has('latent_parameters')) vaeEncoderOutput = 'latent_parameters';
    else if (vaeEncoder.outputs.has('latent_sample')) vaeEncoderOutput = 'latent_sample';
    else throw new ModelLoadError(`${vaeEncoder.file}: expected output "latent_sample" or "latent_parameters"`, vaeEncoder.file);
  }
  const family = detectFamily(folder, contract.hiddenSize);
  const fixed = folder.manifest.fixedSize;
  const fixedLatent = contract.fixedLatentSize;
  if (fixed && !(fixedLatent && fixedLatent[0] * 8 === fixed[1] && fixedLatent[1] * 8 === fixed[0])) {
    const drawn = fixedLatent ? `${fixedLatent[1] * 8}x${fixedLatent[0] * 8} only` : 'any size';
    throw new ModelLoadError(`${path.join(folder.dir, 'imagine-bot.json')}: "fixedSize" says ${fixed[0]}x${fixed[1]}, but the UNet draws ${drawn}; correct or remove it`, folder.dir);
  }
  const manifestPreview = folder.manifest.preview;
  const previewMatrix: LatentRgbMatrix | undefined = manifestPreview
    ? { factors: manifestPreview.latentRgbFactors, bias: manifestPreview.bias }
    : family === 'sd1' || family === 'sd2'
      ? SD_LATENT_RGB
      : undefined;
  return {
    folder,
    family,
    tokenizer,
    textEncoder,
    unet,
    vaeDecoder,
    vaeEncoder,
    vaeEncoderOutput,
    previewDecoder,
    previewMatrix,
    unetContract: contract,
    hiddenStates: countHiddenStates(textEncoder),
    knownWords: folder.manifest.knownWords ? new Set(folder.manifest.knownWords.map((w) => w.toLowerCase())) : undefined,
    sizeBytes: folder.sizeBytes,
  };
}

/**
 * The sampler's scheduler configured from the model's scheduler_config.json. A bad config value is the model
 * folder's fault, so it becomes a ModelLoadError naming that file.
 */
export function makeScheduler(folder: ModelFolder, sampler: SamplerName): CreatedScheduler {
  try {
    return createScheduler(sampler, folder.schedulerConfig);
  } catch (error) {
    if (!(error instanceof SchedulerConfigError)) throw error;
    const file = path.join(folder.dir, 'scheduler', 'scheduler_config.json');
    throw new ModelLoadError(`${file}: ${error.message}`, file, { cause: error });
  }
}

export async function releaseModel(model: LoadedModel): Promise<void> {
  await Promise.all(
    [model.textEncoder, model.unet, model.vaeDecoder, model.vaeEncoder, model.previewDecoder].map((s) => s?.release()),
  );
}
