import type { UserError } from '../../errors.js';
import { BOUNDS } from '../../config/guild-settings.js';
import { text } from '../../i18n/translate.js';
import { err, ok, type Result } from '../result.js';
import { invalid } from './invalid.js';

/** Aspect presets offered by the size option's autocomplete, besides typed `W:H` and `WxH`. */
export type SizePresetName = 'square' | 'portrait' | 'landscape' | 'wide' | 'tall';
export const SIZE_PRESETS: readonly { name: SizePresetName; ratio: readonly [number, number] }[] = [
  { name: 'square', ratio: [1, 1] },
  { name: 'portrait', ratio: [2, 3] },
  { name: 'landscape', ratio: [3, 2] },
  { name: 'wide', ratio: [16, 9] },
  { name: 'tall', ratio: [9, 16] },
];

/** Either side given, both sides wanted: `16:9`, `wide`, `512x768`, `512×768`. */
export type SizeSpec = { kind: 'ratio'; ratio: [number, number]; label: string } | { kind: 'exact'; width: number; height: number };

export function parseSizeSpec(raw: string): Result<SizeSpec, UserError> {
  const lowered = raw.trim().toLowerCase();
  const preset = SIZE_PRESETS.find((p) => p.name === lowered);
  if (preset) return ok({ kind: 'ratio', ratio: [preset.ratio[0], preset.ratio[1]], label: preset.name });
  const ratio = /^(\d{1,3})\s*:\s*(\d{1,3})$/.exec(lowered);
  if (ratio) {
    const a = Number(ratio[1]);
    const b = Number(ratio[2]);
    if (a === 0 || b === 0 || Math.max(a / b, b / a) > 4) {
      return err(invalid(text('error.ratioRange', { raw })));
    }
    return ok({ kind: 'ratio', ratio: [a, b], label: `${a}:${b}` });
  }
  const exact = /^(\d{1,5})\s*[x×*]\s*(\d{1,5})$/.exec(lowered);
  if (exact) return ok({ kind: 'exact', width: Number(exact[1]), height: Number(exact[2]) });
  return err(invalid(text('error.sizeUnknown', { raw, presets: SIZE_PRESETS.map((p) => p.name).join(', ') })));
}

export const roundTo = (value: number, multiple: number) => Math.max(multiple, Math.round(value / multiple) * multiple);

/** Fits a ratio to the pixel area of the default size, each side a multiple of 8 and within the side bounds. */
export function sizeForRatio(ratio: readonly [number, number], area: number): { width: number; height: number } {
  const { min, max, multiple } = BOUNDS.side;
  const width = Math.sqrt((area * ratio[0]) / ratio[1]);
  const clampSide = (v: number) => Math.min(max, Math.max(min, roundTo(v, multiple)));
  return { width: clampSide(width), height: clampSide((width * ratio[1]) / ratio[0]) };
}

/**
 * The aspect-ratio buckets SDXL was trained on, all about 1024×1024 in area (SDXL paper, appendix; the sizes
 * diffusers and A1111 users pick). Outside them SDXL draws duplicated subjects and cropped heads.
 */
export const SDXL_BUCKETS: readonly (readonly [number, number])[] = [
  [1024, 1024],
  [1152, 896],
  [896, 1152],
  [1216, 832],
  [832, 1216],
  [1344, 768],
  [768, 1344],
  [1536, 640],
  [640, 1536],
];

const SDXL_AREA = 1024 * 1024;

/**
 * The SDXL bucket closest to a ratio (compared as log aspect, so 2:1 and 1:2 are equally far from 1:1). At a default
 * area under SDXL's (SDXL-Turbo's 512×512) the bucket keeps its shape at that area, each side a multiple of 8.
 */
export function sdxlSizeForRatio(ratio: readonly [number, number], area: number): { width: number; height: number } {
  const target = Math.log(ratio[0] / ratio[1]);
  let best = SDXL_BUCKETS[0];
  for (const b of SDXL_BUCKETS) if (Math.abs(Math.log(b[0] / b[1]) - target) < Math.abs(Math.log(best[0] / best[1]) - target)) best = b;
  const scale = Math.sqrt(area / SDXL_AREA);
  if (scale >= 0.97) return { width: best[0], height: best[1] };
  const { min, max, multiple } = BOUNDS.side;
  const clampSide = (v: number) => Math.min(max, Math.max(min, roundTo(v, multiple)));
  return { width: clampSide(best[0] * scale), height: clampSide(best[1] * scale) };
}
