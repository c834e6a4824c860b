/**
 * `npm run imagine -- "prompt" [options]`: generate PNGs from the command line with a progress bar on stderr.
 * `npm run imagine -- tokens [--model NAME|PATH] [--chunks] "prompt" …`: print token ids, one JSON line per prompt,
 * or with --chunks one line per A1111 chunk with its ids and attention multipliers.
 * Bad arguments print one line and exit 2; a broken model folder exits 1 with the file it blames.
 */
import 'dotenv/config';
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { Identifiers, ModelLoadError, UserError, newReferenceId } from '../errors.js';
import { createEngine } from '../inference/engine.js';
import { inspectModelFolder, resolveModelDir } from '../model-folder/model-folder.js';
import { parseParameters, type ImageParameters } from '../protocol/png-parameters.js';
import { readPngText } from '../protocol/png-text.js';
import { engineOptionsFromEnv, parseEngineEnv, type EngineEnv } from '../config/env.js';
import {
  CONTROL_PREPROCESSORS,
  MASKED_CONTENT,
  PAN_DIRECTIONS,
  REQUEST_BOUNDS,
  REQUEST_DEFAULTS,
  type ControlPreprocessor,
  type ControlUnit,
  type GenerateMode,
  type GenerateRequest,
  type MaskedContent,
  type ModelDefaults,
  type PanDirection,
} from '../protocol/generate-request.js';
import { imageSize } from '../inference/image/pixels.js';
import { parseSamplerName } from '../protocol/samplers.js';

/** The bundled model, used when neither --model, --from nor DEFAULT_MODEL names one. */
const BUNDLED_MODEL = 'imagine-tiny';

const USAGE = `Usage:
  npm run imagine -- "prompt" [--negative T] [--steps N] [--cfg X] [--sampler NAME] [--seed N] [--size WxH]
                      [--count N] [--model NAME|PATH] [--init IMG --strength S] [--upscale IMG]
                      [--variation-seed N --variation-strength S] [--from IMAGE.png] [--out FILE] [--preview-every K]
                      [--init IMG --mask MASK [--mask-blur N] [--masked-content original|latent-noise] [--inpaint-only-masked]]
                      [--init IMG --zoom-out F | --pan left|right|up|down]
                      [--clip-skip N] [--no-translate]
                      [--control-image FILE --control NAME [--control-strength S] [--preprocess none|canny|depth]
                       [--canny-low N --canny-high N]]  (repeat --control-image/--control for several ControlNets;
                       the map each net saw is written to <out>-control.png)
Prompts use AUTOMATIC1111 syntax: (word:1.3), [word], BREAK; long prompts are read in chunks of 75 tokens.
Chinese parts are translated to English when the translator is installed (docs/translation.md); --no-translate keeps them.
  npm run imagine -- tokens [--model NAME|PATH] [--chunks] "prompt" ["prompt" ...]
    plain: {"ids","count","truncated"} per prompt (one 77-token window);
    --chunks: {"prompt","chunk","ids","multipliers"} per 75-token chunk, as the engine encodes it (weights, BREAK,
      embeddings from EMBEDDINGS_DIR as ids past the vocabulary, named in "embeddings")
Samplers: euler, euler_a, dpmpp_2m, dpmpp_2m_karras, ddim, lcm (or A1111 names such as "DPM++ 2M Karras").`;

function usageError(message: string): UserError {
  return new UserError(Identifiers.InvalidArgument, message);
}

function int(name: string, value: string | undefined, { min, max }: { min: number; max: number }): number | undefined {
  if (value === undefined) return undefined;
  if (!/^\d+$/.test(value.trim())) throw usageError(`--${name} must be a whole number from ${min} to ${max}; got "${value}".`);
  const n = Number(value);
  if (n < min || n > max) throw usageError(`--${name} must be from ${min} to ${max}; got ${n}.`);
  return n;
}

function float(name: string, value: string | undefined, { min, max }: { min: number; max: number }, minExclusive = false): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (value.trim() === '' || !Number.isFinite(n) || n < min || n > max || (minExclusive && n === min)) {
    throw usageError(
      `--${name} must be a number ${minExclusive ? 'above' : 'from'} ${min} ${minExclusive ? 'and up to' : 'to'} ${max}; got "${value}".`,
    );
  }
  return n;
}

