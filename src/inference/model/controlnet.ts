/**
 * ControlNet in ONNX (issue #15): the residual inputs of a ControlNet-ready UNet and the ControlNet models that
 * feed them, matched by name from the sessions' metadata, never by position (reference/next-capabilities.md §3).
 * Conventions read: axodox/OnnxStack (`down_block_{i}_additional_residual`, `mid_block_additional_residual`, on
 * both sides) and onnx-web's UNet (`down_block_{i}`, `mid_block_additional_residual`).
 */
import { readdir, stat } from 'node:fs/promises';
import path from 'node:path';
import { Identifiers, ModelLoadError, UserError } from '../../errors.js';
import { ModelSession, type Feed, type IoSpec, type SessionOptions } from './session.js';

const DOWN_INPUT = /^down_block_(\d+)(?:_additional_residual)?$/;
const MID_INPUT = /^mid_block_additional_residual$/;
const DOWN_OUTPUT = /^down_block_(\d+)_additional_residual$/;
const MID_OUTPUT = /^mid_block_(?:additional_residual|res_sample)$/;

/** Whether a UNet input is a ControlNet residual (loaded-model.ts accepts these besides the SD inputs). */
export function isControlResidualInput(name: string): boolean {
  return DOWN_INPUT.test(name) || MID_INPUT.test(name);
}

/** The residual inputs of a ControlNet-ready UNet: the down blocks in index order, then the mid block. */
export interface ControlResiduals {
  /** UNet input names, down_block 0..k−1 then mid. */
  names: string[];
  specs: IoSpec[];
}

/**
 * The residual inputs of `unet`, or undefined for an ordinary UNet. Every residual needs a fixed channel count:
 * zero residuals for plain jobs are built from it.
 */
export function controlResidualInputs(unet: ModelSession): ControlResiduals | undefined {
  const down: { index: number; spec: IoSpec }[] = [];
  let mid: IoSpec | undefined;
  for (const spec of unet.inputs.values()) {
    const m = DOWN_INPUT.exec(spec.name);
    if (m) down.push({ index: Number(m[1]), spec });
    else if (MID_INPUT.test(spec.name)) mid = spec;
  }
  if (!down.length && !mid) return undefined;
  down.sort((a, b) => a.index - b.index);
  if (!mid || down.some((d, i) => d.index !== i)) {
    throw new ModelLoadError(
      `${unet.file}: a ControlNet-ready UNet needs inputs down_block_0…down_block_{k−1} (…_additional_residual) and mid_block_additional_residual; it has ${[...down.map((d) => d.spec.name), ...(mid ? [mid.name] : [])].join(', ')}. Re-export the UNet with all residual inputs.`,
      unet.file,
    );
  }
  const specs = [...down.map((d) => d.spec), mid];
  for (const spec of specs) {
    if (spec.shape.length !== 4 || typeof spec.shape[1] !== 'number' || spec.shape[1] <= 0) {
      throw new ModelLoadError(
        `${unet.file}: residual input "${spec.name}" must be [batch, channels, h, w] with a fixed channel count, it is [${spec.shape.join(', ')}]`,
        unet.file,
      );
    }
  }
  return { names: specs.map((s) => s.name), specs };
}

/**
 * The spatial size of residual `i` at latent size h×w: diffusers' down blocks give three residuals each
 * (two resnets, then the downsampler, whose stride-2 conv rounds up), so residual i is at 1/2^⌊i/3⌋ and the mid
 * block at the last one's size: SD 1.5 0–2 h, 3–5 h/2, 6–8 h/4, 9–11 and mid h/8; SDXL 0–2 h, 3–5 h/2, 6–8 and
 * mid h/4. A size the UNet declares fixed wins.
 */
function residualDims(residuals: ControlResiduals, n: number, h: number, w: number): number[][] {
  const downs = residuals.names.length - 1;
  return residuals.specs.map((spec, i) => {
    const level = Math.floor((i < downs ? i : downs - 1) / 3);
    let rh = h;
    let rw = w;
    for (let k = 0; k < level; k++) {
      rh = Math.ceil(rh / 2);
      rw = Math.ceil(rw / 2);
    }
    const fixed = (d: number | string, fallback: number) => (typeof d === 'number' && d > 0 ? d : fallback);
    return [n, spec.shape[1] as number, fixed(spec.shape[2], rh), fixed(spec.shape[3], rw)];
  });
}

const zeroCache = new WeakMap<ControlResiduals, Map<string, Record<string, Feed>>>();

/**
 * All-zero residuals for a plain job on a ControlNet-ready UNet: the UNet adds them to its skip connections, and
 * x + 0 is exact, so the result is the plain UNet's and only one UNet needs to be in memory. Cached per size
 * (onnxruntime does not write into feeds).
 */
