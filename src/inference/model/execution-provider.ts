import { EXECUTION_PROVIDERS, type ExecutionProviderName } from '../../protocol/engine-options.js';
import { Identifiers, UserError } from '../../errors.js';

/**
 * Choosing an onnxruntime execution provider (EP). Pure on purpose: session.ts, the one module that imports
 * onnxruntime-node, passes in `ort.listSupportedBackends()` and uses the plan; the status line and the tests work
 * without loading the native addon. The environment is parsed once, in src/config/env.ts.
 */

/** One row of `ort.listSupportedBackends()`: `bundled: false` means the provider's library is installed separately. */
export interface SupportedBackend {
  name: string;
  bundled: boolean;
}

export interface ExecutionProviderRequest {
  /** @default 'cpu' */
  provider?: string;
  /** GPU index for cuda and dml. @default 0 */
  deviceId?: number;
  /** intraOpNumThreads for every session; 0 lets onnxruntime pick (one per physical core). @default 0 */
  threads?: number;
  /** Run on the CPU, with a warning, when the requested provider cannot be used. @default false */
  allowCpuFallback?: boolean;
}

/** An entry of onnxruntime's `SessionOptions.executionProviders`. */
export type ExecutionProviderConfig = string | { name: string; deviceId: number };

export interface ExecutionProviderPlan {
  executionProviders: ExecutionProviderConfig[];
  sessionOptions: { intraOpNumThreads?: number };
  /** The provider sessions will run on, after any fallback. */
  effectiveProvider: ExecutionProviderName;
  /** The provider the operator asked for. */
  requestedProvider: ExecutionProviderName;
  deviceId: number;
  /** Set when the plan fell back to the CPU: why, in one line, for the log and the status line. */
  fallbackReason?: string;
}

/** What `npm install` must do for each provider; the text users see when it is missing. */
// npm 11 runs no install script that package.json's allowScripts has not approved (onnxruntime-node's is not, so a
// plain `npm ci` never reaches NuGet); running the script directly works with every npm version.
const CUDA_INSTALL_STEP =
  'install CUDA 12 + cuDNN 9, then run `node node_modules/onnxruntime-node/script/install.js ' +
  '--onnxruntime-node-install=cuda12` (with npm 10 or older, `npm install --onnxruntime-node-install=cuda12` also works)';

const PROVIDER_LABEL: Record<ExecutionProviderName, string> = {
  cpu: 'CPU',
  cuda: 'CUDA',
  dml: 'DirectML',
  coreml: 'CoreML',
  webgpu: 'WebGPU',
};

// Where each GPU provider can run at all; onnxruntime-node ships no build of it anywhere else.
const PROVIDER_PLATFORMS: Partial<Record<ExecutionProviderName, readonly NodeJS.Platform[]>> = {
  cuda: ['linux', 'win32'],
  dml: ['win32'],
  coreml: ['darwin'],
};

/** The one-line install hint for a provider, as shown in errors and docs. */
export function providerInstallHint(provider: ExecutionProviderName): string {
  switch (provider) {
    case 'cpu':
      return 'the CPU provider is bundled with onnxruntime-node; reinstall it with `npm ci`';
    case 'cuda':
      return `on Linux or Windows x64 with an NVIDIA GPU, ${CUDA_INSTALL_STEP}`;
    case 'dml':
      return 'DirectML runs only on Windows 10/11 with a DirectX 12 GPU; it is bundled there, nothing to install';
    case 'coreml':
      return 'CoreML runs only on macOS (Apple silicon); it is bundled there, nothing to install';
    case 'webgpu':
      return (
        'WebGPU is bundled with onnxruntime-node but needs a GPU driver with Vulkan (Linux), D3D12 (Windows) ' +
        'or Metal (macOS); update the GPU driver'
      );
  }
}