/** An image's size brought to the model grid: each side rounded to a multiple of 8 within the bounds. */
function gridSize({ width, height }: { width: number; height: number }): { width: number; height: number } {
  const { min, max, multiple } = REQUEST_BOUNDS.side;
  const onGrid = (v: number) => Math.min(max, Math.max(min, Math.round(v / multiple) * multiple));
  return { width: onGrid(width), height: onGrid(height) };
}

export function parseSize(value: string | undefined): { width: number; height: number } | undefined {
  if (value === undefined) return undefined;
  const m = /^(\d+)\s*[x×]\s*(\d+)$/i.exec(value.trim());
  if (!m) throw usageError(`--size must look like 512x512; got "${value}".`);
  return { width: Number(m[1]), height: Number(m[2]) };
}

async function readInput(file: string, what: string): Promise<Buffer> {
  try {
    return await readFile(file);
  } catch (error) {
    throw new UserError(
      Identifiers.UnreadableImage,
      `Cannot read the ${what} "${file}": ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}.`,
    );
  }
}

/** Write through a temp file and rename, so a crash never leaves a half-written PNG behind. */
async function writeAtomic(file: string, data: Uint8Array): Promise<void> {
  await mkdir(path.dirname(path.resolve(file)), { recursive: true });
  const tmp = `${file}.${process.pid}.tmp`;
  await writeFile(tmp, data);
  await rename(tmp, file);
}

function outputNames(out: string | undefined, seeds: number[]): string[] {
  if (!out) {
    const stamp = new Date().toISOString().replace(/[-:]/g, '').replace(/\..*/, '');
    return seeds.map((s) => path.join('outputs', `${stamp}-${s}.png`));
  }
  if (seeds.length === 1) return [out];
  const ext = path.extname(out) || '.png';
  const base = out.slice(0, out.length - path.extname(out).length);
  return seeds.map((_, i) => `${base}-${i + 1}${ext}`);
}

/** A one-line progress bar on stderr (only when it is a terminal: logs stay clean). */
function progressBar(label: string): (step: number, total: number, image: number, count: number) => void {
  const tty = process.stderr.isTTY;
  return (step, total, image, count) => {
    const width = 30;
    const filled = Math.round((step / total) * width);
    const line = `${label} ${count > 1 ? `image ${image + 1}/${count} ` : ''}[${'#'.repeat(filled)}${'-'.repeat(width - filled)}] ${step}/${total}`;
    if (tty) process.stderr.write(`\r${line}`);
    else if (step === total) process.stderr.write(`${line}\n`);
  };
}

async function runTokens(argv: string[], env: EngineEnv): Promise<void> {
  const { values, positionals } = parseArgs({
    args: argv,
    options: { model: { type: 'string' }, chunks: { type: 'boolean' } },
    allowPositionals: true,
    strict: true,
  });
  if (positionals.length === 0) throw usageError('tokens needs at least one prompt: npm run imagine -- tokens "a cat"');
  const engine = await createEngine({ modelsDir: env.MODELS_DIR, embeddingsDir: env.EMBEDDINGS_DIR, allowModelPaths: true });
  const model = values.model ?? env.DEFAULT_MODEL ?? BUNDLED_MODEL;
  if (values.chunks) {
    // One JSON line per chunk, in the form the text encoder takes: 77 ids and the attention multiplier of each,
    // plus, when the chunk holds textual-inversion embeddings, their names and the ids they stand in.
    for (const [prompt, { chunks, embeddings }] of (await engine.promptChunks(model, positionals)).entries()) {
      for (const [chunk, { ids, multipliers }] of chunks.entries()) {
        const inChunk = embeddings.filter((e) => ids.includes(e.ids[0])).map(({ name, ids }) => ({ name, ids }));
        process.stdout.write(`${JSON.stringify({ prompt, chunk, ids, multipliers, ...(inChunk.length ? { embeddings: inChunk } : {}) })}\n`);
      }
    }
    return;
  }
  for (const result of await engine.tokenize(model, positionals)) {
    process.stdout.write(`${JSON.stringify(result)}\n`);
  }
}

