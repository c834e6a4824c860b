import { describe, expect, it } from 'vitest';
import { WorkerMessageSchema } from '../../src/protocol/messages.js';
import { checkJobRequest } from '../../src/protocol/generate-request.js';
import { smallRequest } from '../fixtures/requests.js';

describe('ControlNet on the wire (#15)', () => {
  it('a result keeps its control maps across the worker boundary', () => {
    const png = new Uint8Array([137, 80, 78, 71]);
    const parsed = WorkerMessageSchema.parse({
      type: 'result',
      jobId: 'j1',
      images: [{ png, seed: 1, width: 64, height: 64, parameters: 'x' }],
      seed: 1,
      warnings: [],
      timings: { totalMs: 1, inferenceMs: 1, previewMs: 0, loadMs: 0 },
      controlMaps: [{ png, width: 64, height: 64 }],
    });
    expect(parsed.type === 'result' && parsed.controlMaps).toEqual([{ png, width: 64, height: 64 }]);
  });

  it('a stored job keeps its units with image references, and a forged reference is refused', () => {
    const unit = { net: 'canny', image: { ref: 'inputs/abc/0.png' }, strength: 1, preprocess: 'canny' as const, cannyLow: 80, cannyHigh: 160 };
    expect(checkJobRequest({ ...smallRequest(), controls: [unit] }).controls).toEqual([unit]);
    expect(() => checkJobRequest({ ...smallRequest(), controls: [{ ...unit, image: { ref: '../etc/passwd' } }] })).toThrow(/stored image reference/);
    expect(() => checkJobRequest({ ...smallRequest(), controls: [{ ...unit, preprocess: 'hed' }] })).toThrow(/controls/);
  });
});
