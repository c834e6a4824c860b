/**
 * ControlNet files for `models:pull` (issue #15): a net into a model's `controlnet/<name>/model.onnx`
 * (`--controlnet canny --model NAME`, from axodoxian/controlnet_onnx, or any `OWNER/REPO:FILE.onnx`), and Depth
 * Anything V2 Small, the "depth" preprocessor, into MODELS_DIR/depth-anything-v2-small/onnx/model.onnx. One file
 * each through pullSingleFile, staged under MODELS_DIR/.pull, so a half download never shows up as a net.
 */
import { access } from 'node:fs/promises';
import path from 'node:path';
import { Identifiers, UserError } from '../errors.js';
import { DEPTH_MODEL_FOLDER } from '../model-folder/depth-model.js';
import { checkRepoId, type HubFile } from './hub-client.js';
import { pullSingleFile, type SingleFilePullOptions } from './pull-single-file.js';

/**
 * axodox's SD 1.5 ControlNets in the axodox/OnnxStack naming, `controlnet/<name>.onnx` (about 736 MB each; their
 * annotators/ are not needed: canny and depth run in imagine-bot). They need an SD 1.5 model with a ControlNet-ready
 * UNet (README "ControlNet models"). `inpaint` is left out: it takes a masked picture, not a map.
 */
export const AXODOX_CONTROLNETS = {
  repo: 'axodoxian/controlnet_onnx',
  names: ['canny', 'depth', 'hed', 'mlsd', 'normal', 'openpose', 'scribble', 'seg'],
} as const;

/** Depth Anything V2 Small (Apache-2.0), where the engine looks for it (src/inference/model/depth.ts). */
export const DEPTH_MODEL = {
  alias: 'depth-anything-v2-small',
  repo: 'onnx-community/depth-anything-v2-small',
  file: 'onnx/model.onnx',
  folder: DEPTH_MODEL_FOLDER,
  note: 'Depth Anything V2 Small, the "depth" preprocessor of ControlNet (Apache-2.0), fp32; about 99 MB',
} as const;

export function isDepthModelRepo(repo: string): boolean {
  const key = repo.toLowerCase();
  return key === DEPTH_MODEL.alias || key === DEPTH_MODEL.repo;
}

/** Where a net comes from: a known axodox name, or `OWNER/REPO:path/to/file.onnx`. */
export function parseControlNetSpec(spec: string): { repo: string; file: string; name: string } {
  const known = (AXODOX_CONTROLNETS.names as readonly string[]).find((n) => n === spec.toLowerCase());
  if (known) return { repo: AXODOX_CONTROLNETS.repo, file: `controlnet/${known}.onnx`, name: known };
  const colon = spec.indexOf(':');
  if (colon < 0 || !spec.toLowerCase().endsWith('.onnx')) {
    throw new UserError(
      Identifiers.InvalidArgument,
      `--controlnet takes one of ${AXODOX_CONTROLNETS.names.join(', ')} (from ${AXODOX_CONTROLNETS.repo}) or OWNER/REPO:path/to/net.onnx; got "${spec}".`,
    );
  }
  const repo = spec.slice(0, colon);
  const file = spec.slice(colon + 1);
  checkRepoId(repo);
  const parts = file.split('/');
  const base = parts[parts.length - 1].slice(0, -'.onnx'.length);
  // `…/canny/model.onnx` is named by its folder, `…/canny.onnx` by its file.
  const name = base === 'model' && parts.length > 1 ? parts[parts.length - 2] : base;
  return { repo, file, name };
}

export interface PulledFile {
  /** The net's name (what `--control` and Discord's `control` take), or the depth model's folder. */
  name: string;
  path: string;
  size: number;
  repo: string;
  commit: string;
  alreadyComplete: boolean;
}

type PullOneOptions = SingleFilePullOptions & { revision?: string };

const exists = (file: string) =>
  access(file).then(
    () => true,
    () => false,
  );

/** One file of `repo` to `target`, staged in its own folder under `stagingRoot`; a complete file already there is kept. */
async function pullOneFile(
  repo: string,
  file: string,
  target: string,
  stagingRoot: string,
  options: PullOneOptions,
): Promise<{ size: number; commit: string; alreadyComplete: boolean }> {
  const snapshot = await options.client.getRepoSnapshot(repo, options.revision ?? 'main', options.signal);
  const chosen: HubFile | undefined = snapshot.files.find((f) => f.path === file);
  if (!chosen) {
    const onnx = snapshot.files.filter((f) => f.path.endsWith('.onnx')).map((f) => f.path);
    throw new UserError(Identifiers.NotFound, `${repo} has no file ${file}; its .onnx files: ${onnx.join(', ') || 'none'}.`);
  }
  const staging = path.join(stagingRoot, `${repo}/${file}`.replaceAll('/', '--'));
  const { size, alreadyComplete } = await pullSingleFile({ repo, commit: snapshot.commit, file: chosen }, target, staging, options);
  return { size, commit: snapshot.commit, alreadyComplete };
}

/** `--controlnet SPEC --model MODEL [--name NET]`: the net into MODELS_DIR/MODEL/controlnet/NET/model.onnx. */
export async function pullControlNet(
  options: PullOneOptions & { spec: string; model: string; name?: string; modelsDir: string },
): Promise<PulledFile> {
  const source = parseControlNetSpec(options.spec);
  const name = options.name ?? source.name;
  if (!/^[\w.-]+$/.test(name) || name.startsWith('.')) {
    throw new UserError(Identifiers.InvalidArgument, `"${name}" cannot be a ControlNet name (letters, digits, _ . -); pick one with --name.`);
  }
  const modelDir = path.join(options.modelsDir, options.model);
  if (!/^[\w.-]+$/.test(options.model) || !(await exists(path.join(modelDir, 'model_index.json')))) {
    throw new UserError(
      Identifiers.NotFound,
      `No model "${options.model}" in ${options.modelsDir}; --model names the installed model the net is for (npm run models:list). Pull the base model first.`,
    );
  }
  const target = path.join(modelDir, 'controlnet', name, 'model.onnx');
  const pulled = await pullOneFile(source.repo, source.file, target, path.join(options.modelsDir, '.pull'), options);
  return { name, path: target, repo: source.repo, ...pulled };
}

/** `models:pull -- depth-anything-v2-small`: the depth preprocessor's model where the engine looks for it. */
export async function pullDepthModel(options: PullOneOptions & { modelsDir: string }): Promise<PulledFile> {
  const target = path.join(options.modelsDir, DEPTH_MODEL.folder, ...DEPTH_MODEL.file.split('/'));
  const pulled = await pullOneFile(DEPTH_MODEL.repo, DEPTH_MODEL.file, target, path.join(options.modelsDir, '.pull'), options);
  return { name: DEPTH_MODEL.folder, path: target, repo: DEPTH_MODEL.repo, ...pulled };
}
