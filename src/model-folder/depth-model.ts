/**
 * Where Depth Anything V2 Small, ControlNet's "depth" preprocessor (issue #15), is installed: read by the worker's
 * engine to load it and by the bot to refuse a depth job before queueing when it is missing. Plain fs only.
 */
import { existsSync } from 'node:fs';
import path from 'node:path';

export const DEPTH_MODEL_FOLDER = 'depth-anything-v2-small';
/** Where the model file may be, in the order tried: the HF repository's layout first. */
export const DEPTH_MODEL_CANDIDATES = ['onnx/model.onnx', 'model.onnx', 'onnx/model_fp16.onnx', 'onnx/model_quantized.onnx'] as const;

/** The installed depth model's file under `modelsDir`, if any. */
export function findDepthModelFile(modelsDir: string): string | undefined {
  return DEPTH_MODEL_CANDIDATES.map((candidate) => path.join(modelsDir, DEPTH_MODEL_FOLDER, candidate)).find((file) => existsSync(file));
}
