/**
 * A model folder with its sessions open and its I/O contract worked out once: latent channels, context width,
 * fixed sizes, batch support, timestep dtype/shape, LCM guidance input, VAE encoder output kind. Everything is
 * read from the sessions' metadata, never assumed (exporters differ: reference/inference.md §1.3).
 */
import path from 'node:path';
import { ModelLoadError } from '../../errors.js';
import type { ModelFolder } from '../../model-folder/model-folder.js';
import type { ModelFamily } from '../../model-folder/model-manifest.js';
import { SD_LATENT_RGB, SDXL_LATENT_RGB, type LatentRgbMatrix } from '../image/previews.js';
import { ModelSession, type IoSpec, type SessionOptions } from './session.js';
import { controlResidualInputs, isControlResidualInput, loadControlNet, type ControlNet, type ControlResiduals } from './controlnet.js';
import { createScheduler, SchedulerConfigError, type CreatedScheduler } from '../schedulers/index.js';
import { ClipTokenizer } from '../prompt/clip-tokenizer.js';
import type { SamplerName } from '../../protocol/samplers.js';

export interface UnetContract {
  /** Channels the scheduler steps (the `sample` input's, less the inpainting conditioning). */
  latentChannels: number;
  /** A 9-channel inpainting UNet: `sample` = latents ‖ mask ‖ masked-image latents (diffusers' inpaint pipeline). */
  inpaint: boolean;
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
  /** SDXL: the UNet takes `text_embeds` [B, pooledWidth] and `time_ids` [B, 6] besides the SD 1.x inputs. */
  sdxl?: { pooledWidth?: number };
  /** A ControlNet-ready UNet's residual inputs (issue #15); plain jobs feed them zeros. */
  control?: ControlResiduals;
}

/**
 * What an SDXL model needs beyond SD 1.x (issue #12): the second encoder and tokenizer, and which outputs carry
 * the penultimate hidden states (read from the sessions, since exporters name them differently).
 */
export interface SdxlContract {
  textEncoder2: ModelSession;
  tokenizer2: ClipTokenizer;
  /** Output of text_encoder read for the embeddings: `hidden_states.{N-2}`, or `hidden_states` (ORT graph surgery). */
  hiddenState1: string;
  /** The same for text_encoder_2. */
  hiddenState2: string;
  /** Zeros for an empty negative prompt (model_index.json, default true as for SDXL base and Turbo). */
  forceZerosForEmptyPrompt: boolean;
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
  /** Present exactly when the UNet is SDXL (has `text_embeds` and `time_ids` inputs). */
  sdxl?: SdxlContract;
  /**
   * How many `hidden_states.K` outputs the text encoder has (K = 0 … n−1: the embeddings, then each layer), as
   * exports made with output_hidden_states have; 0 when it has none, and then clip skip above 1 is refused.
   */
  hiddenStates: number;
  /** The text encoder's final layer norm, read from its file on the first clip-skip request (see clip-skip.ts). */
  finalLayerNorm?: Promise<import('../prompt/clip-skip.js').FinalLayerNorm>;
  /** Words the model knows (lower case), from imagine-bot.json; prompts using others get a warning. */
  knownWords?: ReadonlySet<string>;
  /** Set on a model with LoRAs merged (engine.ts): their names and A1111 short hashes, for the PNG's `Lora hashes`. */
  loras?: { name: string; hash: string }[];
  /** Bytes of every loaded model file, charged against the engine's memory budget. */
  sizeBytes: number;
  /**
   * A ControlNet of the folder by name (issue #15), opened on first use and kept with the model; only on a
   * ControlNet-ready UNet. Released with the model.
   */
  controlNet?: (name: string) => Promise<ControlNet>;
  /** The ControlNets opened so far (for release). */
  openControlNets?: Map<string, Promise<ControlNet>>;
}