async function runGenerate(argv: string[], env: EngineEnv): Promise<void> {
  const modelsDir = env.MODELS_DIR;
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    strict: true,
    options: {
      negative: { type: 'string' },
      steps: { type: 'string' },
      cfg: { type: 'string' },
      sampler: { type: 'string' },
      seed: { type: 'string' },
      size: { type: 'string' },
      count: { type: 'string' },
      model: { type: 'string' },
      init: { type: 'string' },
      strength: { type: 'string' },
      upscale: { type: 'string' },
      'variation-seed': { type: 'string' },
      'variation-strength': { type: 'string' },
      from: { type: 'string' },
      out: { type: 'string' },
      'preview-every': { type: 'string' },
      mask: { type: 'string' },
      'mask-blur': { type: 'string' },
      'masked-content': { type: 'string' },
      'inpaint-only-masked': { type: 'boolean' },
      'zoom-out': { type: 'string' },
      pan: { type: 'string' },
      'clip-skip': { type: 'string' },
      'no-translate': { type: 'boolean' },
      'control-image': { type: 'string', multiple: true },
      control: { type: 'string', multiple: true },
      'control-strength': { type: 'string', multiple: true },
      preprocess: { type: 'string', multiple: true },
      'canny-low': { type: 'string', multiple: true },
      'canny-high': { type: 'string', multiple: true },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) {
    process.stdout.write(`${USAGE}\n`);
    return;
  }
  let from: ImageParameters | undefined;
  if (values.from) {
    const text = readPngText(await readInput(values.from, '--from image')).get('parameters');
    if (!text) throw usageError(`${values.from} has no "parameters" text chunk; use a PNG made by imagine-bot or A1111.`);
    from = parseParameters(text);
  }
  if (positionals.length > 1) throw usageError(`Give one prompt in quotes; got ${positionals.length} words outside quotes: ${positionals.join(' ')}`);
  const prompt = positionals[0] ?? from?.prompt;
  if (prompt === undefined && !values.upscale) throw usageError('Missing prompt: npm run imagine -- "a cat in a space suit"');
  if (values.strength !== undefined && !values.init && !values.upscale) throw usageError('--strength needs --init IMG (or --upscale IMG).');
  if (values.init && values.upscale) throw usageError('Use either --init or --upscale, not both.');
  const editing = [values.mask && '--mask', values['zoom-out'] && '--zoom-out', values.pan && '--pan'].filter(Boolean);
  if (editing.length > 1) throw usageError(`Use one of --mask, --zoom-out and --pan; got ${editing.join(' and ')}.`);
  if (editing.length === 1 && !values.init) throw usageError(`${editing[0]} needs --init IMG: the picture to edit.`);
  const inpaintOnly = [
    values['mask-blur'] !== undefined && '--mask-blur',
    values['masked-content'] && '--masked-content',
    values['inpaint-only-masked'] && '--inpaint-only-masked',
  ].filter(Boolean);
  if (inpaintOnly.length > 0 && !values.mask) throw usageError(`${inpaintOnly[0]} needs --mask MASK.`);
  if ((values['variation-seed'] === undefined) !== (values['variation-strength'] === undefined) && values['variation-seed'] === undefined) {
    throw usageError('--variation-strength needs --variation-seed N.');
  }

  const model = values.model ?? (from?.model || undefined) ?? env.DEFAULT_MODEL ?? BUNDLED_MODEL;
  let defaults: ModelDefaults = {};
  try {
    defaults = (await inspectModelFolder(await resolveModelDir(modelsDir, model, { allowPaths: true }))).manifest.defaults;
  } catch {
    // The engine reports a missing or broken model with the exact file; defaults are only a convenience here.
  }
  let size = parseSize(values.size) ?? (from ? { width: from.width, height: from.height } : undefined);
  const strength = float('strength', values.strength, { min: 0, max: 1 }, true);
  let mode: GenerateMode = { kind: 'txt2img' };
  if (values.init && editing.length === 1) {
    const image = await readInput(values.init, '--init image');
    // An edited picture keeps its own size (to the model's grid of 8) unless --size says otherwise.
    size ??= gridSize(await imageSize(image, '--init image'));
    if (values.mask) {
      const fill = values['masked-content'] ?? REQUEST_DEFAULTS.inpaint.fill;
      if (!(MASKED_CONTENT as readonly string[]).includes(fill))
        throw usageError(`--masked-content must be one of ${MASKED_CONTENT.join(', ')}; got "${fill}".`);
      mode = {
        kind: 'inpaint',
        image,
        mask: await readInput(values.mask, '--mask image'),
        strength: strength ?? REQUEST_DEFAULTS.inpaint.strength,
        maskBlur: int('mask-blur', values['mask-blur'], { min: 0, max: 64 }) ?? REQUEST_DEFAULTS.inpaint.maskBlur,
        fill: fill as MaskedContent,
        area: values['inpaint-only-masked'] ? 'only-masked' : 'whole',
        padding: REQUEST_DEFAULTS.inpaint.padding,
      };
    } else if (values['zoom-out']) {
      mode = {
        kind: 'outpaint',
        image,
        strength: strength ?? REQUEST_DEFAULTS.outpaintStrength,
        zoom: float('zoom-out', values['zoom-out'], { min: 1.1, max: 4 }),
      };
    } else {
      const pan = values.pan!;
      if (!(PAN_DIRECTIONS as readonly string[]).includes(pan)) throw usageError(`--pan must be one of ${PAN_DIRECTIONS.join(', ')}; got "${pan}".`);
      mode = { kind: 'outpaint', image, strength: strength ?? REQUEST_DEFAULTS.outpaintStrength, pan: pan as PanDirection };
    }
  } else if (values.init)
    mode = { kind: 'img2img', image: await readInput(values.init, '--init image'), strength: strength ?? REQUEST_DEFAULTS.img2imgStrength };
  else if (values.upscale)
    mode = { kind: 'upscale', image: await readInput(values.upscale, '--upscale image'), strength: strength ?? REQUEST_DEFAULTS.upscaleStrength };
  const variationSeed = int('variation-seed', values['variation-seed'], REQUEST_BOUNDS.seed) ?? from?.variationSeed;
  if (variationSeed !== undefined && mode.kind === 'txt2img') {
    mode = {
      kind: 'variation',
      subseed: variationSeed,
      strength:
        float('variation-strength', values['variation-strength'], { min: 0, max: 1 }) ??
        from?.variationStrength ??
        REQUEST_DEFAULTS.variationStrength,
    };
  }
  const request: GenerateRequest = {
    model,
    prompt: prompt ?? '',
    negativePrompt: values.negative ?? from?.negativePrompt ?? defaults.negativePrompt ?? '',
    steps: int('steps', values.steps, REQUEST_BOUNDS.steps) ?? from?.steps ?? defaults.steps ?? REQUEST_DEFAULTS.steps,
    cfg: float('cfg', values.cfg, REQUEST_BOUNDS.cfg) ?? from?.cfg ?? defaults.cfg ?? REQUEST_DEFAULTS.cfg,
    sampler: values.sampler ? parseSamplerName(values.sampler) : (from?.sampler ?? defaults.sampler ?? REQUEST_DEFAULTS.sampler),
    width: size?.width ?? defaults.width ?? REQUEST_DEFAULTS.width,
    height: size?.height ?? defaults.height ?? REQUEST_DEFAULTS.height,
    count: int('count', values.count, REQUEST_BOUNDS.count) ?? REQUEST_DEFAULTS.count,
    seed: int('seed', values.seed, REQUEST_BOUNDS.seed) ?? from?.seed,
    mode,
    previewEvery: int('preview-every', values['preview-every'], { min: 0, max: REQUEST_BOUNDS.steps.max }) ?? 0,
    clipSkip: int('clip-skip', values['clip-skip'], REQUEST_BOUNDS.clipSkip) ?? from?.clipSkip ?? defaults.clipSkip ?? REQUEST_DEFAULTS.clipSkip,
    ...(values['no-translate'] ? { translate: false } : {}),
  };

  const controls = await controlUnits(values);
  if (controls.length) request.controls = controls;

  const engine = await createEngine({ ...engineOptionsFromEnv(env), allowModelPaths: true });
  const bar = progressBar(path.basename(model));
  const result = await engine.generate(request, { onStep: (p) => bar(p.step, p.total, p.image, request.count) });
  if (process.stderr.isTTY) process.stderr.write('\n');
  for (const w of result.warnings) process.stderr.write(`warning: ${w}\n`);
  if (result.translations?.prompt !== undefined) process.stderr.write(`translated prompt: ${result.translations.prompt}\n`);
  if (result.translations?.negativePrompt !== undefined) process.stderr.write(`translated negative prompt: ${result.translations.negativePrompt}\n`);
  for (const n of engine.notes.splice(0)) process.stderr.write(`note: ${n}\n`);
  const files = outputNames(
    values.out,
    result.images.map((i) => i.seed),
  );
  for (const [i, image] of result.images.entries()) {
    await writeAtomic(files[i], image.png);
    process.stdout.write(`${files[i]}  seed ${image.seed}  ${image.width}x${image.height}\n`);
  }
  // What each ControlNet saw, next to the first image: <out>-control.png (-control-2.png … for more units).
  for (const [i, map] of (result.controlMaps ?? []).entries()) {
    const first = files[0];
    const file = `${first.slice(0, first.length - path.extname(first).length)}-control${i ? `-${i + 1}` : ''}.png`;
    await writeAtomic(file, map.png);
    process.stdout.write(`${file}  control map ${i + 1} (${request.controls![i].preprocess})\n`);
  }
  const t = result.timings;
  process.stderr.write(
    `done in ${(t.totalMs / 1000).toFixed(2)} s (model load ${(t.loadMs / 1000).toFixed(2)} s, onnxruntime ${(t.inferenceMs / 1000).toFixed(2)} s) on ${engine.executionProvider}\n`,
  );
  await engine.dispose();
}

