/** Discord's limit on a component's custom_id. */
export const CUSTOM_ID_MAX = 100;
const JOB_ID = /^[A-Za-z0-9_-]{1,64}$/;

export interface CustomId<A extends string> {
  action: A;
  jobId: string;
}

/**
 * Encodes and decodes `<feature>:<action>:<jobId>` custom ids. Buttons carry nothing else: everything a click needs
 * is read from the stored job, so buttons survive restarts and never expire.
 */
export class CustomIdCodec<A extends string> {
  readonly #actions: ReadonlySet<string>;

  constructor(
    readonly feature: string,
    actions: readonly A[],
  ) {
    if (!/^[a-z]+$/.test(feature)) throw new TypeError(`Expected \`feature\` to be lower-case letters, got \`${feature}\``);
    this.#actions = new Set(actions);
  }

  encode(action: A, jobId: string): string {
    if (!this.#actions.has(action)) throw new TypeError(`Expected \`action\` to be one of ${[...this.#actions].join(', ')}, got \`${action}\``);
    if (!JOB_ID.test(jobId)) throw new TypeError(`Expected \`jobId\` to match ${JOB_ID}, got \`${jobId}\``);
    const id = `${this.feature}:${action}:${jobId}`;
    // Unreachable with the patterns above; kept so a future longer feature name fails here, not at Discord.
    if (id.length > CUSTOM_ID_MAX) throw new TypeError(`Custom id is ${id.length} characters; Discord allows ${CUSTOM_ID_MAX}`);
    return id;
  }

  /** Undefined for ids of another feature, unknown actions, or malformed ids (old or forged). */
  decode(customId: string): CustomId<A> | undefined {
    if (customId.length > CUSTOM_ID_MAX) return undefined;
    const parts = customId.split(':');
    if (parts.length !== 3 || parts[0] !== this.feature) return undefined;
    const [, action, jobId] = parts;
    if (!this.#actions.has(action) || !JOB_ID.test(jobId)) return undefined;
    return { action: action as A, jobId };
  }
}

export type ImageAction = 'reroll' | `v${1 | 2 | 3 | 4}` | `u${1 | 2 | 3 | 4}`;

/** 🔄 reroll, V1..V4 (variation of image n), U1..U4 (2x upscale of image n) on a finished job's message. */
export const imageButtonIds = new CustomIdCodec<ImageAction>('img', ['reroll', 'v1', 'v2', 'v3', 'v4', 'u1', 'u2', 'u3', 'u4']);

/** Cancel on a queued or running job's message. */
export const jobButtonIds = new CustomIdCodec<'cancel'>('job', ['cancel']);

/** The image index (0-based) of a V/U action; undefined for reroll. */
export function imageIndexOf(action: ImageAction): number | undefined {
  return action === 'reroll' ? undefined : Number(action.slice(1)) - 1;
}

export type EditAction = 'zoom2' | 'zoom15' | 'panleft' | 'panright' | 'panup' | 'pandown' | 'subtle' | 'strong' | 'region';

/** Zoom Out 2x / 1.5x, pan ⬅️➡️⬆️⬇️, Vary (Subtle), Vary (Strong), Vary (Region) under a single finished image. */
export const editButtonIds = new CustomIdCodec<EditAction>('edit', [
  'zoom2',
  'zoom15',
  'panleft',
  'panright',
  'panup',
  'pandown',
  'subtle',
  'strong',
  'region',
]);

/** The Vary (Region) form: which part of the image to redraw. */
export const regionModalIds = new CustomIdCodec<'submit'>('region', ['submit']);

export type ControlAction = `c${1 | 2 | 3 | 4}`;

/** 🎛 Use as control (issue #15): image n of a finished job becomes the control image of a new one. */
export const controlButtonIds = new CustomIdCodec<ControlAction>('ctrl', ['c1', 'c2', 'c3', 'c4']);
