/**
 * `models:pull -- --lora OWNER/REPO[:FILE]`: one `.safetensors` LoRA from a Hugging Face repository into LORAS_DIR
 * as `<file name>.safetensors`, through pullSingleFile: downloaded under `LORAS_DIR/.pull/` (resumable there), read
 * as safetensors, and only then named in LORAS_DIR.
 */
import path from 'node:path';
import { Identifiers, UserError } from '../errors.js';
import { readSafetensorsMetadata } from '../model-folder/lora-catalog.js';
import { pullSingleFile } from './pull-single-file.js';
import { checkRepoId, type HubClient } from './hub-client.js';

export interface PullLoraOptions {
  /** `OWNER/REPO` or `OWNER/REPO:path/in/repo.safetensors`. */
  spec: string;
  revision?: string;
  lorasDir: string;
  client: HubClient;
  signal?: AbortSignal;
  retryDelayMs?: number;
  onBytes?: (bytes: number, total: number | undefined) => void;
  onRetry?: (message: string) => void;
}

export interface PulledLora {
  /** The name to use in prompts: `<lora:name:1>`. */
  name: string;
  path: string;
  size: number;
  repo: string;
  commit: string;
  sha256?: string;
  alreadyComplete: boolean;
}

export function parseLoraSpec(spec: string): { repo: string; file?: string } {
  const colon = spec.indexOf(':');
  const repo = colon < 0 ? spec : spec.slice(0, colon);
  const file = colon < 0 ? undefined : spec.slice(colon + 1);
  checkRepoId(repo);
  if (file !== undefined && !file.toLowerCase().endsWith('.safetensors')) {
    throw new UserError(
      Identifiers.InvalidArgument,
      `--lora ${spec}: name a .safetensors file after the colon (LoRAs in .ckpt/.pt pickles are not loaded).`,
    );
  }
  return { repo, ...(file ? { file } : {}) };
}

export async function pullLora(options: PullLoraOptions): Promise<PulledLora> {
  const { repo, file } = parseLoraSpec(options.spec);
  const snapshot = await options.client.getRepoSnapshot(repo, options.revision ?? 'main', options.signal);
  const candidates = snapshot.files.filter((f) => f.path.toLowerCase().endsWith('.safetensors'));
  const chosen = file ? candidates.find((f) => f.path === file) : candidates.length === 1 ? candidates[0] : undefined;
  if (!chosen) {
    const list = candidates.map((f) => f.path).join(', ') || 'none';
    throw new UserError(
      Identifiers.NotFound,
      file
        ? `${repo} has no file ${file}; its .safetensors files: ${list}.`
        : `${repo} has ${candidates.length} .safetensors files (${list}); name one: --lora ${repo}:FILE.`,
    );
  }
  const name = path.posix.basename(chosen.path).slice(0, -'.safetensors'.length);
  if (!/^[\w.+-]+$/.test(name))
    throw new UserError(Identifiers.InvalidArgument, `"${name}" cannot be a LoRA name in prompts; rename it after downloading.`);
  const target = path.join(options.lorasDir, `${name}.safetensors`);
  const pulled = await pullSingleFile(
    { repo, commit: snapshot.commit, file: chosen },
    target,
    path.join(options.lorasDir, '.pull', repo.replace('/', '--')),
    options,
    async (downloaded) => {
      try {
        await readSafetensorsMetadata(downloaded);
      } catch (error) {
        throw new UserError(
          Identifiers.InvalidModel,
          `${repo}:${chosen.path} is not a readable safetensors file (${(error as Error).message}); it was deleted.`,
        );
      }
    },
  );
  return { name, path: target, repo, commit: snapshot.commit, ...pulled, sha256: pulled.sha256 ?? chosen.sha256 };
}
