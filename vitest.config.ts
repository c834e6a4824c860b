import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // Keep the default process pool: typed arrays from native addons (onnxruntime-node) fail `instanceof`
    // across vm realms, so vmThreads/vmForks are off limits (STYLE.md, Tests).
    pool: 'forks',
    testTimeout: 60_000,
    hookTimeout: 60_000,
  },
});
