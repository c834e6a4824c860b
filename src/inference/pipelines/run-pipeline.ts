/**
 * One request on a loaded model: the model-dependent checks, then txt2img, img2img, variation or upscale built
 * from the steps in generation.ts, each image finished as a PNG with AUTOMATIC1111's parameters embedded.
 */
import { randomInt } from 'node:crypto';
import { Identifiers, UserError } from '../../errors.js';
import {
  MAX_SEED,
  REQUEST_BOUNDS,
  REQUEST_DEFAULTS,
  type GenerateRequest,
  type GeneratedImage,
  type Preview,
} from '../../protocol/generate-request.js';
import type { ImageParameters } from '../../protocol/png-parameters.js';
import { imageToTensor, lanczosUpscale, pngToRgb } from '../image/pixels.js';
import { makeScheduler, type LoadedModel } from '../model/loaded-model.js';
import type { RunClock } from '../model/session.js';
import type { GenerateOptions } from '../types.js';
import { clipSkipOutput } from '../prompt/clip-skip.js';
import { Generation, throwIfAborted, type JobEmbeddings } from './generation.js';
import { finishPng } from './finish-png.js';
import { fullRepaintConditioning, runInpaint } from './inpaint.js';
import { prepareControl } from './control.js';
import type { DepthFn } from '../image/control-map.js';
import type { ControlNetParameters } from '../../protocol/png-parameters.js';
import { lanczosOnlyWarning } from '../../protocol/warnings.js';

export interface PipelineOutput {
  images: GeneratedImage[];
  seed: number;
  warnings: string[];
  previewMs: number;
  /** Lines for the engine's log (unknown scheduler config keys and the like). */
  notes: string[];
  /** What each ControlNet unit saw (issue #15). */
  controlMaps?: Preview[];
}

function invalid(identifier: (typeof Identifiers)[keyof typeof Identifiers], message: string): UserError {
  return new UserError(identifier, message);
}

/**
 * The checks that depend on the model: the request's own bounds were checked against the contract
 * (protocol/generate-request.ts) at the engine's door.
 */
export function checkRequestForModel(model: LoadedModel, req: GenerateRequest): void {
  const mode = req.mode;
  const needsEncoder = mode.kind === 'img2img' || mode.kind === 'inpaint' || mode.kind === 'outpaint' || model.unetContract.inpaint;
  if (needsEncoder && !model.vaeEncoder) {
    const what = model.unetContract.inpaint ? 'an inpainting UNet needs it for every job' : `it cannot start from an image (${mode.kind})`;
    throw invalid(Identifiers.InvalidArgument, `Model "${model.folder.name}" has no vae_encoder, so ${what}. Use another model or drop the image.`);
  }
  if (mode.kind === 'outpaint' && mode.pan !== undefined && model.unetContract.fixedLatentSize) {
    throw invalid(
      Identifiers.InvalidSize,
      `Model "${model.folder.name}" only draws one size, so it cannot pan (the picture grows). Zoom out instead.`,
    );
  }
  if (mode.kind !== 'upscale') checkSize(model, req.width, req.height);
  clipSkipOutput(model, req.clipSkip ?? 1); // refuses a clip skip the text encoder has no output for, before any work
}

function checkSize(model: LoadedModel, width: number, height: number): void {
  const fixed = model.unetContract.fixedLatentSize;
  if (!fixed) return;
  const [h, w] = fixed;
  if (width !== w * 8 || height !== h * 8) {
    throw invalid(Identifiers.InvalidSize, `Model "${model.folder.name}" only draws ${w * 8}x${h * 8}; got ${width}x${height}.`);
  }
}

