/**
 * The sampler names every side shares: what users type (slash choices, `--sampler`, `/config`), what the engine
 * runs, and AUTOMATIC1111's display names written into PNG parameters. The bot normalises names here without
 * loading a single scheduler; src/inference/schedulers/index.ts maps each name to its algorithm.
 */
import { Identifiers, UserError } from '../errors.js';

export const SAMPLER_NAMES = ['euler', 'euler_a', 'dpmpp_2m', 'dpmpp_2m_karras', 'ddim', 'lcm'] as const;
export type SamplerName = (typeof SAMPLER_NAMES)[number];

/**
 * Per sampler: whether it runs on Karras sigmas and its AUTOMATIC1111 display name. The sampler name decides Karras
 * (overriding `use_karras_sigmas` in a model's config) so that "Sampler: Euler" in a PNG never describes a Karras run.
 */
export const SAMPLER_INFO: Readonly<Record<SamplerName, { display: string; karras: boolean }>> = {
  euler: { display: 'Euler', karras: false },
  euler_a: { display: 'Euler a', karras: false },
  dpmpp_2m: { display: 'DPM++ 2M', karras: false },
  dpmpp_2m_karras: { display: 'DPM++ 2M Karras', karras: true },
  ddim: { display: 'DDIM', karras: false },
  lcm: { display: 'LCM', karras: false },
};

/** Case, spaces, underscores and hyphens do not matter: "Euler a", "euler_a" and "EULERA" are one name. */
function normalize(name: string): string {
  return name.toLowerCase().replace(/[\s_-]+/g, '');
}

const BY_NORMALIZED_NAME: ReadonlyMap<string, SamplerName> = new Map(
  SAMPLER_NAMES.flatMap((name) => [[normalize(name), name] as const, [normalize(SAMPLER_INFO[name].display), name] as const]),
);

/** Our names (`dpmpp_2m_karras`) and A1111 display names (`DPM++ 2M Karras`), case- and space-insensitive; undefined if neither. */
export function normalizeSamplerName(input: string): SamplerName | undefined {
  return BY_NORMALIZED_NAME.get(normalize(input));
}

/** Like `normalizeSamplerName`, but an unknown name is a UserError listing the valid ones. */
export function parseSamplerName(input: string): SamplerName {
  const found = normalizeSamplerName(input);
  if (found !== undefined) return found;
  const valid = SAMPLER_NAMES.map((name) => `${name} ("${SAMPLER_INFO[name].display}")`).join(', ');
  throw new UserError(Identifiers.UnknownSampler, `Unknown sampler "${input}". Use one of: ${valid}.`, { sampler: input });
}

/** The AUTOMATIC1111 display name for PNG parameters: `dpmpp_2m_karras` -> "DPM++ 2M Karras". */
export function samplerDisplayName(name: SamplerName): string {
  return SAMPLER_INFO[name].display;
}