/**
 * ControlNet units from --control-image/--control pairs (issue #15); --control-strength, --preprocess and the Canny
 * thresholds are given once for all units or once per unit.
 */
async function controlUnits(values: Record<string, string | boolean | string[] | undefined>): Promise<ControlUnit[]> {
  const list = (name: string) => (values[name] as string[] | undefined) ?? [];
  const images = list('control-image');
  const nets = list('control');
  if (images.length !== nets.length) throw usageError(`Give one --control NAME per --control-image FILE; got ${nets.length} and ${images.length}.`);
  const per = (name: string) => {
    const v = list(name);
    if (v.length > 1 && v.length !== images.length)
      throw usageError(`--${name} is given ${v.length} times for ${images.length} ControlNets; give it once, or once per --control.`);
    return (i: number) => v[v.length > 1 ? i : 0];
  };
  for (const name of ['control-strength', 'preprocess', 'canny-low', 'canny-high']) {
    if (!images.length && list(name).length) throw usageError(`--${name} needs --control-image FILE --control NAME.`);
  }
  const strength = per('control-strength');
  const preprocess = per('preprocess');
  const low = per('canny-low');
  const high = per('canny-high');
  const units: ControlUnit[] = [];
  for (const [i, file] of images.entries()) {
    const pre = preprocess(i) ?? 'none';
    if (!(CONTROL_PREPROCESSORS as readonly string[]).includes(pre))
      throw usageError(`--preprocess must be one of ${CONTROL_PREPROCESSORS.join(', ')}; got "${pre}".`);
    units.push({
      net: nets[i],
      image: await readInput(file, '--control-image'),
      strength: float('control-strength', strength(i), REQUEST_BOUNDS.controlStrength) ?? REQUEST_DEFAULTS.control.strength,
      preprocess: pre as ControlPreprocessor,
      ...(low(i) !== undefined ? { cannyLow: float('canny-low', low(i), REQUEST_BOUNDS.cannyThreshold) } : {}),
      ...(high(i) !== undefined ? { cannyHigh: float('canny-high', high(i), REQUEST_BOUNDS.cannyThreshold) } : {}),
    });
  }
  return units;
}

export async function main(argv: string[]): Promise<number> {
  const parsed = parseEngineEnv(process.env);
  if (!parsed.ok) {
    process.stderr.write(`imagine: invalid configuration: ${parsed.issues.join(' ')}\n`);
    return 2;
  }
  try {
    if (argv[0] === 'tokens') await runTokens(argv.slice(1), parsed.env);
    else await runGenerate(argv, parsed.env);
    return 0;
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (error instanceof UserError || (typeof code === 'string' && code.startsWith('ERR_PARSE_ARGS'))) {
      process.stderr.write(`imagine: ${(error as Error).message.split('\n')[0]}\n`);
      return 2;
    }
    if (error instanceof ModelLoadError) {
      process.stderr.write(`imagine: ${error.message}\n`);
      return 1;
    }
    const ref = newReferenceId();
    process.stderr.write(`imagine: internal error (ref ${ref}): ${(error as Error).message}\n`);
    if (process.env.DEBUG) process.stderr.write(`${(error as Error).stack}\n`);
    return 1;
  }
}

process.exitCode = await main(process.argv.slice(2));
