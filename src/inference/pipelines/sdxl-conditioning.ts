/**
 * SDXL conditioning (issue #12), as diffusers' StableDiffusionXLPipeline.encode_prompt and _get_add_time_ids do it
 * (reference/inference.md §1.6, next-capabilities.md §1): each text goes through both text encoders; the
 * penultimate hidden state of each (`hidden_states.{N-2}`, picked when the model loads) is concatenated on the
 * channel axis (768 + 1280 = 2048 for the real encoders); the pooled `text_embeds` comes from text_encoder_2 only;
 * an empty negative prompt is all zeros (embeddings and pooled) when `force_zeros_for_empty_prompt` holds; and the
 * UNet also takes `time_ids` = [orig_h, orig_w, crop_top, crop_left, target_h, target_w] per batch row.
 * Kept apart from generation.ts so the SD 1.x prompt encoding can change without touching SDXL's.
 */
import type { LoadedModel, SdxlContract } from '../model/loaded-model.js';
import type { ModelSession, RunClock } from '../model/session.js';
import type { ClipTokenizer } from '../prompt/clip-tokenizer.js';

/** One text encoded for SDXL: `embeds` is [77, width1 + width2] row-major, `pooled` is [pooledWidth]. */
export interface SdxlText {
  embeds: Float32Array;
  pooled: Float32Array;
  /** Tokens cut from the 77-token window (both tokenizers share the BPE, so they cut the same text). */
  truncated: boolean;
  droppedText: string;
}

async function hiddenState(session: ModelSession, tokenizer: ClipTokenizer, text: string, outputs: string[], clock: RunClock) {
  const enc = tokenizer.encodePadded(text);
  const out = await session.run({ input_ids: { data: enc.inputIds, dims: [1, enc.inputIds.length] } }, outputs, clock);
  return { enc, out };
}

/**
 * Concatenate two [1, seq, w] tensors on the last axis, position by position: [seq, w1 + w2]. CLIP-L's channels
 * come first, as diffusers' `torch.concat(prompt_embeds_list, dim=-1)` over (text_encoder, text_encoder_2).
 */
export function concatChannels(a: Float32Array, aWidth: number, b: Float32Array, bWidth: number): Float32Array {
  const seq = a.length / aWidth;
  if (b.length / bWidth !== seq) throw new RangeError(`SDXL text encoders disagree on sequence length: ${seq} and ${b.length / bWidth}`);
  const width = aWidth + bWidth;
  const out = new Float32Array(seq * width);
  for (let t = 0; t < seq; t++) {
    out.set(a.subarray(t * aWidth, (t + 1) * aWidth), t * width);
    out.set(b.subarray(t * bWidth, (t + 1) * bWidth), t * width + aWidth);
  }
  return out;
}

/** Run both encoders on one text: penultimate hidden states concatenated, and encoder 2's pooled projection. */
export async function encodeSdxlText(model: LoadedModel, sdxl: SdxlContract, text: string, clock: RunClock): Promise<SdxlText> {
  const [one, two] = [
    await hiddenState(model.textEncoder, model.tokenizer, text, [sdxl.hiddenState1], clock),
    await hiddenState(sdxl.textEncoder2, sdxl.tokenizer2, text, [sdxl.hiddenState2, 'text_embeds'], clock),
  ];
  const h1 = one.out[sdxl.hiddenState1];
  const h2 = two.out[sdxl.hiddenState2];
  return {
    // Widths from the tensors themselves: some exports leave the channel dimension symbolic.
    embeds: concatChannels(h1.data, h1.dims[h1.dims.length - 1], h2.data, h2.dims[h2.dims.length - 1]),
    pooled: two.out.text_embeds.data,
    truncated: one.enc.truncated,
    droppedText: one.enc.droppedText,
  };
}

/**
 * The negative side of guidance. diffusers zeroes it only when no negative prompt was given
 * (`negative_prompt is None and force_zeros_for_empty_prompt`); the bot's "no negative prompt" is the empty string.
 */
export async function encodeSdxlNegative(
  model: LoadedModel,
  sdxl: SdxlContract,
  negative: string,
  cond: SdxlText,
  clock: RunClock,
): Promise<SdxlText> {
  if (negative.trim() === '' && sdxl.forceZerosForEmptyPrompt) {
    return { embeds: new Float32Array(cond.embeds.length), pooled: new Float32Array(cond.pooled.length), truncated: false, droppedText: '' };
  }
  return encodeSdxlText(model, sdxl, negative, clock);
}

/**
 * `time_ids` for one batch row: original size (h, w), crop top-left (0, 0), target size (h, w). txt2img, img2img
 * and upscale all draw the whole image at the size asked for, so original = target; the negative row is the same
 * (diffusers' negative_original_size defaults to original_size).
 */
export function sdxlTimeIds(width: number, height: number): number[] {
  return [height, width, 0, 0, height, width];
}
