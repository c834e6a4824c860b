import { ButtonStyle, ComponentType, type APIActionRowComponent, type APIButtonComponent, type APIButtonComponentWithCustomId } from 'discord.js';
import type { Job, QueuePosition } from '../../../queue/job.js';
import type { StepProgress } from '../../../protocol/generate-request.js';
import { parseParameters } from '../../../protocol/png-parameters.js';
import { readWarning } from '../../../protocol/warnings.js';
import {
  controlButtonIds,
  editButtonIds,
  imageButtonIds,
  jobButtonIds,
  type ControlAction,
  type EditAction,
  type ImageAction,
} from '../../custom-id-codec.js';
import { formatEta, progressBar } from './progress-bar.js';
import { resolveLocale, type Locale } from '../../../i18n/locales.js';
import { say, translator, type LocalizedText, type Translator } from '../../../i18n/translate.js';
import { textOf } from '../../../i18n/user-error.js';

/** The language of a job's public message: the one it was made with (Job.locale), English for older jobs. */
export function jobLocale(job: Pick<Job, 'locale'>): Locale {
  return resolveLocale(job.locale);
}

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
export function kindLabel(job: Job, tr: Translator = translator(jobLocale(job))): string {
  const mode = job.request.mode;
  switch (job.kind) {
    case 'imagine':
      return mode.kind === 'img2img' ? tr('job.kind.img2img', { strength: mode.strength }) : '';
    case 'reroll':
      return tr('job.kind.reroll');
    case 'variation':
      return tr('job.kind.variation');
    case 'upscale':
      return tr('job.kind.upscale');
    case 'refine':
      return tr('job.kind.refine');
    case 'edit':
      return mode.kind === 'inpaint'
        ? tr('job.kind.inpaint', { strength: mode.strength })
        : tr('job.kind.editWhole', { strength: mode.kind === 'img2img' ? String(mode.strength) : '?' });
    case 'zoom':
      return tr('job.kind.zoom', { zoom: mode.kind === 'outpaint' ? String(mode.zoom) : '?' });
    case 'pan':
      return mode.kind === 'outpaint' && mode.pan
        ? tr('job.kind.pan', { arrow: PAN_ARROWS[mode.pan], direction: mode.pan })
        : tr('job.kind.panPlain');
    case 'vary-subtle':
      return tr('job.kind.varySubtle');
    case 'vary-strong':
      return tr('job.kind.varyStrong');
    case 'vary-region':
      return tr('job.kind.varyRegion');
    case 'control':
      return tr('job.kind.control');
  }
}

function header(job: Job, tr: Translator): string {
  const prompt = job.request.prompt.length > PROMPT_SHOWN_MAX ? `${truncateText(job.request.prompt, PROMPT_SHOWN_MAX)}…` : job.request.prompt;
  return `**${escapeMarkdown(prompt)}** — <@${job.userId}>${kindLabel(job, tr)}`;
}

function clip(content: string): string {
  return content.length <= CONTENT_MAX ? content : `${truncateText(content, CONTENT_MAX - 1)}…`;
}

function cancelRow(job: Job, tr: Translator): APIActionRowComponent<APIButtonComponent> {
  return {
    type: ComponentType.ActionRow,
    components: [
      {
        type: ComponentType.Button,
        style: ButtonStyle.Secondary,
        label: tr('job.button.cancel'),
        emoji: { name: '✖️' },
        custom_id: jobButtonIds.encode('cancel', job.id),
      },
    ],
  };
}

/** A job's message while it waits; `notes` ("16:9 → 680x384", what a reply combined) in the job's language. */
export function renderQueued(job: Job, position: QueuePosition | undefined, notes: readonly LocalizedText[] = []): MessageState {
  const locale = jobLocale(job);
  const tr = translator(locale);
  const eta = position ? formatEta(position.etaMs, locale) : undefined;
  const where = position ? tr('job.queued', { position: position.position, eta }) : tr('job.queuedWaiting');
  const lines = [header(job, tr), where, ...notes.map((note) => `-# ${say(locale, note)}`)];
  return { content: clip(lines.join('\n')), components: [cancelRow(job, tr)] };
}

export function renderRunning(job: Job, progress: StepProgress | undefined, preview: StateImage | undefined): MessageState {
  const tr = translator(jobLocale(job));
  const total = progress?.total ?? job.request.steps;
  const step = progress?.step ?? 0;
  const count = job.request.count;
  const percent = Math.round((100 * step) / Math.max(1, total));
  const status = tr('job.running', { image: (progress?.image ?? 0) + 1, count, step, total, bar: progressBar(step, total), percent });
  return { content: clip([header(job, tr), status].join('\n')), components: [cancelRow(job, tr)], image: preview };
}

