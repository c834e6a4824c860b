import { describe, expect, it } from 'vitest';
import { toJobRequest } from '../../src/discord/commands/imagine.js';
import type { ImagineParams } from '../../src/discord/options/imagine-options.js';

const params = {
  model: 'm',
  prompt: '一只猫',
  negativePrompt: '',
  steps: 20,
  cfg: 7,
  sampler: 'euler_a',
  width: 512,
  height: 512,
  count: 1,
  clipSkip: 1,
  notes: [],
} as unknown as ImagineParams;

describe('toJobRequest and the server translate setting', () => {
  it('leaves translate out when on (the engine default), so stored jobs read as before', () => {
    expect('translate' in toJobRequest(params, 2)).toBe(false);
    expect('translate' in toJobRequest(params, 2, true)).toBe(false);
  });
  it('asks for no translation when the server turned it off', () => {
    expect(toJobRequest(params, 2, false).translate).toBe(false);
  });
});
