/**
 * A1111's "Clip skip" (`CLIP_stop_at_last_layers`, sd_hijack_clip.py `encode_with_transformers`): with N > 1 the
 * prompt is conditioned on `hidden_states[-N]` passed through the text model's `final_layer_norm`, instead of the
 * last layer's normalised output. ONNX exports expose the hidden states only when exported with
 * output_hidden_states (outputs `hidden_states.0` … `hidden_states.L`), and the final layer norm is not an output
 * at all: its weights are read from the model file and the norm is applied here, exactly as torch's LayerNorm does.
 */
import { Identifiers, UserError } from '../../errors.js';
import type { LoadedModel } from '../model/loaded-model.js';
import { readFloatInitializers } from '../model/onnx-weights.js';

/** The initializers transformers' CLIPTextModel export keeps for its final layer norm. */
export const FINAL_LAYER_NORM = { weight: 'text_model.final_layer_norm.weight', bias: 'text_model.final_layer_norm.bias' } as const;
/** CLIP's layer_norm_eps, used when the graph decomposes the norm instead of using one LayerNormalization node. */
const CLIP_LAYER_NORM_EPS = 1e-5;

export interface FinalLayerNorm {
  weight: Float32Array;
  bias: Float32Array;
  epsilon: number;
}

/**
 * The text-encoder output a clip skip reads: `last_hidden_state` for 1, else `hidden_states.{n − clipSkip}` of
 * n outputs (hidden_states[-clipSkip] in transformers' tuple).
 * @throws UserError naming the missing output when the export has no hidden states (or too few layers).
 */
export function clipSkipOutput(model: LoadedModel, clipSkip: number): string {
  if (clipSkip <= 1) return 'last_hidden_state';
  const n = model.hiddenStates;
  const index = n - clipSkip;
  const file = model.textEncoder.file.split(/[\\/]/).slice(-2).join('/');
  if (n === 0) {
    throw new UserError(
      Identifiers.InvalidArgument,
      `Model "${model.folder.name}" cannot use clip skip ${clipSkip}: its text encoder (${file}) has no "hidden_states.N" outputs (it was exported without output_hidden_states). Use clip skip 1, or re-export the text encoder with its hidden states.`,
      { clipSkip },
    );
  }
  if (index < 0) {
    throw new UserError(
      Identifiers.InvalidArgument,
      `Model "${model.folder.name}" cannot use clip skip ${clipSkip}: its text encoder has ${n - 1} layers (outputs hidden_states.0 to hidden_states.${n - 1}), so the most is clip skip ${n}.`,
      { clipSkip },
    );
  }
  return `hidden_states.${index}`;
}

/** The final layer norm's weights, read once per loaded model. */
export function finalLayerNorm(model: LoadedModel): Promise<FinalLayerNorm> {
  if (!model.finalLayerNorm) {
    const file = model.textEncoder.file;
    model.finalLayerNorm = readFloatInitializers(file, [FINAL_LAYER_NORM.weight, FINAL_LAYER_NORM.bias], FINAL_LAYER_NORM.weight).then(
      ({ tensors, epsilon }) => ({
        weight: tensors.get(FINAL_LAYER_NORM.weight)!.data,
        bias: tensors.get(FINAL_LAYER_NORM.bias)!.data,
        epsilon: epsilon ?? CLIP_LAYER_NORM_EPS,
      }),
      (error: Error) => {
        model.finalLayerNorm = undefined;
        throw new UserError(
          Identifiers.InvalidArgument,
          `Model "${model.folder.name}" cannot use clip skip: ${error.message}, the final layer norm it needs. Use clip skip 1.`,
        );
      },
    );
  }
  return model.finalLayerNorm;
}

/**
 * torch.nn.LayerNorm over the last axis, in place: (x − mean) / sqrt(var + eps) · weight + bias per token, with the
 * biased variance; sums in float64, results stored as float32 like the encoder's own output.
 */
export function applyLayerNorm(z: Float32Array, norm: FinalLayerNorm): void {
  const width = norm.weight.length;
  for (let start = 0; start < z.length; start += width) {
    let mean = 0;
    for (let i = 0; i < width; i++) mean += z[start + i];
    mean /= width;
    let variance = 0;
    for (let i = 0; i < width; i++) variance += (z[start + i] - mean) ** 2;
    variance /= width;
    const scale = 1 / Math.sqrt(variance + norm.epsilon);
    for (let i = 0; i < width; i++) z[start + i] = (z[start + i] - mean) * scale * norm.weight[i] + norm.bias[i];
  }
}
