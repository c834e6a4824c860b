import { describe, expect, it } from 'vitest';
import { defaultSchedulerConfig, parseSchedulerConfig, SchedulerConfigError } from '../../../src/inference/schedulers/scheduler-config.js';
import { sd15Config } from './harness.js';

function configError(raw: unknown): SchedulerConfigError {
  try {
    parseSchedulerConfig(raw, 'EulerDiscreteScheduler');
  } catch (error) {
    if (error instanceof SchedulerConfigError) return error;
    throw error;
  }
  throw new Error('expected a SchedulerConfigError');
}

describe('parseSchedulerConfig', () => {
  it('maps snake_case keys to the camelCase SchedulerConfig', () => {
    const { config, unknownKeys } = parseSchedulerConfig(
      {
        num_train_timesteps: 500,
        beta_start: 0.001,
        beta_end: 0.01,
        beta_schedule: 'scaled_linear',
        prediction_type: 'v_prediction',
        timestep_spacing: 'trailing',
        steps_offset: 1,
        set_alpha_to_one: false,
        clip_sample: true,
        clip_sample_range: 2,
        use_karras_sigmas: true,
        original_inference_steps: 25,
        timestep_scaling: 5,
        final_sigmas_type: 'sigma_min',
        lower_order_final: false,
        rescale_betas_zero_snr: true,
        eta: 0.5,
      },
      'DDIMScheduler',
    );
    expect(unknownKeys).toEqual([]);
    expect(config).toEqual({
      numTrainTimesteps: 500,
      betaStart: 0.001,
      betaEnd: 0.01,
      betaSchedule: 'scaled_linear',
      predictionType: 'v_prediction',
      timestepSpacing: 'trailing',
      stepsOffset: 1,
      setAlphaToOne: false,
      clipSample: true,
      clipSampleRange: 2,
      useKarrasSigmas: true,
      originalInferenceSteps: 25,
      timestepScaling: 5,
      finalSigmasType: 'sigma_min',
      lowerOrderFinal: false,
      rescaleBetasZeroSnr: true,
      eta: 0.5,
    });
  });

  it("fills missing keys with the target class's diffusers defaults, not the writer's", () => {
    const euler = parseSchedulerConfig(sd15Config, 'EulerDiscreteScheduler').config;
    const ddim = parseSchedulerConfig(sd15Config, 'DDIMScheduler').config;
    const lcm = parseSchedulerConfig({}, 'LCMScheduler').config;
    expect(euler.timestepSpacing).toBe('linspace');
    expect(ddim.timestepSpacing).toBe('leading');
    // Present keys win over every class default.
    expect(euler.betaSchedule).toBe('scaled_linear');
    expect(ddim.clipSample).toBe(false);
    expect(ddim.setAlphaToOne).toBe(false);
    expect(lcm).toMatchObject({ betaStart: 0.00085, betaEnd: 0.012, betaSchedule: 'scaled_linear' });
    expect(lcm.originalInferenceSteps).toBe(50);
    expect(lcm.timestepScaling).toBe(10);
    expect(defaultSchedulerConfig('DDIMScheduler')).toMatchObject({ clipSample: true, setAlphaToOne: true, eta: 0 });
    expect(defaultSchedulerConfig('EulerAncestralDiscreteScheduler').eta).toBe(1);
    expect(defaultSchedulerConfig('DPMSolverMultistepScheduler')).toMatchObject({
      lowerOrderFinal: true,
      finalSigmasType: 'zero',
      timestepSpacing: 'linspace',
    });
  });

  it('treats null as absent where diffusers writes it', () => {
    const { config } = parseSchedulerConfig({ trained_betas: null, use_karras_sigmas: null }, 'EulerDiscreteScheduler');
    expect(config.trainedBetas).toBeUndefined();
    expect(config.useKarrasSigmas).toBe(false);
  });

  it('returns unknown keys and non-neutral unsupported keys, but not bookkeeping or no-op keys', () => {
    const { unknownKeys } = parseSchedulerConfig(
      {
        ...sd15Config,
        thresholding: false,
        solver_order: 3,
        algorithm_type: 'sde-dpmsolver++',
        interpolation_type: 'linear',
        sigma_min: null,
        frobnicate: 1,
      },
      'DPMSolverMultistepScheduler',
    );
    expect(unknownKeys).toEqual(['solver_order', 'algorithm_type', 'frobnicate']);
  });

  it('names the key and the allowed values for a bad enum value', () => {
    const error = configError({ beta_schedule: 'cosine' });
    expect(error.message).toContain('"beta_schedule" is "cosine"');
    expect(error.message).toContain('"linear", "scaled_linear", "squaredcos_cap_v2"');
    expect(error.issues.map((i) => i.key)).toEqual(['beta_schedule']);
  });

  it('reports every bad key at once, once each', () => {
    const error = configError({ num_train_timesteps: 0.5, prediction_type: 'x0', timestep_spacing: 7 });
    expect(error.issues.map((i) => i.key).sort()).toEqual(['num_train_timesteps', 'prediction_type', 'timestep_spacing']);
    expect(error.message).toContain('"num_train_timesteps" is 0.5; use an integer ≥ 2');
    expect(error.message).toContain('"epsilon", "v_prediction", "sample"');
    expect(error.message).toContain('"leading", "linspace", "trailing"');
  });

  it('rejects out-of-range numbers and wrong types', () => {
    expect(configError({ beta_end: 1.5 }).message).toMatch(/"beta_end" is 1.5; use a number between 0 and 1/);
    expect(configError({ clip_sample: 'yes' }).message).toMatch(/"clip_sample" is "yes"; use true or false/);
    expect(configError({ steps_offset: -1 }).message).toMatch(/"steps_offset" is -1; use an integer ≥ 0/);
  });

  it('rejects trained_betas whose length disagrees with num_train_timesteps', () => {
    const error = configError({ trained_betas: [0.1, 0.2, 0.3] });
    expect(error.message).toMatch(/"trained_betas" has 3 values but "num_train_timesteps" is 1000/);
  });

  it('rejects a config that is not a JSON object', () => {
    expect(configError([1, 2]).message).toMatch(/must hold a JSON object/);
    expect(configError(null).message).toMatch(/must hold a JSON object/);
  });
});
