/**
 * The building blocks of every pipeline, in diffusers' order (pipeline_onnx_stable_diffusion.py): encode the prompt
 * and the negative prompt → seeded latents × init_noise_sigma (or the encoded init image noised to the start step)
 * → per step: scale_model_input → UNet → guidance → scheduler step → progress/preview → VAE decode
 * `latents / scaling_factor`.
 */
import { CancelledError, Identifiers, InferenceError, UserError } from '../../errors.js';
import { MAX_SEED, REQUEST_DEFAULTS, type GenerateRequest, type Preview } from '../../protocol/generate-request.js';
import { unknownWordsWarning } from '../../protocol/warnings.js';
import { tensorToRgb } from '../image/pixels.js';
import { PreviewDecoder } from '../image/previews.js';
import type { LoadedModel } from '../model/loaded-model.js';
import type { Feed, IoSpec, RunClock } from '../model/session.js';
import { applyLayerNorm, clipSkipOutput, finalLayerNorm } from '../prompt/clip-skip.js';
import { inputIdsFor, type JobTextEncoder } from '../prompt/embedding-set.js';
import type { EmbeddingLookup, PromptEmbedding } from '../prompt/embeddings.js';
import { CHUNK_LENGTH, chunkPrompt, type PromptChunk } from '../prompt/prompt-chunks.js';
import { isBreak, parsePromptAttention } from '../prompt/prompt-parser.js';
import { unknownWords } from '../prompt/unknown-words.js';
import { TorchCpuRng, slerp } from '../rng.js';
import type { Scheduler } from '../schedulers/scheduler.js';
import type { GenerateOptions } from '../types.js';
import { concatChannels, sdxlTimeIds } from './sdxl-conditioning.js';
import { zeroResidualFeeds } from '../model/controlnet.js';
import type { ControlStep } from './control.js';

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

export function timestepFeed(spec: IoSpec, t: number, batch: number): Feed {
  const value = spec.type.startsWith('int') ? Math.round(t) : t;
  if (spec.shape.length === 0) return { data: [value], dims: [] };
  const fixed = typeof spec.shape[0] === 'number' && spec.shape[0] > 0 ? spec.shape[0] : batch;
  return { data: new Array<number>(fixed).fill(value), dims: [fixed] };
}

function concat(a: Float32Array, b: Float32Array): Float32Array {
  const out = new Float32Array(a.length + b.length);
  out.set(a);
  out.set(b, a.length);
  return out;
}

/**
 * A1111's emphasis "Original" (modules/sd_emphasis.py, EmphasisOriginal) on one chunk's text-encoder output
 * z [77, C]: scale each token's vector by its multiplier, then rescale the whole chunk so the mean of all its
 * elements is what it was before, which keeps weighted prompts from changing the conditioning's overall level.
 * In place; z is float32 as in A1111, the means are taken in float64.
 */
export function applyEmphasis(z: Float32Array, multipliers: readonly number[]): void {
  if (multipliers.every((m) => m === 1)) return; // the rescale would be × 1 exactly
  const width = z.length / multipliers.length;
  let before = 0;
  for (let i = 0; i < z.length; i++) before += z[i];
  let after = 0;
  for (let t = 0; t < multipliers.length; t++) {
    const m = Math.fround(multipliers[t]);
    for (let i = t * width; i < (t + 1) * width; i++) {
      z[i] *= m;
      after += z[i];
    }
  }
  const factor = Math.fround(Math.fround(before / z.length) / Math.fround(after / z.length));
  for (let i = 0; i < z.length; i++) z[i] *= factor;
}

/**
 * The textual-inversion embeddings one job may use: the lookup the chunker asks (it hands out the ids), and a way to
 * run with text encoders whose token tables have their rows, one per model encoder in order (SDXL: text_encoder,
 * text_encoder_2), as EmbeddingSet.withTextEncoders in the engine gives them.
 */
export interface JobEmbeddings {
  lookup: EmbeddingLookup;
  withTextEncoders(fn: (encoders: readonly JobTextEncoder[]) => Promise<void>): Promise<void>;
}

