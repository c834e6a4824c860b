import { describe, expect, it } from 'vitest';
import { CancelledError, Identifiers, ModelLoadError, UserError } from '../../src/errors.js';
import { BotMessageSchema, PROTOCOL_VERSION, WorkerMessageSchema, type BotMessage, type WorkerMessage } from '../../src/protocol/messages.js';
import { serializeError, SerializedErrorSchema } from '../../src/protocol/serialized-error.js';
import { reviveError } from '../../src/worker/revive-error.js';
import { RemoteError } from '../../src/worker/worker-errors.js';
import { deserialize, serialize } from 'node:v8';
import { smallRequest } from '../fixtures/requests.js';

const png = new Uint8Array([0x89, 0x50, 0x4e, 0x47, 1, 2, 3]);

const botMessages: BotMessage[] = [
  {
    type: 'init',
    protocolVersion: PROTOCOL_VERSION,
    options: { modelsDir: './models', executionProvider: 'cpu', deviceId: 0, threads: 2, memoryBudgetMiB: 4096 },
  },
  { type: 'generate', jobId: 'j1', request: smallRequest() },
  { type: 'generate', jobId: 'j2', request: smallRequest({ seed: undefined, mode: { kind: 'img2img', image: png, strength: 0.6 } }) },
  { type: 'generate', jobId: 'j3', request: smallRequest({ mode: { kind: 'variation', subseed: 99, strength: 0.2 } }) },
  { type: 'generate', jobId: 'j4', request: smallRequest({ mode: { kind: 'upscale', image: png, strength: 0.3 } }) },
  { type: 'cancel', jobId: 'j1' },
  { type: 'shutdown' },
];

const workerMessages: WorkerMessage[] = [
  {
    type: 'ready',
    protocolVersion: PROTOCOL_VERSION,
    models: [
      {
        name: 'sd15',
        family: 'sd15',
        hasVaeEncoder: true,
        hasPreviewDecoder: false,
        defaults: { sampler: 'dpmpp_2m_karras', steps: 25 },
      },
    ],
    samplers: ['euler', 'ddim'],
    executionProvider: 'cpu',
  },
  { type: 'init-failed', error: serializeError(new ModelLoadError('missing unet/model.onnx', '/models/x')) },
  { type: 'progress', jobId: 'j1', step: 3, total: 20, image: 0 },
  { type: 'progress', jobId: 'j1', step: 4, total: 20, image: 1, preview: { png, width: 64, height: 64 } },
  {
    type: 'result',
    jobId: 'j1',
    images: [{ png, seed: 7, width: 512, height: 512, parameters: 'a cat\nSteps: 20' }],
    seed: 7,
    warnings: ['prompt truncated'],
    timings: { totalMs: 1000, inferenceMs: 900, previewMs: 10, loadMs: 0 },
  },
  { type: 'failed', jobId: 'j1', error: serializeError(new UserError(Identifiers.InvalidSize, 'bad size', { width: 7 })) },
];

/** What fork({serialization: 'advanced'}) does to a message: v8 structured serialization. */
function overTheWire<T>(message: T): unknown {
  return deserialize(serialize(message));
}