/** What the final message shows about the parameters; the full A1111 text is inside the PNG. */
export function describeParameters(job: Job, tr: Translator = translator(jobLocale(job))): string {
  const r = job.request;
  const many = job.seeds.length > 1;
  return tr('job.parameters', {
    seeds: many ? job.seeds.join(', ') : String(job.seeds[0] ?? r.seed ?? '?'),
    many,
    width: job.outputs[0]?.width ?? r.width,
    height: job.outputs[0]?.height ?? r.height,
    steps: r.steps,
    cfg: r.cfg,
    sampler: r.sampler,
    model: escapeMarkdown(r.model),
  });
}

/**
 * An engine warning in the job's language: the frequent ones are read back into their code (protocol/warnings.ts);
 * any other stays English as the engine wrote it (see README, Languages).
 */
export function describeWarning(warning: string, tr: Translator): string {
  const read = readWarning(warning);
  if (!read) return warning;
  switch (read.code) {
    case 'translatorMissing':
      return tr('job.warning.translatorMissing', { model: read.model });
    case 'unknownWords':
      return tr('job.warning.unknownWords', { model: read.model, words: read.words });
    case 'lanczosOnly':
      return tr('job.warning.lanczosOnly', { width: read.width, height: read.height });
  }
}

/** The finished job, in its language. */
export function renderDone(job: Job, image: StateImage, options: { controlMaps?: StateImage[]; controlButtons?: boolean } = {}): MessageState {
  const tr = translator(jobLocale(job));
  const lines = [header(job, tr), describeParameters(job, tr)];
  for (const unit of job.request.controls ?? []) {
    lines.push(tr('job.controlUnit', { net: unit.net.replace(/[`\r\n]/g, ''), preprocess: unit.preprocess, strength: unit.strength }));
  }
  if (job.request.negativePrompt) lines.push(tr('job.negative', { text: escapeMarkdown(truncateText(job.request.negativePrompt, 300)) }));
  lines.push(...translationLines(job, tr));
  for (const warning of job.warnings) lines.push(`⚠️ ${escapeMarkdown(describeWarning(warning, tr))}`);
  const maps = options.controlMaps ?? [];
  return {
    content: clip(lines.join('\n')),
    components: finalButtons(job, options.controlButtons ?? false, tr),
    image,
    ...(maps.length ? { extraImages: maps } : {}),
  };
}

/**
 * "🌐 …": the English a Chinese prompt was translated to (docs/translation.md). Read from the stored PNG
 * parameters (`Translated prompt`), which every output of the job carries, so the store needs no column for it.
 */
export function translationLines(job: Job, tr: Translator = translator(jobLocale(job))): string[] {
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
  if (parsed.translatedNegativePrompt)
    lines.push(tr('job.translatedNegative', { text: escapeMarkdown(truncateText(parsed.translatedNegativePrompt, 300)) }));
  return lines;
}

/**
 * Why the job failed, in its language: the catalogue text the failure carries, else (an engine or contract message
 * made below the Discord layer) the English message in a localised frame, else only the reference id.
 */
export function renderFailed(job: Job): MessageState {
  const locale = jobLocale(job);
  const tr = translator(locale);
  const error = job.error;
  const text = error?.userFacing ? textOf(error) : undefined;
  const why = text
    ? say(locale, text)
    : error?.userFacing
      ? tr('frame.failed', { detail: escapeMarkdown(error.message) })
      : tr('error.internal', { ref: error?.ref ?? 'unknown' });
  return { content: clip(`${header(job, tr)}\n${tr('job.failed', { why })}`), components: [] };
}

export function renderCancelled(job: Job): MessageState {
  const tr = translator(jobLocale(job));
  const line = job.cancelledBy && job.cancelledBy !== job.userId ? tr('job.cancelledBy', { user: job.cancelledBy }) : tr('job.cancelled');
  return { content: clip(`${header(job, tr)}\n${line}`), components: [] };
}

/**
 * 🔄 and U1..Un on the first row, V1..Vn on the second (≤ 5 buttons a row, ≤ 4 images). A single image (count 1, or
 * the result of U or of an edit) also gets Midjourney's editing rows: Zoom Out 2x / 1.5x and Vary (Subtle / Strong /
 * Region) on the third, the four pan arrows on the fourth (4 rows of Discord's 5). When the model has ControlNets,
 * "🎛 Use as control" sits beside V1 under a single image, and a grid gets a fifth row of 🎛 1..🎛 n.
 */
export function finalButtons(
  job: Job,
  controlButtons = false,
  tr: Translator = translator(jobLocale(job)),
): APIActionRowComponent<APIButtonComponent>[] {
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
      label: count === 1 ? tr('job.button.useAsControl') : String(i),
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
        edit('zoom2', tr('job.button.zoom2'), '🔍'),
        edit('zoom15', tr('job.button.zoom15'), '🔍'),
        edit('subtle', tr('job.button.subtle')),
        edit('strong', tr('job.button.strong')),
        edit('region', tr('job.button.region'), '🖌️'),
      ],
    });
    rows.push({
      type: ComponentType.ActionRow,
      components: [edit('panleft', '', '⬅️'), edit('panright', '', '➡️'), edit('panup', '', '⬆️'), edit('pandown', '', '⬇️')],
    });
  }
  return rows;
}
