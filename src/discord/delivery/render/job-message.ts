import { ButtonStyle, ComponentType, type APIActionRowComponent, type APIButtonComponent, type APIButtonComponentWithCustomId } from 'discord.js';
import type { Job, QueuePosition } from '../../../queue/job.js';
import type { StepProgress } from '../../../protocol/generate-request.js';
import { parseParameters } from '../../../protocol/png-parameters.js';
import {
  controlButtonIds,
  editButtonIds,
  imageButtonIds,
  jobButtonIds,
  type ControlAction,
  type EditAction,
  type ImageAction,
} from '../../custom-id-codec.js';
import { CONTROL_TEXT } from '../../options/control-options.js';
import { formatEta, progressBar } from './progress-bar.js';

/** An image attached to a message state. `key` identifies its bytes, so an unchanged preview is not re-uploaded. */
export interface StateImage {
  key: string;
  name: string;
  png: Uint8Array;
}

/** One complete state of a job's message: every edit sends all of it (only the newest state matters). */
export interface MessageState {
  content: string;
  components: APIActionRowComponent<APIButtonComponent>[];
  /** undefined: no attachment (clears an earlier preview). */
  image?: StateImage;
  /** More attachments after `image`: the maps a ControlNet job's nets saw (control-0.png …). */
  extraImages?: StateImage[];
}

const CONTENT_MAX = 2000;
const PROMPT_SHOWN_MAX = 900;

const graphemes = new Intl.Segmenter(undefined, { granularity: 'grapheme' });

/**
 * The longest start of `text` at most `max` UTF-16 code units long that ends between two grapheme clusters.
 * `String.slice` counts code units, so it can split an emoji's surrogate pair (Discord shows the half as � or
 * refuses the message) or a cluster such as 👩‍🚀 or e + ◌́. A single cluster longer than `max` (a letter under
 * hundreds of combining marks) is cut between code points instead, so something is still shown.
 */
export function truncateText(text: string, max: number): string {
  if (text.length <= max) return text;
  let end = 0;
  for (const { segment } of graphemes.segment(text)) {
    if (end + segment.length > max) break;
    end += segment.length;
  }
  if (end > 0) return text.slice(0, end);
  let kept = '';
  for (const codePoint of text) {
    if (kept.length + codePoint.length > max) break;
    kept += codePoint;
  }
  return kept;
}

