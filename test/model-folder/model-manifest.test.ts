import { describe, expect, it } from 'vitest';

import { manifestDefaults, modelManifestSchema } from '../../src/model-folder/model-manifest.js';

describe('imagine-bot.json defaults.clipSkip', () => {
  it("is a per-model default carried into the engine contract's ModelDefaults", () => {
    const manifest = modelManifestSchema.parse({ defaults: { clipSkip: 2 } });
    expect(manifestDefaults(manifest)).toEqual({ clipSkip: 2 });
  });

  it('must be a whole number from 1 to 12', () => {
    expect(modelManifestSchema.safeParse({ defaults: { clipSkip: 13 } }).success).toBe(false);
    expect(modelManifestSchema.safeParse({ defaults: { clipSkip: 1.5 } }).success).toBe(false);
    expect(modelManifestSchema.safeParse({ defaults: { clipSkip: 12 } }).success).toBe(true);
  });
});
