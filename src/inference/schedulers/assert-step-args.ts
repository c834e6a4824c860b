/**
 * Argument checks shared by every `Scheduler.step` / `scaleModelInput` / `addNoise`. Wrong arguments here are bugs
 * in the pipeline, not user mistakes, so they throw TypeError with the expected and actual values.
 */

/** `stepIndex` must address one of the `count` timesteps set by `setTimesteps`. */
export function assertStepIndex(stepIndex: number, count: number): void {
  if (count === 0) throw new TypeError('Call `setTimesteps(n)` before stepping the scheduler');
  if (!Number.isInteger(stepIndex) || stepIndex < 0 || stepIndex >= count) {
    throw new TypeError(`Expected \`stepIndex\` to be an integer 0–${count - 1}, got \`${String(stepIndex)}\` (${typeof stepIndex})`);
  }
}

/** Element-wise maths needs the model output (or noise) to be the latent's shape. */
export function assertSameLength(a: Float32Array, b: Float32Array, what: string): void {
  if (a.length !== b.length) {
    throw new TypeError(`Expected \`${what}\` to have ${b.length} elements like the sample, got ${a.length}`);
  }
}
