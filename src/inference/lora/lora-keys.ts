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
  let graph: LoraGraph;
  let module: string;
  let m: RegExpExecArray | null;
  if ((m = /^lora_unet_(.+)$/.exec(base))) [graph, module] = ['unet', m[1]];
  else if ((m = /^lora_te([12]?)_(.+)$/.exec(base))) [graph, module] = [m[1] === '2' ? 'te2' : 'te1', m[2]];
  else if ((m = /^(?:base_model\.model\.)?unet\.(.+)$/.exec(base))) [graph, module] = ['unet', m[1]];
  else if ((m = /^text_encoder(_2)?\.(.+)$/.exec(base))) [graph, module] = [m[1] ? 'te2' : 'te1', m[2]];
  else return undefined;
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
  let m: RegExpExecArray | null;
  if ((m = /^input_blocks_(\d+)_(\d+)_(.+)$/.exec(module))) {
    const i = Number(m[1]);
    const sub = Number(m[2]);
    const rest = m[3];
    if (i === 0) return undefined;
    const block = Math.floor((i - 1) / 3);
    const layer = (i - 1) % 3;
    if (layer === 2) return rest === 'op' ? `down_blocks_${block}_downsamplers_0_conv` : undefined;
    if (sub === 0) return `down_blocks_${block}_resnets_${layer}_${resnetPart(rest)}`;
    if (sub === 1) return `down_blocks_${block}_attentions_${layer}_${rest}`;
    return undefined;
  }
  if ((m = /^input_blocks_0_0$/.exec(module))) return 'conv_in';
  if ((m = /^middle_block_(\d)_(.+)$/.exec(module))) {
    const sub = Number(m[1]);
    if (sub === 1) return `mid_block_attentions_0_${m[2]}`;
    return `mid_block_resnets_${sub === 0 ? 0 : 1}_${resnetPart(m[2])}`;
  }
  if ((m = /^output_blocks_(\d+)_(\d+)_(.+)$/.exec(module))) {
    const i = Number(m[1]);
    const sub = Number(m[2]);
    const rest = m[3];
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
