import type { GenerateRequest } from '../protocol/generate-request.js';
import { loraSetKey, parseLoraTags } from '../protocol/lora-tags.js';

/**
 * What a job with `<lora:…>` tags adds for merging its LoRA set, in the same unit: about 4 steps at 512×512 per LoRA.
 * An estimate (docs/loras.md): merging a rank-16 SD 1.5 LoRA takes a few seconds of CPU, about 4 CPU steps of
 * SD 1.5 at 512×512; the queue cannot know whether the worker still holds the set merged (then it costs nothing),
 * so every LoRA job is charged, which errs toward fairness for the jobs without.
 */
export const LORA_MERGE_COST = 4 * 512 * 512;

/**
 * The unit of fairness and of ETAs: steps × pixels × images, the work a UNet does, plus the LoRA merge and the
 * ControlNets. Upscale and variation jobs are priced the same way from their request. Always positive, so the queue
 * can divide by it.
 */
export function jobCost(
  request: Pick<GenerateRequest, 'steps' | 'width' | 'height' | 'count'> &
    Partial<Pick<GenerateRequest, 'prompt'>> & { controls?: readonly unknown[] },
): number {
  const unet = Math.max(1, request.steps) * Math.max(1, request.width * request.height) * Math.max(1, request.count);
  // A ControlNet is the UNet's encoder half run beside it every step (issue #15): about half a UNet per unit.
  const withControls = unet * (1 + 0.5 * (request.controls?.length ?? 0));
  const loras = request.prompt ? loraSetKey(parseLoraTags(request.prompt)) : '';
  return withControls + (loras ? loras.split(',').length * LORA_MERGE_COST : 0);
}