/** A prompt's conditioning: its chunks' encodings joined along the sequence axis, [1, 77·chunks, C]. */
export interface EncodedPrompt {
  z: Float32Array;
  chunks: number;
  embeddings: PromptEmbedding[];
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

/**
 * One generation's state: the encoded prompts, the preview decoder and the warnings and notes collected on the way.
 * The steps are diffusers' (encode → denoise → decode); the request kinds in run-pipeline.ts combine them.
 */
export class Generation {
  readonly warnings: string[] = [];
  readonly notes: string[] = [];
  previewMs = 0;
  private cond?: Float32Array;
  private uncond?: Float32Array;
  /** [uncond, cond] stacked once for the batch-2 UNet call, rather than on every step. */
  private condPair?: Float32Array;
  private readonly guidance: boolean;
  /**
   * For 9-channel inpainting UNets: mask (1 channel) ‖ masked-image latents (4), at latent size, appended to the
   * latents on every call (diffusers' ONNX inpaint pipeline). Set by the pipeline before denoising.
   */
  imageConditioning?: Float32Array;
  /**
   * ControlNet (issue #15): the units' residuals for each UNet call, set by the pipeline. A ControlNet-ready UNet
   * without it gets zero residuals (a plain job).
   */
  control?: ControlStep;
  /** SDXL: pooled `text_embeds` per side of guidance (the first chunk's, as A1111 and diffusers take it). */
  private readonly sdxlPooled: { prompt?: Float32Array; 'negative prompt'?: Float32Array; pair?: Float32Array } = {};

  constructor(
    private readonly model: LoadedModel,
    private readonly req: GenerateRequest,
    private readonly clock: RunClock,
    private readonly options: GenerateOptions,
    private readonly embeddings?: JobEmbeddings,
  ) {
    // LCM UNets take guidance as an input embedding, so there is no unconditional pass (reference §1.7).
    this.guidance = req.cfg > 1 && model.unetContract.timestepCondDim === undefined;
  }

  /** The text encoder's output for chunks of 77 ids, [chunks, 77, C]: one batched run when the encoder takes a batch. */
  private async runTextEncoder(chunks: readonly PromptChunk[]): Promise<Float32Array> {
    const encoder = this.textEncoders?.[0].session ?? this.model.textEncoder;
    const clipSkip = this.req.clipSkip ?? REQUEST_DEFAULTS.clipSkip;
    const output = clipSkipOutput(this.model, clipSkip);
    const norm = clipSkip > 1 ? await finalLayerNorm(this.model) : undefined;
    const run = async (group: readonly PromptChunk[]) => {
      const ids = new Int32Array(group.length * CHUNK_LENGTH);
      group.forEach((chunk, i) => ids.set(chunk.ids, i * CHUNK_LENGTH));
      const out = await encoder.run({ input_ids: { data: ids, dims: [group.length, CHUNK_LENGTH] } }, [output], this.clock);
      const z = out[output].data;
      // Clip skip: an intermediate layer's state, normalised by the final layer norm as A1111 does.
      if (norm) applyLayerNorm(z, norm);
      return z;
    };
    // Chunks are encoded independently (A1111 sends each through CLIP alone), so batching them is the same sum.
    const batchDim = encoder.input('input_ids').shape[0];
    if (chunks.length === 1 || typeof batchDim !== 'number' || batchDim <= 0) return run(chunks);
    let z: Float32Array | undefined;
    for (const [i, chunk] of chunks.entries()) {
      const part = await run([chunk]);
      z ??= new Float32Array(part.length * chunks.length);
      z.set(part, i * part.length);
    }
    return z!;
  }

