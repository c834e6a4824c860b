import { readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import type { ModelManifest } from './model-manifest.js';

/** SDXL's second text encoder or tokenizer (text_encoder_2/, tokenizer_2/): a folder fact, no session needed. */
export async function hasSdxlLayout(modelDir: string): Promise<boolean> {
  for (const name of ['text_encoder_2', 'tokenizer_2']) {
    if (
      await stat(path.join(modelDir, name)).then(
        () => true,
        () => false,
      )
    )
      return true;
  }
  return false;
}

/**
 * SDXL folders have a second encoder and tokenizer; otherwise SD 2.x pads prompts with "!" where SD 1.x pads with <|endoftext|> (diffusers issues #2201 and #4153), which tells
 * the two families apart from the tokenizer files alone.
 */
export async function guessFamily(modelDir: string): Promise<NonNullable<ModelManifest['family']> | undefined> {
  // SDXL's first tokenizer pads like SD 1.x, so its layout must be asked first.
  if (await hasSdxlLayout(modelDir)) return 'sdxl';
  for (const name of ['special_tokens_map.json', 'tokenizer_config.json']) {
    let json: { pad_token?: unknown };
    try {
      json = JSON.parse(await readFile(path.join(modelDir, 'tokenizer', name), 'utf8')) as { pad_token?: unknown };
    } catch {
      continue;
    }
    const pad = json.pad_token;
    const content = typeof pad === 'string' ? pad : (pad as { content?: unknown } | undefined)?.content;
    if (content === '!') return 'sd2';
    if (content === '<|endoftext|>') return 'sd1';
  }
  return undefined;
}
