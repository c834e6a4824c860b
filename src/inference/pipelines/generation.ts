/**
 * The building blocks of every pipeline, in diffusers' order (pipeline_onnx_stable_diffusion.py): encode the prompt
 * and the negative prompt → seeded latents × init_noise_sigma (or the encoded init image noised to the start step)
 * → per step: scale_model_input → UNet → guidance → scheduler step → progress/preview → VAE decode
 * `latents / scaling_factor`.
 */
import { CancelledError, Identifiers, InferenceError, UserError } from '../../errors.js';
import { MAX_SEED, type GenerateRequest, type Preview } from '../../protocol/generate-request.js';
import { tensorToRgb } from '../image/pixels.js';
import { PreviewDecoder } from '../image/previews.js';
import type { LoadedModel } from '../model/loaded-model.js';
import type { Feed, IoSpec, RunClock } from '../model/session.js';
import { textCleanup } from '../prompt/text-cleanup.js';
import { TorchCpuRng, slerp } from '../rng.js';
import type { Scheduler } from '../schedulers/scheduler.js';
import type { GenerateOptions } from '../types.js';
import { encodeSdxlNegative, encodeSdxlText, sdxlTimeIds, type SdxlText } from './sdxl-conditioning.js';

export function throwIfAborted(signal: AbortSignal | undefined): void {
  if (signal?.aborted) throw new CancelledError();
}

/** LCM guidance embedding of w = (cfg − 1)·1000 (diffusers get_guidance_scale_embedding). */
export function guidanceEmbedding(cfg: number, dim: number): Float32Array {
  const w = (cfg - 1) * 1000;
  const half = Math.floor(dim / 2);
  const out = new Float32Array(dim);
  const scale = Math.log(10000) / (half - 1);
  for (let i = 0; i < half; i++) {
    const arg = w * Math.exp(-i * scale);
    out[i] = Math.sin(arg);
    out[half + i] = Math.cos(arg);
  }
  return out; // an odd dim keeps its last entry 0, as diffusers pads it
}

function timestepFeed(spec: IoSpec, t: number, batch: number): Feed {
  const value = spec.type.startsWith('int') ? Math.round(t) : t;
  if (spec.shape.length === 0) return { data: [value], dims: [] };
  const fixed = typeof spec.shape[0] === 'number' && spec.shape[0] > 0 ? spec.shape[0] : batch;
  return { data: new Array<number>(fixed).fill(value), dims: [fixed] };
}

/** `[n, C, h, w]` latents with the `[5, h, w]` inpainting conditioning appended to each image's channels. */
function withConditioning(latents: Float32Array, conditioning: Float32Array, n: number): Float32Array {
  const per = latents.length / n;
  const out = new Float32Array(latents.length + conditioning.length * n);
  for (let b = 0; b < n; b++) {
    out.set(latents.subarray(b * per, (b + 1) * per), b * (per + conditioning.length));
    out.set(conditioning, b * (per + conditioning.length) + per);
  }
  return out;
}

function concat(a: Float32Array, b: Float32Array): Float32Array {
  const out = new Float32Array(a.length + b.length);
  out.set(a);
  out.set(b, a.length);
  return out;
}

function repeat(v: Float32Array, times: number): Float32Array {
  const out = new Float32Array(v.length * times);
  for (let i = 0; i < times; i++) out.set(v, i * v.length);
  return out;
}

/**
 * A NaN or ±Inf anywhere in the decoded image would be posted as black: fp16 SDXL VAEs overflow (InvokeAI #4454),
 * and the fix is the model's VAE, so the user is told exactly that instead of receiving a black image.
 */
export function checkFinite(data: Float32Array, modelName: string): void {
  for (let i = 0; i < data.length; i++) {
    if (!Number.isFinite(data[i])) {
      throw new UserError(
        Identifiers.InvalidModel,
        `Model "${modelName}": the VAE produced NaN/black output — fp16 SDXL VAEs overflow; use an fp32 VAE or madebyollin/sdxl-vae-fp16-fix (replace the model's vae_decoder/model.onnx).`,
        { model: modelName },
      );
    }
  }
}

/**
 * One generation's state: the encoded prompts, the preview decoder and the warnings and notes collected on the way.
 * The steps are diffusers' (encode → denoise → decode); the request kinds in run-pipeline.ts combine them.
 */