/** Discord markdown would turn `*`, `_`, `~`, `|`, `` ` ``, `>` and `#` in prompts into formatting. */
export function escapeMarkdown(text: string): string {
  return text.replace(/([\\*_~|`>#[\]()-])/g, '\\$1');
}

const PAN_ARROWS = { left: '⬅️', right: '➡️', up: '⬆️', down: '⬇️' } as const;

/** What kind of job the message shows, after the prompt: empty for a plain /imagine. */
export function kindLabel(job: Job): string {
  const mode = job.request.mode;
  switch (job.kind) {
    case 'imagine':
      return mode.kind === 'img2img' ? ` · 🖼️ from a picture (strength ${mode.strength})` : '';
    case 'reroll':
      return ' · 🔄 reroll';
    case 'variation':
      return ' · variation';
    case 'upscale':
      return ' · upscale 2x';
    case 'refine':
      return ' · ✏️ refined';
    case 'edit':
      return mode.kind === 'inpaint'
        ? ` · 🖌️ inpaint (strength ${mode.strength})`
        : ` · 🖌️ edit, whole picture (strength ${mode.kind === 'img2img' ? mode.strength : '?'})`;
    case 'zoom':
      return ` · 🔍 zoom out ${mode.kind === 'outpaint' ? mode.zoom : '?'}x`;
    case 'pan':
      return mode.kind === 'outpaint' && mode.pan ? ` · ${PAN_ARROWS[mode.pan]} pan ${mode.pan}` : ' · pan';
    case 'vary-subtle':
      return ' · vary (subtle)';
    case 'vary-strong':
      return ' · vary (strong)';
    case 'vary-region':
      return ' · vary (region)';
    case 'control':
      return ' · 🎛 from a control image';
  }
}

function header(job: Job): string {
  const prompt = job.request.prompt.length > PROMPT_SHOWN_MAX ? `${truncateText(job.request.prompt, PROMPT_SHOWN_MAX)}…` : job.request.prompt;
  return `**${escapeMarkdown(prompt)}** — <@${job.userId}>${kindLabel(job)}`;
}

function clip(content: string): string {
  return content.length <= CONTENT_MAX ? content : `${truncateText(content, CONTENT_MAX - 1)}…`;
}

function cancelRow(job: Job): APIActionRowComponent<APIButtonComponent> {
  return {
    type: ComponentType.ActionRow,
    components: [
      {
        type: ComponentType.Button,
        style: ButtonStyle.Secondary,
        label: 'Cancel',
        emoji: { name: '✖️' },
        custom_id: jobButtonIds.encode('cancel', job.id),
      },
    ],
  };
}

export function renderQueued(job: Job, position: QueuePosition | undefined, notes: readonly string[] = []): MessageState {
  const eta = position ? formatEta(position.etaMs) : undefined;
  const where = position ? `#${position.position} in line${eta ? ` · starts in ${eta}` : ''}` : 'waiting for the worker';
  const lines = [header(job), `⏳ Queued: ${where}`, ...notes.map((note) => `-# ${note}`)];
  return { content: clip(lines.join('\n')), components: [cancelRow(job)] };
}

export function renderRunning(job: Job, progress: StepProgress | undefined, preview: StateImage | undefined): MessageState {
  const total = progress?.total ?? job.request.steps;
  const step = progress?.step ?? 0;
  const count = job.request.count;
  const which = count > 1 ? `image ${(progress?.image ?? 0) + 1}/${count} · ` : '';
  const percent = Math.round((100 * step) / Math.max(1, total));
  const lines = [header(job), `🎨 ${which}step ${step}/${total} \`${progressBar(step, total)}\` ${percent}%`];
  return { content: clip(lines.join('\n')), components: [cancelRow(job)], image: preview };
}

/** What the final message shows about the parameters; the full A1111 text is inside the PNG. */
export function describeParameters(job: Job): string {
  const r = job.request;
  const seeds = job.seeds.length > 1 ? `Seeds \`${job.seeds.join(', ')}\`` : `Seed \`${job.seeds[0] ?? r.seed ?? '?'}\``;
  const width = job.outputs[0]?.width ?? r.width;
  const height = job.outputs[0]?.height ?? r.height;
  return `${seeds} · ${width}x${height} · ${r.steps} steps · cfg ${r.cfg} · ${r.sampler} · ${escapeMarkdown(r.model)}`;
}

export function renderDone(job: Job, image: StateImage, options: { controlMaps?: StateImage[]; controlButtons?: boolean } = {}): MessageState {
  const lines = [header(job), describeParameters(job)];
  for (const unit of job.request.controls ?? []) lines.push(`-# ${CONTROL_TEXT.unitLine(unit.net, unit.preprocess, unit.strength)}`);
  if (job.request.negativePrompt) lines.push(`-# Negative: ${escapeMarkdown(truncateText(job.request.negativePrompt, 300))}`);
  lines.push(...translationLines(job));
  for (const warning of job.warnings) lines.push(`⚠️ ${escapeMarkdown(warning)}`);
  const maps = options.controlMaps ?? [];
  return {
    content: clip(lines.join('\n')),
    components: finalButtons(job, options.controlButtons ?? false),
    image,
    ...(maps.length ? { extraImages: maps } : {}),
  };
}

/**
 * "🌐 …": the English a Chinese prompt was translated to (docs/translation.md). Read from the stored PNG
 * parameters (`Translated prompt`), which every output of the job carries, so the store needs no column for it.
 */
export function translationLines(job: Job): string[] {
  const parameters = job.outputs[0]?.parameters;
  if (!parameters?.includes('Translated ')) return [];
  let parsed: ReturnType<typeof parseParameters>;
  try {
    parsed = parseParameters(parameters);
  } catch {
    return [];
  }
  const lines: string[] = [];
  if (parsed.translatedPrompt) lines.push(`🌐 ${escapeMarkdown(truncateText(parsed.translatedPrompt, PROMPT_SHOWN_MAX))}`);
  if (parsed.translatedNegativePrompt) lines.push(`-# 🌐 Negative: ${escapeMarkdown(truncateText(parsed.translatedNegativePrompt, 300))}`);
  return lines;
}

export function renderFailed(job: Job): MessageState {
  const error = job.error;
  const why = error?.userFacing ? escapeMarkdown(error.message) : `Something went wrong (ref \`${error?.ref ?? 'unknown'}\`).`;
  return { content: clip(`${header(job)}\n❌ ${why}`), components: [] };
}

export function renderCancelled(job: Job): MessageState {
  const by = job.cancelledBy && job.cancelledBy !== job.userId ? ` by <@${job.cancelledBy}>` : '';
  return { content: clip(`${header(job)}\n✖️ Cancelled${by}.`), components: [] };
}

/**
 * 🔄 and U1..Un on the first row, V1..Vn on the second (≤ 5 buttons a row, ≤ 4 images). A single image (count 1, or
 * the result of U or of an edit) also gets Midjourney's editing rows: Zoom Out 2x / 1.5x and Vary (Subtle / Strong /
 * Region) on the third, the four pan arrows on the fourth (4 rows of Discord's 5). When the model has ControlNets,
 * "🎛 Use as control" sits beside V1 under a single image, and a grid gets a fifth row of 🎛 1..🎛 n.
 */
export function finalButtons(job: Job, controlButtons = false): APIActionRowComponent<APIButtonComponent>[] {
  const button = (action: ImageAction, label: string): APIButtonComponentWithCustomId => ({
    type: ComponentType.Button,
    style: ButtonStyle.Secondary,
    label,
    custom_id: imageButtonIds.encode(action, job.id),
  });
  const count = Math.max(1, job.outputs.length || job.request.count);
  const reroll: APIButtonComponentWithCustomId = {
    type: ComponentType.Button,
    style: ButtonStyle.Secondary,
    emoji: { name: '🔄' },
    custom_id: imageButtonIds.encode('reroll', job.id),
  };
  const upscales: APIButtonComponentWithCustomId[] = [];
  const variations: APIButtonComponentWithCustomId[] = [];
  for (let i = 1; i <= Math.min(count, 4); i++) {
    upscales.push(button(`u${i}` as ImageAction, `U${i}`));
    variations.push(button(`v${i}` as ImageAction, `V${i}`));
  }
  const controls: APIButtonComponentWithCustomId[] = [];
  for (let i = 1; controlButtons && i <= Math.min(count, 4); i++) {
    controls.push({
      type: ComponentType.Button,
      style: ButtonStyle.Secondary,
      emoji: { name: '🎛️' },
      label: count === 1 ? CONTROL_TEXT.useAsControl : String(i),
      custom_id: controlButtonIds.encode(`c${i}` as ControlAction, job.id),
    });
  }
  const rows: APIActionRowComponent<APIButtonComponent>[] = [{ type: ComponentType.ActionRow, components: [reroll, ...upscales] }];
  rows.push({ type: ComponentType.ActionRow, components: count === 1 ? [...variations, ...controls] : variations });
  if (count > 1 && controls.length) rows.push({ type: ComponentType.ActionRow, components: controls });
  if (count === 1) {
    const edit = (action: EditAction, label: string, emoji?: string): APIButtonComponentWithCustomId => ({
      type: ComponentType.Button,
      style: ButtonStyle.Secondary,
      ...(label ? { label } : {}),
      ...(emoji ? { emoji: { name: emoji } } : {}),
      custom_id: editButtonIds.encode(action, job.id),
    });
    rows.push({
      type: ComponentType.ActionRow,
      components: [
        edit('zoom2', 'Zoom Out 2x', '🔍'),
        edit('zoom15', 'Zoom Out 1.5x', '🔍'),
        edit('subtle', 'Vary (Subtle)'),
        edit('strong', 'Vary (Strong)'),
        edit('region', 'Vary (Region)', '🖌️'),
      ],
    });
    rows.push({
      type: ComponentType.ActionRow,
      components: [edit('panleft', '', '⬅️'), edit('panright', '', '➡️'), edit('panup', '', '⬆️'), edit('pandown', '', '⬇️')],
    });
  }
  return rows;
}
