/**
 * AUTOMATIC1111's "parameters" text, the de-facto standard that image viewers, Civitai and A1111's own
 * "PNG Info" tab read:
 *
 *   a cat in a space suit
 *   Negative prompt: blurry
 *   Steps: 20, Sampler: DPM++ 2M Karras, CFG scale: 7, Seed: 42, Size: 512x512, Model: sd15
 *
 * The negative-prompt line is left out when empty, as A1111 does. Values containing ", " or ":" are quoted.
 */
import { Identifiers, UserError } from '../errors.js';
import { pngSafeText } from './png-text.js';
import { parseSamplerName, samplerDisplayName } from './samplers.js';
import type { SamplerName } from './samplers.js';

export interface ImageParameters {
  prompt: string;
  negativePrompt: string;
  steps: number;
  sampler: SamplerName;
  cfg: number;
  seed: number;
  width: number;
  height: number;
  model: string;
  /** img2img / upscale refinement strength. */
  denoisingStrength?: number;
  /** Variation seed (A1111 "subseed") and its strength. */
  variationSeed?: number;
  variationStrength?: number;
  /** Set on upscaled images: the factor applied. */
  upscale?: number;
  /** Inpainting and outpainting, as A1111's inpaint tab writes them. */
  maskBlur?: number;
  /** A1111 "Masked content": original, latent noise. */
  maskedContent?: string;
  /** True for A1111's "Inpaint area: Only masked", with its padding. */
  onlyMasked?: boolean;
  onlyMaskedPadding?: number;
  /** Outpainting: "Zoom out 2" or "Pan left". */
  outpaint?: string;
  /** A1111's CLIP_stop_at_last_layers; written only when above 1, as A1111 does. */
  clipSkip?: number;
  /** Textual-inversion embeddings the prompts used, written as A1111's `TI hashes` so sites can link them. */
  embeddings?: { name: string; hash: string }[];
  /**
   * The English the model was given when the typed (Chinese) prompt was translated. A1111 has no field for it; the
   * prompt line keeps what was typed (re-running it translates it again), these keep what conditioned the image.
   */
  translatedPrompt?: string;
  translatedNegativePrompt?: string;
  /** ControlNet units (issue #15), written as sd-webui-controlnet's `ControlNet 0: "Module: canny, Model: …, Weight: 1, …"`. */
  controlNets?: ControlNetParameters[];
  /** LoRAs the prompt applied, written as A1111's `Lora hashes` (networks.py: `alias: shorthash`, ":" and "," taken out of names). */
  loras?: { name: string; hash: string }[];
}

export interface ControlNetParameters {
  /** sd-webui-controlnet's preprocessor name: none, canny, depth_anything_v2. */
  module: string;
  model: string;
  weight: number;
  /** Canny's low and high thresholds. */
  thresholdA?: number;
  thresholdB?: number;
  /** Resolution the map was made at (the shorter side of the picture). */
  processorRes?: number;
}

/** One unit as sd-webui-controlnet's infotext writes it; fields we do not vary are written with its defaults. */
export function formatControlNet(c: ControlNetParameters): string {
  const fields: [string, string][] = [
    ['Module', c.module],
    ['Model', c.model],
    ['Weight', round(c.weight)],
    ['Resize Mode', 'Crop and Resize'],
    ['Processor Res', String(c.processorRes ?? 512)],
  ];
  if (c.thresholdA !== undefined) fields.push(['Threshold A', round(c.thresholdA)]);
  if (c.thresholdB !== undefined) fields.push(['Threshold B', round(c.thresholdB)]);
  fields.push(['Guidance Start', '0'], ['Guidance End', '1'], ['Pixel Perfect', 'False'], ['Control Mode', 'Balanced']);
  return fields.map(([k, v]) => `${k}: ${v.replace(/[,:"]/g, '')}`).join(', ');
}