export class Generation {
  readonly warnings: string[] = [];
  readonly notes: string[] = [];
  previewMs = 0;
  private cond!: Float32Array;
  private uncond?: Float32Array;
  /** [uncond, cond] stacked once for the batch-2 UNet call, rather than on every step. */
  private condPair?: Float32Array;
  private readonly guidance: boolean;
  /**
   * For 9-channel inpainting UNets: mask (1 channel) ‖ masked-image latents (4), at latent size, appended to the
   * latents on every call (diffusers' ONNX inpaint pipeline). Set by the pipeline before denoising.
   */
  imageConditioning?: Float32Array;
  /** SDXL (#12): pooled `text_embeds` per side of guidance, set by encodeText's SDXL hook. */
  private readonly sdxlPooled: { prompt?: Float32Array; 'negative prompt'?: Float32Array; pair?: Float32Array } = {};

  constructor(
    private readonly model: LoadedModel,
    private readonly req: GenerateRequest,
    private readonly clock: RunClock,
    private readonly options: GenerateOptions,
  ) {
    // LCM UNets take guidance as an input embedding, so there is no unconditional pass (reference §1.7).
    this.guidance = req.cfg > 1 && model.unetContract.timestepCondDim === undefined;
  }

  private async encodeText(text: string, what: 'prompt' | 'negative prompt'): Promise<Float32Array> {
    if (this.model.sdxl) return this.encodeSdxl(text, what); // SDXL hook (#12): both encoders, sdxl-conditioning.ts
    const enc = this.model.tokenizer.encodePadded(text);
    if (enc.truncated) {
      // The tokens are bytes of UTF-8: a cut inside a character leaves its last bytes at the start of the dropped
      // text, which decode as U+FFFD. They are no word the user wrote, so they are not quoted.
      const dropped = enc.droppedText.replace(/^\uFFFD+/, '').trim();
      const tooLong = `Your ${what} is longer than the model's 77-token window;`;
      this.warnings.push(dropped === '' ? `${tooLong} its last character was cut.` : `${tooLong} this part was ignored: "${dropped}".`);
    }
    const out = await this.model.textEncoder.run(
      { input_ids: { data: enc.inputIds, dims: [1, enc.inputIds.length] } },
      ['last_hidden_state'],
      this.clock,
    );
    return out.last_hidden_state.data;
  }

  // --- SDXL hook (#12) ---
  private sdxlCond?: SdxlText;
  /** encodeText for SDXL: the prompt first (the zero negative takes its shape), pooled kept for predictNoise. */
  private async encodeSdxl(text: string, what: 'prompt' | 'negative prompt'): Promise<Float32Array> {
    const sdxl = this.model.sdxl!;
    const encoded =
      what === 'prompt'
        ? (this.sdxlCond = await encodeSdxlText(this.model, sdxl, text, this.clock))
        : await encodeSdxlNegative(this.model, sdxl, text, this.sdxlCond!, this.clock);
    if (encoded.truncated) {
      const dropped = encoded.droppedText.replace(/^\uFFFD+/, '').trim();
      const tooLong = `Your ${what} is longer than the model's 77-token window;`;
      this.warnings.push(dropped === '' ? `${tooLong} its last character was cut.` : `${tooLong} this part was ignored: "${dropped}".`);
    }
    this.sdxlPooled[what] = encoded.pooled;
    return encoded.embeds;
  }

  /** SDXL's extra UNet feeds for one call: pooled text of the same rows as encoder_hidden_states, and size ids. */
  private sdxlFeeds(rows: 'prompt' | 'negative prompt' | 'pair', n: number, dims: number[]): Record<string, Feed> {
    if (!this.model.sdxl) return {};
    const pooled =
      rows === 'pair'
        ? (this.sdxlPooled.pair ??= concat(this.sdxlPooled['negative prompt']!, this.sdxlPooled.prompt!))
        : this.sdxlPooled[rows]!;
    const ids = sdxlTimeIds(dims[3] * 8, dims[2] * 8);
    return {
      text_embeds: { data: pooled, dims: [n, pooled.length / n] },
      time_ids: { data: repeat(Float32Array.from(ids), n), dims: [n, ids.length] },
    };
  }
  // --- end SDXL hook ---

