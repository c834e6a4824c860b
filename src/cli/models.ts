import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { parseEngineEnv } from '../config/env.js';
import { UserError } from '../errors.js';
import { formatBytes } from '../hub/format-bytes.js';
import { checkRepoId, HubClient, parseHubEndpoint, redactSecret } from '../hub/hub-client.js';
import { isTranslatorRepo, KNOWN_MODELS, TRANSLATOR } from '../hub/known-models.js';
import { formatDefaults, formatModelTable, listInstalledModels } from '../hub/list-installed-models.js';
import { ProgressBar, type ProgressStream } from '../hub/progress-bar.js';
import { checkModelName, defaultModelName, pullModel } from '../hub/pull-model.js';
import { parseLoraSpec, pullLora } from '../hub/pull-lora.js';
import {
  AXODOX_CONTROLNETS,
  DEPTH_MODEL,
  isDepthModelRepo,
  parseControlNetSpec,
  pullControlNet,
  pullDepthModel,
  type PulledFile,
} from '../hub/pull-controlnet.js';

const USAGE = `Usage:
  npm run models:pull -- <owner/name> [--revision REV] [--name NAME] [--force] [--models-dir DIR]
  npm run models:pull -- opus-mt-zh-en   (the zh→en prompt translator, ${TRANSLATOR.repo}; docs/translation.md)
  npm run models:pull -- --lora <owner/name>[:FILE.safetensors] [--revision REV] [--loras-dir DIR]
  npm run models:pull -- --controlnet <${AXODOX_CONTROLNETS.names.join('|')}|owner/name:FILE.onnx> --model MODEL [--name NET]
                         (a ControlNet into MODELS_DIR/MODEL/controlnet/NET/; the model needs a ControlNet-ready UNet)
  npm run models:pull -- ${DEPTH_MODEL.alias}   (the "depth" preprocessor, ${DEPTH_MODEL.repo})
  npm run models:list [-- --json | --known] [--models-dir DIR]
Environment: MODELS_DIR (default ./models), HF_TOKEN (gated or private repositories),
  HF_ENDPOINT (a Hub mirror; default https://huggingface.co).`;

export interface CliIo {
  env: NodeJS.ProcessEnv;
  stdout: ProgressStream;
  stderr: ProgressStream;
  signal?: AbortSignal;
  /** Passed to pullModel; tests shorten the retry backoff and fake the free disk space. */
  pullOverrides?: { retryDelayMs?: number; freeBytes?: (dir: string) => Promise<number> };
}

/** Thrown for bad command-line input: exit status 2 with the usage text. */
class UsageError extends Error {}

function modelsDirFrom(flag: string | undefined, env: NodeJS.ProcessEnv): string {
  if (flag !== undefined) return path.resolve(flag);
  // The same parse as every other entry point (src/config/env.ts), so MODELS_DIR means the same thing everywhere.
  const parsed = parseEngineEnv({ MODELS_DIR: env.MODELS_DIR });
  if (!parsed.ok) throw new UsageError(parsed.issues.join(' '));
  return path.resolve(parsed.env.MODELS_DIR);
}

async function runList(args: string[], io: CliIo): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    options: { json: { type: 'boolean' }, known: { type: 'boolean' }, 'models-dir': { type: 'string' } },
    strict: true,
    allowPositionals: true,
  });
  if (positionals.length > 0) throw new UsageError(`models:list takes no arguments; got "${positionals.join(' ')}".`);
  if (values.known) {
    for (const m of KNOWN_MODELS) {
      const revision = m.revision ? ` --revision ${m.revision}` : '';
      io.stdout.write(`${m.repo}${revision}\n  ${m.note}\n  ${m.family}: ${formatDefaults(m.defaults)}\n`);
    }
    io.stdout.write(
      `${AXODOX_CONTROLNETS.repo} (--controlnet NAME --model MODEL)\n  SD 1.5 ControlNets: ${AXODOX_CONTROLNETS.names.join(', ')}; about 736 MB each; need a ControlNet-ready SD 1.5 UNet\n` +
        `${DEPTH_MODEL.repo} (${DEPTH_MODEL.alias})\n  ${DEPTH_MODEL.note}\n`,
    );
    return 0;
  }
  const modelsDir = modelsDirFrom(values['models-dir'], io.env);
  const models = await listInstalledModels(modelsDir);
  if (values.json) {
    io.stdout.write(`${JSON.stringify(models, null, 2)}\n`);
    return 0;
  }
  if (models.length === 0) {
    io.stdout.write(`No models in ${modelsDir}. Get one with: npm run models:pull -- <owner/name>\n`);
    return 0;
  }
  io.stdout.write(`${formatModelTable(models)}\n`);
  return 0;
}

