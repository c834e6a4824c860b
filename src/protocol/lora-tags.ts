/**
 * AUTOMATIC1111's extra-network syntax for LoRAs, `<lora:name>` or `<lora:name:weight>`: the tags pick LoRA files
 * (LORAS_DIR/name.safetensors) and are removed from the text before it is encoded, as A1111's
 * extra_networks.parse_prompt does; the PNG's prompt keeps them, so the image can be redrawn. Neutral module: the
 * bot validates tags before queueing and the engine applies them, from the same parse.
 */

export interface LoraTag {
  name: string;
  /** Multiplier on the LoRA's delta; A1111's default is 1. */
  weight: number;
}

// A1111's re_extra_net: `<lora:` then anything but `>`/`:` for the name, then optional `:args`.
const LORA_TAG = /<lora:([^:>]+)(?::([^>]*))?>/gi;

/** The prompt's LoRA tags in order; a name given twice counts once with its last weight (A1111 applies both; see docs/loras.md). */
export function parseLoraTags(prompt: string): LoraTag[] {
  const out = new Map<string, LoraTag>();
  for (const m of prompt.matchAll(LORA_TAG)) {
    const name = m[1].trim();
    // A1111 allows `<lora:name:te:unet>`; only the first number (text encoder and UNet alike) is honoured here.
    const first = m[2]?.split(':')[0]?.trim();
    const weight = first === undefined || first === '' ? 1 : Number(first);
    out.set(name, { name, weight });
  }
  return [...out.values()];
}

/** Tags whose weight is not a finite number (`<lora:x:abc>`), for a clear refusal before queueing. */
export function invalidLoraTags(prompt: string): string[] {
  return [...prompt.matchAll(LORA_TAG)]
    .filter((m) => {
      const first = m[2]?.split(':')[0]?.trim();
      return first !== undefined && first !== '' && !Number.isFinite(Number(first));
    })
    .map((m) => m[0]);
}

/** The prompt without its LoRA tags, as the text encoder should see it. */
export function stripLoraTags(prompt: string): string {
  return prompt.replace(LORA_TAG, '');
}

/** The cache key of a LoRA set: names sorted, weights rounded as the PNG prints them. */
export function loraSetKey(tags: readonly LoraTag[]): string {
  return [...tags]
    .filter((t) => t.weight !== 0)
    .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))
    .map((t) => `${t.name}:${Math.round(t.weight * 1e4) / 1e4}`)
    .join(',');
}