/** Parse EXECUTION_PROVIDER; throws a UserError listing the accepted values. */
export function parseExecutionProvider(value: string | undefined): ExecutionProviderName {
  const name = (value ?? '').trim().toLowerCase() || 'cpu';
  if ((EXECUTION_PROVIDERS as readonly string[]).includes(name)) return name as ExecutionProviderName;
  throw new UserError(Identifiers.InvalidArgument, `EXECUTION_PROVIDER must be one of ${EXECUTION_PROVIDERS.join(', ')}; got "${value}".`, { value });
}

function checkCount(name: string, value: number | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  if (!Number.isInteger(value) || value < 0) {
    throw new UserError(Identifiers.InvalidArgument, `${name} must be a whole number >= 0; got ${String(value)}.`, {
      [name]: value,
    });
  }
  return value;
}

function unavailable(provider: ExecutionProviderName, why: string, extra: Record<string, unknown> = {}): UserError {
  return new UserError(
    Identifiers.ProviderUnavailable,
    `The ${PROVIDER_LABEL[provider]} execution provider (EXECUTION_PROVIDER=${provider}) is unavailable: ${why}. ` +
      `To fix: ${providerInstallHint(provider)}; or set EXECUTION_PROVIDER=cpu` +
      ' (EXECUTION_PROVIDER_FALLBACK=cpu falls back to the CPU automatically).',
    { provider, ...extra },
  );
}

function cpuPlan(requested: ExecutionProviderName, deviceId: number, threads: number, fallbackReason?: string): ExecutionProviderPlan {
  return {
    executionProviders: ['cpu'],
    sessionOptions: threads > 0 ? { intraOpNumThreads: threads } : {},
    effectiveProvider: 'cpu',
    requestedProvider: requested,
    deviceId,
    ...(fallbackReason === undefined ? {} : { fallbackReason }),
  };
}

/**
 * Turn the operator's settings into onnxruntime session options. Throws `UserError(ProviderUnavailable)` naming
 * the install step when the provider cannot run here, unless `allowCpuFallback` is set, in which case the plan
 * runs on the CPU and says why in `fallbackReason`.
 *
 * A provider that is listed but not bundled (CUDA) may still fail when the first session is created (missing
 * libcudnn and the like): session.ts passes that error to `classifyProviderFailure`, then retries with
 * `cpuFallbackPlan` if the operator allowed it.
 */
export function resolveExecutionProviders(
  request: ExecutionProviderRequest,
  supportedBackends: readonly SupportedBackend[],
  platform: NodeJS.Platform = process.platform,
): ExecutionProviderPlan {
  const provider = parseExecutionProvider(request.provider);
  const deviceId = checkCount('EXECUTION_DEVICE_ID', request.deviceId, 0);
  const threads = checkCount('CPU_THREADS', request.threads, 0);
  if (provider === 'cpu') return cpuPlan(provider, deviceId, threads);

  let problem: UserError | undefined;
  const platforms = PROVIDER_PLATFORMS[provider];
  if (platforms && !platforms.includes(platform)) {
    problem = unavailable(provider, `it does not run on ${platform}`, { platform });
  } else if (!supportedBackends.some((b) => b.name === provider)) {
    // onnxruntime-node lists every provider its build for this platform can load; absence means no build has it.
    const listed = supportedBackends.map((b) => b.name).join(', ') || 'none';
    problem = unavailable(provider, `this onnxruntime-node build for ${platform} offers only ${listed}`, {
      platform,
      supportedBackends: supportedBackends.map((b) => b.name),
    });
  }
  if (problem) {
    if (!request.allowCpuFallback) throw problem;
    return cpuPlan(provider, deviceId, threads, problem.message);
  }

  // Only CUDA and DirectML take a device index in the Node binding; WebGPU and CoreML pick the system's GPU.
  const entry: ExecutionProviderConfig = provider === 'cuda' || provider === 'dml' ? { name: provider, deviceId } : provider;
  return {
    // onnxruntime places any node the GPU provider cannot run on the CPU provider by itself; listing 'cpu'
    // is not needed.
    executionProviders: [entry],
    sessionOptions: threads > 0 ? { intraOpNumThreads: threads } : {},
    effectiveProvider: provider,
    requestedProvider: provider,
    deviceId,
  };
}

