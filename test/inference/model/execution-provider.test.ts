import { describe, expect, it } from 'vitest';
import { Identifiers, UserError } from '../../../src/errors.js';
import {
  classifyProviderFailure,
  cpuFallbackPlan,
  describeExecutionProvider,
  parseExecutionProvider,
  resolveExecutionProviders,
  type SupportedBackend,
} from '../../../src/inference/model/execution-provider.js';

// What onnxruntime-node 1.30 reports on each platform (linux measured; the others follow its bin/ folders).
const LINUX: SupportedBackend[] = [
  { name: 'cpu', bundled: true },
  { name: 'webgpu', bundled: true },
  { name: 'cuda', bundled: false },
  { name: 'tensorrt', bundled: false },
];
const WINDOWS: SupportedBackend[] = [
  { name: 'cpu', bundled: true },
  { name: 'dml', bundled: true },
  { name: 'webgpu', bundled: true },
  { name: 'cuda', bundled: false },
];
const MAC: SupportedBackend[] = [
  { name: 'cpu', bundled: true },
  { name: 'coreml', bundled: true },
  { name: 'webgpu', bundled: true },
];
const CPU_ONLY: SupportedBackend[] = [{ name: 'cpu', bundled: true }];

function thrown(fn: () => unknown): UserError {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(UserError);
    return error as UserError;
  }
  throw new Error('expected a UserError');
}

describe('resolveExecutionProviders', () => {
  it('defaults to the CPU with onnxruntime choosing the thread count', () => {
    const plan = resolveExecutionProviders({}, LINUX, 'linux');
    expect(plan).toEqual({
      executionProviders: ['cpu'],
      sessionOptions: {},
      effectiveProvider: 'cpu',
      requestedProvider: 'cpu',
      deviceId: 0,
    });
  });

  it('passes a CPU thread count through as intraOpNumThreads', () => {
    const plan = resolveExecutionProviders({ provider: 'cpu', threads: 3 }, CPU_ONLY, 'linux');
    expect(plan.sessionOptions).toEqual({ intraOpNumThreads: 3 });
  });

  it('builds a CUDA provider entry with the device id on Linux', () => {
    const plan = resolveExecutionProviders({ provider: 'cuda', deviceId: 1, threads: 2 }, LINUX, 'linux');
    expect(plan.executionProviders).toEqual([{ name: 'cuda', deviceId: 1 }]);
    expect(plan.sessionOptions).toEqual({ intraOpNumThreads: 2 });
    expect(plan.effectiveProvider).toBe('cuda');
    expect(plan.fallbackReason).toBeUndefined();
  });

  it('accepts provider names in any case and with spaces', () => {
    expect(resolveExecutionProviders({ provider: ' CUDA ' }, LINUX, 'linux').effectiveProvider).toBe('cuda');
  });

  it('builds a DirectML entry with the device id on Windows', () => {
    const plan = resolveExecutionProviders({ provider: 'dml', deviceId: 2 }, WINDOWS, 'win32');
    expect(plan.executionProviders).toEqual([{ name: 'dml', deviceId: 2 }]);
  });

  it('uses the bare provider name for WebGPU and CoreML, which take no device id', () => {
    expect(resolveExecutionProviders({ provider: 'webgpu', deviceId: 1 }, LINUX, 'linux').executionProviders).toEqual(['webgpu']);
    expect(resolveExecutionProviders({ provider: 'coreml' }, MAC, 'darwin').executionProviders).toEqual(['coreml']);
  });

  it('names the CUDA 12 + cuDNN 9 install step when this build lists no CUDA provider', () => {
    const error = thrown(() => resolveExecutionProviders({ provider: 'cuda' }, CPU_ONLY, 'linux'));
    expect(error.identifier).toBe(Identifiers.ProviderUnavailable);
    expect(error.message).toContain('CUDA 12 + cuDNN 9');
    expect(error.message).toContain('node node_modules/onnxruntime-node/script/install.js --onnxruntime-node-install=cuda12');
    expect(error.message).toContain('with npm 10 or older, `npm install --onnxruntime-node-install=cuda12`');
    expect(error.message).toContain('offers only cpu');
    expect(error.message).not.toContain('\n');
  });

  it('refuses CUDA on macOS, where no CUDA build exists', () => {
    const error = thrown(() => resolveExecutionProviders({ provider: 'cuda' }, MAC, 'darwin'));
    expect(error.message).toContain('does not run on darwin');
  });

  it('refuses DirectML outside Windows and says it is Windows only', () => {
    const error = thrown(() => resolveExecutionProviders({ provider: 'dml' }, LINUX, 'linux'));
    expect(error.identifier).toBe(Identifiers.ProviderUnavailable);
    expect(error.message).toContain('only on Windows');
    expect(error.context).toMatchObject({ provider: 'dml', platform: 'linux' });
  });

  it('refuses CoreML outside macOS and says it is macOS only', () => {
    const error = thrown(() => resolveExecutionProviders({ provider: 'coreml' }, WINDOWS, 'win32'));
    expect(error.message).toContain('only on macOS');
  });

  it('refuses WebGPU when the backend list lacks it and points at the GPU driver', () => {
    const error = thrown(() => resolveExecutionProviders({ provider: 'webgpu' }, CPU_ONLY, 'linux'));
    expect(error.message).toContain('WebGPU is bundled');
    expect(error.message).toContain('Vulkan');
  });

  it('falls back to the CPU only when the operator allows it, and says why', () => {
    const plan = resolveExecutionProviders({ provider: 'cuda', threads: 4, allowCpuFallback: true }, CPU_ONLY, 'linux');
    expect(plan.executionProviders).toEqual(['cpu']);
    expect(plan.effectiveProvider).toBe('cpu');
    expect(plan.requestedProvider).toBe('cuda');
    expect(plan.sessionOptions).toEqual({ intraOpNumThreads: 4 });
    expect(plan.fallbackReason).toContain('node node_modules/onnxruntime-node/script/install.js --onnxruntime-node-install=cuda12');
  });

  it('rejects an unknown provider and lists the accepted ones', () => {
    const error = thrown(() => resolveExecutionProviders({ provider: 'tensorrt' }, LINUX, 'linux'));
    expect(error.identifier).toBe(Identifiers.InvalidArgument);
    expect(error.message).toBe('EXECUTION_PROVIDER must be one of cpu, cuda, dml, coreml, webgpu; got "tensorrt".');
  });

  it('rejects a negative or fractional device id and thread count', () => {
    expect(thrown(() => resolveExecutionProviders({ provider: 'cuda', deviceId: -1 }, LINUX, 'linux')).message).toBe(
      'EXECUTION_DEVICE_ID must be a whole number >= 0; got -1.',
    );
    expect(thrown(() => resolveExecutionProviders({ threads: 1.5 }, LINUX, 'linux')).message).toBe(
      'CPU_THREADS must be a whole number >= 0; got 1.5.',
    );
  });
});