function fixedDim(d: number | string | undefined): number | undefined {
  return typeof d === 'number' && d > 0 ? d : undefined;
}

/** Channels of a diffusers inpainting UNet's `sample`: 4 latents ‖ 1 mask ‖ 4 masked-image latents. */
const INPAINT_UNET_CHANNELS = 9;

function unetContract(unet: ModelSession, configInChannels?: number): UnetContract {
  const sample = unet.input('sample');
  const ehs = unet.input('encoder_hidden_states');
  const timestep = unet.input('timestep');
  unet.output('out_sample');
  if (sample.shape.length !== 4)
    throw new ModelLoadError(`${unet.file}: "sample" must be 4-D [batch, channels, h, w], it is [${sample.shape.join(', ')}]`, unet.file);
  const inChannels = fixedDim(sample.shape[1]) ?? configInChannels ?? 4;
  const inpaint = inChannels === INPAINT_UNET_CHANNELS;
  // An inpainting UNet denoises 4 latent channels; the other 5 are the mask and the masked image's latents.
  const latentChannels = inpaint ? 4 : inChannels;
  const hiddenSize = fixedDim(ehs.shape[2]);
  if (!hiddenSize)
    throw new ModelLoadError(`${unet.file}: "encoder_hidden_states" must declare its width (dim 2), it is [${ehs.shape.join(', ')}]`, unet.file);
  if (timestep.type !== 'float32' && timestep.type !== 'int64' && timestep.type !== 'float16' && timestep.type !== 'int32') {
    throw new ModelLoadError(`${unet.file}: unsupported timestep dtype ${timestep.type}`, unet.file);
  }
  const h = fixedDim(sample.shape[2]);
  const w = fixedDim(sample.shape[3]);
  const cond = unet.inputs.get('timestep_cond');
  const control = controlResidualInputs(unet);
  for (const name of unet.inputs.keys()) {
    if (
      !['sample', 'timestep', 'encoder_hidden_states', 'timestep_cond', 'text_embeds', 'time_ids'].includes(name) &&
      !isControlResidualInput(name)
    ) {
      throw new ModelLoadError(`${unet.file}: unexpected UNet input "${name}" (the engine drives SD 1.x/2.x, LCM and SDXL inputs only)`, unet.file);
    }
  }
  return {
    ...sdxlUnet(unet),
    latentChannels,
    inpaint,
    fixedLatentSize: h && w ? [h, w] : undefined,
    hiddenSize,
    sequenceLength: fixedDim(ehs.shape[1]),
    acceptsBatch2: fixedDim(sample.shape[0]) === undefined || fixedDim(sample.shape[0]) === 2,
    timestep,
    timestepCondDim: cond ? (fixedDim(cond.shape[1]) ?? 256) : undefined,
    ...(control ? { control } : {}),
  };
}

/**
 * SDXL is told from the UNet's inputs, never the folder's name: `text_embeds` (pooled text) and `time_ids` (size
 * conditioning). Six time ids is base/Turbo; five ([h, w, crop, crop, aesthetic score]) is the refiner.
 */
function sdxlUnet(unet: ModelSession): Pick<UnetContract, 'sdxl'> {
  const textEmbeds = unet.inputs.get('text_embeds');
  const timeIds = unet.inputs.get('time_ids');
  if (!textEmbeds && !timeIds) return {};
  if (!textEmbeds || !timeIds) {
    throw new ModelLoadError(
      `${unet.file}: an SDXL UNet needs both "text_embeds" and "time_ids" inputs, this one has only "${(textEmbeds ?? timeIds)!.name}"; re-export the UNet`,
      unet.file,
    );
  }
  const idsWidth = fixedDim(timeIds.shape[1]);
  if (idsWidth === 5) {
    throw new ModelLoadError(
      `${unet.file}: SDXL refiner models are not supported yet ("time_ids" has 5 values: the refiner's aesthetic-score conditioning); use an SDXL base or Turbo model`,
      unet.file,
    );
  }
  if (timeIds.shape.length !== 2 || (idsWidth !== undefined && idsWidth !== 6)) {
    throw new ModelLoadError(`${unet.file}: "time_ids" must be [batch, 6], it is [${timeIds.shape.join(', ')}]`, unet.file);
  }
  if (textEmbeds.shape.length !== 2)
    throw new ModelLoadError(`${unet.file}: "text_embeds" must be [batch, width], it is [${textEmbeds.shape.join(', ')}]`, unet.file);
  return { sdxl: { pooledWidth: fixedDim(textEmbeds.shape[1]) } };
}