async function runPull(args: string[], io: CliIo): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    options: {
      revision: { type: 'string' },
      name: { type: 'string' },
      force: { type: 'boolean' },
      'models-dir': { type: 'string' },
      lora: { type: 'string' },
      'loras-dir': { type: 'string' },
      controlnet: { type: 'string' },
      model: { type: 'string' },
    },
    strict: true,
    allowPositionals: true,
  });
  if (values.lora !== undefined) return runPullLora(values.lora, values.revision, values['loras-dir'], positionals, io);
  if (values.controlnet !== undefined || values.model !== undefined) {
    if (values.controlnet === undefined || values.model === undefined) {
      throw new UsageError('--controlnet NET and --model MODEL go together: the net, and the installed model it is for.');
    }
    if (positionals.length) throw new UsageError(`--controlnet takes no repository id of its own; got extra ${positionals.join(' ')}.`);
    try {
      parseControlNetSpec(values.controlnet);
    } catch (error) {
      throw new UsageError((error as Error).message);
    }
    return runPullOne(io, values['models-dir'], values.revision, (common) =>
      pullControlNet({ ...common, spec: values.controlnet!, model: values.model!, name: values.name }),
    );
  }
  if (positionals.length === 1 && isDepthModelRepo(positionals[0])) {
    return runPullOne(io, values['models-dir'], values.revision, (common) => pullDepthModel(common));
  }
  if (positionals.length !== 1) {
    throw new UsageError(
      positionals.length === 0
        ? 'models:pull needs a repository id, e.g. npm run models:pull -- stabilityai/sd-turbo.'
        : `models:pull takes one repository id; got ${positionals.length}: ${positionals.join(' ')}.`,
    );
  }
  // `opus-mt-zh-en` is short for the prompt translator's repository (docs/translation.md).
  const repo = positionals[0].toLowerCase() === TRANSLATOR.alias ? TRANSLATOR.repo : positionals[0];
  let endpoint: string;
  try {
    checkRepoId(repo);
    checkModelName(values.name ?? defaultModelName(repo));
    endpoint = parseHubEndpoint(io.env.HF_ENDPOINT);
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
  if (values.revision !== undefined && values.revision.trim() === '') {
    throw new UsageError('--revision needs a branch, tag or commit sha.');
  }

  const client = new HubClient({ endpoint, token: io.env.HF_TOKEN });
  const bar = new ProgressBar(io.stderr);
  const result = await pullModel({
    repo,
    revision: values.revision,
    name: values.name,
    force: values.force,
    modelsDir: modelsDirFrom(values['models-dir'], io.env),
    client,
    signal: io.signal,
    onProgress: (p) => bar.update(p),
    onFileDone: (file, size, note) => bar.fileDone(file, size, note),
    onMessage: (text) => bar.message(text),
    ...io.pullOverrides,
  });
  if (result.name === TRANSLATOR.folder && isTranslatorRepo(result.repo)) {
    io.stdout.write(
      `Installed the prompt translator ${result.name} (${formatBytes(result.bytes)}, ${result.files} files) from ${result.repo}@${result.commit.slice(0, 12)} in ${result.path}\n` +
        `Chinese prompts are translated to English from the next Chinese prompt on (no restart needed). Licence: CC-BY-4.0, Helsinki-NLP (docs/translation.md).\n`,
    );
    return 0;
  }
  const manifestNote = {
    known: 'with the settings known to suit it',
    generic: 'without defaults of its own (add them by hand)',
    kept: 'keeping your edits',
  }[result.manifest];
  io.stdout.write(
    `Installed ${result.name} (${formatBytes(result.bytes)}, ${result.files} files) from ${result.repo}@` +
      `${result.commit.slice(0, 12)} in ${result.path}\n` +
      `Per-model defaults: ${path.join(result.path, 'imagine-bot.json')}, ${manifestNote}.\n`,
  );
  return 0;
}

