/**
 * The bot's view of LORAS_DIR (the bot never imports src/inference): which `<name>.safetensors` LoRAs are
 * installed, with trigger words from their safetensors metadata (`modelspec.trigger_phrase`, else kohya's
 * `ss_tag_frequency`: the most frequent training tags). Only the JSON header is read, never the tensors.
 */
import { open, readdir } from 'node:fs/promises';
import path from 'node:path';
import type { Logger } from '../logger.js';

export interface LoraSummary {
  name: string;
  /** Words that call up the LoRA's subject or style, most useful first; may be empty. */
  triggerWords: string[];
  /** kohya's `ss_base_model_version` or `modelspec.architecture`, when present. */
  baseModel?: string;
}

/** Headers of LoRAs are a few hundred KB (tag frequencies); more is not a safetensors header. */
const MAX_HEADER_BYTES = 16 * 1024 * 1024;

/**
 * The `__metadata__` of a safetensors file. A minimal twin of src/inference/weights/safetensors.ts's header
 * reader: the bot process must not load the inference code, and it needs the metadata strings only.
 */
export async function readSafetensorsMetadata(file: string): Promise<Record<string, string>> {
  const handle = await open(file, 'r');
  try {
    const prefix = new Uint8Array(8);
    await handle.read(prefix, 0, 8, 0);
    const length = Number(new DataView(prefix.buffer).getBigUint64(0, true));
    const { size } = await handle.stat();
    if (length > MAX_HEADER_BYTES || length > size - 8) throw new Error(`${file}: header length ${length} is not plausible; not a safetensors file?`);
    const header = new Uint8Array(length);
    await handle.read(header, 0, length, 8);
    const json = JSON.parse(new TextDecoder().decode(header)) as { __metadata__?: Record<string, unknown> };
    return Object.fromEntries(Object.entries(json.__metadata__ ?? {}).map(([k, v]) => [k, String(v)]));
  } finally {
    await handle.close();
  }
}

/** Trigger words: the explicit trigger phrase, else the 5 most frequent kohya training tags. */
export function triggerWords(metadata: Record<string, string>): string[] {
  const phrase = metadata['modelspec.trigger_phrase']?.trim();
  if (phrase)
    return phrase
      .split(',')
      .map((w) => w.trim())
      .filter(Boolean)
      .slice(0, 10);
  const frequency = metadata.ss_tag_frequency;
  if (!frequency) return [];
  try {
    const counts = new Map<string, number>();
    for (const tags of Object.values(JSON.parse(frequency) as Record<string, Record<string, number>>)) {
      for (const [tag, n] of Object.entries(tags)) counts.set(tag.trim(), (counts.get(tag.trim()) ?? 0) + Number(n));
    }
    return [...counts]
      .filter(([t]) => t)
      .sort((a, b) => b[1] - a[1])
      .slice(0, 5)
      .map(([t]) => t);
  } catch {
    return [];
  }
}

export async function scanLoras(dir: string, logger?: Logger): Promise<LoraSummary[]> {
  const files = await readdir(dir).catch(() => [] as string[]);
  const out: LoraSummary[] = [];
  for (const f of files.filter((n) => n.toLowerCase().endsWith('.safetensors')).sort()) {
    const name = f.slice(0, -'.safetensors'.length);
    try {
      const metadata = await readSafetensorsMetadata(path.join(dir, f));
      const baseModel = metadata.ss_base_model_version ?? metadata['modelspec.architecture'];
      out.push({ name, triggerWords: triggerWords(metadata), ...(baseModel ? { baseModel } : {}) });
    } catch (error) {
      logger?.warn({ file: path.join(dir, f), err: (error as Error).message }, 'skipping an unreadable LoRA file');
    }
  }
  return out;
}

/** Installed LoRAs, rescanned by the caller (main.ts, with the model catalog); list() answers from memory. */
export class LoraCatalog {
  private loras: LoraSummary[] = [];

  constructor(
    readonly dir: string,
    private readonly logger?: Logger,
  ) {}

  async refresh(): Promise<void> {
    this.loras = await scanLoras(this.dir, this.logger);
  }

  list(): readonly LoraSummary[] {
    return this.loras;
  }
}
