/**
 * The engine's own interface: what the worker process and the CLI call. The request and result shapes are the
 * shared contract in src/protocol/generate-request.ts; nothing here imports onnxruntime.
 */
import type { EngineOptions } from '../protocol/engine-options.js';
import type { GenerateRequest, GenerateResult, ModelSummary, StepProgress } from '../protocol/generate-request.js';

export interface GenerateOptions {
  onStep?: (progress: StepProgress) => void;
  signal?: AbortSignal;
}

export interface TokenizeResult {
  ids: number[];
  count: number;
  truncated: boolean;
}

/** Built by `createEngine` in engine.ts, the only entry that pulls in onnxruntime-node (through model/session.ts). */
export interface Engine {
  /** Models found under modelsDir, with their per-model defaults. */
  listModels(): Promise<ModelSummary[]>;
  generate(request: GenerateRequest, options?: GenerateOptions): Promise<GenerateResult>;
  /** Token ids (with start/end tokens, no padding) per prompt, for `imagine tokens` and prompt checks. */
  tokenize(model: string, prompts: readonly string[]): Promise<TokenizeResult[]>;
  /** The provider sessions really run on (after any fallback), e.g. 'cpu' or 'cuda'. */
  readonly executionProvider: string;
  /**
   * Lines for the operator's log (CPU fallback, unloaded models, ignored scheduler config keys); callers drain
   * the array (`notes.splice(0)`) after init and after each job.
   */
  readonly notes?: string[];
  /** Release every session. */
  dispose(): Promise<void>;
}

export type { EngineOptions };
