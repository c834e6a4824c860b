import { describe, expect, it } from 'vitest';
import { Identifiers, UserError } from '../../src/errors.js';
import { normalizeSamplerName, parseSamplerName, SAMPLER_NAMES, samplerDisplayName } from '../../src/protocol/samplers.js';

describe('parseSamplerName', () => {
  it('accepts our names and A1111 display names, ignoring case and spaces', () => {
    const cases: [string, string][] = [
      ['euler', 'euler'],
      ['Euler', 'euler'],
      ['Euler a', 'euler_a'],
      ['EULER_A', 'euler_a'],
      ['DPM++ 2M', 'dpmpp_2m'],
      ['dpm++2m', 'dpmpp_2m'],
      ['DPM++ 2M Karras', 'dpmpp_2m_karras'],
      ['  dpm++  2m   karras ', 'dpmpp_2m_karras'],
      ['dpmpp_2m_karras', 'dpmpp_2m_karras'],
      ['DDIM', 'ddim'],
      ['lcm', 'lcm'],
      ['LCM', 'lcm'],
    ];
    for (const [input, expected] of cases) expect(parseSamplerName(input)).toBe(expected);
  });

  it('rejects an unknown name with a UserError that lists the valid names', () => {
    let error: unknown;
    try {
      parseSamplerName('Heun');
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(UserError);
    expect((error as UserError).identifier).toBe(Identifiers.UnknownSampler);
    expect((error as UserError).message).toMatch(/Unknown sampler "Heun"/);
    for (const name of SAMPLER_NAMES) expect((error as UserError).message).toContain(name);
    expect((error as UserError).message).toContain('"DPM++ 2M Karras"');
    expect(() => parseSamplerName('')).toThrow(UserError);
  });
});

describe('samplerDisplayName', () => {
  it('gives the A1111 name used in PNG parameters and parses back to the same sampler', () => {
    expect(SAMPLER_NAMES.map(samplerDisplayName)).toEqual(['Euler', 'Euler a', 'DPM++ 2M', 'DPM++ 2M Karras', 'DDIM', 'LCM']);
    for (const name of SAMPLER_NAMES) expect(parseSamplerName(samplerDisplayName(name))).toBe(name);
  });
});

describe('normalizeSamplerName', () => {
  it('answers undefined instead of throwing for an unknown name', () => {
    expect(normalizeSamplerName('DPM++ 2M Karras')).toBe('dpmpp_2m_karras');
    expect(normalizeSamplerName('Heun')).toBeUndefined();
  });
});