  /**
   * A1111's conditioning for one prompt: attention syntax parsed, 75-token chunks, each chunk encoded alone with
   * its multipliers applied (emphasis "Original"), the chunks joined along the sequence axis.
   */
  async encodeText(text: string, what: 'prompt' | 'negative prompt', options: { zerosForEmpty?: boolean } = {}): Promise<EncodedPrompt> {
    if (this.model.sdxl) return this.encodeSdxl(text, what, options.zerosForEmpty ?? true);
    const { chunks, embeddings } = chunkPrompt(this.model.tokenizer, text, { embeddings: this.embeddings?.lookup, what });
    const fixed = this.model.unetContract.sequenceLength;
    if (fixed !== undefined && chunks.length * CHUNK_LENGTH > fixed) {
      throw new UserError(
        Identifiers.PromptTooLong,
        `Model "${this.model.folder.name}" was exported for ${fixed / CHUNK_LENGTH} chunk(s) of 75 tokens and your ${what} needs ${chunks.length}; shorten it (or remove BREAK).`,
      );
    }
    const z = await this.runTextEncoder(chunks);
    const size = z.length / chunks.length;
    chunks.forEach((chunk, i) => applyEmphasis(z.subarray(i * size, (i + 1) * size), chunk.multipliers));
    return { z, chunks: chunks.length, embeddings };
  }

  /**
   * SDXL (diffusers' encode_prompt with A1111's chunks): both tokenizers chunk the text alike, each encoder's
   * penultimate hidden state gets the chunk's emphasis, the two are joined on the channel axis per chunk (768 + 1280),
   * and encoder 2's pooled `text_embeds` of the first chunk conditions the UNet. An empty negative is all zeros when
   * `force_zeros_for_empty_prompt` holds (padding chunks are real encodings of "", as A1111's pad_cond).
   */
  private async encodeSdxl(text: string, what: 'prompt' | 'negative prompt', zerosForEmpty: boolean): Promise<EncodedPrompt> {
    const sdxl = this.model.sdxl!;
    if (
      zerosForEmpty &&
      what === 'negative prompt' &&
      text.trim() === '' &&
      sdxl.forceZerosForEmptyPrompt &&
      this.sdxlShape &&
      this.sdxlPooled.prompt
    ) {
      // encodePrompts encodes the prompt first; the zero negative takes its shape.
      const prompt = this.sdxlShape!;
      this.sdxlPooled[what] = new Float32Array(this.sdxlPooled.prompt.length);
      return { z: new Float32Array(prompt.length), chunks: prompt.chunks, embeddings: [] };
    }
    // Both tokenizers share CLIP's BPE and the job's embedding ids, so they chunk the text alike: an embedding takes
    // the same positions in both encoders, its clip_l rows in text_encoder's table and its clip_g rows in
    // text_encoder_2's (grown together by EmbeddingSet).
    const lookup = this.embeddings?.lookup;
    const one = chunkPrompt(this.model.tokenizer, text, { embeddings: lookup, what });
    const two = chunkPrompt(sdxl.tokenizer2, text, { embeddings: lookup, what });
    const k = one.chunks.length;
    const encode = async (encoder: JobTextEncoder, chunks: readonly PromptChunk[], outputs: string[]) => {
      const parts: Record<string, Float32Array>[] = [];
      for (const chunk of chunks) {
        const ids = inputIdsFor(encoder, chunk.ids);
        const out = await encoder.session.run({ input_ids: { data: ids, dims: [1, CHUNK_LENGTH] } }, outputs, this.clock);
        parts.push(Object.fromEntries(Object.entries(out).map(([name, tensor]) => [name, tensor.data])));
      }
      return parts;
    };
    const [encoder1, encoder2] = this.textEncoders ?? [{ session: this.model.textEncoder }, { session: sdxl.textEncoder2 }];
    const h1 = await encode(encoder1, one.chunks, [sdxl.hiddenState1]);
    const h2 = await encode(encoder2, two.chunks, [sdxl.hiddenState2, 'text_embeds']);
    const chunkZ: Float32Array[] = [];
    for (let i = 0; i < k; i++) {
      const a = h1[i][sdxl.hiddenState1];
      const b = h2[i][sdxl.hiddenState2];
      applyEmphasis(a, one.chunks[i].multipliers);
      applyEmphasis(b, two.chunks[i].multipliers);
      chunkZ.push(concatChannels(a, a.length / CHUNK_LENGTH, b, b.length / CHUNK_LENGTH));
    }
    const z = new Float32Array(chunkZ.reduce((n, c) => n + c.length, 0));
    let at = 0;
    for (const c of chunkZ) {
      z.set(c, at);
      at += c.length;
    }
    if (zerosForEmpty) this.sdxlPooled[what] = h2[0].text_embeds;
    if (what === 'prompt') this.sdxlShape = { length: z.length, chunks: k };
    return { z, chunks: k, embeddings: one.embeddings };
  }