export function zeroResidualFeeds(residuals: ControlResiduals, n: number, h: number, w: number): Record<string, Feed> {
  let bySize = zeroCache.get(residuals);
  if (!bySize) {
    bySize = new Map();
    zeroCache.set(residuals, bySize);
  }
  const key = `${n}x${h}x${w}`;
  let feeds = bySize.get(key);
  if (!feeds) {
    const dims = residualDims(residuals, n, h, w);
    feeds = Object.fromEntries(
      residuals.names.map((name, i) => [name, { data: new Float32Array(dims[i].reduce((a, b) => a * b, 1)), dims: dims[i] }]),
    );
    bySize.set(key, feeds);
  }
  return feeds;
}

/** A loaded ControlNet and how its outputs map onto the UNet's residual inputs. */
export interface ControlNet {
  name: string;
  session: ModelSession;
  /** `conditioning_scale` when the net scales its residuals itself (then they are not multiplied on the host). */
  scaleInput?: IoSpec;
  /** [ControlNet output, UNet input] pairs covering every UNet residual input. */
  outputs: [string, string][];
  /** The net takes SDXL's `text_embeds` and `time_ids`. */
  sdxl: boolean;
}

const CONTROLNET_INPUTS = ['sample', 'timestep', 'encoder_hidden_states', 'controlnet_cond', 'conditioning_scale', 'text_embeds', 'time_ids'];

/** Check a ControlNet session against the UNet's residual inputs and map its outputs to them by index. */
export function controlNetContract(name: string, session: ModelSession, residuals: ControlResiduals, unetIsSdxl: boolean): ControlNet {
  for (const required of ['sample', 'timestep', 'encoder_hidden_states', 'controlnet_cond']) session.input(required);
  for (const input of session.inputs.keys()) {
    if (!CONTROLNET_INPUTS.includes(input)) {
      throw new ModelLoadError(
        `${session.file}: unexpected ControlNet input "${input}" (expected ${CONTROLNET_INPUTS.join(', ')}: the axodox/OnnxStack export)`,
        session.file,
      );
    }
  }
  const sdxl = session.inputs.has('text_embeds') && session.inputs.has('time_ids');
  if (sdxl !== unetIsSdxl) {
    throw new ModelLoadError(
      `${session.file}: this is ${sdxl ? 'an SDXL' : 'an SD 1.x/2.x'} ControlNet, but the model's UNet is ${unetIsSdxl ? 'SDXL' : 'SD 1.x/2.x'}; use a ControlNet made for the model's base`,
      session.file,
    );
  }
  const down = new Map<number, string>();
  let mid: string | undefined;
  for (const output of session.outputs.keys()) {
    const m = DOWN_OUTPUT.exec(output);
    if (m) down.set(Number(m[1]), output);
    else if (MID_OUTPUT.test(output)) mid = output;
  }
  const downs = residuals.names.length - 1;
  if (down.size !== downs || !mid || [...down.keys()].some((i) => i >= downs)) {
    throw new ModelLoadError(
      `${session.file}: the ControlNet gives ${down.size} down-block residuals${mid ? ' and a mid-block one' : ' and no mid-block one'}, the UNet takes ${downs} and a mid-block one (SD 1.5 has 12, SDXL 9); the net is for another base model`,
      session.file,
    );
  }
  const outputs: [string, string][] = residuals.names.map((input, i) => [i < downs ? down.get(i)! : mid!, input]);
  return { name, session, scaleInput: session.inputs.get('conditioning_scale'), outputs, sdxl };
}

/** Open `controlnet/<name>/model.onnx` of a model folder; an unknown name is the user's to fix. */
export async function loadControlNet(
  modelName: string,
  files: Record<string, string> | undefined,
  name: string,
  residuals: ControlResiduals,
  unetIsSdxl: boolean,
  options: SessionOptions,
): Promise<ControlNet> {
  const file = files?.[name];
  if (!file) {
    const known = Object.keys(files ?? {});
    throw new UserError(
      Identifiers.InvalidArgument,
      `Model "${modelName}" has no ControlNet "${name}"; ${known.length ? `it has: ${known.join(', ')}` : 'it ships none (add controlnet/<name>/model.onnx to the model folder)'}.`,
      { model: modelName },
    );
  }
  // The net's folder: model.onnx and its external weights (model.onnx_data, weights.pb), as the model's own bytes count.
  let bytes = 0;
  for (const entry of await readdir(path.dirname(file), { withFileTypes: true })) {
    if (entry.isFile() && entry.name !== 'config.json') bytes += (await stat(path.join(path.dirname(file), entry.name))).size;
  }
  const session = await ModelSession.load(file, options, bytes);
  try {
    return controlNetContract(name, session, residuals, unetIsSdxl);
  } catch (error) {
    await session.release();
    throw error;
  }
}
