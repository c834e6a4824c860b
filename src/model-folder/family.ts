import { readFile } from 'node:fs/promises';
import path from 'node:path';
import type { ModelManifest } from './model-manifest.js';

/**
 * SD 2.x pads prompts with "!" where SD 1.x pads with <|endoftext|> (diffusers issues #2201 and #4153), which tells
 * the two families apart from the tokenizer files alone.
 */
export async function guessFamily(modelDir: string): Promise<NonNullable<ModelManifest['family']> | undefined> {
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