  async encodePrompts(): Promise<void> {
    this.cond = await this.encodeText(this.req.prompt, 'prompt');
    if (this.guidance) {
      this.uncond = await this.encodeText(this.req.negativePrompt, 'negative prompt');
      this.condPair = concat(this.uncond, this.cond);
    }
    if (this.model.knownWords) {
      const words = textCleanup(`${this.req.prompt} ${this.req.negativePrompt}`).match(/\p{L}+/gu) ?? [];
      const unknown = [...new Set(words.filter((w) => !this.model.knownWords!.has(w)))];
      if (unknown.length) {
        this.warnings.push(`The model "${this.model.folder.name}" does not know these words, so they had no effect: ${unknown.join(', ')}.`);
      }
    }
  }

  /** Epsilon for one step, with classifier-free guidance: ε = ε_u + g·(ε_c − ε_u). */
  private async predictNoise(x: Float32Array, t: number, dims: number[]): Promise<Float32Array> {
    const { unet, unetContract: c } = this.model;
    const ehsDims = (n: number) => [n, this.cond.length / c.hiddenSize, c.hiddenSize];
    const extra = (n: number): Record<string, Feed> =>
      c.timestepCondDim === undefined
        ? {}
        : { timestep_cond: { data: repeat(guidanceEmbedding(this.req.cfg, c.timestepCondDim), n), dims: [n, c.timestepCondDim] } };
    const conditioning = this.imageConditioning;
    if (c.inpaint && !conditioning) throw new InferenceError(`${unet.file}: an inpainting UNet needs its mask and masked-image latents`);
    const call = async (latents: Float32Array, ehs: Float32Array, n: number, rows: 'prompt' | 'negative prompt' | 'pair') => {
      const sample = conditioning ? withConditioning(latents, conditioning, n) : latents;
      const channels = dims[1] + (conditioning ? conditioning.length / (dims[2] * dims[3]) : 0);
      const out = await unet.run(
        {
          sample: { data: sample, dims: [n, channels, dims[2], dims[3]] },
          timestep: timestepFeed(c.timestep, t, n),
          encoder_hidden_states: { data: ehs, dims: ehsDims(n) },
          ...extra(n),
          ...this.sdxlFeeds(rows, n, dims), // SDXL hook (#12): text_embeds, time_ids
        },
        ['out_sample'],
        this.clock,
      );
      return out.out_sample.data;
    };
    if (!this.guidance) return call(x, this.cond, 1, 'prompt');
    let epsU: Float32Array;
    let epsC: Float32Array;
    if (c.acceptsBatch2) {
      const both = await call(concat(x, x), this.condPair!, 2, 'pair');
      epsU = both.subarray(0, x.length);
      epsC = both.subarray(x.length);
    } else {
      epsU = await call(x, this.uncond!, 1, 'negative prompt');
      epsC = await call(x, this.cond, 1, 'prompt');
    }
    const g = this.req.cfg;
    const eps = new Float32Array(x.length);
    for (let i = 0; i < eps.length; i++) eps[i] = epsU[i] + g * (epsC[i] - epsU[i]);
    return eps;
  }

  /** Encode an image tensor to a latent × scaling factor (the mean of latent_parameters: deterministic). */
  async encodeImage(pixels: Float32Array, width: number, height: number): Promise<Float32Array> {
    const enc = this.model.vaeEncoder!;
    const name = this.model.vaeEncoderOutput!;
    const out = await enc.run({ sample: { data: pixels, dims: [1, 3, height, width] } }, [name], this.clock);
    let latent = out[name].data;
    if (name === 'latent_parameters') latent = latent.slice(0, latent.length / 2); // mean ‖ logvar → mean
    const s = this.model.folder.vaeScalingFactor;
    return latent.map((v) => v * s);
  }