/** A ControlNet (`--controlnet`) or the depth model: one ONNX file to where the engine reads it. */
async function runPullOne(
  io: CliIo,
  modelsDirFlag: string | undefined,
  revision: string | undefined,
  pull: (common: {
    client: HubClient;
    modelsDir: string;
    revision?: string;
    signal?: AbortSignal;
    retryDelayMs?: number;
    onBytes: (bytes: number, total: number | undefined) => void;
    onRetry: (message: string) => void;
  }) => Promise<PulledFile>,
): Promise<number> {
  let endpoint: string;
  try {
    endpoint = parseHubEndpoint(io.env.HF_ENDPOINT);
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
  const client = new HubClient({ endpoint, token: io.env.HF_TOKEN });
  let last = 0;
  const result = await pull({
    client,
    modelsDir: modelsDirFrom(modelsDirFlag, io.env),
    revision,
    signal: io.signal,
    retryDelayMs: io.pullOverrides?.retryDelayMs,
    // A line per 10 %: these are single files of 0.1–1 GB.
    onBytes: (bytes, total) => {
      const tenth = total ? Math.floor((10 * bytes) / total) : 0;
      if (tenth > last) io.stderr.write(`${formatBytes(bytes)} of ${formatBytes(total!)}\n`);
      last = tenth;
    },
    onRetry: (m) => io.stderr.write(`${m}\n`),
  });
  const done = result.alreadyComplete ? 'Already installed' : 'Installed';
  const where = `(${formatBytes(result.size)}) from ${result.repo}@${result.commit.slice(0, 12)} in ${result.path}`;
  if (result.name === DEPTH_MODEL.folder && isDepthModelRepo(result.repo)) {
    io.stdout.write(`${done} the depth model ${where}\nControlNet's "depth" preprocessor uses it from the next job on. Licence: Apache-2.0.\n`);
  } else {
    io.stdout.write(
      `${done} ControlNet ${result.name} ${where}\n` +
        `Use it with --control ${result.name} (CLI) or control:${result.name} (Discord). The model's unet/model.onnx must be ControlNet-ready (README "ControlNet models").\n`,
    );
  }
  return 0;
}

/** `models:pull -- --lora OWNER/REPO[:FILE]`: one LoRA file into LORAS_DIR. */
async function runPullLora(
  spec: string,
  revision: string | undefined,
  lorasDirFlag: string | undefined,
  positionals: string[],
  io: CliIo,
): Promise<number> {
  if (positionals.length) throw new UsageError(`--lora takes the repository itself (--lora OWNER/REPO[:FILE]); got extra ${positionals.join(' ')}.`);
  let endpoint: string;
  try {
    parseLoraSpec(spec);
    endpoint = parseHubEndpoint(io.env.HF_ENDPOINT);
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
  const parsed = parseEngineEnv({ LORAS_DIR: io.env.LORAS_DIR });
  if (!parsed.ok) throw new UsageError(parsed.issues.join(' '));
  const lorasDir = path.resolve(lorasDirFlag ?? parsed.env.LORAS_DIR);
  const client = new HubClient({ endpoint, token: io.env.HF_TOKEN });
  const result = await pullLora({
    spec,
    revision,
    lorasDir,
    client,
    signal: io.signal,
    retryDelayMs: io.pullOverrides?.retryDelayMs,
    onRetry: (m) => io.stderr.write(`${m}\n`),
  });
  io.stdout.write(
    `${result.alreadyComplete ? 'Already installed' : 'Installed'} LoRA ${result.name} (${formatBytes(result.size)}) from ${result.repo}@${result.commit.slice(0, 12)} in ${result.path}\n` +
      `Use it in a prompt: <lora:${result.name}:0.8>\n`,
  );
  return 0;
}

/** Run `models <pull|list> ...`; returns the exit status. Output goes to io, nothing touches process state. */
export async function main(argv: readonly string[], io: CliIo): Promise<number> {
  const [command, ...rest] = argv;
  const token = io.env.HF_TOKEN?.trim() || undefined;
  try {
    if (command === 'pull') return await runPull(rest, io);
    if (command === 'list') return await runList(rest, io);
    throw new UsageError(command ? `Unknown command "${command}": use pull or list.` : 'Missing command: use pull or list.');
  } catch (error) {
    if (io.signal?.aborted) {
      io.stderr.write('\nInterrupted: run the same command again to resume the download.\n');
      return 130;
    }
    // Every message is scrubbed of the token: a server or proxy could echo request headers back.
    const message = redactSecret((error as Error).message, token);
    const usage = error instanceof UsageError || (error instanceof TypeError && (error as NodeJS.ErrnoException).code?.startsWith('ERR_PARSE_ARGS'));
    if (usage) {
      io.stderr.write(`${message}\n${USAGE}\n`);
      return 2;
    }
    io.stderr.write(`${error instanceof UserError || error instanceof Error ? '' : 'Error: '}${message}\n`);
    return 1;
  }
}

// Run only as the entry point, so tests can import main() without side effects.
if (process.argv[1] && import.meta.url === pathToFileURL(path.resolve(process.argv[1])).href) {
  const dotenv = await import('dotenv');
  dotenv.config({ quiet: true });
  const controller = new AbortController();
  process.once('SIGINT', () => controller.abort());
  const code = await main(process.argv.slice(2), {
    env: process.env,
    stdout: process.stdout,
    stderr: process.stderr,
    signal: controller.signal,
  });
  process.exitCode = code;
}
