import { describe, expect, it } from 'vitest';
import { Identifiers, UserError } from '../../src/errors.js';
import type { HubFile } from '../../src/hub/hub-client.js';
import { checkPipelineClass, selectModelFiles, unsafePathReason } from '../../src/hub/select-model-files.js';

const listing = (paths: string[]): HubFile[] => paths.map((p) => ({ path: p, size: 1 }));

const CONFIG = [
  'model_index.json',
  'scheduler/scheduler_config.json',
  'tokenizer/vocab.json',
  'tokenizer/merges.txt',
  'tokenizer/special_tokens_map.json',
  'tokenizer/tokenizer_config.json',
];

function caught(fn: () => unknown): UserError {
  try {
    fn();
  } catch (error) {
    return error as UserError;
  }
  throw new Error('expected an error');
}

describe('selectModelFiles', () => {
  it('keeps each component graph with its external weights and config, config files first', () => {
    const files = listing([
      'README.md',
      'unet/model.onnx',
      'unet/weights.pb',
      'unet/config.json',
      'unet/diffusion_pytorch_model.safetensors',
      'text_encoder/model.onnx',
      'text_encoder/model.onnx_data',
      'vae_decoder/model.onnx',
      'vae_decoder/vae_decoder.onnx.data',
      'vae_encoder/model.onnx',
      'safety_checker/model.onnx',
      'feature_extractor/preprocessor_config.json',
      'tokenizer/model.onnx',
      'unet/nested/extra.onnx_data',
      ...CONFIG,
    ]);
    const { files: chosen, skipped } = selectModelFiles('o/r', files);
    expect(chosen.map((f) => f.path)).toEqual([
      ...CONFIG,
      'text_encoder/model.onnx',
      'text_encoder/model.onnx_data',
      'unet/model.onnx',
      'unet/weights.pb',
      'unet/config.json',
      'vae_decoder/model.onnx',
      'vae_decoder/vae_decoder.onnx.data',
      'vae_encoder/model.onnx',
    ]);
    expect(skipped.sort()).toEqual(
      [
        'README.md',
        'feature_extractor/preprocessor_config.json',
        'safety_checker/model.onnx',
        'tokenizer/model.onnx',
        'unet/diffusion_pytorch_model.safetensors',
        'unet/nested/extra.onnx_data',
      ].sort(),
    );
  });

  it('skips a vae_encoder folder that has no graph', () => {
    const files = listing([...CONFIG, 'text_encoder/model.onnx', 'unet/model.onnx', 'vae_decoder/model.onnx', 'vae_encoder/config.json']);
    expect(selectModelFiles('o/r', files).files.map((f) => f.path)).not.toContain('vae_encoder/config.json');
  });

  it('takes config files from the config repository only where the main listing lacks them', () => {
    const main = [{ path: 'model_index.json', size: 10 }, ...listing(['text_encoder/model.onnx', 'unet/model.onnx', 'vae_decoder/model.onnx'])];
    const config = listing(CONFIG).map((f) => ({ ...f, size: 99 }));
    const chosen = selectModelFiles('o/r', main, config).files;
    expect(chosen.find((f) => f.path === 'model_index.json')?.size).toBe(10);
    expect(chosen.find((f) => f.path === 'tokenizer/vocab.json')?.size).toBe(99);
  });

  it('says a PyTorch-only repository holds no ONNX export', () => {
    const error = caught(() => selectModelFiles('o/r', listing(['model_index.json', 'unet/diffusion_pytorch_model.safetensors'])));
    expect(error.identifier).toBe(Identifiers.InvalidModel);
    expect(error.message).toBe(
      'o/r is not a diffusers ONNX export the engine can use: missing scheduler/scheduler_config.json, ' +
        'tokenizer/vocab.json, tokenizer/merges.txt, text_encoder/model.onnx, unet/model.onnx, vae_decoder/model.onnx. ' +
        'It holds PyTorch weights only. Pick an ONNX repository (docs/models.md lists known ones) or a --revision that has one.',
    );
  });

  it("takes an SDXL listing with its second encoder, second tokenizer and optimum's model.onnx_data", () => {
    const sdxl = [
      ...CONFIG,
      'tokenizer_2/vocab.json',
      'tokenizer_2/merges.txt',
      'tokenizer_2/special_tokens_map.json',
      'text_encoder/model.onnx',
      'text_encoder_2/model.onnx',
      'text_encoder_2/model.onnx_data',
      'text_encoder_2/model.safetensors',
      'unet/model.onnx',
      'unet/model.onnx_data',
      'unet/diffusion_pytorch_model.fp16.safetensors',
      'vae_decoder/model.onnx',
      'vae_decoder/config.json',
    ];
    const { files, skipped } = selectModelFiles('o/xl', listing(sdxl));
    expect(files.map((f) => f.path)).toEqual([
      ...CONFIG,
      'tokenizer_2/vocab.json',
      'tokenizer_2/merges.txt',
      'tokenizer_2/special_tokens_map.json',
      'text_encoder/model.onnx',
      'text_encoder_2/model.onnx',
      'text_encoder_2/model.onnx_data',
      'unet/model.onnx',
      'unet/model.onnx_data',
      'vae_decoder/model.onnx',
      'vae_decoder/config.json',
    ]);
    expect(skipped).toEqual(['text_encoder_2/model.safetensors', 'unet/diffusion_pytorch_model.fp16.safetensors']);
  });

  it('names the missing half of an SDXL listing', () => {
    const error = caught(() =>
      selectModelFiles(
        'o/xl',
        listing([...CONFIG, 'tokenizer_2/vocab.json', 'text_encoder/model.onnx', 'unet/model.onnx', 'vae_decoder/model.onnx']),
      ),
    );
    expect(error.message).toMatch(
      /^o\/xl is not a diffusers ONNX export the engine can use: missing text_encoder_2\/model\.onnx, tokenizer_2\/merges\.txt\./,
    );
  });

  it('refuses a listing with a third text encoder (SD3)', () => {
    const error = caught(() => selectModelFiles('o/sd3', listing([...CONFIG, 'text_encoder_3/model.onnx'])));
    expect(error.message).toMatch(/^o\/sd3 is a pipeline the engine does not run \(it has text_encoder_3\)/);
  });
});

