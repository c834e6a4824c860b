import { describe, expect, it } from 'vitest';
import { jobCost, LORA_MERGE_COST } from '../../src/queue/job-cost.js';

describe('jobCost', () => {
  const job = { steps: 20, width: 512, height: 512, count: 1 };
  it('is steps × pixels × images, plus an estimated merge per LoRA (weight 0 and repeats do not count)', () => {
    expect(jobCost(job)).toBe(20 * 512 * 512);
    expect(jobCost({ ...job, prompt: 'a cat' })).toBe(20 * 512 * 512);
    expect(jobCost({ ...job, prompt: 'a cat <lora:a:0.8> <lora:b> <lora:a:1> <lora:c:0>' })).toBe(20 * 512 * 512 + 2 * LORA_MERGE_COST);
  });
});