/** Run one request on a loaded model. `clock` collects session.run time. */
export async function runPipeline(
  model: LoadedModel,
  req: GenerateRequest,
  options: GenerateOptions,
  clock: RunClock,
  embeddings?: JobEmbeddings,
  /** What was typed, when the engine translated the prompts: `req` then carries the English (PNG info keeps both). */
  typed?: { prompt: string; negativePrompt: string },
  depth: () => Promise<DepthFn> = noDepth,
): Promise<PipelineOutput> {
  checkRequestForModel(model, req);
  throwIfAborted(options.signal);
  const seed = req.seed ?? randomInt(0, MAX_SEED + 1);
  const gen = new Generation(model, req, clock, options, embeddings);
  // ControlNet (issue #15): nets opened and maps made before any denoising; refused for modes it does not support.
  const control = await prepareControl(model, req, depth);
  if (control) gen.control = control.step;
  const mode = req.mode;
  const baseParams: Omit<ImageParameters, 'seed' | 'width' | 'height'> = {
    prompt: typed?.prompt ?? req.prompt,
    negativePrompt: typed?.negativePrompt ?? req.negativePrompt,
    ...(typed && typed.prompt !== req.prompt ? { translatedPrompt: req.prompt } : {}),
    ...(typed && typed.negativePrompt !== req.negativePrompt ? { translatedNegativePrompt: req.negativePrompt } : {}),
    steps: req.steps,
    sampler: req.sampler,
    cfg: req.cfg,
    model: model.folder.name,
    clipSkip: req.clipSkip,
    ...(req.controls?.length ? { controlNets: req.controls.map((u) => controlParameters(u, req)) } : {}),
    ...(model.loras?.length ? { loras: model.loras } : {}),
  };

  if (mode.kind === 'upscale') {
    const up = await lanczosUpscale(mode.image, 2);
    const fixed = model.unetContract.fixedLatentSize;
    const { max, multiple } = REQUEST_BOUNDS.side;
    const fits = !fixed && up.width % multiple === 0 && up.height % multiple === 0 && up.width <= max && up.height <= max;
    const params: ImageParameters = { ...baseParams, seed, width: up.width, height: up.height, upscale: 2 };
    if (!model.vaeEncoder || !fits) {
      // Plain Lanczos: no encoder to refine with, or the model cannot run at the doubled size.
      if (model.vaeEncoder && !fits) gen.warnings.push(lanczosOnlyWarning(up.width, up.height));
      const rgb = await pngToRgb(up.png);
      options.onStep?.({ step: 1, total: 1, image: 0 });
      return { images: [await finishPng(rgb, up.width, up.height, params)], seed, warnings: gen.warnings, previewMs: 0, notes: gen.notes };
    }
    await gen.encodePrompts();
    if (model.unetContract.inpaint) gen.imageConditioning = await fullRepaintConditioning(gen, up.width, up.height);
    if (gen.embeddingsUsed.length) params.embeddings = tiHashes(gen);
    const pixels = await imageToTensor(up.png, up.width, up.height, 'image to upscale');
    const latent = await gen.encodeImage(pixels, up.width, up.height);
    const { scheduler, unknownKeys } = makeScheduler(model.folder, req.sampler);
    noteUnknownKeys(gen, unknownKeys);
    scheduler.setTimesteps(req.steps);
    const x = await gen.denoise(0, seed, up.width, up.height, scheduler, { latent, strength: mode.strength });
    const img = await gen.decode(x, up.width, up.height);
    const image = await finishPng(img.rgb, img.width, img.height, { ...params, denoisingStrength: mode.strength });
    return { images: [image], seed, warnings: gen.warnings, previewMs: gen.previewMs, notes: gen.notes };
  }

  if (mode.kind === 'inpaint' || mode.kind === 'outpaint') {
    await gen.encodePrompts();
    const image = await runInpaint(gen, model, req, seed, baseParams);
    return { images: [image], seed, warnings: gen.warnings, previewMs: gen.previewMs, notes: gen.notes };
  }

  await gen.encodePrompts();
  // An inpainting UNet asked for a whole picture: everything masked, the masked image a neutral grey (A1111's
  // txt2img_image_conditioning).
  if (model.unetContract.inpaint) gen.imageConditioning = await fullRepaintConditioning(gen, req.width, req.height);
  if (gen.embeddingsUsed.length) baseParams.embeddings = tiHashes(gen);
  let init: { latent: Float32Array; strength: number } | undefined;
  if (mode.kind === 'img2img') {
    const pixels = await imageToTensor(mode.image, req.width, req.height);
    init = { latent: await gen.encodeImage(pixels, req.width, req.height), strength: mode.strength };
  }
  const images: GeneratedImage[] = [];
  for (let i = 0; i < req.count; i++) {
    // Image i uses seed + i, so any one image of a grid can be regenerated alone with its own seed.
    const imageSeed = (seed + i) % (MAX_SEED + 1);
    const { scheduler, unknownKeys } = makeScheduler(model.folder, req.sampler);
    if (i === 0) noteUnknownKeys(gen, unknownKeys);
    scheduler.setTimesteps(req.steps);
    const x = await gen.denoise(i, imageSeed, req.width, req.height, scheduler, init);
    const img = await gen.decode(x, req.width, req.height);
    const params: ImageParameters = { ...baseParams, seed: imageSeed, width: img.width, height: img.height };
    if (mode.kind === 'img2img') params.denoisingStrength = mode.strength;
    if (mode.kind === 'variation') {
      params.variationSeed = (mode.subseed + i) % (MAX_SEED + 1);
      params.variationStrength = mode.strength;
    }
    images.push(await finishPng(img.rgb, img.width, img.height, params));
  }
  return { images, seed, warnings: gen.warnings, previewMs: gen.previewMs, notes: gen.notes, ...(control ? { controlMaps: control.maps } : {}) };
}

const noDepth = (): Promise<DepthFn> =>
  Promise.reject(
    new UserError(Identifiers.InvalidArgument, 'The "depth" preprocessor is not available here; send a ready depth map with preprocess "none".'),
  );

/** A unit as sd-webui-controlnet's infotext names it. */
function controlParameters(unit: NonNullable<GenerateRequest['controls']>[number], req: GenerateRequest): ControlNetParameters {
  const module = unit.preprocess === 'depth' ? 'depth_anything_v2' : unit.preprocess;
  const canny = unit.preprocess === 'canny';
  return {
    module,
    model: unit.net,
    weight: unit.strength,
    processorRes: Math.min(req.width, req.height),
    ...(canny
      ? { thresholdA: unit.cannyLow ?? REQUEST_DEFAULTS.control.cannyLow, thresholdB: unit.cannyHigh ?? REQUEST_DEFAULTS.control.cannyHigh }
      : {}),
  };
}

function noteUnknownKeys(gen: Generation, keys: string[]): void {
  if (keys.length) gen.notes.push(`scheduler_config.json keys not used: ${keys.join(', ')}`);
}

/** The embeddings the prompts used, for the PNG's `TI hashes`. */
function tiHashes(gen: Generation): ImageParameters['embeddings'] {
  return gen.embeddingsUsed.map(({ name, hash }) => ({ name, hash }));
}