describe('parseExecutionProvider', () => {
  it('treats an empty value as cpu', () => {
    expect(parseExecutionProvider(undefined)).toBe('cpu');
    expect(parseExecutionProvider('')).toBe('cpu');
  });
});

describe('classifyProviderFailure', () => {
  const cuda = resolveExecutionProviders({ provider: 'cuda', deviceId: 0 }, LINUX, 'linux');

  it('turns a missing libcudnn into the cuDNN 9 install message', () => {
    const error = classifyProviderFailure(
      new Error('Failed to load library libonnxruntime_providers_cuda.so with error: libcudnn.so.9: cannot open shared object file'),
      cuda,
    );
    expect(error?.identifier).toBe(Identifiers.ProviderUnavailable);
    expect(error?.message).toContain('cuDNN 9 was not found');
    expect(error?.message).toContain('node node_modules/onnxruntime-node/script/install.js --onnxruntime-node-install=cuda12');
    expect(error?.context.detail).toContain('libcudnn.so.9');
  });

  it('says the provider library is not installed when onnxruntime cannot find it at all', () => {
    const error = classifyProviderFailure(
      new Error('libonnxruntime_providers_shared.so: cannot open shared object file: No such file or directory'),
      cuda,
    );
    expect(error?.message).toContain('CUDA provider library is not installed');
  });

  it("recognises onnxruntime-node's own wording when the provider bridge library was never downloaded", () => {
    // The exact message onnxruntime-node 1.30 throws on this machine with EXECUTION_PROVIDER=cuda.
    const error = classifyProviderFailure(new Error('OrtSessionOptionsAppendExecutionProvider_Cuda: Failed to load shared library'), cuda);
    expect(error?.message).toContain('CUDA provider library is not installed');
  });

  it('recognises cuDNN missing on Windows', () => {
    const error = classifyProviderFailure(new Error('Could not load cudnn64_9.dll'), cuda);
    expect(error?.message).toContain('cuDNN 9 was not found');
  });

  it('recognises the CUDA runtime missing', () => {
    const error = classifyProviderFailure(new Error('libcublasLt.so.12: cannot open shared object file'), cuda);
    expect(error?.message).toContain('CUDA 12 runtime libraries were not found');
  });

  it('recognises a machine without an NVIDIA GPU', () => {
    const error = classifyProviderFailure(new Error('CUDA failure 100: no CUDA-capable device is detected'), cuda);
    expect(error?.message).toContain('nvidia-smi');
  });

  it('leaves failures unrelated to the provider alone', () => {
    expect(classifyProviderFailure(new Error('Protobuf parsing failed.'), cuda)).toBeUndefined();
    const cpu = resolveExecutionProviders({}, LINUX, 'linux');
    expect(classifyProviderFailure(new Error('libcudnn.so.9 missing'), cpu)).toBeUndefined();
  });

  it('builds the CPU fallback plan from a classified failure, keeping the thread count', () => {
    const plan = resolveExecutionProviders({ provider: 'cuda', threads: 2 }, LINUX, 'linux');
    const failure = classifyProviderFailure(new Error('libcudnn.so.9: cannot open'), plan)!;
    const fallback = cpuFallbackPlan(plan, failure);
    expect(fallback.executionProviders).toEqual(['cpu']);
    expect(fallback.sessionOptions).toEqual({ intraOpNumThreads: 2 });
    expect(describeExecutionProvider(fallback)).toBe('cpu (fallback from cuda), 2 threads');
  });
});

describe('describeExecutionProvider', () => {
  it('shows the device for CUDA and nothing extra for the default CPU plan', () => {
    expect(describeExecutionProvider(resolveExecutionProviders({ provider: 'cuda', deviceId: 1 }, LINUX, 'linux'))).toBe('cuda (device 1)');
    expect(describeExecutionProvider(resolveExecutionProviders({}, LINUX, 'linux'))).toBe('cpu');
    expect(describeExecutionProvider(resolveExecutionProviders({ threads: 1 }, LINUX, 'linux'))).toBe('cpu, 1 thread');
  });
});
