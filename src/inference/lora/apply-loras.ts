/**
 * A job's LoRA set merged into the model's graphs: the family check (an SD 1.5 LoRA on SDXL is the commonest
 * mistake), matching every module to a weight, refusing graphs fused by an optimizer, then the merge (merge.ts).
 */
import { Identifiers, UserError } from '../../errors.js';
import type { ModelFamily } from '../../model-folder/model-manifest.js';
import { familyText, type LoraNetwork } from './lora-file.js';
import type { LoraGraph } from './lora-keys.js';
import { loadGraph, patchGraph, type LoadedGraph, type PatchedGraph, type ScaledModule, type WeightTarget } from './merge.js';

export interface WeightedLora {
  network: LoraNetwork;
  weight: number;
}

export interface MergeTarget {
  name: string;
  family: ModelFamily;
  /** model.onnx of each graph the model has. */
  files: Partial<Record<LoraGraph, string>>;
}

export interface MergedSet {
  graphs: Partial<Record<LoraGraph, PatchedGraph>>;
  notes: string[];
  ms: number;
  heldBytes: number;
}

/** At least this share of a LoRA's modules must find a weight, or it is for another architecture. */
const MIN_MATCHED = 0.5;

const GRAPH_TEXT: Record<LoraGraph, string> = { unet: 'UNet', te1: 'text encoder', te2: 'second text encoder' };

/** `maxPiece`: external files above it are handed over in pieces (default 2 GiB; tests lower it). */
export async function mergeLoras(model: MergeTarget, loras: readonly WeightedLora[], options: { maxPiece?: number } = {}): Promise<MergedSet> {
  const started = performance.now();
  const notes: string[] = [];
  for (const { network } of loras) {
    if (network.family && network.family !== model.family) {
      throw new UserError(
        Identifiers.InvalidArgument,
        `LoRA "${network.name}" (${network.file}) is for ${familyText(network.family)}; the model "${model.name}" is ${familyText(model.family)}. Use a LoRA made for ${familyText(model.family)}, or a ${familyText(network.family)} model.`,
      );
    }
  }
  const wanted = new Set(loras.flatMap((l) => l.network.modules.map((m) => m.graph)));
  const graphs = new Map<LoraGraph, LoadedGraph>();
  for (const g of wanted) {
    const file = model.files[g];
    if (file) graphs.set(g, await loadGraph(file));
  }
  const work = new Map<LoraGraph, { target: WeightTarget; item: ScaledModule }[]>();
  for (const { network, weight } of loras) {
    if (weight === 0) continue;
    let matched = 0;
    const missing: string[] = [];
    for (const module of network.modules) {
      const graph = graphs.get(module.graph);
      const target = graph?.index.get(module.module);
      if (!graph || !target) {
        missing.push(`${module.graph}:${module.module}`);
        continue;
      }
      if (graph.fusedOps.length) {
        throw new UserError(
          Identifiers.InvalidArgument,
          `${graph.file} was fused by an optimizer (${graph.fusedOps.join(', ')} nodes), so its attention weights are no longer separate and LoRA "${network.name}" cannot be merged. Use an unoptimized export of the model (optimum-cli export onnx, without ORT/Olive optimization).`,
        );
      }
      matched++;
      const rank = module.down.shape[0];
      const scale = (weight * (module.alpha ?? rank)) / rank;
      const list = work.get(module.graph) ?? [];
      list.push({ target, item: { module, scale, file: network.file } });
      work.set(module.graph, list);
    }
    const total = network.modules.length;
    if (matched < total * MIN_MATCHED) {
      const fused = [...graphs.values()].find((g) => g.fusedOps.length);
      if (fused) {
        throw new UserError(
          Identifiers.InvalidArgument,
          `${fused.file} was fused by an optimizer (${fused.fusedOps.join(', ')} nodes), so LoRA "${network.name}" finds no separate weights to merge into. Use an unoptimized export of the model.`,
        );
      }
      const family = network.family ? ` (it looks like a ${familyText(network.family)} LoRA)` : '';
      throw new UserError(
        Identifiers.InvalidArgument,
        `LoRA "${network.name}" (${network.file}) does not fit model "${model.name}" (${familyText(model.family)})${family}: only ${matched} of ${total} layers match, e.g. no ${missing.slice(0, 3).join(', ')}. Use a LoRA made for this model's architecture.`,
      );
    }
    if (missing.length)
      notes.push(
        `LoRA "${network.name}": ${missing.length} of ${total} layers have no weight in "${model.name}" and were skipped (${missing.slice(0, 3).join(', ')}${missing.length > 3 ? ', …' : ''})`,
      );
  }
  const out: MergedSet['graphs'] = {};
  let heldBytes = 0;
  for (const [g, items] of work) {
    const patched = await patchGraph(graphs.get(g)!, items, options.maxPiece);
    out[g] = patched;
    heldBytes += patched.heldBytes;
  }
  const ms = performance.now() - started;
  const summary = Object.entries(out)
    .map(([g, p]) => `${GRAPH_TEXT[g as LoraGraph]} ${p!.patched} weights`)
    .join(', ');
  notes.push(
    `merged LoRA ${loras.map((l) => `${l.network.name}:${l.weight}`).join(', ')} into "${model.name}" in ${Math.round(ms)} ms (${summary}; ${Math.round(heldBytes / 2 ** 20)} MiB held)`,
  );
  return { graphs: out, notes, ms, heldBytes };
}
