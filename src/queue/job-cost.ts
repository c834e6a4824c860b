import type { GenerateRequest } from '../protocol/generate-request.js';

/**
 * The unit of fairness and of ETAs: steps × pixels × images, the work a UNet does. Upscale and variation jobs
 * are priced the same way from their request. Always positive, so the queue can divide by it.
 */
export function jobCost(request: Pick<GenerateRequest, 'steps' | 'width' | 'height' | 'count'>): number {
  return Math.max(1, request.steps) * Math.max(1, request.width * request.height) * Math.max(1, request.count);
}
