/**
 * `models:pull -- --lora OWNER/REPO[:FILE]`: one `.safetensors` LoRA from a Hugging Face repository into LORAS_DIR
 * as `<file name>.safetensors`, through downloadFile (resume from a `.part`, sha256 check of LFS files). The
 * download goes to `LORAS_DIR/.pull/` first (resumable there), and the file gets its name in LORAS_DIR only once verified.
 */
import { mkdir, rename, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import { Identifiers, UserError } from '../errors.js';
import { readSafetensorsMetadata } from '../model-folder/lora-catalog.js';
import { downloadFile } from './download-file.js';
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
  const existing = await stat(target).catch(() => undefined);
  if (existing && (chosen.size === undefined || existing.size === chosen.size)) {
    return { name, path: target, size: existing.size, repo, commit: snapshot.commit, sha256: chosen.sha256, alreadyComplete: true };
  }
  if (existing) throw new UserError(Identifiers.InvalidArgument, `${target} exists and differs from ${repo}:${chosen.path}; move it away first.`);
  const staging = path.join(options.lorasDir, '.pull', repo.replace('/', '--'));
  await mkdir(staging, { recursive: true });
  const done = await downloadFile({
    client: options.client,
    repo,
    commit: snapshot.commit,
    file: chosen,
    destDir: staging,
    ...(options.retryDelayMs !== undefined ? { retryDelayMs: options.retryDelayMs } : {}),
    signal: options.signal,
    onBytes: options.onBytes,
    onRetry: options.onRetry,
  });
  const downloaded = path.join(staging, ...chosen.path.split('/'));
  try {
    await readSafetensorsMetadata(downloaded);
  } catch (error) {
    await rm(downloaded, { force: true });
    throw new UserError(
      Identifiers.InvalidModel,
      `${repo}:${chosen.path} is not a readable safetensors file (${(error as Error).message}); it was deleted.`,
    );
  }
  await rename(downloaded, target);
  await rm(path.join(options.lorasDir, '.pull'), { recursive: true, force: true }).catch(() => undefined);
  return { name, path: target, size: done.size, repo, commit: snapshot.commit, sha256: done.sha256, alreadyComplete: false };
}
