/**
 * The engine the worker process and the CLI call: resolves model names, keeps models loaded between jobs
 * (least recently used unloaded first when the memory budget would be exceeded), and runs the pipeline.
 */
import { readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { Identifiers, ModelLoadError, UserError } from '../errors.js';
import { classifyProviderFailure, cpuFallbackPlan, resolveExecutionProviders, type ExecutionProviderPlan } from './model/execution-provider.js';
import { loadModel, releaseModel, type LoadedModel } from './model/loaded-model.js';
import { inspectModelFolder, listModelDirs, modelSummary, resolveModelDir, type ModelFolder } from '../model-folder/model-folder.js';
import type { JobEmbeddings } from './pipelines/generation.js';
import { runPipeline } from './pipelines/run-pipeline.js';
import { EmbeddingLibrary } from './prompt/embedding-files.js';
import { embeddingSetFor, type EmbeddingSet } from './prompt/embedding-set.js';
import { ModelSession, RunClock, supportedBackends, type SessionOptions } from './model/session.js';
import { mergeLoras } from './lora/apply-loras.js';
import { LoraLibrary } from './lora/lora-library.js';
import { invalidLoraTags, loraSetKey, parseLoraTags } from '../protocol/lora-tags.js';
import { translatorMissingWarning } from '../protocol/warnings.js';
import { ClipTokenizer } from './prompt/clip-tokenizer.js';
import { CountingEmbeddings } from './prompt/embeddings.js';
import { type ChunkedPrompt, chunkPrompt } from './prompt/prompt-chunks.js';
import { isTranslatorFolder, MarianTranslator } from './prompt/translation/marian.js';
import { containsHan, PromptTranslator } from './prompt/translation/translate-prompt.js';
import type { Engine, GenerateOptions, TokenizeResult } from './types.js';
import type { DepthFn } from './image/control-map.js';
import { DepthEstimator, depthModelMissing, findDepthModel } from './model/depth.js';
import type { EngineOptions } from '../protocol/engine-options.js';
import {
  checkGenerateRequest,
  type GenerateRequest,
  type GenerateResult,
  type ModelSummary,
  type PromptTranslations,
} from '../protocol/generate-request.js';

const MIB = 1024 * 1024;

interface CacheEntry {
  model: Promise<LoadedModel>;
  lastUsed: number;
}

/** A loaded model with a LoRA set merged: the patched sessions replace the base ones, the rest is shared. */
interface LoraVariant {
  key: string;
  model: Promise<LoadedModel>;
  /** Sessions built for the variant (released with it), and what they hold. */
  sessions: ModelSession[];
  heldBytes: number;
}

class OnnxEngine implements Engine {
  private readonly cache = new Map<string, CacheEntry>();
  private readonly tokenizers = new Map<string, Promise<ClipTokenizer>>();
  private plan: ExecutionProviderPlan;
  private useCounter = 0;
  /** Messages for the host's log (fallbacks, unused config keys); drained by the caller. */
  readonly notes: string[] = [];
  /** EMBEDDINGS_DIR, scanned on the first job and rescanned (cheaply) before each. */
  private library?: Promise<EmbeddingLibrary>;
  /** Per loaded model: its text encoders grown for the embedding sets prompts used, released with the model. */
  private readonly embeddingSets = new Map<LoadedModel, EmbeddingSet>();
  /** The zh→en translator, loaded on the first Chinese prompt; undefined inside when it is not installed. */
  private translator?: Promise<{ prompts: PromptTranslator; marian: MarianTranslator } | undefined>;
  /**
   * Per loaded model, the last LoRA set merged into it. One set per model: a merged UNet is a second copy of the
   * UNet's weights, so a new set replaces the old one; a job without LoRAs uses the base sessions, untouched.
   */
  private readonly loraVariants = new Map<LoadedModel, LoraVariant>();
  private loraLibrary?: LoraLibrary;

  constructor(private readonly options: Required<EngineOptions>) {
    this.plan = resolveExecutionProviders(
      {
        provider: options.executionProvider,
        deviceId: options.deviceId,
        threads: options.threads,
        allowCpuFallback: options.allowCpuFallback,
      },
      supportedBackends(),
    );
    if (this.plan.fallbackReason) this.notes.push(`running on CPU: ${this.plan.fallbackReason}`);
  }

  get executionProvider(): string {
    return this.plan.effectiveProvider;
  }

  private sessionOptions(): SessionOptions {
    return {
      executionProviders: this.plan.executionProviders as SessionOptions['executionProviders'],
      graphOptimizationLevel: 'all',
      // Only fatal messages on stderr: every failure also surfaces as a thrown error that we report with its
      // file and a fix, and onnxruntime's own lines (ANSI-coloured, repeated per session) would only bury it.
      logSeverityLevel: 4,
      // No busy-waiting between runs: onnxruntime's intra-op threads otherwise spin after each run, taking the
      // cores the bot process (acknowledgements, edits) and the preview encoder need between UNet steps.
      extra: { session: { intra_op: { allow_spinning: '0' } } },
      ...this.plan.sessionOptions,
    };
  }

  async listModels(): Promise<ModelSummary[]> {
    const out: ModelSummary[] = [];
    for (const dir of await listModelDirs(this.options.modelsDir)) {
      try {
        out.push(modelSummary(await inspectModelFolder(dir)));
      } catch (error) {
        this.notes.push(`skipping ${dir}: ${(error as Error).message}`);
      }
    }
    return out;
  }

  /** Load (or reuse) a model, evicting least recently used ones to stay inside the memory budget. */
  private async model(dir: string): Promise<{ model: LoadedModel; loadMs: number }> {
    const cached = this.cache.get(dir);
    if (cached) {
      cached.lastUsed = ++this.useCounter;
      return { model: await cached.model, loadMs: 0 };
    }
    const folder = await inspectModelFolder(dir);
    // Evicting other models cannot make room for one bigger than the whole budget (an fp32 SDXL is ~14 GB):
    // refuse before loading, saying what to change, rather than exhaust the machine's memory.
    const budgetBytes = this.options.memoryBudgetMiB * MIB;
    if (folder.sizeBytes > budgetBytes) {
      throw new ModelLoadError(
        `${folder.dir}: model "${folder.name}" needs about ${Math.ceil(folder.sizeBytes / MIB)} MiB (its ONNX files), more than the whole model memory budget ` +
          `of ${this.options.memoryBudgetMiB} MiB; raise MODEL_MEMORY_BUDGET_MIB (if the machine has that much memory) or use a smaller (fp16) export of the model.`,
        folder.dir,
      );
    }
    await this.makeRoom(folder.sizeBytes, dir);
    const started = performance.now();
    const entry: CacheEntry = { model: this.loadWithFallback(folder), lastUsed: ++this.useCounter };
    this.cache.set(dir, entry);
    try {
      const model = await entry.model;
      return { model, loadMs: performance.now() - started };
    } catch (error) {
      this.cache.delete(dir);
      throw error;
    }
  }

  private async loadWithFallback(folder: ModelFolder): Promise<LoadedModel> {
    try {
      return await loadModel(folder, this.sessionOptions());
    } catch (error) {
      const cause = error instanceof ModelLoadError ? (error.cause ?? error) : error;
      const providerProblem = classifyProviderFailure(cause, this.plan);
      if (!providerProblem) throw error;
      if (!this.options.allowCpuFallback) throw providerProblem;
      this.plan = cpuFallbackPlan(this.plan, providerProblem);
      this.notes.push(`running on CPU: ${providerProblem.message}`);
      return loadModel(folder, this.sessionOptions());
    }
  }

  /** A loaded model's memory: its own files, its merged LoRA copy and its grown text encoders (embeddings). */
  private heldBytes(model: LoadedModel): number {
    return model.sizeBytes + (this.loraVariants.get(model)?.heldBytes ?? 0) + (this.embeddingSets.get(model)?.heldBytes ?? 0);
  }

  private async makeRoom(needBytes: number, keep: string): Promise<void> {
    const budget = this.options.memoryBudgetMiB * MIB;
    const loaded = async () => {
      let total = 0;
      for (const [d, e] of this.cache) {
        if (d === keep) continue;
        const m = await e.model.catch(() => undefined);
        total += m ? this.heldBytes(m) : 0;
      }
      return total;
    };
    while (this.cache.size > 0 && (await loaded()) + needBytes > budget) {
      const [victim] = [...this.cache.entries()].filter(([d]) => d !== keep).sort((a, b) => a[1].lastUsed - b[1].lastUsed);
      if (!victim) break;
      this.cache.delete(victim[0]);
      const model = await victim[1].model.catch(() => undefined);
      if (model) await this.unload(model);
      this.notes.push(`unloaded ${victim[0]} to stay within the ${this.options.memoryBudgetMiB} MiB model budget`);
    }
  }

  /**
   * The textual-inversion embeddings a job on `model` may use, or undefined when EMBEDDINGS_DIR has none (then
   * nothing is looked up). On SDXL an embedding's clip_l and clip_g vectors grow both text encoders' tables.
   */
  private async jobEmbeddings(dir: string, model: LoadedModel): Promise<JobEmbeddings | undefined> {
    this.library ??= EmbeddingLibrary.scan(this.options.embeddingsDir, (message) => this.notes.push(message));
    const library = await this.library;
    await library.refresh();
    if (library.embeddings.size === 0) return undefined;
    let set = this.embeddingSets.get(model);
    if (!set) {
      // A new set of grown encoders first makes room for itself within the budget, as a LoRA merge does.
      const reserve = (bytes: number) => this.makeRoom(this.heldBytes(model) + bytes, dir);
      set = embeddingSetFor(model, library, this.sessionOptions(), undefined, reserve);
      this.embeddingSets.set(model, set);
    }
    const lookup = set.lookup();
    const grown = set;
    return { lookup, withTextEncoders: (fn) => grown.withTextEncoders(lookup, fn) };
  }

  /**
   * The model with the prompt's `<lora:name:weight>` set merged, built once per (model, sorted set with weights) and
   * kept until another set is asked for on that model; the base model itself when the prompt names none.
   */
  private async withLoras(dir: string, model: LoadedModel, prompt: string): Promise<{ model: LoadedModel; mergeMs: number }> {
    const bad = invalidLoraTags(prompt);
    if (bad.length) throw new UserError(Identifiers.InvalidArgument, `LoRA weight must be a number, as in <lora:name:0.8>; got ${bad.join(', ')}.`);
    const tags = parseLoraTags(prompt).filter((t) => t.weight !== 0);
    if (tags.length === 0) return { model, mergeMs: 0 };
    const key = loraSetKey(tags);
    const current = this.loraVariants.get(model);
    if (current?.key === key) return { model: await current.model, mergeMs: 0 };
    this.loraLibrary ??= new LoraLibrary(this.options.lorasDir);
    const library = this.loraLibrary;
    // Load every file first: an unknown name or a LoHa is refused before the current set is dropped.
    const loras = await Promise.all(tags.map(async (t) => ({ ...(await library.load(t.name)), weight: t.weight })));
    if (current) await this.releaseVariant(model);
    const files = {
      unet: model.folder.files.unet,
      te1: model.folder.files.textEncoder,
      ...(model.sdxl && model.folder.files.textEncoder2 ? { te2: model.folder.files.textEncoder2 } : {}),
    };
    const touched = new Set(loras.flatMap((l) => l.network.modules.map((m) => m.graph)));
    const estimate = (
      await Promise.all(
        [...touched]
          .map((g) => files[g as keyof typeof files])
          .filter(Boolean)
          .map((f) =>
            stat(f!).then(
              (s) => s.size,
              () => 0,
            ),
          ),
      )
    ).reduce((a, b) => a + b, 0);
    await this.makeRoom(model.sizeBytes + estimate, dir);
    const started = performance.now();
    const variant: LoraVariant = { key, sessions: [], heldBytes: 0, model: Promise.resolve(model) };
    variant.model = (async () => {
      const merged = await mergeLoras({ name: model.folder.name, family: model.family, files }, loras);
      this.notes.push(...merged.notes);
      const open = async (g: 'unet' | 'te1' | 'te2', file: string, base: ModelSession) => {
        const patched = merged.graphs[g];
        if (!patched) return base;
        const session = await ModelSession.fromBytes(patched.bytes, file, {
          ...this.sessionOptions(),
          ...(patched.externalData ? { externalData: patched.externalData } : {}),
        });
        variant.sessions.push(session);
        variant.heldBytes += patched.heldBytes;
        return session;
      };
      const unet = await open('unet', files.unet, model.unet);
      const textEncoder = await open('te1', files.te1, model.textEncoder);
      const sdxl = model.sdxl && files.te2 ? { ...model.sdxl, textEncoder2: await open('te2', files.te2, model.sdxl.textEncoder2) } : model.sdxl;
      return { ...model, unet, textEncoder, ...(sdxl ? { sdxl } : {}), loras: loras.map((l) => ({ name: l.network.name, hash: l.hash })) };
    })();
    this.loraVariants.set(model, variant);
    try {
      return { model: await variant.model, mergeMs: performance.now() - started };
    } catch (error) {
      await this.releaseVariant(model);
      throw error;
    }
  }

  private async releaseVariant(model: LoadedModel): Promise<void> {
    const variant = this.loraVariants.get(model);
    if (!variant) return;
    this.loraVariants.delete(model);
    await variant.model.catch(() => undefined);
    await Promise.all(variant.sessions.map((s) => s.release()));
  }

  private async unload(model: LoadedModel): Promise<void> {
    await this.releaseVariant(model);
    await this.embeddingSets.get(model)?.release();
    this.embeddingSets.delete(model);
    await releaseModel(model);
  }

  /** Names of the currently loaded models' folders (for tests and the status line). */
  loadedModels(): string[] {
    return [...this.cache.keys()].map((d) => path.basename(d));
  }

  async generate(request: GenerateRequest, options: GenerateOptions = {}): Promise<GenerateResult> {
    const started = performance.now();
    checkGenerateRequest(request);
    const dir = await resolveModelDir(this.options.modelsDir, request.model, { allowPaths: this.options.allowModelPaths });
    const { model: base, loadMs: baseLoadMs } = await this.model(dir);
    const { model, mergeMs } = await this.withLoras(dir, base, request.prompt);
    const loadMs = baseLoadMs + mergeMs;
    const clock = new RunClock();
    const depth = async (): Promise<DepthFn> => {
      const estimator = await this.depthEstimator();
      return (rgb, width, height) => estimator.estimate(rgb, width, height, clock);
    };
    const translation = await this.translatePrompts(request, model);
    // Embeddings grow the base text encoder (embedding-set.ts): a prompt using both gets the LoRA's UNet part only.
    const out = await runPipeline(model, translation.request, options, clock, await this.jobEmbeddings(dir, base), translation.typed, depth);
    this.notes.push(...out.notes);
    return {
      images: out.images,
      seed: out.seed,
      warnings: [...translation.warnings, ...out.warnings],
      timings: { totalMs: performance.now() - started, inferenceMs: clock.totalMs, previewMs: out.previewMs, loadMs },
      ...(translation.translations ? { translations: translation.translations } : {}),
      ...(out.controlMaps ? { controlMaps: out.controlMaps } : {}),
    };
  }

  /**
   * Chinese prompts on a model that reads English only (CLIP turns Han characters into byte fragments): the Han
   * parts of the prompt and negative prompt are translated (translation/translate-prompt.ts) unless the request
   * says `translate: false` or the model's imagine-bot.json lists "zh" in `languages`. Without the translator the
   * job still runs, with a warning saying how to install it.
   */
  private async translatePrompts(
    request: GenerateRequest,
    model: LoadedModel,
  ): Promise<{
    request: GenerateRequest;
    typed?: { prompt: string; negativePrompt: string };
    translations?: PromptTranslations;
    warnings: string[];
  }> {
    const hasHan = containsHan(request.prompt) || containsHan(request.negativePrompt);
    const readsChinese = model.folder.manifest.languages?.some((l) => l === 'zh' || l.startsWith('zh-')) ?? false;
    if (!hasHan || request.translate === false || readsChinese) return { request, warnings: [] };
    const translator = await this.loadTranslator();
    if (!translator) {
      return {
        request,
        warnings: [translatorMissingWarning(model.folder.name)],
      };
    }
    const prompt = await translator.prompts.translatePrompt(request.prompt);
    const negative = await translator.prompts.translatePrompt(request.negativePrompt);
    if (!prompt.translated && !negative.translated) return { request, warnings: [] };
    const translations: PromptTranslations = {};
    if (prompt.translated) translations.prompt = prompt.text;
    if (negative.translated) translations.negativePrompt = negative.text;
    return {
      request: { ...request, prompt: prompt.text, negativePrompt: negative.text },
      typed: { prompt: request.prompt, negativePrompt: request.negativePrompt },
      translations,
      warnings: [],
    };
  }

  /** Loads the translator once, on CPU (it is small; the GPU stays with diffusion); undefined when not installed. */
  private loadTranslator(): Promise<{ prompts: PromptTranslator; marian: MarianTranslator } | undefined> {
    this.translator ??= (async () => {
      const dir = this.options.translatorDir;
      if (!(await isTranslatorFolder(dir))) {
        this.notes.push(`no translator in ${dir}: Chinese prompts are not translated (npm run models:pull -- opus-mt-zh-en, or set TRANSLATOR_DIR)`);
        return undefined;
      }
      const started = performance.now();
      const marian = await MarianTranslator.load(dir, {
        graphOptimizationLevel: 'all',
        logSeverityLevel: 4,
        extra: { session: { intra_op: { allow_spinning: '0' } } },
        ...(this.options.threads ? { intraOpNumThreads: this.options.threads } : {}),
      });
      this.notes.push(`loaded translator ${dir} in ${Math.round(performance.now() - started)} ms`);
      return { prompts: new PromptTranslator(marian), marian };
    })();
    // Not installed yet, or a broken install (reported on the job as a ModelLoadError naming the file): look again
    // on the next Chinese prompt, so `models:pull -- opus-mt-zh-en` takes effect without a restart.
    const attempt = this.translator;
    attempt.then(
      (loaded) => {
        if (!loaded && this.translator === attempt) this.translator = undefined;
      },
      () => {
        if (this.translator === attempt) this.translator = undefined;
      },
    );
    return attempt;
  }

  /** ControlNet's depth preprocessor (issue #15): MODELS_DIR/depth-anything-v2-small, opened on first use and kept. */
  private depth?: Promise<DepthEstimator>;
  private depthEstimator(): Promise<DepthEstimator> {
    if (!this.depth) {
      this.depth = findDepthModel(this.options.modelsDir).then((file) => {
        if (!file) throw depthModelMissing();
        return DepthEstimator.load(file, this.sessionOptions());
      });
      this.depth.catch(() => (this.depth = undefined)); // installed later: the next job finds it
    }
    return this.depth;
  }

  async tokenize(model: string, prompts: readonly string[]): Promise<TokenizeResult[]> {
    const tokenizer = await this.tokenizer(model);
    return prompts.map((p) => {
      const enc = tokenizer.encode(p);
      return { ids: enc.ids, count: enc.count, truncated: enc.truncated };
    });
  }

  /**
   * Each prompt's A1111 chunks (`imagine tokens --chunks`): 77 ids and 77 attention multipliers per chunk, as the
   * text encoder receives them. Needs the tokenizer only: embeddings in EMBEDDINGS_DIR get ids past the vocabulary
   * in order of first use, as in a generation (prompt and negative alike), but are not checked against the model.
   */
  async promptChunks(model: string, prompts: readonly string[]): Promise<ChunkedPrompt[]> {
    const tokenizer = await this.tokenizer(model);
    const library = await EmbeddingLibrary.scan(this.options.embeddingsDir, (message) => this.notes.push(message));
    const embeddings = new CountingEmbeddings(library, tokenizer.vocabSize);
    return prompts.map((p) => chunkPrompt(tokenizer, p, { embeddings }));
  }

  /** A tokenizer alone: a folder that holds only tokenizer/ is enough (`imagine tokens`). */
  private async tokenizer(model: string): Promise<ClipTokenizer> {
    let dir: string;
    try {
      dir = await resolveModelDir(this.options.modelsDir, model, { allowPaths: this.options.allowModelPaths });
    } catch (error) {
      const candidate = path.join(this.options.modelsDir, model);
      if (
        !(error instanceof UserError) ||
        !(await readFile(path.join(candidate, 'tokenizer', 'vocab.json')).then(
          () => true,
          () => false,
        ))
      )
        throw error;
      dir = path.resolve(candidate);
    }
    let t = this.tokenizers.get(dir);
    if (!t) {
      t = ClipTokenizer.fromFolder(path.join(dir, 'tokenizer'));
      this.tokenizers.set(dir, t);
      t.catch(() => this.tokenizers.delete(dir));
    }
    return t;
  }

  async dispose(): Promise<void> {
    const translator = await this.translator?.catch(() => undefined);
    this.translator = undefined;
    await translator?.marian.release();
    const depth = this.depth;
    this.depth = undefined;
    await (await depth?.catch(() => undefined))?.release();
    const entries = [...this.cache.values()];
    this.cache.clear();
    for (const e of entries) {
      const m = await e.model.catch(() => undefined);
      if (m) await this.unload(m);
    }
  }
}

export type OnnxEngineHandle = Engine & {
  readonly notes: string[];
  loadedModels(): string[];
  promptChunks(model: string, prompts: readonly string[]): Promise<ChunkedPrompt[]>;
};

/** Build the engine. Fails fast (UserError) when the execution provider cannot be used. */
export async function createEngine(options: EngineOptions): Promise<OnnxEngineHandle> {
  if (!options.modelsDir) throw new UserError(Identifiers.InvalidArgument, 'modelsDir is required');
  return new OnnxEngine({
    modelsDir: path.resolve(options.modelsDir),
    executionProvider: options.executionProvider ?? 'cpu',
    deviceId: options.deviceId ?? 0,
    threads: options.threads ?? 0,
    allowCpuFallback: options.allowCpuFallback ?? false,
    memoryBudgetMiB: options.memoryBudgetMiB ?? 8192,
    allowModelPaths: options.allowModelPaths ?? false,
    embeddingsDir: path.resolve(options.embeddingsDir ?? './embeddings'),
    translatorDir: path.resolve(options.translatorDir ?? path.join(options.modelsDir, 'opus-mt-zh-en')),
    lorasDir: path.resolve(options.lorasDir ?? './loras'),
  });
}
