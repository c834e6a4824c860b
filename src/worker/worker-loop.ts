import type { Engine } from '../inference/types.js';
import type { EngineOptions } from '../protocol/engine-options.js';
import { BotMessageSchema, PROTOCOL_VERSION, type BotMessage, type WorkerMessage } from '../protocol/messages.js';
import { serializeError } from '../protocol/serialized-error.js';
import { SAMPLER_NAMES } from '../protocol/samplers.js';

/** Exit codes the worker uses on purpose, so the host's logs can tell them from crashes. */
export const WORKER_EXIT_CODES = {
  /** The bot sent something that is not a valid BotMessage. */
  protocolError: 3,
  /** init-failed was sent; the worker cannot recover and leaves. */
  initFailed: 4,
} as const;

export type CreateEngine = (options: EngineOptions) => Promise<Engine>;

/**
 * The worker side of the protocol: handshake, then one job at a time with an AbortController each, until
 * `shutdown` or the bot goes away. The engine comes from `createEngine`, so the fixtures in
 * test/fixtures/workers run this same loop with fake engines.
 */
export function runWorker(createEngine: CreateEngine): void {
  if (!process.send) throw new TypeError('Expected to run as a forked child with an IPC channel');
  let engine: Engine | undefined;
  let initializing = false;
  let current: { jobId: string; controller: AbortController } | undefined;

  const send = (message: WorkerMessage): Promise<void> =>
    new Promise((resolve) => {
      // The channel may be closing (bot gone); the disconnect handler ends the process then.
      if (!process.connected) return resolve();
      process.send!(message, undefined, undefined, () => resolve());
    });

  // The engine's notes (CPU fallback, ignored config keys, unloaded models) go to stderr, which the host inherits,
  // so they reach the operator's log without a protocol message of their own.
  const drainNotes = () => {
    for (const note of engine?.notes?.splice(0) ?? []) process.stderr.write(`worker: ${note}\n`);
  };

  const violation = (raw: unknown, reason: string): never => {
    // Never guess at a message we don't understand: say so on stderr (the bot's log) and let the host restart us.
    process.stderr.write(`worker: protocol error (${reason}): ${safeJson(raw)}\n`);
    process.exit(WORKER_EXIT_CODES.protocolError);
  };

  async function init(message: Extract<BotMessage, { type: 'init' }>): Promise<void> {
    if (message.protocolVersion !== PROTOCOL_VERSION) {
      await send({
        type: 'init-failed',
        error: serializeError(new Error(`Protocol version mismatch: bot speaks ${message.protocolVersion}, worker ${PROTOCOL_VERSION}`)),
      });
      process.exit(WORKER_EXIT_CODES.initFailed);
    }
    initializing = true;
    try {
      engine = await createEngine(message.options);
      const models = await engine.listModels();
      await send({
        type: 'ready',
        protocolVersion: PROTOCOL_VERSION,
        models,
        samplers: [...SAMPLER_NAMES],
        executionProvider: engine.executionProvider,
      });
      drainNotes();
    } catch (error) {
      await send({ type: 'init-failed', error: serializeError(error) });
      // An open IPC channel keeps the event loop alive, so a failed worker must leave by itself.
      process.exit(WORKER_EXIT_CODES.initFailed);
    } finally {
      initializing = false;
    }
  }

  async function generate(message: Extract<BotMessage, { type: 'generate' }>): Promise<void> {
    const controller = new AbortController();
    current = { jobId: message.jobId, controller };
    const { jobId } = message;
    try {
      const result = await engine!.generate(message.request, {
        signal: controller.signal,
        onStep: (progress) => void send({ type: 'progress', jobId, ...progress }),
      });
      await send({ type: 'result', jobId, ...result });
    } catch (error) {
      await send({ type: 'failed', jobId, error: serializeError(error) });
    } finally {
      current = undefined;
      drainNotes();
    }
  }

  process.on('message', (raw: unknown) => {
    const parsed = BotMessageSchema.safeParse(raw);
    if (!parsed.success) return violation(raw, parsed.error.issues.map((issue) => issue.message).join('; '));
    const message = parsed.data;
    switch (message.type) {
      case 'init':
        if (engine || initializing) return violation(raw, 'init sent twice');
        void init(message);
        return;
      case 'generate':
        if (!engine) return violation(raw, 'generate before ready');
        // The host sends one job at a time; a second one means the two sides disagree about state.
        if (current) return violation(raw, `generate while ${current.jobId} is running`);
        void generate(message);
        return;
      case 'cancel':
        // A cancel for a job that already finished crossed its result on the wire: nothing to do.
        if (current?.jobId === message.jobId) current.controller.abort();
        return;
      case 'shutdown':
        current?.controller.abort();
        void (engine?.dispose() ?? Promise.resolve()).finally(() => process.exit(0));
        return;
    }
  });
  // The bot died (even by kill -9): nobody will read our results, and staying would leak a process.
  process.on('disconnect', () => process.exit(0));
}

function safeJson(value: unknown): string {
  try {
    return JSON.stringify(value, (_key, v: unknown) => (v instanceof Uint8Array ? `<${v.byteLength} bytes>` : v)).slice(0, 2000);
  } catch {
    return String(value);
  }
}
