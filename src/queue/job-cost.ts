import type { GenerateRequest } from '../protocol/generate-request.js';

/**
 * The unit of fairness and of ETAs: steps × pixels × images, the work a UNet does. Upscale and variation jobs
 * are priced the same way from their request. Always positive, so the queue can divide by it.
 */
export function jobCost(request: Pick<GenerateRequest, 'steps' | 'width' | 'height' | 'count'> & { controls?: readonly unknown[] }): number {
  const base = Math.max(1, request.steps) * Math.max(1, request.width * request.height) * Math.max(1, request.count);
  // A ControlNet is the UNet's encoder half run beside it every step (issue #15): about half a UNet per unit.
  return base * (1 + 0.5 * (request.controls?.length ?? 0));
}