/**
 * The output of an SDXL text encoder that diffusers reads: `hidden_states[-2]`, i.e. `hidden_states.{N-2}` of the
 * `hidden_states.0..N-1` outputs optimum exports (11 of 0..12 for CLIP-L, 31 of 0..32 for CLIP-G). A single
 * output called `hidden_states` is what onnxruntime's SDXL tools add by graph surgery, already the penultimate layer.
 */
export function penultimateHiddenState(encoder: ModelSession): string {
  const indices = [...encoder.outputs.keys()]
    .map((name) => /^hidden_states\.(\d+)$/.exec(name))
    .filter((m): m is RegExpExecArray => m !== null)
    .map((m) => Number(m[1]));
  if (indices.length > 0) {
    const last = Math.max(...indices);
    const name = `hidden_states.${last - 1}`;
    if (!encoder.outputs.has(name)) {
      throw new ModelLoadError(
        `${encoder.file}: SDXL reads the penultimate hidden state "${name}", which is missing (it has ${indices
          .sort((a, b) => a - b)
          .map((i) => `hidden_states.${i}`)
          .join(', ')}); re-export it with all hidden states (optimum-cli export onnx)`,
        encoder.file,
      );
    }
    return name;
  }
  if (encoder.outputs.has('hidden_states')) return 'hidden_states';
  throw new ModelLoadError(
    `${encoder.file}: SDXL needs the text encoder's penultimate hidden state, but the model only outputs ${[...encoder.outputs.keys()].join(', ')}. ` +
      'Re-export it with optimum (`optimum-cli export onnx --model <sdxl repo> <dir>` writes hidden_states.0..N), or add the penultimate layer ' +
      'as an output named "hidden_states" by graph surgery, as onnxruntime\'s SDXL tools do.',
    encoder.file,
  );
}

/** Number of consecutive `hidden_states.0`, `hidden_states.1`, … outputs. */
function countHiddenStates(textEncoder: ModelSession): number {
  let n = 0;
  while (textEncoder.outputs.has(`hidden_states.${n}`)) n++;
  return n;
}

/** The manifest's family when it names one; else the sessions, then the folder's guess from its tokenizer files. */
function detectFamily(folder: ModelFolder, hiddenSize: number, sdxl: boolean): ModelFamily {
  // The UNet's inputs decide SDXL over any manifest: the conditioning and the preview matrix follow from them.
  if (sdxl) return 'sdxl';
  if (folder.familySource === 'manifest' && folder.family !== 'sdxl') return folder.family!;
  // SD 2.x has a 1024-wide OpenCLIP text encoder, SD 1.x a 768-wide CLIP one.
  if (hiddenSize === 1024) return 'sd2';
  return folder.family === 'sdxl' ? 'sd1' : (folder.family ?? 'sd1');
}

/**
 * The SDXL half of the contract, once the UNet has shown it is SDXL: the second encoder must exist and expose a
 * hidden state and the pooled `text_embeds`, and the two encoders' widths must add up to the UNet's context width.
 */
