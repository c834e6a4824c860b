/**
 * ControlNet per step (issue #15): each unit's net runs on the UNet's own latents, timestep and context with the
 * control map batched to the call's batch (both halves of classifier-free guidance), its residuals are scaled by
 * the unit's strength (unless the net takes `conditioning_scale` and scales them itself) and summed over units,
 * and the UNet adds them to its skip connections. Shapes come from the nets' outputs.
 */
import { Identifiers, InferenceError, UserError } from '../../errors.js';
import type { GenerateRequest, Preview } from '../../protocol/generate-request.js';
import { controlMap, controlTensor, type DepthFn } from '../image/control-map.js';
import type { ControlNet } from '../model/controlnet.js';
import type { LoadedModel } from '../model/loaded-model.js';
import type { Feed, RunClock } from '../model/session.js';
import { timestepFeed } from './generation.js';

interface ActiveUnit {
  net: ControlNet;
  /** The map as `[3, H, W]` in [0, 1]. */
  cond: Float32Array;
  height: number;
  width: number;
  strength: number;
}

function repeat(v: Float32Array, times: number): Float32Array {
  if (times === 1) return v;
  const out = new Float32Array(v.length * times);
  for (let i = 0; i < times; i++) out.set(v, i * v.length);
  return out;
}

export class ControlStep {
  private readonly batched = new Map<ActiveUnit, Float32Array>();

  constructor(private readonly units: readonly ActiveUnit[]) {}

  /**
   * The summed residuals for one UNet call, keyed by the UNet's residual input names. `unet` are the UNet's other
   * feeds (the context and SDXL's text_embeds/time_ids are shared with the nets), `latents` the scaled model input
   * without any inpainting channels, `[n, C, h, w]`.
   */
  async residuals(unet: Record<string, Feed>, latents: Feed, t: number, clock: RunClock): Promise<Record<string, Feed>> {
    const n = latents.dims[0];
    const sum: Record<string, { data: Float32Array; dims: number[] }> = {};
    for (const unit of this.units) {
      const { session, scaleInput, outputs } = unit.net;
      let cond = this.batched.get(unit);
      if (!cond || cond.length !== unit.cond.length * n) {
        cond = repeat(unit.cond, n);
        this.batched.set(unit, cond);
      }
      const feeds: Record<string, Feed> = {
        sample: latents,
        timestep: timestepFeed(session.input('timestep'), t, n),
        encoder_hidden_states: unet.encoder_hidden_states,
        controlnet_cond: { data: cond, dims: [n, 3, unit.height, unit.width] },
      };
      if (unit.net.sdxl) {
        feeds.text_embeds = unet.text_embeds;
        feeds.time_ids = unet.time_ids;
      }
      if (scaleInput) feeds.conditioning_scale = { data: [unit.strength], dims: scaleInput.shape.length === 0 ? [] : [1] };
      const out = await session.run(
        feeds,
        outputs.map(([o]) => o),
        clock,
      );
      const scale = scaleInput ? 1 : unit.strength;
      for (const [output, input] of outputs) {
        const r = out[output];
        const acc = sum[input];
        if (!acc) {
          sum[input] = { data: scale === 1 ? r.data : r.data.map((v) => v * scale), dims: r.dims };
          continue;
        }
        if (acc.data.length !== r.data.length) {
          throw new InferenceError(
            `${session.file}: residual "${output}" is [${r.dims.join(', ')}], another ControlNet gave [${acc.dims.join(', ')}]; the nets are for different base models`,
          );
        }
        for (let i = 0; i < acc.data.length; i++) acc.data[i] += scale * r.data[i];
      }
    }
    return sum;
  }
}

/**
 * The request's ControlNet units made ready: nets opened, maps preprocessed. Undefined when it has none.
 * `maps` are what each net sees, for the result.
 */
export async function prepareControl(
  model: LoadedModel,
  req: GenerateRequest,
  depth: () => Promise<DepthFn>,
): Promise<{ step: ControlStep; maps: Preview[] } | undefined> {
  const controls = req.controls ?? [];
  if (!controls.length) return undefined;
  const name = model.folder.name;
  if (!model.controlNet) {
    throw new UserError(
      Identifiers.InvalidArgument,
      `Model "${name}" cannot use ControlNet: its unet/model.onnx has no down_block_*_additional_residual inputs. Replace it with a ControlNet-ready UNet export of the same checkpoint (axodox/OnnxStack layout, docs/models.md "ControlNet"), or use another model.`,
      { model: name },
    );
  }
  const mode = req.mode.kind;
  if (mode !== 'txt2img' && mode !== 'img2img' && mode !== 'variation') {
    throw new UserError(
      Identifiers.InvalidArgument,
      `ControlNet works with text-to-image, img2img and variations, not with ${mode}; drop the control image.`,
    );
  }
  const units: ActiveUnit[] = [];
  const maps: Preview[] = [];
  for (const [i, unit] of controls.entries()) {
    const net = await model.controlNet(unit.net);
    const map = await controlMap(unit, i, req.width, req.height, depth);
    units.push({ net, cond: controlTensor(map.rgb, map.width, map.height), width: map.width, height: map.height, strength: unit.strength });
    maps.push({ png: new Uint8Array(map.png.buffer, map.png.byteOffset, map.png.byteLength), width: map.width, height: map.height });
  }
  return { step: new ControlStep(units), maps };
}