function parseControlNet(value: string): ControlNetParameters {
  const f = new Map(
    value.split(',').map((pair) => {
      const colon = pair.indexOf(':');
      return [pair.slice(0, colon).trim(), pair.slice(colon + 1).trim()] as [string, string];
    }),
  );
  const n = (key: string) => (f.has(key) && Number.isFinite(Number(f.get(key))) ? Number(f.get(key)) : undefined);
  return {
    module: f.get('Module') ?? 'none',
    model: f.get('Model') ?? '',
    weight: n('Weight') ?? 1,
    thresholdA: n('Threshold A'),
    thresholdB: n('Threshold B'),
    processorRes: n('Processor Res'),
  };
}

/**
 * A1111's `TI hashes` value (sd_hijack_clip.py): `name: shorthash` pairs joined by ", ", with ":" and "," taken out
 * of names so the list reads back unambiguously.
 */
export function formatTiHashes(embeddings: readonly { name: string; hash: string }[]): string {
  return embeddings.map(({ name, hash }) => `${name.replace(/[:,]/g, '')}: ${hash}`).join(', ');
}

function parseTiHashes(value: string): { name: string; hash: string }[] {
  return value
    .split(',')
    .map((pair) => pair.trim())
    .filter((pair) => pair !== '')
    .map((pair) => {
      const colon = pair.lastIndexOf(':');
      return colon < 0 ? { name: pair, hash: '' } : { name: pair.slice(0, colon).trim(), hash: pair.slice(colon + 1).trim() };
    });
}

function quote(value: string): string {
  return /[,:"\n]/.test(value) ? JSON.stringify(value) : value;
}

function round(value: number): string {
  // A1111 prints floats without trailing zeros; keep up to 4 decimals so values survive a round trip.
  return String(Math.round(value * 1e4) / 1e4);
}

export function formatParameters(p: ImageParameters): string {
  const fields: [string, string][] = [
    ['Steps', String(p.steps)],
    ['Sampler', samplerDisplayName(p.sampler)],
    ['CFG scale', round(p.cfg)],
    ['Seed', String(p.seed)],
    ['Size', `${p.width}x${p.height}`],
    ['Model', quote(p.model)],
  ];
  if (p.denoisingStrength !== undefined) fields.push(['Denoising strength', round(p.denoisingStrength)]);
  if (p.variationSeed !== undefined) {
    fields.push(['Variation seed', String(p.variationSeed)]);
    fields.push(['Variation seed strength', round(p.variationStrength ?? 0)]);
  }
  if (p.clipSkip !== undefined && p.clipSkip > 1) fields.push(['Clip skip', String(p.clipSkip)]);
  if (p.embeddings?.length) fields.push(['TI hashes', quote(formatTiHashes(p.embeddings))]);
  // Same `name: hash, …` form as TI hashes; A1111 always quotes it.
  if (p.loras?.length) fields.push(['Lora hashes', JSON.stringify(formatTiHashes(p.loras))]);
  if (p.upscale !== undefined) fields.push(['Upscale', round(p.upscale)]);
  if (p.maskBlur !== undefined) fields.push(['Mask blur', String(p.maskBlur)]);
  if (p.maskedContent !== undefined) fields.push(['Masked content', quote(p.maskedContent)]);
  if (p.onlyMasked) {
    fields.push(['Inpaint area', 'Only masked']);
    fields.push(['Masked area padding', String(p.onlyMaskedPadding ?? 0)]);
  }
  if (p.outpaint !== undefined) fields.push(['Outpaint', quote(p.outpaint)]);
  // Always quoted: a translated prompt has commas and colons, and JSON quoting keeps it on the one fields line.
  if (p.translatedPrompt !== undefined) fields.push(['Translated prompt', JSON.stringify(pngSafeText(p.translatedPrompt))]);
  if (p.translatedNegativePrompt !== undefined) fields.push(['Translated negative prompt', JSON.stringify(pngSafeText(p.translatedNegativePrompt))]);
  // Always quoted, as sd-webui-controlnet writes them: the value is itself a "Key: value, …" list.
  p.controlNets?.forEach((c, i) => fields.push([`ControlNet ${i}`, JSON.stringify(formatControlNet(c))]));
  // Prompts may come from the CLI uncleaned; a control character would otherwise reach the PNG text chunk and the
  // clipboard of whoever copies the parameters.
  const negativePrompt = pngSafeText(p.negativePrompt);
  const lines = [pngSafeText(p.prompt)];
  if (negativePrompt) lines.push(`Negative prompt: ${negativePrompt}`);
  lines.push(fields.map(([k, v]) => `${k}: ${v}`).join(', '));
  return lines.join('\n');
}

/** Split `Key: value, Key: "quoted, value", …` into pairs, honouring JSON-style quotes. */
function splitFields(line: string): Map<string, string> {
  const out = new Map<string, string>();
  const re = /\s*([\w ]+):\s*("(?:\\.|[^\\"])*"|[^,]*)(?:,|$)/g;
  let m: RegExpExecArray | null;
  while ((m = re.exec(line)) !== null && m[0] !== '') {
    let value = m[2].trim();
    if (value.startsWith('"')) {
      try {
        value = JSON.parse(value) as string;
      } catch {
        /* keep the raw text: a hand-edited value with a stray quote still reads */
      }
    }
    out.set(m[1].trim(), value);
  }
  return out;
}

