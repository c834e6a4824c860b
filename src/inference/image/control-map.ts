/**
 * The map a ControlNet unit sees (issue #15): the control image resized to the picture's size (cover, as A1111's
 * "Crop and Resize"), then preprocessed — 'none' takes it as it is, 'canny' draws its edges (canny.ts), 'depth' runs
 * the depth model. Returned as RGB bytes (for the [0, 1] tensor) and as a PNG for the user to see.
 */
import { REQUEST_DEFAULTS, type ControlUnit } from '../../protocol/generate-request.js';
import { canny } from './canny.js';
import { readImage, rgbToPng } from './pixels.js';

export interface ControlMap {
  rgb: Buffer;
  png: Buffer;
  width: number;
  height: number;
}

export type DepthFn = (rgb: Uint8Array, width: number, height: number) => Promise<Buffer>;

export async function controlMap(
  unit: ControlUnit,
  index: number,
  width: number,
  height: number,
  depth: () => Promise<DepthFn>,
): Promise<ControlMap> {
  const img = await readImage(unit.image, `control image ${index + 1}`);
  const rgb = await img.removeAlpha().toColourspace('srgb').resize(width, height, { fit: 'cover', kernel: 'lanczos3' }).raw().toBuffer();
  let map: Buffer;
  if (unit.preprocess === 'canny') {
    const edges = canny(
      rgb,
      width,
      height,
      3,
      unit.cannyLow ?? REQUEST_DEFAULTS.control.cannyLow,
      unit.cannyHigh ?? REQUEST_DEFAULTS.control.cannyHigh,
    );
    map = Buffer.alloc(width * height * 3);
    for (let i = 0; i < edges.length; i++) map[i * 3] = map[i * 3 + 1] = map[i * 3 + 2] = edges[i];
  } else if (unit.preprocess === 'depth') {
    map = await (await depth())(rgb, width, height);
  } else {
    map = rgb;
  }
  return { rgb: map, png: await rgbToPng(map, width, height), width, height };
}

/** RGB bytes → `[3, H, W]` in [0, 1], the `controlnet_cond` layout (axodox/OnnxStack, diffusers' ControlNet). */
export function controlTensor(rgb: Uint8Array, width: number, height: number): Float32Array {
  const plane = width * height;
  const out = new Float32Array(3 * plane);
  for (let i = 0; i < plane; i++) for (let c = 0; c < 3; c++) out[c * plane + i] = rgb[i * 3 + c] / 255;
  return out;
}