  private sdxlShape?: { length: number; chunks: number };

  /** SDXL's extra UNet feeds for one call: pooled text of the same rows as encoder_hidden_states, and size ids. */
  private sdxlFeeds(rows: 'prompt' | 'negative prompt' | 'pair', n: number, dims: number[]): Record<string, Feed> {
    if (!this.model.sdxl) return {};
    const pooled =
      rows === 'pair' ? (this.sdxlPooled.pair ??= concat(this.sdxlPooled['negative prompt']!, this.sdxlPooled.prompt!)) : this.sdxlPooled[rows]!;
    const ids = sdxlTimeIds(dims[3] * 8, dims[2] * 8);
    return {
      text_embeds: { data: pooled, dims: [n, pooled.length / n] },
      time_ids: { data: repeat(Float32Array.from(ids), n), dims: [n, ids.length] },
    };
  }

  /** The prompt's and negative prompt's conditioning; undefined before {@link encodePrompts}. */
  get conditioning(): { cond: Float32Array; uncond?: Float32Array } | undefined {
    return this.cond ? { cond: this.cond, uncond: this.uncond } : undefined;
  }

  /** Embeddings the prompt and negative prompt used, each once (for the PNG's "TI hashes"). */
  readonly embeddingsUsed: PromptEmbedding[] = [];

  /** The text encoders grown with this job's embeddings, while encodePrompts runs; the model's own otherwise. */
  private textEncoders?: readonly JobTextEncoder[];

  async encodePrompts(): Promise<void> {
    const embeddings = this.embeddings;
    if (!embeddings) return this.encodeBoth();
    // Chunk both prompts first, so the lookup knows every embedding they name; then encode with text encoders
    // whose token tables have their rows (grown once per set of embeddings and cached, embedding-set.ts). On SDXL
    // the first tokenizer's chunks name the same embeddings as the second's.
    chunkPrompt(this.model.tokenizer, this.req.prompt, { embeddings: embeddings.lookup, what: 'prompt' });
    if (this.guidance) chunkPrompt(this.model.tokenizer, this.req.negativePrompt, { embeddings: embeddings.lookup, what: 'negative prompt' });
    await embeddings.withTextEncoders(async (encoders) => {
      this.textEncoders = encoders;
      try {
        await this.encodeBoth();
      } finally {
        this.textEncoders = undefined;
      }
    });
  }

  private async encodeBoth(): Promise<void> {
    const prompt = await this.encodeText(this.req.prompt, 'prompt');
    let cond = prompt.z;
    const used = [...prompt.embeddings];
    if (this.guidance) {
      const negative = await this.encodeText(this.req.negativePrompt, 'negative prompt');
      used.push(...negative.embeddings);
      let uncond = negative.z;
      // A1111's pad_cond: the shorter side gets encodings of the empty prompt appended, whole chunks at a time,
      // so both have 77·k tokens and still go through the UNet as one [2, 77·k, C] batch.
      if (prompt.chunks !== negative.chunks) {
        const empty =
          this.req.negativePrompt === '' && !this.model.sdxl
            ? negative.z
            : (await this.encodeText('', 'negative prompt', { zerosForEmpty: false })).z;
        const pad = (z: Float32Array, times: number) => concat(z, repeat(empty, times));
        if (prompt.chunks < negative.chunks) cond = pad(cond, negative.chunks - prompt.chunks);
        else uncond = pad(uncond, prompt.chunks - negative.chunks);
      }
      this.uncond = uncond;
      this.condPair = concat(uncond, cond);
    }
    this.cond = cond;
    for (const embedding of used) if (!this.embeddingsUsed.some((e) => e.name === embedding.name)) this.embeddingsUsed.push(embedding);
    if (this.model.knownWords) {
      // Words as the text encoder sees them: without attention brackets, weights and BREAK.
      const text = [this.req.prompt, this.req.negativePrompt].flatMap((p) =>
        parsePromptAttention(p)
          .filter((run) => !isBreak(run))
          .map((run) => run.text),
      );
      const unknown = unknownWords(text.join(' '), this.model.knownWords);
      if (unknown.length) {
        this.warnings.push(unknownWordsWarning(this.model.folder.name, unknown));
      }
    }
  }

