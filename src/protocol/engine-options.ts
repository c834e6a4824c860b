import { z } from 'zod';

/** Providers an operator may ask for with EXECUTION_PROVIDER. */
export const EXECUTION_PROVIDERS = ['cpu', 'cuda', 'dml', 'coreml', 'webgpu'] as const;
export type ExecutionProviderName = (typeof EXECUTION_PROVIDERS)[number];

/** Settings the engine is built with: from the environment (src/config/env.ts) in the worker and the CLI. */
export interface EngineOptions {
  /** Folder holding one sub-folder per model. @default './models' */
  modelsDir: string;
  /** Folder of textual-inversion embeddings, used by file name in prompts. @default './embeddings' */
  embeddingsDir?: string;
  /** Folder of LoRA files (`<name>.safetensors`), used in prompts as `<lora:name:weight>`. @default './loras' */
  lorasDir?: string;
  /** onnxruntime execution provider. @default 'cpu' */
  executionProvider?: string;
  /** GPU device id for cuda/dml. @default 0 */
  deviceId?: number;
  /** CPU threads per session; 0 lets onnxruntime decide. @default 0 */
  threads?: number;
  /** Run on the CPU (with a warning) when the requested provider cannot start. @default false */
  allowCpuFallback?: boolean;
  /**
   * Upper bound on the summed on-disk size of loaded models, in MiB. When a job needs another model and the
   * budget would be exceeded, least recently used models are unloaded first. @default 8192
   */
  memoryBudgetMiB?: number;
  /**
   * Accept a folder path as a request's `model` (the command line). The worker is built without it: requests from
   * Discord name installed models under modelsDir only. @default false
   */
  allowModelPaths?: boolean;
  /**
   * Folder of the zh→en MarianMT translator (opus-mt-zh-en, optimum ONNX export). Used when it exists; without it,
   * Chinese prompts on English-only models get a warning. @default '<modelsDir>/opus-mt-zh-en'
   */
  translatorDir?: string;
}

const NonNegativeInt = z.number().int().nonnegative();

export const EngineOptionsSchema = z.object({
  modelsDir: z.string(),
  embeddingsDir: z.string().optional(),
  lorasDir: z.string().optional(),
  executionProvider: z.string().optional(),
  deviceId: NonNegativeInt.optional(),
  threads: NonNegativeInt.optional(),
  allowCpuFallback: z.boolean().optional(),
  memoryBudgetMiB: z.number().positive().optional(),
  allowModelPaths: z.boolean().optional(),
  translatorDir: z.string().optional(),
});