function sdxlContract(
  folder: ModelFolder,
  contract: UnetContract,
  textEncoder: ModelSession,
  textEncoder2: ModelSession | undefined,
  tokenizer2: ClipTokenizer | undefined,
): SdxlContract {
  if (!textEncoder2 || !tokenizer2) {
    const missing = !textEncoder2 ? path.join(folder.dir, 'text_encoder_2', 'model.onnx') : path.join(folder.dir, 'tokenizer_2', 'vocab.json');
    throw new ModelLoadError(
      `${folder.files.unet} is an SDXL UNet ("text_embeds" and "time_ids" inputs), which needs a second text encoder and tokenizer: missing ${missing}`,
      missing,
    );
  }
  textEncoder2.input('input_ids');
  const pooled = textEncoder2.outputs.get('text_embeds');
  if (!pooled) {
    throw new ModelLoadError(
      `${textEncoder2.file}: SDXL's second text encoder must output the pooled projection "text_embeds" (CLIPTextModelWithProjection); it has ${[...textEncoder2.outputs.keys()].join(', ')}`,
      textEncoder2.file,
    );
  }
  const hiddenState1 = penultimateHiddenState(textEncoder);
  const hiddenState2 = penultimateHiddenState(textEncoder2);
  const w1 = fixedDim(textEncoder.output(hiddenState1).shape[2]);
  const w2 = fixedDim(textEncoder2.output(hiddenState2).shape[2]);
  if (w1 && w2 && w1 + w2 !== contract.hiddenSize) {
    throw new ModelLoadError(
      `${folder.files.unet}: "encoder_hidden_states" is ${contract.hiddenSize} wide, but the text encoders give ${w1} + ${w2} = ${w1 + w2}; the encoders and the UNet are from different models`,
      folder.files.unet,
    );
  }
  const pw = fixedDim(pooled.shape[1]);
  const uw = contract.sdxl?.pooledWidth;
  if (pw && uw && pw !== uw) {
    throw new ModelLoadError(
      `${folder.files.unet}: "text_embeds" is ${uw} wide, but text_encoder_2 gives ${pw}; the encoders and the UNet are from different models`,
      folder.files.unet,
    );
  }
  return { textEncoder2, tokenizer2, hiddenState1, hiddenState2, forceZerosForEmptyPrompt: folder.forceZerosForEmptyPrompt ?? true };
}