function bad(message: string): UserError {
  return new UserError(Identifiers.InvalidArgument, `Cannot read the image's parameters: ${message}`);
}

/** Parse A1111 parameters text back into generation settings (for `imagine --from image.png`). */
export function parseParameters(text: string): ImageParameters {
  const lines = text.replace(/\r\n/g, '\n').split('\n');
  const last = lines.pop() ?? '';
  if (!/\bSteps:\s*\d+/.test(last)) throw bad('the last line must hold "Steps: …, Sampler: …, Seed: …".');
  const negIndex = lines.findIndex((l) => l.startsWith('Negative prompt:'));
  const prompt = (negIndex >= 0 ? lines.slice(0, negIndex) : lines).join('\n');
  const negativePrompt = negIndex >= 0 ? lines.slice(negIndex).join('\n').slice('Negative prompt:'.length).trim() : '';
  const f = splitFields(last);
  const num = (key: string, required = true): number | undefined => {
    const v = f.get(key);
    if (v === undefined) {
      if (required) throw bad(`"${key}" is missing.`);
      return undefined;
    }
    const n = Number(v);
    if (!Number.isFinite(n)) throw bad(`"${key}" is "${v}", not a number.`);
    return n;
  };
  const size = f.get('Size');
  const sizeMatch = size ? /^(\d+)x(\d+)$/.exec(size) : null;
  if (!sizeMatch) throw bad(`"Size" must look like 512x512, got "${size ?? ''}".`);
  const samplerText = f.get('Sampler');
  if (!samplerText) throw bad('"Sampler" is missing.');
  // A1111 ≥1.9 writes the schedule separately ("Sampler: DPM++ 2M, Schedule type: Karras").
  const schedule = f.get('Schedule type');
  const sampler = parseSamplerName(schedule && /karras/i.test(schedule) && !/karras/i.test(samplerText) ? `${samplerText} Karras` : samplerText);
  return {
    prompt,
    negativePrompt,
    steps: num('Steps')!,
    sampler,
    cfg: num('CFG scale')!,
    seed: num('Seed')!,
    width: Number(sizeMatch[1]),
    height: Number(sizeMatch[2]),
    model: f.get('Model') ?? '',
    denoisingStrength: num('Denoising strength', false),
    variationSeed: num('Variation seed', false),
    variationStrength: num('Variation seed strength', false),
    upscale: num('Upscale', false),
    maskBlur: num('Mask blur', false),
    clipSkip: num('Clip skip', false),
    embeddings: f.has('TI hashes') ? parseTiHashes(f.get('TI hashes')!) : undefined,
    translatedPrompt: f.get('Translated prompt'),
    translatedNegativePrompt: f.get('Translated negative prompt'),
    controlNets: f.has('ControlNet 0') ? [...f.keys()].filter((k) => /^ControlNet \d+$/.test(k)).map((k) => parseControlNet(f.get(k)!)) : undefined,
    loras: f.has('Lora hashes') ? parseTiHashes(f.get('Lora hashes')!) : undefined,
  };
}
