/**
 * Depth maps for ControlNet's "depth" preprocessor (issue #15): Depth Anything V2 Small (onnx-community export,
 * Apache-2.0; v2-large is CC-BY-NC and not used) installed by `models:pull -- depth-anything-v2-small` (or by hand)
 * under MODELS_DIR/depth-anything-v2-small/.
 * Preprocessing is the model's DPT image processor (keep aspect ratio, sides multiples of 14 near 518, bicubic,
 * ImageNet mean/std); the output is min–max normalised to 0..255 (near is bright), as A1111's depth_anything does.
 */
import sharp from 'sharp';
import { Identifiers, InferenceError, UserError } from '../../errors.js';
import { DEPTH_MODEL_FOLDER, findDepthModelFile } from '../../model-folder/depth-model.js';
import { ModelSession, type RunClock, type SessionOptions } from './session.js';

export { DEPTH_MODEL_FOLDER };

const MEAN = [0.485, 0.456, 0.406];
const STD = [0.229, 0.224, 0.225];
const SIZE = 518;
const MULTIPLE = 14;

/**
 * The error for a depth job without the model: how to install it. It reaches Discord users too, so it names the
 * folder relative to MODELS_DIR, never the server's own path.
 */
export function depthModelMissing(): UserError {
  return new UserError(
    Identifiers.InvalidArgument,
    `The "depth" preprocessor needs Depth Anything V2 Small, which is not installed: the bot owner can add it with \`npm run models:pull -- depth-anything-v2-small\` (Apache-2.0, 99 MB, into MODELS_DIR/${DEPTH_MODEL_FOLDER}/onnx/model.onnx). Or send a ready depth map with preprocess "none".`,
  );
}

export async function findDepthModel(modelsDir: string): Promise<string | undefined> {
  return findDepthModelFile(modelsDir);
}

/** DPT's get_resize_output_image_size with keep_aspect_ratio: the scale closest to 1, rounded to multiples of 14. */
export function depthInputSize(width: number, height: number): { width: number; height: number } {
  let sh = SIZE / height;
  let sw = SIZE / width;
  if (Math.abs(1 - sw) < Math.abs(1 - sh)) sh = sw;
  else sw = sh;
  const multiple = (v: number) => Math.max(MULTIPLE, Math.round(v / MULTIPLE) * MULTIPLE);
  return { width: multiple(width * sw), height: multiple(height * sh) };
}

export class DepthEstimator {
  private constructor(private readonly session: ModelSession) {}

  static async load(file: string, options: SessionOptions): Promise<DepthEstimator> {
    return new DepthEstimator(await ModelSession.load(file, options));
  }

  /** A depth map of interleaved RGB bytes, as RGB bytes of the same size (grey). */
  async estimate(rgb: Uint8Array, width: number, height: number, clock?: RunClock): Promise<Buffer> {
    const [input] = this.session.inputs.values();
    const [output] = this.session.outputs.values();
    const fixed = (d: number | string | undefined) => (typeof d === 'number' && d > 0 ? d : undefined);
    const auto = depthInputSize(width, height);
    const size = { width: fixed(input.shape[3]) ?? auto.width, height: fixed(input.shape[2]) ?? auto.height };
    const resized = await sharp(rgb, { raw: { width, height, channels: 3 } })
      .resize(size.width, size.height, { fit: 'fill', kernel: 'cubic' })
      .raw()
      .toBuffer();
    const plane = size.width * size.height;
    const pixels = new Float32Array(3 * plane);
    for (let i = 0; i < plane; i++) for (let c = 0; c < 3; c++) pixels[c * plane + i] = (resized[i * 3 + c] / 255 - MEAN[c]) / STD[c];
    const out = await this.session.run({ [input.name]: { data: pixels, dims: [1, 3, size.height, size.width] } }, [output.name], clock);
    const { data, dims } = out[output.name];
    const dh = dims.at(-2)!;
    const dw = dims.at(-1)!;
    if (dh * dw !== data.length) throw new InferenceError(`${this.session.file}: expected one depth map [1, H, W], got [${dims.join(', ')}]`);
    let min = Infinity;
    let max = -Infinity;
    for (const v of data) {
      if (v < min) min = v;
      if (v > max) max = v;
    }
    const range = max - min || 1;
    const grey = Buffer.alloc(dh * dw);
    for (let i = 0; i < grey.length; i++) grey[i] = Math.round(((data[i] - min) / range) * 255);
    return sharp(grey, { raw: { width: dw, height: dh, channels: 1 } })
      .resize(width, height, { fit: 'fill', kernel: 'cubic' })
      .toColourspace('srgb')
      .raw()
      .toBuffer();
  }

  async release(): Promise<void> {
    await this.session.release();
  }
}