describe('protocol messages', () => {
  it.each(botMessages.map((m) => [m.type, m] as const))('round-trips the bot message %s over advanced serialization', (_type, message) => {
    const parsed = BotMessageSchema.parse(overTheWire(message));
    expect(parsed).toEqual(message);
  });

  it.each(workerMessages.map((m) => [m.type, m] as const))('round-trips the worker message %s over advanced serialization', (_type, message) => {
    const parsed = WorkerMessageSchema.parse(overTheWire(message));
    expect(parsed).toEqual(message);
  });

  it('keeps PNG bytes as Uint8Array through serialization', () => {
    const parsed = WorkerMessageSchema.parse(overTheWire(workerMessages[4]));
    expect(parsed.type).toBe('result');
    const bytes = (parsed as Extract<WorkerMessage, { type: 'result' }>).images[0]!.png;
    expect(bytes).toBeInstanceOf(Uint8Array);
    expect([...bytes]).toEqual([...png]);
  });

  it.each([
    ['null', null],
    ['a string', 'ready'],
    ['an unknown type', { type: 'explode' }],
    ['a numeric type', { type: 1 }],
    ['generate without jobId', { type: 'generate', request: smallRequest() }],
    ['generate with an empty jobId', { type: 'generate', jobId: '', request: smallRequest() }],
    ['generate with an unknown sampler', { type: 'generate', jobId: 'j', request: smallRequest({ sampler: 'plms' as never }) }],
    ['generate with fractional steps', { type: 'generate', jobId: 'j', request: smallRequest({ steps: 2.5 }) }],
    [
      'img2img without image bytes',
      { type: 'generate', jobId: 'j', request: smallRequest({ mode: { kind: 'img2img', image: 'abc', strength: 1 } as never }) },
    ],
    ['init without options', { type: 'init', protocolVersion: 1 }],
  ])('rejects a bot message that is %s', (_what, garbage) => {
    expect(BotMessageSchema.safeParse(garbage).success).toBe(false);
  });

  it.each([
    ['undefined', undefined],
    ['a result with images as a string', { type: 'result', jobId: 'j', images: 'x', seed: 1, warnings: [], timings: {} }],
    ['a result with no images', { ...workerMessages[4], images: [] }],
    ['progress without jobId', { type: 'progress', step: 1, total: 2, image: 0 }],
    ['progress with a negative step', { type: 'progress', jobId: 'j', step: -1, total: 2, image: 0 }],
    [
      'a preview with base64 instead of bytes',
      { type: 'progress', jobId: 'j', step: 1, total: 2, image: 0, preview: { png: 'iVBOR', width: 1, height: 1 } },
    ],
    ['failed without error', { type: 'failed', jobId: 'j' }],
    ['ready without models', { type: 'ready', protocolVersion: 1, samplers: [], executionProvider: 'cpu' }],
  ])('rejects a worker message that is %s', (_what, garbage) => {
    expect(WorkerMessageSchema.safeParse(garbage).success).toBe(false);
  });
});

describe('serialized errors', () => {
  it('keeps a UserError user-facing across the boundary, with identifier and context', () => {
    const wire = SerializedErrorSchema.parse(overTheWire(serializeError(new UserError(Identifiers.UnknownModel, 'No model "x".', { model: 'x' }))));
    const revived = reviveError(wire);
    expect(revived).toBeInstanceOf(UserError);
    expect((revived as UserError).identifier).toBe('unknownModel');
    expect(revived.message).toBe('No model "x".');
    expect((revived as UserError).context).toEqual({ model: 'x' });
  });

  it('revives a cancellation as CancelledError', () => {
    expect(reviveError(serializeError(new CancelledError()))).toBeInstanceOf(CancelledError);
  });

  it('turns internal errors into RemoteError with name, message, code, stack and cause', () => {
    const inner = new Error('ENOENT: no such file');
    const error = Object.assign(new ModelLoadError('cannot read unet', '/m', { cause: inner }), { code: 'ENOENT' });
    const wire = serializeError(error);
    expect(wire).toMatchObject({
      name: 'ModelLoadError',
      message: 'cannot read unet',
      code: 'ENOENT',
      cause: { name: 'Error', message: 'ENOENT: no such file' },
    });
    const revived = reviveError(wire);
    expect(revived).toBeInstanceOf(RemoteError);
    expect(revived.message).toBe('ModelLoadError: cannot read unet');
    expect(revived.stack).toContain('--- in the worker ---');
  });

  it('does not trust an unknown identifier to make an error user-facing', () => {
    const revived = reviveError({ name: 'UserError', message: 'x', identifier: 'somethingNew' });
    expect(revived).toBeInstanceOf(RemoteError);
  });

  it('serializes thrown non-errors', () => {
    expect(serializeError('boom')).toEqual({ name: 'Error', message: 'boom' });
    expect(serializeError(42)).toEqual({ name: 'Error', message: '42' });
  });
});
