import type { GeneratedImage } from '../../protocol/generate-request.js';
import { formatParameters, type ImageParameters } from '../../protocol/png-parameters.js';
import { addPngText } from '../../protocol/png-text.js';
import { rgbToPng } from '../image/pixels.js';

/** One finished image: PNG-encoded with AUTOMATIC1111's `parameters` text embedded. */
export async function finishPng(rgb: Buffer, width: number, height: number, params: ImageParameters): Promise<GeneratedImage> {
  const parameters = formatParameters(params);
  const png = addPngText(await rgbToPng(rgb, width, height), 'parameters', parameters);
  return { png: new Uint8Array(png.buffer, png.byteOffset, png.byteLength), seed: params.seed, width, height, parameters };
}
