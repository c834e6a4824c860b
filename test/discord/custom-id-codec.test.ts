import { describe, expect, it } from 'vitest';
import {
  CUSTOM_ID_MAX,
  CustomIdCodec,
  editButtonIds,
  imageButtonIds,
  imageIndexOf,
  jobButtonIds,
  regionModalIds,
} from '../../src/discord/custom-id-codec.js';

describe('custom id codecs', () => {
  it('round-trips every image action and the cancel action', () => {
    const jobId = '01JD2ZK3Q4V5W6X7Y8Z9ABCDEF';
    for (const action of ['reroll', 'v1', 'v2', 'v3', 'v4', 'u1', 'u2', 'u3', 'u4'] as const) {
      const id = imageButtonIds.encode(action, jobId);
      expect(id).toBe(`img:${action}:${jobId}`);
      expect(imageButtonIds.decode(id)).toEqual({ action, jobId });
    }
    expect(jobButtonIds.decode(jobButtonIds.encode('cancel', 'abc-123'))).toEqual({ action: 'cancel', jobId: 'abc-123' });
  });

  it('round-trips the edit buttons and the region form, within 100 characters for the longest job id', () => {
    const jobId = 'x'.repeat(64);
    for (const action of ['zoom2', 'zoom15', 'panleft', 'panright', 'panup', 'pandown', 'subtle', 'strong', 'region'] as const) {
      const id = editButtonIds.encode(action, jobId);
      expect(id.length).toBeLessThanOrEqual(CUSTOM_ID_MAX);
      expect(editButtonIds.decode(id)).toEqual({ action, jobId });
      expect(imageButtonIds.decode(id)).toBeUndefined();
    }
    expect(regionModalIds.decode(regionModalIds.encode('submit', 'abc'))).toEqual({ action: 'submit', jobId: 'abc' });
    expect(editButtonIds.decode('edit:zoom3:abc')).toBeUndefined();
  });

  it('maps V and U actions to 0-based image indexes', () => {
    expect(imageIndexOf('v1')).toBe(0);
    expect(imageIndexOf('u4')).toBe(3);
    expect(imageIndexOf('reroll')).toBeUndefined();
  });

  it('does not decode ids of another feature, unknown actions or malformed ids', () => {
    expect(imageButtonIds.decode('job:cancel:abc')).toBeUndefined();
    expect(jobButtonIds.decode('img:reroll:abc')).toBeUndefined();
    expect(imageButtonIds.decode('img:v5:abc')).toBeUndefined();
    expect(imageButtonIds.decode('img:reroll:')).toBeUndefined();
    expect(imageButtonIds.decode('img:reroll:abc:extra')).toBeUndefined();
    expect(imageButtonIds.decode('img:reroll:a b')).toBeUndefined();
    expect(imageButtonIds.decode(`img:reroll:${'a'.repeat(200)}`)).toBeUndefined();
  });

  it('refuses to encode ids that would break the format or the 100-character limit', () => {
    expect(() => imageButtonIds.encode('reroll', 'a:b')).toThrow(TypeError);
    expect(() => imageButtonIds.encode('reroll', 'x'.repeat(65))).toThrow(/jobId/);
    expect(() => imageButtonIds.encode('v9' as never, 'abc')).toThrow(/action/);
    expect(imageButtonIds.encode('reroll', 'x'.repeat(64)).length).toBeLessThanOrEqual(CUSTOM_ID_MAX);
    expect(() => new CustomIdCodec('Bad:Feature', ['a'])).toThrow(TypeError);
  });
});
