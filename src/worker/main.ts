/**
 * Worker process entry, forked by WorkerHost (src/worker/host.ts). This is the only process that loads the
 * engine and so onnxruntime-node; the bot never imports this file.
 */
import type { Engine } from '../inference/types.js';
import type { EngineOptions } from '../protocol/engine-options.js';
import { runWorker } from './worker-loop.js';

// Imported by URL at run time: the engine is loaded only once init arrives, and only in this process.
const ENGINE_MODULE = new URL('../inference/engine.js', import.meta.url).href;

runWorker(async (options: EngineOptions): Promise<Engine> => {
  const module = (await import(ENGINE_MODULE)) as { createEngine?: (options: EngineOptions) => Promise<Engine> };
  if (typeof module.createEngine !== 'function') {
    throw new TypeError(`Expected ${ENGINE_MODULE} to export createEngine(options)`);
  }
  return module.createEngine(options);
});
