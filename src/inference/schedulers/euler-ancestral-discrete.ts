/**
 * Euler ancestral, A1111's "Euler a": each step goes deterministically down to σ_down < σ_next and then adds fresh
 * noise of size σ_up, with σ_down² + σ_up² = σ_next², so the noise level lands exactly on σ_next. The injected noise
 * keeps re-randomising the image, which is why "Euler a" does not converge as the step count grows.
 *
 * Same σ schedule, input scaling and img2img noising as EulerDiscreteScheduler; `useKarrasSigmas` is honoured here
 * too (k-diffusion runs Euler a on any σ schedule; diffusers' class has no such option).
 */
import { EulerDiscreteScheduler } from './euler-discrete.js';
import type { NoiseSource, SchedulerStepOutput } from './scheduler.js';

/**
 * Everything but the step is Euler's: the σ schedule, init_noise_sigma, the input scaling and add_noise (diffusers
 * keeps them identical in both classes), so it is inherited rather than repeated.
 */
export class EulerAncestralDiscreteScheduler extends EulerDiscreteScheduler {
  static override readonly className = 'EulerAncestralDiscreteScheduler';

  /**
   * σ_up and σ_down for a step from `sigma` to `sigmaNext`. Port of k-diffusion get_ancestral_step:
   * σ_up = min(σ_next, η·√(σ_next²·(σ² − σ_next²)/σ²)), σ_down = √(σ_next² − σ_up²). With η = 1 this is diffusers'
   * EulerAncestralDiscreteScheduler; η = 0 turns it into plain Euler.
   */
  ancestralStep(sigma: number, sigmaNext: number): { sigmaUp: number; sigmaDown: number } {
    const eta = this.config.eta;
    // Going to σ = 0 there is no noise left to re-inject: the step is plain Euler to the clean estimate.
    if (eta === 0 || sigmaNext === 0) return { sigmaUp: 0, sigmaDown: sigmaNext };
    const sigmaUp = Math.min(sigmaNext, eta * Math.sqrt((sigmaNext * sigmaNext * (sigma * sigma - sigmaNext * sigmaNext)) / (sigma * sigma)));
    return { sigmaUp, sigmaDown: Math.sqrt(sigmaNext * sigmaNext - sigmaUp * sigmaUp) };
  }

  // Port of diffusers EulerAncestralDiscreteScheduler.step (scheduling_euler_ancestral_discrete.py) / k-diffusion
  // sample_euler_ancestral: x ← x + (x − x0)/σ·(σ_down − σ) + σ_up·z.
  override step(modelOutput: Float32Array, stepIndex: number, sample: Float32Array, noise: NoiseSource): SchedulerStepOutput {
    const { sigma, predOriginalSample } = this.predictOriginal(modelOutput, stepIndex, sample);
    const { sigmaUp, sigmaDown } = this.ancestralStep(sigma, this.sigmas[stepIndex + 1]);
    const n = sample.length;
    // Deterministic Euler part, but only down to σ_down; the fresh noise below brings the level back to σ_next.
    const ratio = (sigmaDown - sigma) / sigma;
    // No draw when nothing would be added (the last step to σ = 0, or η = 0), as k-diffusion does; this keeps the
    // noise stream identical to diffusers', whose final draw is multiplied by zero.
    const z = sigmaUp > 0 ? noise.randn(n) : undefined;
    if (z && z.length !== n) throw new TypeError(`Expected the noise source to return ${n} samples, got ${z.length}`);
    const prevSample = new Float32Array(n);
    for (let i = 0; i < n; i++) {
      const x = sample[i];
      prevSample[i] = x + (x - predOriginalSample[i]) * ratio + (z ? z[i] * sigmaUp : 0);
    }
    return { prevSample, predOriginalSample };
  }
}
