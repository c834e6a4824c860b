/**
 * One LoRA file read into modules: for each targeted layer its `down` [r, in(, kh, kw)] and `up` [out, r(, 1, 1)]
 * matrices and its alpha. Formats: kohya (`lora_down`/`lora_up`/`alpha`, LoCon 3×3 convs included),
 * diffusers/PEFT (`lora_A`/`lora_B`). LoHa, LoKr, DoRA and Tucker (`lora_mid`) LoCon are refused, naming the file.
 */
import path from 'node:path';
import { Identifiers, UserError } from '../../errors.js';
import type { ModelFamily } from '../../model-folder/model-manifest.js';
import type { SafetensorsFile, Tensor } from '../weights/safetensors.js';
import { parseLoraKey, type LoraGraph } from './lora-keys.js';

export interface LoraModule {
  graph: LoraGraph;
  /** Normalised module path (underscores), diffusers naming. */
  module: string;
  down: Tensor;
  up: Tensor;
  /** kohya's alpha; undefined means alpha = rank (scale 1), as diffusers and kohya do. */
  alpha?: number;
}

export interface LoraNetwork {
  name: string;
  file: string;
  modules: LoraModule[];
  /** The model family the LoRA was trained for, when its shapes or names tell. */
  family?: ModelFamily;
}

const FAMILY_TEXT: Record<string, string> = { sd1: 'SD 1.x', sd2: 'SD 2.x', sdxl: 'SDXL' };
export const familyText = (family: string) => FAMILY_TEXT[family] ?? family;

function refuse(file: string, message: string): UserError {
  return new UserError(Identifiers.InvalidArgument, `LoRA ${file}: ${message}`);
}

export function readLoraNetwork(st: SafetensorsFile, name = path.basename(st.file).replace(/\.safetensors$/i, '')): LoraNetwork {
  const file = st.file;
  const groups = new Map<string, { graph: LoraGraph; module: string; down?: string; up?: string; alpha?: string; sgm?: boolean }>();
  const unknown: string[] = [];
  for (const key of st.names) {
    const parsed = parseLoraKey(key);
    if (!parsed) {
      unknown.push(key);
      continue;
    }
    if (parsed.part === 'loha')
      throw refuse(file, 'is a LoHa (hada_w1_a/hada_w2_b tensors); only LoRA and LoCon files can be merged. Use a LoRA/LoCon version of it.');
    if (parsed.part === 'lokr')
      throw refuse(file, 'is a LoKr (lokr_w1 tensors); only LoRA and LoCon files can be merged. Use a LoRA/LoCon version of it.');
    if (parsed.part === 'dora')
      throw refuse(file, 'is a DoRA (dora_scale tensors), which cannot be merged as a plain delta; use a LoRA version of it.');
    if (parsed.part === 'mid')
      throw refuse(file, 'is a Tucker-decomposed LoCon (lora_mid tensors); only plain LoRA/LoCon (up @ down) can be merged.');
    if (parsed.part === 'other') {
      unknown.push(key);
      continue;
    }
    const id = `${parsed.graph}:${parsed.module}`;
    const g = groups.get(id) ?? { graph: parsed.graph, module: parsed.module, sgm: parsed.sgm };
    g[parsed.part] = key;
    groups.set(id, g);
  }
  const modules: LoraModule[] = [];
  for (const g of groups.values()) {
    if (!g.down || !g.up) {
      if (g.down || g.up)
        throw refuse(
          file,
          `module "${g.module}" has a ${g.down ? 'down' : 'up'} matrix but no ${g.down ? 'up' : 'down'} one; the file is incomplete`,
        );
      continue;
    }
    const down = st.tensor(g.down);
    const up = st.tensor(g.up);
    const rank = down.shape[0];
    if (up.shape.length < 2 || up.shape[1] !== rank || up.shape.slice(2).some((d) => d !== 1)) {
      throw refuse(
        file,
        `module "${g.module}": up [${up.shape.join(', ')}] does not fit down [${down.shape.join(', ')}] (expected [out, ${rank}(, 1, 1)])`,
      );
    }
    const alpha = g.alpha ? st.tensor(g.alpha).data[0] : undefined;
    modules.push({ graph: g.graph, module: g.module, down, up, alpha });
  }
  if (modules.length === 0) {
    throw refuse(
      file,
      `holds no LoRA modules (no lora_down/lora_up or lora_A/lora_B pairs under lora_unet_, lora_te_, unet. or text_encoder.); first tensors: ${st.names.slice(0, 5).join(', ')}`,
    );
  }
  const sgm = [...groups.values()].some((g) => g.sgm);
  return { name, file, modules, family: detectFamily(modules, sgm, st.metadata) };
}

/** The family from the shapes (text width, cross-attention width), else kohya's metadata. */
function detectFamily(modules: LoraModule[], sgm: boolean, metadata: Record<string, string>): ModelFamily | undefined {
  if (sgm || modules.some((m) => m.graph === 'te2')) return 'sdxl';
  const crossK = modules.find((m) => m.graph === 'unet' && /attn2_to_k$/.test(m.module));
  const width = crossK?.down.shape[1] ?? modules.find((m) => m.graph === 'te1' && /q_proj$/.test(m.module))?.down.shape[1];
  if (width === 768) return 'sd1';
  if (width === 1024) return 'sd2';
  if (width === 2048) return 'sdxl';
  const version = metadata.ss_base_model_version ?? metadata['modelspec.architecture'] ?? '';
  if (/xl/i.test(version)) return 'sdxl';
  if (/v2|2\.\d/i.test(version)) return 'sd2';
  if (/v1|1\.5/i.test(version)) return 'sd1';
  return undefined;
}