/** The CPU plan session.ts switches to after `classifyProviderFailure` when the operator allowed a fallback. */
export function cpuFallbackPlan(plan: ExecutionProviderPlan, failure: UserError): ExecutionProviderPlan {
  const threads = plan.sessionOptions.intraOpNumThreads ?? 0;
  return cpuPlan(plan.requestedProvider, plan.deviceId, threads, failure.message);
}

// First match wins. Library names are matched loosely: Linux says libcudnn.so.9, Windows cudnn64_9.dll.
const FAILURE_PATTERNS: { test: RegExp; providers: readonly ExecutionProviderName[]; why: string }[] = [
  { test: /cudnn/i, providers: ['cuda'], why: 'cuDNN 9 was not found (libcudnn.so.9 / cudnn64_9.dll)' },
  {
    test: /cublas|cudart|cufft|curand|libcuda\.so|nvcuda/i,
    providers: ['cuda'],
    why: 'the CUDA 12 runtime libraries were not found (libcudart/libcublas)',
  },
  // After the specific libraries: onnxruntime says "Failed to load library libonnxruntime_providers_cuda.so with
  // error: libcudnn.so.9: …" when a dependency is missing, so the provider library's name alone means it is absent.
  {
    // onnxruntime-node's JS error says only "OrtSessionOptionsAppendExecutionProvider_Cuda: Failed to load shared
    // library" when libonnxruntime_providers_shared.so was never downloaded (the .npmrc skip).
    test: /onnxruntime_providers_(cuda|shared|tensorrt)|AppendExecutionProvider_Cuda: Failed to load shared library/i,
    providers: ['cuda'],
    why: "onnxruntime-node's CUDA provider library is not installed (npm skipped its download)",
  },
  {
    test: /no CUDA-capable device|CUDA driver version is insufficient|cudaErrorNoDevice|cudaErrorInsufficientDriver/i,
    providers: ['cuda'],
    why: 'no usable NVIDIA GPU or driver was found (check `nvidia-smi`)',
  },
  {
    test: /directml|\bdml\b|d3d12|dxgi/i,
    providers: ['dml'],
    why: 'DirectML could not start on this GPU',
  },
  {
    test: /webgpu|dawn|adapter|vulkan/i,
    providers: ['webgpu'],
    why: 'no WebGPU adapter could be created',
  },
  { test: /coreml/i, providers: ['coreml'], why: 'CoreML could not start' },
];

/**
 * Recognise a session-creation failure caused by the execution provider (a missing libcudnn, no GPU) and turn it
 * into the same clear, fixable message as `resolveExecutionProviders`. Returns undefined for any other failure
 * (a broken model file), which the caller reports as a ModelLoadError.
 */
export function classifyProviderFailure(error: unknown, plan: ExecutionProviderPlan): UserError | undefined {
  if (plan.effectiveProvider === 'cpu') return undefined;
  const detail = error instanceof Error ? error.message : String(error);
  const match = FAILURE_PATTERNS.find((p) => p.providers.includes(plan.effectiveProvider) && p.test.test(detail));
  if (!match) return undefined;
  // The raw onnxruntime text is kept for the log (context), not put in the one-line message.
  return unavailable(plan.effectiveProvider, match.why, { detail, deviceId: plan.deviceId });
}

/** Status-line text, e.g. "cuda (device 0)" or "cpu (fallback from cuda), 4 threads". */
export function describeExecutionProvider(plan: ExecutionProviderPlan): string {
  let text: string = plan.effectiveProvider;
  if (plan.effectiveProvider === 'cuda' || plan.effectiveProvider === 'dml') text += ` (device ${plan.deviceId})`;
  if (plan.fallbackReason !== undefined) text += ` (fallback from ${plan.requestedProvider})`;
  const threads = plan.sessionOptions.intraOpNumThreads;
  if (threads !== undefined) text += `, ${threads} thread${threads === 1 ? '' : 's'}`;
  return text;
}