  /**
   * Denoise one image. `init` is an encoded image for img2img (noised to the start step chosen by strength). With
   * `keep` (a 0/1 latent mask, 1 = repaint) the latents outside the mask are put back after every step as the init
   * latent noised to the next step's level, and exactly at the end (diffusers' legacy inpainting; equivalent for our
   * samplers to A1111's x0 blend): masked img2img for ordinary UNets.
   */
  async denoise(
    imageIndex: number,
    seed: number,
    width: number,
    height: number,
    scheduler: Scheduler,
    init?: { latent: Float32Array; strength: number; repaint?: Float32Array; fill?: 'original' | 'latent-noise' },
  ): Promise<Float32Array> {
    const { latentChannels } = this.model.unetContract;
    const dims = [1, latentChannels, height / 8, width / 8];
    const n = dims.reduce((a, b) => a * b, 1);
    const rng = new TorchCpuRng(seed);
    let noise = rng.randn(n);
    const mode = this.req.mode;
    if (mode.kind === 'variation' && mode.strength > 0) {
      noise = slerp(mode.strength, noise, new TorchCpuRng((mode.subseed + imageIndex) % (MAX_SEED + 1)).randn(n));
    }
    const steps = this.req.steps;
    let begin = 0;
    let x: Float32Array;
    const repaint = init?.repaint;
    const plane = n / latentChannels;
    const masked = (values: Float32Array, inside: Float32Array, outside: Float32Array) => {
      for (let k = 0; k < values.length; k++) {
        const m = repaint![k % plane];
        values[k] = m * inside[k] + (1 - m) * outside[k];
      }
      return values;
    };
    if (init) {
      // diffusers get_timesteps: run the last ⌊steps·strength⌋ steps (at least one).
      begin = steps - Math.max(1, Math.min(Math.floor(steps * init.strength), steps));
      // A1111's "latent noise" masked content: the masked area starts from fresh noise instead of the source.
      const start = repaint && init.fill === 'latent-noise' ? masked(new Float32Array(n), new TorchCpuRng(seed + 1).randn(n), init.latent) : init.latent;
      x = scheduler.addNoise(start, noise, begin);
    } else {
      x = noise.map((v) => v * scheduler.initNoiseSigma);
    }
    const total = steps - begin;
    const previews = this.req.previewEvery > 0 ? this.previewDecoder(width, height) : undefined;
    for (let i = begin; i < steps; i++) {
      throwIfAborted(this.options.signal);
      const t = scheduler.timesteps[i];
      const eps = await this.predictNoise(scheduler.scaleModelInput(x, i), t, dims);
      const { prevSample, predOriginalSample } = scheduler.step(eps, i, x, rng);
      x = prevSample;
      if (repaint) x = masked(x, x, i + 1 < steps ? scheduler.addNoise(init!.latent, noise, i + 1) : init!.latent);
      const step = i - begin + 1;
      // Preview at the first step (the user sees something after one UNet call), then every k steps; the last
      // step's picture is the final image, so no preview there. The preview is awaited before the next step:
      // session.run blocks the event loop, so a preview left pending would only arrive a whole step later.
      let preview: Preview | undefined;
      if (previews && step < total && (step - 1) % this.req.previewEvery === 0) {
        const started = performance.now();
        preview = await previews.decode(predOriginalSample, this.clock);
        this.previewMs += performance.now() - started;
      }
      this.options.onStep?.({ step, total, image: imageIndex, preview });
    }
    throwIfAborted(this.options.signal);
    return x;
  }

  private previewDecoderCache?: PreviewDecoder | null;
  private previewDecoder(width: number, height: number): PreviewDecoder | undefined {
    if (this.previewDecoderCache === undefined) {
      this.previewDecoderCache =
        PreviewDecoder.create({
          channels: this.model.unetContract.latentChannels,
          latentHeight: height / 8,
          latentWidth: width / 8,
          taesd: this.model.previewDecoder,
          matrix: this.model.previewMatrix,
        }) ?? null;
      if (!this.previewDecoderCache) this.notes.push(`model ${this.model.folder.name} has no preview decoder or latent-RGB matrix: previews off`);
    }
    return this.previewDecoderCache ?? undefined;
  }

  async decode(latent: Float32Array, width: number, height: number): Promise<{ rgb: Buffer; width: number; height: number }> {
    const { latentChannels } = this.model.unetContract;
    const s = this.model.folder.vaeScalingFactor;
    const out = await this.model.vaeDecoder.run(
      { latent_sample: { data: latent.map((v) => v / s), dims: [1, latentChannels, height / 8, width / 8] } },
      [this.model.vaeDecoder.output('sample').name],
      this.clock,
    );
    const { data, dims } = out.sample;
    if (dims.length !== 4 || dims[1] !== 3) throw new InferenceError(`${this.model.vaeDecoder.file}: expected [1, 3, H, W] output, got [${dims.join(', ')}]`);
    checkFinite(data, this.model.folder.name);
    return { rgb: tensorToRgb(data, dims[3], dims[2]), width: dims[3], height: dims[2] };
  }
}

