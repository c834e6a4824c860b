import { z } from 'zod';
import type { GenerateResult, StepProgress } from '../protocol/generate-request.js';
import { SerializedErrorSchema } from '../protocol/serialized-error.js';

/**
 * What the bot (coordinator) and `npm run worker` hosts share through Redis (docs/scaling.md). Bumped when a
 * key, a queue or a payload changes shape: a host announcing another version is not dispatched to, so a bot and a
 * host from different checkouts never misread each other's jobs.
 */
export const REMOTE_PROTOCOL_VERSION = 1;

const ROOT = 'imagine';
/**
 * BullMQ's key prefix for our queues; one queue per worker, named by its id (BullMQ refuses ':' in a name), so
 * worker `gpu-box-1`'s queue lives under `imagine:gpu:gpu-box-1:…`.
 */
export const QUEUE_PREFIX = `${ROOT}:gpu`;
export const queueName = (workerId: string): string => workerId;
/** A host's heartbeat: its workers and their state, refreshed every heartbeatMs, gone after its TTL. */
export const HEARTBEAT_PATTERN = `${ROOT}:host:*`;
export const heartbeatKey = (hostId: string): string => `${ROOT}:host:${hostId}`;
/** A finished attempt's images (too big for BullMQ's return value and event stream), read once by the bot. */
export const resultKey = (attempt: string): string => `${ROOT}:result:${attempt}`;
/** Set (with a TTL) and published when the bot cancels an attempt; the host checks it before starting too. */
export const cancelKey = (attempt: string): string => `${ROOT}:cancel:${attempt}`;
export const CANCEL_CHANNEL = `${ROOT}:cancel`;
/**
 * Published by the host the moment an attempt ends (`{ attempt, value }`, value as RemoteReturn): the fast path.
 * BullMQ's own completion (moveToCompleted, then its event stream) is a few hops later and stays the fallback.
 */
export const DONE_CHANNEL = `${ROOT}:done`;

export const RemoteWorkerStateSchema = z.object({
  id: z.string().min(1),
  state: z.enum(['starting', 'idle', 'busy']),
  /** The attempt it runs (BullMQ job id), while busy. */
  jobId: z.string().optional(),
  models: z.array(z.string()),
  executionProvider: z.string().optional(),
  deviceId: z.number().int().optional(),
});
export type RemoteWorkerState = z.infer<typeof RemoteWorkerStateSchema>;

export const HeartbeatSchema = z.object({
  version: z.number().int(),
  hostId: z.string().min(1),
  /** The machine's hostname, for /queue and the logs. */
  hostname: z.string(),
  workers: z.array(RemoteWorkerStateSchema),
});
export type Heartbeat = z.infer<typeof HeartbeatSchema>;

/** A job's data: the request and its watchdog, bytes encoded by `encodeValue`. */
export interface RemoteJobData {
  payload: string;
}

/**
 * An attempt's return value. Job errors are returned, not thrown: BullMQ keeps only a message for a failed job,
 * and the bot needs the error's class (a UserError's identifier, a crash to retry elsewhere).
 */
export const RemoteReturnSchema = z.discriminatedUnion('ok', [
  z.object({ ok: z.literal(true), resultKey: z.string() }),
  z.object({ ok: z.literal(false), kind: z.enum(['crashed', 'watchdog', 'error']), error: SerializedErrorSchema }),
]);
export type RemoteReturn = z.infer<typeof RemoteReturnSchema>;

/** Progress as BullMQ carries it (JSON): the preview PNG in base64. */
export interface RemoteProgress {
  step: number;
  total: number;
  image: number;
  preview?: { png: string; width: number; height: number };
}

export function encodeProgress(progress: StepProgress): RemoteProgress {
  const { preview, ...rest } = progress;
  return preview ? { ...rest, preview: { ...preview, png: Buffer.from(preview.png).toString('base64') } } : rest;
}

export function decodeProgress(progress: RemoteProgress): StepProgress {
  const { preview, ...rest } = progress;
  return preview ? { ...rest, preview: { ...preview, png: new Uint8Array(Buffer.from(preview.png, 'base64')) } } : rest;
}

/** JSON with byte arrays kept (as base64): requests carry input images and results carry PNGs. */
export function encodeValue(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) => (v instanceof Uint8Array ? { $bytes: Buffer.from(v).toString('base64') } : v));
}

export function decodeValue<T>(text: string): T {
  return JSON.parse(text, (_key, v: unknown) =>
    v !== null && typeof v === 'object' && typeof (v as { $bytes?: unknown }).$bytes === 'string' && Object.keys(v).length === 1
      ? new Uint8Array(Buffer.from((v as { $bytes: string }).$bytes, 'base64'))
      : v,
  ) as T;
}

/**
 * A result as one binary value: a 4-byte length, the result as JSON without its PNGs, then the PNGs back to back
 * (the images, then the ControlNet maps). Raw bytes rather than base64 JSON: a third less to move and no text
 * encoding of megabytes on either side.
 */
export function encodeResult(result: GenerateResult): Buffer {
  const strip = <T extends { png: Uint8Array }>({ png, ...rest }: T) => ({ ...rest, bytes: png.byteLength });
  const meta = JSON.stringify({
    ...result,
    images: result.images.map(strip),
    ...(result.controlMaps ? { controlMaps: result.controlMaps.map(strip) } : {}),
  });
  const head = Buffer.alloc(4);
  const json = Buffer.from(meta);
  head.writeUInt32BE(json.byteLength);
  return Buffer.concat([head, json, ...result.images.map((image) => image.png), ...(result.controlMaps ?? []).map((map) => map.png)]);
}

type Stripped<T> = Omit<T, 'png'> & { bytes: number };

export function decodeResult(buffer: Buffer): GenerateResult {
  const length = buffer.readUInt32BE(0);
  const meta = JSON.parse(buffer.subarray(4, 4 + length).toString()) as Omit<GenerateResult, 'images' | 'controlMaps'> & {
    images: Stripped<GenerateResult['images'][number]>[];
    controlMaps?: Stripped<NonNullable<GenerateResult['controlMaps']>[number]>[];
  };
  let offset = 4 + length;
  const take = <T>({ bytes, ...rest }: Stripped<T>) => {
    const png = new Uint8Array(buffer.subarray(offset, offset + bytes));
    offset += bytes;
    if (png.byteLength !== bytes) throw new RangeError('The result in Redis is shorter than its header says');
    return { ...rest, png } as unknown as T;
  };
  const images = meta.images.map((image) => take<GenerateResult['images'][number]>(image));
  const controlMaps = meta.controlMaps?.map((map) => take<NonNullable<GenerateResult['controlMaps']>[number]>(map));
  const { controlMaps: _stripped, ...rest } = meta;
  return { ...rest, images, ...(controlMaps ? { controlMaps } : {}) };
}
