/**
 * Inpainting and outpainting behind one request shape, for both kinds of UNet (reference: diffusers'
 * pipeline_onnx_stable_diffusion_inpaint.py and AUTOMATIC1111's modules/processing.py):
 * - 9-channel inpainting UNets get `latents ‖ mask ‖ masked-image latents` on every call; the mask is the mask at
 *   latent size (nearest, binarised at 0.5), the masked image is the source with the mask's area set to 0 (grey).
 * - ordinary UNets run masked img2img: the encoded source is noised to the start step, and after every step the
 *   area outside the latent mask is put back (generation.ts `denoise`).
 * Either way the decoded result is pasted over the source through the blurred mask, so pixels outside it are the
 * source's, byte for byte. "Only masked" works on the mask's box plus padding, scaled to the request's size, and
 * pastes that back.
 */
import { MAX_SEED, REQUEST_BOUNDS, type GenerateRequest, type GeneratedImage } from '../../protocol/generate-request.js';
import type { ImageParameters } from '../../protocol/png-parameters.js';
import {
  blurMask,
  crop,
  emptyMaskError,
  isEmptyMask,
  latentMask,
  maskBox,
  outpaintCanvas,
  paste,
  pasteBack,
  readMask,
  readRgb,
  resizeRaw,
  type Mask,
  type Rgb,
} from '../image/mask.js';
import { rgbToTensor } from '../image/pixels.js';
import { makeScheduler, type LoadedModel } from '../model/loaded-model.js';
import type { Generation } from './generation.js';
import { finishPng } from './finish-png.js';
import { Identifiers, UserError } from '../../errors.js';

type BaseParams = Pick<ImageParameters, 'prompt' | 'negativePrompt' | 'steps' | 'sampler' | 'cfg' | 'model'>;

/**
 * The conditioning of an inpainting UNet asked for a whole new picture: a mask of ones and the latents of a neutral
 * grey image (0 in [-1, 1]), A1111's `txt2img_image_conditioning`.
 */
export async function fullRepaintConditioning(gen: Generation, width: number, height: number): Promise<Float32Array> {
  const grey = await gen.encodeImage(new Float32Array(3 * width * height), width, height);
  const ones = new Float32Array(grey.length / 4).fill(1);
  return concatChannels(ones, grey);
}

function concatChannels(a: Float32Array, b: Float32Array): Float32Array {
  const out = new Float32Array(a.length + b.length);
  out.set(a);
  out.set(b, a.length);
  return out;
}

/** Runs an inpaint or outpaint request: one image, pasted back over its source. */
export async function runInpaint(gen: Generation, model: LoadedModel, req: GenerateRequest, seed: number, base: BaseParams): Promise<GeneratedImage> {
  const mode = req.mode;
  if (mode.kind !== 'inpaint' && mode.kind !== 'outpaint') throw new TypeError(`Expected an inpaint or outpaint request, got ${mode.kind}`);
  let source: Rgb;
  let mask: Mask;
  let options: { strength: number; maskBlur: number; fill: 'original' | 'latent-noise'; area: 'whole' | 'only-masked'; padding: number };
  const params: ImageParameters = { ...base, seed, width: req.width, height: req.height };
  if (mode.kind === 'inpaint') {
    source = await readRgb(mode.image, req.width, req.height, 'image to edit');
    mask = await readMask(mode.mask, req.width, req.height);
    if (isEmptyMask(mask)) throw emptyMaskError();
    options = mode;
  } else {
    const original = await readRgb(mode.image, req.width, req.height, 'image to extend');
    const made = await outpaintCanvas(original, mode);
    const { max } = REQUEST_BOUNDS.side;
    if (made.canvas.width > max || made.canvas.height > max) {
      throw new UserError(
        Identifiers.InvalidSize,
        `Panning makes the picture ${made.canvas.width}x${made.canvas.height}; the most is ${max} a side. Zoom out instead.`,
      );
    }
    source = made.canvas;
    mask = made.mask;
    // The new area has nothing worth keeping: it starts from fresh noise.
    options = { strength: mode.strength, maskBlur: 4, fill: 'latent-noise', area: 'whole', padding: 0 };
    params.outpaint = mode.zoom !== undefined ? `Zoom out ${mode.zoom}` : `Pan ${mode.pan}`;
  }
  params.width = source.width;
  params.height = source.height;
  params.denoisingStrength = options.strength;
  params.maskBlur = options.maskBlur;
  params.maskedContent = options.fill === 'latent-noise' ? 'latent noise' : 'original';
  if (options.area === 'only-masked') {
    params.onlyMasked = true;
    params.onlyMaskedPadding = options.padding;
  }

  const blurred = await blurMask(mask, options.maskBlur);
  let work = { source, mask };
  let box: { x: number; y: number; width: number; height: number } | undefined;
  if (options.area === 'only-masked') {
    box = maskBox(mask, options.padding)!;
    // The crop is worked at the request's size (full resolution for a small region) and scaled back after.
    work = {
      source: await resizeRaw(crop(source, box, 3), req.width, req.height, 3),
      mask: await resizeRaw(crop(mask, box, 1), req.width, req.height, 1),
    };
  }
  const generated = await inpaintAt(gen, model, req, seed, work.source, work.mask, options);
  let full: Rgb = generated;
  if (box) full = paste(source, await resizeRaw(generated, box.width, box.height, 3), box.x, box.y, 3);
  const rgb = pasteBack(source, full, blurred);
  return finishPng(rgb, source.width, source.height, params);
}

/** The inpaint itself at the working size: encode, denoise with the mask, decode. */
async function inpaintAt(
  gen: Generation,
  model: LoadedModel,
  req: GenerateRequest,
  seed: number,
  source: Rgb,
  mask: Mask,
  options: { strength: number; fill: 'original' | 'latent-noise' },
): Promise<Rgb> {
  const { width, height } = source;
  const pixels = rgbToTensor(source.data, width, height);
  const latent = await gen.encodeImage(pixels, width, height);
  const { scheduler, unknownKeys } = makeScheduler(model.folder, req.sampler);
  if (unknownKeys.length) gen.notes.push(`scheduler_config.json keys not used: ${unknownKeys.join(', ')}`);
  scheduler.setTimesteps(req.steps);
  let x: Float32Array;
  const imageSeed = seed % (MAX_SEED + 1);
  if (model.unetContract.inpaint) {
    // diffusers: mask nearest-resized to latent size and binarised; masked image = image · (mask < 0.5).
    const small = await latentMask(mask, 'nearest');
    const maskedPixels = Float32Array.from(pixels);
    const plane = width * height;
    for (let p = 0; p < plane; p++) {
      if (mask.data[p] >= 128) for (let c = 0; c < 3; c++) maskedPixels[c * plane + p] = 0;
    }
    gen.imageConditioning = concatChannels(small, await gen.encodeImage(maskedPixels, width, height));
    // The inpainting UNet repaints from the source noised by strength; a strength of 1 starts from pure noise.
    x = await gen.denoise(0, imageSeed, width, height, scheduler, { latent, strength: options.strength });
  } else {
    const repaint = await latentMask(mask);
    x = await gen.denoise(0, imageSeed, width, height, scheduler, { latent, strength: options.strength, repaint, fill: options.fill });
  }
  const img = await gen.decode(x, width, height);
  return { data: img.rgb, width: img.width, height: img.height };
}
