/**
 * Step previews from the predicted clean latent (x0), never the noisy one: that is what A1111 and ComfyUI show,
 * and it is a recognisable picture from the first steps (reference/inference.md §3.11). Two decoders:
 * TAESD when the model folder ships one (better, still cheap), else a per-channel linear map to RGB.
 */
import { previewPng, previewScale, tensorToRgb } from './pixels.js';
import type { ModelSession, RunClock } from '../model/session.js';
import type { Preview } from '../../protocol/generate-request.js';

export interface LatentRgbMatrix {
  /** One [r, g, b] row per latent channel. */
  factors: ReadonlyArray<readonly [number, number, number]>;
  bias?: readonly [number, number, number];
}

/**
 * SD 1.x/2.x latent → RGB, fitted by stable-diffusion.cpp (`sd_latent_rgb_proj`, src/runtime/latent-preview.h).
 * SD 2.x shares SD 1.x's VAE, so one matrix serves both.
 */
export const SD_LATENT_RGB: LatentRgbMatrix = {
  factors: [
    [0.337366, 0.216344, 0.257386],
    [0.165636, 0.386828, 0.046994],
    [-0.267803, 0.237036, 0.223517],
    [-0.178022, -0.200862, -0.678514],
  ],
  bias: [-0.017478, -0.055834, -0.105825],
};

/**
 * SDXL latent → RGB (its VAE has another latent space than SD 1.x's), fitted by stable-diffusion.cpp
 * (`sdxl_latent_rgb_proj`, src/runtime/latent-preview.h), chosen for family 'sdxl'.
 */
export const SDXL_LATENT_RGB: LatentRgbMatrix = {
  factors: [
    [0.258303, 0.27764, 0.329699],
    [-0.299701, 0.105446, 0.014194],
    [0.050522, 0.186163, -0.143257],
    [-0.211938, -0.149892, -0.080036],
  ],
  bias: [0.144381, -0.033313, 0.007061],
};

/** Longest side of a preview image: big enough to see, small enough to upload every few seconds. */
export const PREVIEW_SIZE = 256;

/** `[C, h, w]` latent → `[3, h, w]` in [-1, 1] through the matrix (applied to one image of the batch). */
export function latentToRgbTensor(latent: Float32Array, channels: number, h: number, w: number, m: LatentRgbMatrix): Float32Array {
  const plane = h * w;
  const out = new Float32Array(3 * plane);
  for (let c = 0; c < 3; c++) {
    const bias = m.bias?.[c] ?? 0;
    const dst = c * plane;
    for (let i = 0; i < plane; i++) out[dst + i] = bias;
    for (let k = 0; k < channels; k++) {
      const f = m.factors[k][c];
      if (f === 0) continue;
      const src = k * plane;
      for (let i = 0; i < plane; i++) out[dst + i] += latent[src + i] * f;
    }
  }
  return out;
}

export interface PreviewDecoderOptions {
  channels: number;
  latentHeight: number;
  latentWidth: number;
  /** TAESD-style decoder: input the unscaled latent, output an image 8× larger. */
  taesd?: ModelSession;
  matrix?: LatentRgbMatrix;
}

/** Builds preview PNGs for one generation; `undefined` when the model has no way to preview. */
export class PreviewDecoder {
  private constructor(private readonly o: PreviewDecoderOptions) {}

  static create(o: PreviewDecoderOptions): PreviewDecoder | undefined {
    if (o.taesd) return new PreviewDecoder(o);
    if (o.matrix && o.matrix.factors.length === o.channels) return new PreviewDecoder(o);
    return undefined;
  }

  async decode(x0: Float32Array, clock?: RunClock): Promise<Preview> {
    // Only the TAESD path awaits (a session run); the matrix path is synchronous work.
    const { channels, latentHeight: h, latentWidth: w } = this.o;
    if (this.o.taesd) {
      const inName = this.o.taesd.inputs.keys().next().value!;
      const out = this.o.taesd.output();
      const result = await this.o.taesd.run({ [inName]: { data: x0, dims: [1, channels, h, w] } }, [out.name], clock);
      const { data, dims } = result[out.name];
      const [, , oh, ow] = dims;
      // diffusers' AutoencoderTiny export names its output "sample" and maps to [-1, 1]; the raw TAESD decoder
      // outputs [0, 1].
      const signed = out.name === 'sample' ? data : data.map((v) => v * 2 - 1);
      // TAESD already decodes at full size; larger than PREVIEW_SIZE, keep every k-th pixel.
      const step = Math.max(1, Math.ceil(Math.max(ow, oh) / PREVIEW_SIZE));
      return step === 1 ? previewPng(tensorToRgb(signed, ow, oh), ow, oh, 1) : subsample(signed, ow, oh, step);
    }
    const rgb = latentToRgbTensor(x0, channels, h, w, this.o.matrix!);
    return previewPng(tensorToRgb(rgb, w, h), w, h, previewScale(w, h, Math.min(PREVIEW_SIZE, 8 * Math.max(w, h))));
  }
}

/** Every `step`-th pixel of a `[3, h, w]` image in [-1, 1], as a preview PNG (cheap downscale for big TAESD output). */
function subsample(data: Float32Array, w: number, h: number, step: number): Preview {
  const sw = Math.floor(w / step);
  const sh = Math.floor(h / step);
  const out = new Float32Array(3 * sw * sh);
  for (let c = 0; c < 3; c++) {
    for (let y = 0; y < sh; y++) {
      for (let x = 0; x < sw; x++) out[c * sw * sh + y * sw + x] = data[c * w * h + y * step * w + x * step];
    }
  }
  return previewPng(tensorToRgb(out, sw, sh), sw, sh, 1);
}
