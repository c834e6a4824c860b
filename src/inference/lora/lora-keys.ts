/**
 * LoRA tensor names → (which graph, module path): kohya (`lora_unet_…`, `lora_te_…`, SDXL `lora_te1_`/`lora_te2_`),
 * diffusers/PEFT (`unet.….to_q.lora_A.weight`, `text_encoder.…`), and kohya SDXL's SGM-style UNet names
 * (`input_blocks_4_1_…`), converted deterministically to diffusers' names (the block layout of diffusers'
 * lora_conversion_utils for SDXL: 2 layers per block, 3 down/up blocks). Module paths are normalised to
 * underscores (`down_blocks_0_attentions_0_…_to_q`) so they compare with ONNX node names normalised the same way.
 */

export type LoraGraph = 'unet' | 'te1' | 'te2';

export interface ParsedKey {
  graph: LoraGraph;
  module: string;
  /** What the tensor is within the module. */
  part: 'down' | 'up' | 'alpha' | 'mid' | 'loha' | 'lokr' | 'dora' | 'other';
  /** The UNet module used SGM (original Stable Diffusion) names. */
  sgm?: boolean;
}

const PARTS: [RegExp, ParsedKey['part']][] = [
  [/\.(lora_down|lora_A|lora\.down|lora_linear_layer\.down)\.weight$/, 'down'],
  [/\.(lora_up|lora_B|lora\.up|lora_linear_layer\.up)\.weight$/, 'up'],
  [/\.alpha$/, 'alpha'],
  [/\.lora_mid\.weight$/, 'mid'],
  [/\.hada_[\w.]+$/, 'loha'],
  [/\.lokr_[\w.]+$/, 'lokr'],
  [/\.dora_scale$/, 'dora'],
];

/** Where a tensor name says its module lives; the last group is the module path. */
const PREFIXES: [RegExp, LoraGraph | ((m: RegExpExecArray) => LoraGraph)][] = [
  [/^lora_unet_(.+)$/, 'unet'],
  [/^lora_te([12]?)_(.+)$/, (m) => (m[1] === '2' ? 'te2' : 'te1')],
  [/^(?:base_model\.model\.)?unet\.(.+)$/, 'unet'],
  [/^text_encoder(_2)?\.(.+)$/, (m) => (m[1] ? 'te2' : 'te1')],
];

export const normalise = (path: string) => path.replace(/[./]/g, '_');

/** Parses one tensor name; undefined for names that are no LoRA tensor (e.g. kohya's `lora_te_…` bias diffs handled as 'other'). */
export function parseLoraKey(key: string): ParsedKey | undefined {
  let part: ParsedKey['part'] = 'other';
  let base = key;
  for (const [re, p] of PARTS) {
    const m = re.exec(key);
    if (m) {
      part = p;
      base = key.slice(0, m.index);
      break;
    }
  }
  const prefix = PREFIXES.map(([re, graph]) => [re.exec(base), graph] as const).find(([m]) => m !== null);
  if (!prefix) return undefined;
  const [match, which] = prefix;
  const graph: LoraGraph = typeof which === 'function' ? which(match!) : which;
  let module = match![match!.length - 1];
  // Old diffusers attention processors: `….attn1.processor.to_q_lora.down.weight` is the LoRA of `….attn1.to_q`.
  module = module.replace(/\.processor\.(to_[qkv])_lora$/, '.$1').replace(/\.processor\.to_out_lora$/, '.to_out.0');
  module = normalise(module);
  if (graph === 'unet' && /^(input_blocks|middle_block|output_blocks|time_embed|label_emb|out)_/.test(module)) {
    const converted = sgmToDiffusers(module);
    return { graph, module: converted ?? module, part, sgm: true };
  }
  return { graph, module, part };
}

/** SGM resnet layer names → diffusers'. */
function resnetPart(rest: string): string {
  return rest
    .replace(/^in_layers_0/, 'norm1')
    .replace(/^in_layers_2/, 'conv1')
    .replace(/^out_layers_0/, 'norm2')
    .replace(/^out_layers_3/, 'conv2')
    .replace(/^emb_layers_1/, 'time_emb_proj')
    .replace(/^skip_connection/, 'conv_shortcut');
}

/**
 * SDXL's SGM UNet names → diffusers' (SDXL layout: down blocks 0–2 with attention in 1 and 2, up blocks 0–2 with
 * attention in 0 and 1, 2 resnets per down block and 3 per up block). Undefined when a name fits no block, so the
 * module goes unmatched and is reported rather than guessed.
 */
export function sgmToDiffusers(module: string): string | undefined {
  const input = /^input_blocks_(\d+)_(\d+)_(.+)$/.exec(module);
  if (input) {
    const i = Number(input[1]);
    const sub = Number(input[2]);
    const rest = input[3];
    if (i === 0) return undefined;
    const block = Math.floor((i - 1) / 3);
    const layer = (i - 1) % 3;
    if (layer === 2) return rest === 'op' ? `down_blocks_${block}_downsamplers_0_conv` : undefined;
    if (sub === 0) return `down_blocks_${block}_resnets_${layer}_${resnetPart(rest)}`;
    if (sub === 1) return `down_blocks_${block}_attentions_${layer}_${rest}`;
    return undefined;
  }
  if (module === 'input_blocks_0_0') return 'conv_in';
  const middle = /^middle_block_(\d)_(.+)$/.exec(module);
  if (middle) {
    const sub = Number(middle[1]);
    if (sub === 1) return `mid_block_attentions_0_${middle[2]}`;
    return `mid_block_resnets_${sub === 0 ? 0 : 1}_${resnetPart(middle[2])}`;
  }
  const output = /^output_blocks_(\d+)_(\d+)_(.+)$/.exec(module);
  if (output) {
    const i = Number(output[1]);
    const sub = Number(output[2]);
    const rest = output[3];
    const block = Math.floor(i / 3);
    const layer = i % 3;
    if (rest === 'conv' && sub > 0) return `up_blocks_${block}_upsamplers_0_conv`;
    if (sub === 0) return `up_blocks_${block}_resnets_${layer}_${resnetPart(rest)}`;
    if (sub === 1) return `up_blocks_${block}_attentions_${layer}_${rest}`;
    return undefined;
  }
  const simple: Record<string, string> = {
    time_embed_0: 'time_embedding_linear_1',
    time_embed_2: 'time_embedding_linear_2',
    label_emb_0_0: 'add_embedding_linear_1',
    label_emb_0_2: 'add_embedding_linear_2',
    out_2: 'conv_out',
  };
  return simple[module];
}