describe('checkPipelineClass', () => {
  it('accepts SD, LCM and SDXL pipelines and refuses SD3 and Flux ones', () => {
    for (const ok of [
      'OnnxStableDiffusionPipeline',
      'StableDiffusionPipeline',
      'LatentConsistencyModelPipeline',
      'ORTStableDiffusionXLPipeline',
      'StableDiffusionXLPipeline',
    ]) {
      expect(() => checkPipelineClass('o/r', JSON.stringify({ _class_name: ok }))).not.toThrow();
    }
    for (const bad of ['StableDiffusion3Pipeline', 'FluxPipeline']) {
      expect(() => checkPipelineClass('o/r', JSON.stringify({ _class_name: bad }))).toThrow(`model_index.json says ${bad}`);
    }
  });

  it('refuses the SDXL refiner by its requires_aesthetics_score', () => {
    expect(() =>
      checkPipelineClass('o/refiner', JSON.stringify({ _class_name: 'StableDiffusionXLImg2ImgPipeline', requires_aesthetics_score: true })),
    ).toThrow('o/refiner is an SDXL refiner (model_index.json sets requires_aesthetics_score); SDXL refiner models are not supported yet.');
  });

  it('reports a model_index.json that is not JSON', () => {
    expect(() => checkPipelineClass('o/r', '{nope')).toThrow('o/r: model_index.json is not valid JSON.');
  });
});

describe('unsafePathReason', () => {
  it('refuses every name that could leave the model folder on any platform, and accepts ordinary ones', () => {
    expect({
      backslash: unsafePathReason('text_encoder/..\\..\\..\\x.onnx_data'),
      dotDot: unsafePathReason('unet/../x.onnx'),
      dot: unsafePathReason('./unet/model.onnx'),
      drive: unsafePathReason('C:/Windows/x.onnx'),
      driveInName: unsafePathReason('unet/c:x.onnx_data'),
      leadingSlash: unsafePathReason('/etc/passwd'),
      empty: unsafePathReason('unet//model.onnx'),
      trailingSlash: unsafePathReason('unet/'),
      nul: unsafePathReason('unet/model.onnx\u0000.txt'),
      newline: unsafePathReason('unet/x\n.onnx_data'),
    }).toEqual({
      backslash: 'it contains "\\"',
      dotDot: 'it has a ".." segment',
      dot: 'it has a "." segment',
      drive: 'it has a drive letter',
      driveInName: 'it has a drive letter',
      leadingSlash: 'it starts with "/"',
      empty: 'it has an empty path segment',
      trailingSlash: 'it has an empty path segment',
      nul: 'it contains a NUL or control character',
      newline: 'it contains a NUL or control character',
    });
    for (const ok of ['unet/model.onnx', 'a..b/c.d', '..x/y', 'tokenizer/vocab.json']) expect(unsafePathReason(ok), ok).toBeUndefined();
  });
});

describe('selectModelFiles with unsafe names', () => {
  const safe = [...CONFIG, 'text_encoder/model.onnx', 'unet/model.onnx', 'vae_decoder/model.onnx'];

  it('refuses the whole selection when a needed file has an unsafe name, naming the file', () => {
    const bad = 'text_encoder/..\\..\\..\\x.onnx_data';
    const error = caught(() => selectModelFiles('o/r', listing([...safe, bad])));
    expect(error).toBeInstanceOf(UserError);
    expect(error.identifier).toBe(Identifiers.InvalidModel);
    expect(error.context).toEqual({ repo: 'o/r', file: bad });
    expect(error.message).toContain(`o/r lists a needed file under an unsafe name, ${JSON.stringify(bad)}: it contains "\\"`);
  });

  it('leaves unneeded files with unsafe names out and reports them apart from the ordinary skipped files', () => {
    const selection = selectModelFiles('o/r', listing([...safe, 'README.md', '/etc/x.png', 'safety_checker/../../y.onnx']));
    expect(selection.files.map((f) => f.path)).toEqual(safe);
    expect(selection.skipped).toEqual(['README.md']);
    expect(selection.unsafe).toEqual(['/etc/x.png', 'safety_checker/../../y.onnx']);
  });
});