/** Open every session of a checked model folder (in parallel) and derive its contract. */
export async function loadModel(folder: ModelFolder, sessionOptions: SessionOptions): Promise<LoadedModel> {
  makeScheduler(folder, 'euler'); // a broken scheduler config fails the load, not the first job
  const { files } = folder;
  const tokenizerPromise = ClipTokenizer.fromFolder(files.tokenizerDir);
  const [tokenizer, textEncoder, unet, vaeDecoder, vaeEncoder, previewDecoder, textEncoder2, tokenizer2] = await Promise.all([
    tokenizerPromise,
    ModelSession.load(files.textEncoder, sessionOptions),
    ModelSession.load(files.unet, sessionOptions),
    ModelSession.load(files.vaeDecoder, sessionOptions),
    files.vaeEncoder ? ModelSession.load(files.vaeEncoder, sessionOptions) : undefined,
    files.previewDecoder ? ModelSession.load(files.previewDecoder, sessionOptions) : undefined,
    files.textEncoder2 ? ModelSession.load(files.textEncoder2, sessionOptions) : undefined,
    files.tokenizer2Dir ? ClipTokenizer.fromFolder(files.tokenizer2Dir) : undefined,
  ]);
  const contract = unetContract(unet, folder.unetInChannels);
  textEncoder.input('input_ids');
  if (!contract.sdxl && !textEncoder.outputs.has('last_hidden_state')) {
    throw new ModelLoadError(`${textEncoder.file} has no output "last_hidden_state"`, textEncoder.file);
  }
  const sdxl = contract.sdxl ? sdxlContract(folder, contract, textEncoder, textEncoder2, tokenizer2) : undefined;
  if (!contract.sdxl && textEncoder2) {
    throw new ModelLoadError(
      `${folder.files.unet}: the folder has text_encoder_2/ (SDXL layout) but the UNet has no "text_embeds"/"time_ids" inputs; the UNet does not belong with these encoders`,
      folder.files.unet,
    );
  }
  vaeDecoder.input('latent_sample');
  let vaeEncoderOutput: LoadedModel['vaeEncoderOutput'];
  if (vaeEncoder) {
    vaeEncoder.input('sample');
    if (vaeEncoder.outputs.has('latent_parameters')) vaeEncoderOutput = 'latent_parameters';
    else if (vaeEncoder.outputs.has('latent_sample')) vaeEncoderOutput = 'latent_sample';
    else throw new ModelLoadError(`${vaeEncoder.file}: expected output "latent_sample" or "latent_parameters"`, vaeEncoder.file);
  }
  const family = detectFamily(folder, contract.hiddenSize, sdxl !== undefined);
  const fixed = folder.manifest.fixedSize;
  const fixedLatent = contract.fixedLatentSize;
  if (fixed && !(fixedLatent && fixedLatent[0] * 8 === fixed[1] && fixedLatent[1] * 8 === fixed[0])) {
    const drawn = fixedLatent ? `${fixedLatent[1] * 8}x${fixedLatent[0] * 8} only` : 'any size';
    throw new ModelLoadError(
      `${path.join(folder.dir, 'imagine-bot.json')}: "fixedSize" says ${fixed[0]}x${fixed[1]}, but the UNet draws ${drawn}; correct or remove it`,
      folder.dir,
    );
  }
  const manifestPreview = folder.manifest.preview;
  const previewMatrix: LatentRgbMatrix | undefined = manifestPreview
    ? { factors: manifestPreview.latentRgbFactors, bias: manifestPreview.bias }
    : family === 'sd1' || family === 'sd2'
      ? SD_LATENT_RGB
      : family === 'sdxl'
        ? SDXL_LATENT_RGB
        : undefined;
  const model: LoadedModel = {
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
    ...(sdxl ? { sdxl } : {}),
    hiddenStates: countHiddenStates(textEncoder),
    knownWords: folder.manifest.knownWords ? new Set(folder.manifest.knownWords.map((w) => w.toLowerCase())) : undefined,
    sizeBytes: folder.sizeBytes,
  };
  // An opened ControlNet's bytes join the model's, so the engine's memory budget counts them from then on.
  return Object.assign(
    model,
    controlNetLoader(folder, contract, sessionOptions, (bytes) => (model.sizeBytes += bytes)),
  );
}

/** The lazy ControlNet loader of a ControlNet-ready UNet; each net is opened once. */
function controlNetLoader(
  folder: ModelFolder,
  contract: UnetContract,
  options: SessionOptions,
  charge: (bytes: number) => void,
): Pick<LoadedModel, 'controlNet' | 'openControlNets'> {
  const residuals = contract.control;
  if (!residuals) return {};
  const open = new Map<string, Promise<ControlNet>>();
  const controlNet = (name: string) => {
    let net = open.get(name);
    if (!net) {
      net = loadControlNet(folder.name, folder.files.controlNets, name, residuals, contract.sdxl !== undefined, options).then((loaded) => {
        charge(loaded.session.sizeBytes);
        return loaded;
      });
      open.set(name, net);
      net.catch(() => open.delete(name)); // a failed load is retried by the next job, not cached
    }
    return net;
  };
  return { controlNet, openControlNets: open };
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
  const nets = await Promise.allSettled([...(model.openControlNets?.values() ?? [])]);
  await Promise.all(nets.map((n) => (n.status === 'fulfilled' ? n.value.session.release() : undefined)));
  await Promise.all(
    [model.textEncoder, model.unet, model.vaeDecoder, model.vaeEncoder, model.previewDecoder, model.sdxl?.textEncoder2].map((s) => s?.release()),
  );
}
