import { describe, expect, it } from 'vitest';
import { modelManifestSchema } from '../../src/model-folder/model-manifest.js';
import { findKnownModel, KNOWN_MODELS, knownModelManifest } from '../../src/hub/known-models.js';

describe('known models', () => {
  it('writes manifests that the imagine-bot.json schema accepts for every known repository', () => {
    for (const known of KNOWN_MODELS) {
      const manifest = knownModelManifest(known, { repo: known.repo, revision: 'c'.repeat(40) });
      expect(modelManifestSchema.parse(manifest)).toEqual(manifest);
    }
  });

  it('finds repositories case-insensitively, as the hub resolves them', () => {
    expect(findKnownModel('THEYCALLMEHEX/lcm-dreamshaper-v7-onnx')?.repo).toBe('TheyCallMeHex/LCM-Dreamshaper-V7-ONNX');
    expect(findKnownModel('someone/else')).toBeUndefined();
  });

  it('runs Turbo models in one Euler step without guidance and with trailing timesteps', () => {
    const turbo = findKnownModel('schmuell/sd-turbo-ort-web')!;
    expect(turbo.defaults).toEqual({ sampler: 'euler', steps: 1, cfg: 0, width: 512, height: 512 });
    expect(turbo.schedulerConfig).toEqual({ timestep_spacing: 'trailing' });
    expect(turbo.family).toBe('sd2');
  });

  it('runs SDXL-Turbo like SD-Turbo (1 Euler step, cfg 0, 512×512, trailing) and SDXL base at 30 steps, cfg 5, 1024×1024', () => {
    for (const repo of ['stabilityai/sdxl-turbo', 'tlwu/sdxl-turbo-onnxruntime']) {
      const turbo = findKnownModel(repo)!;
      expect(turbo.family).toBe('sdxl');
      expect(turbo.defaults).toEqual({ sampler: 'euler', steps: 1, cfg: 0, width: 512, height: 512 });
      expect(turbo.schedulerConfig).toEqual({ timestep_spacing: 'trailing' });
    }
    const base = findKnownModel('stabilityai/stable-diffusion-xl-base-1.0')!;
    expect(base.family).toBe('sdxl');
    expect(base.defaults).toEqual({ sampler: 'euler', steps: 30, cfg: 5, width: 1024, height: 1024 });
    expect(base.schedulerConfig).toBeUndefined();
  });

  it('runs LCM models in 4 LCM steps with guidance folded into the UNet', () => {
    expect(findKnownModel('TheyCallMeHex/LCM-Dreamshaper-V7-ONNX')!.defaults).toEqual({
      sampler: 'lcm',
      steps: 4,
      cfg: 8,
      width: 512,
      height: 512,
    });
  });

  it('pulls SD 1.5 from its onnx branch with 25 DPM++ 2M Karras steps at cfg 7', () => {
    const sd15 = findKnownModel('stable-diffusion-v1-5/stable-diffusion-v1-5')!;
    expect(sd15.revision).toBe('onnx');
    expect(sd15.defaults).toMatchObject({ sampler: 'dpmpp_2m_karras', steps: 25, cfg: 7 });
  });
});