  /** Epsilon for one step, with classifier-free guidance: ε = ε_u + g·(ε_c − ε_u). */
  private async predictNoise(x: Float32Array, t: number, dims: number[]): Promise<Float32Array> {
    const { unet, unetContract: c } = this.model;
    const cond = this.cond!;
    const ehsDims = (n: number) => [n, cond.length / c.hiddenSize, c.hiddenSize];
    const extra = (n: number): Record<string, Feed> =>
      c.timestepCondDim === undefined
        ? {}
        : { timestep_cond: { data: repeat(guidanceEmbedding(this.req.cfg, c.timestepCondDim), n), dims: [n, c.timestepCondDim] } };
    const conditioning = this.imageConditioning;
    if (c.inpaint && !conditioning) throw new InferenceError(`${unet.file}: an inpainting UNet needs its mask and masked-image latents`);
    const call = async (latents: Float32Array, ehs: Float32Array, n: number, rows: 'prompt' | 'negative prompt' | 'pair') => {
      const sample = conditioning ? withConditioning(latents, conditioning, n) : latents;
      const channels = dims[1] + (conditioning ? conditioning.length / (dims[2] * dims[3]) : 0);
      const feeds: Record<string, Feed> = {
        sample: { data: sample, dims: [n, channels, dims[2], dims[3]] },
        timestep: timestepFeed(c.timestep, t, n),
        encoder_hidden_states: { data: ehs, dims: ehsDims(n) },
        ...extra(n),
        ...this.sdxlFeeds(rows, n, dims),
      };
      // ControlNet hook (issue #15): a ControlNet-ready UNet takes the units' summed residuals, or zeros.
      if (c.control) {
        Object.assign(
          feeds,
          this.control
            ? await this.control.residuals(feeds, { data: latents, dims: [n, dims[1], dims[2], dims[3]] }, t, this.clock)
            : zeroResidualFeeds(c.control, n, dims[2], dims[3]),
        );
      }
      const out = await unet.run(feeds, ['out_sample'], this.clock);
      return out.out_sample.data;
    };
    if (!this.guidance) return call(x, cond, 1, 'prompt');
    let epsU: Float32Array;
    let epsC: Float32Array;
    if (c.acceptsBatch2) {
      const both = await call(concat(x, x), this.condPair!, 2, 'pair');
      epsU = both.subarray(0, x.length);
      epsC = both.subarray(x.length);
    } else {
      epsU = await call(x, this.uncond!, 1, 'negative prompt');
      epsC = await call(x, cond, 1, 'prompt');
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
      const start =
        repaint && init.fill === 'latent-noise' ? masked(new Float32Array(n), new TorchCpuRng(seed + 1).randn(n), init.latent) : init.latent;
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
    if (dims.length !== 4 || dims[1] !== 3)
      throw new InferenceError(`${this.model.vaeDecoder.file}: expected [1, 3, H, W] output, got [${dims.join(', ')}]`);
    checkFinite(data, this.model.folder.name);
    return { rgb: tensorToRgb(data, dims[3], dims[2]), width: dims[3], height: dims[2] };
  }
}
