/**
 * ControlNet on /imagine (issue #15): which of the model's nets, how strongly, and how the control image becomes
 * the map. Checked before the acknowledgement against the nets the bot read from MODELS_DIR (ModelSummary
 * `controlNets`), so an unknown net or a model without any is refused at once instead of failing in the worker.
 * Defaults as sd-webui-controlnet's API: weight 1 and preprocessor "none" (the upload is the map itself).
 * The user-facing sentences of the ControlNet options live here, together, for the translation catalogue.
 */
import { Identifiers, UserError } from '../../errors.js';
import {
  CONTROL_PREPROCESSORS,
  REQUEST_BOUNDS,
  REQUEST_DEFAULTS,
  type ControlPreprocessor,
  type ModelSummary,
} from '../../protocol/generate-request.js';
import { err, ok, type Result } from '../result.js';
import { invalid } from './invalid.js';
import { optionOrFlag, parseNumberOption, pick } from './numbers.js';
import type { PromptFlags } from './prompt-flags.js';

/** One ControlNet unit as the user chose it; the control image is stored after the acknowledgement. */
export interface ControlChoice {
  net: string;
  strength: number;
  preprocess: ControlPreprocessor;
}

/** The ControlNet options as Discord delivers them (unset options are undefined). */
export interface ControlInput {
  net?: string;
  strength?: number;
  preprocess?: string;
}

type ModelNets = Pick<ModelSummary, 'name'> & Partial<Pick<ModelSummary, 'controlNets'>>;

const shown = (name: string) => name.replace(/[`\r\n]/g, '').slice(0, 100);
const list = (names: readonly string[]) => names.map((n) => `\`${n}\``).join(', ');

export const CONTROL_TEXT = {
  needsImage:
    'A ControlNet needs a control image: add one with the `control_image` option (or press 🎛 under a result), or leave out `control`, `control_strength`, `preprocess` and their flags.',
  unknownPreprocessor: (got: string) => `The preprocessor must be one of ${CONTROL_PREPROCESSORS.join(', ')}; got \`${shown(got)}\`.`,
  noNets: (model: string, others: readonly ModelNets[]) =>
    `The model \`${shown(model)}\` has no ControlNets, so it can't use a control image.${
      others.length > 0
        ? ` Choose one that has: ${others.map((m) => `\`${m.name}\` (${(m.controlNets ?? []).join(', ')})`).join(', ')}.`
        : ' No installed model has one; ask the bot owner to add a ControlNet-ready model (README "ControlNet").'
    }`,
  unknownNet: (net: string, model: string, nets: readonly string[]) =>
    `Unknown ControlNet \`${shown(net)}\` for the model \`${shown(model)}\`; available: ${list(nets)}.`,
  depthMissing:
    'The "depth" preprocessor is not installed on this bot: ask its owner to run `npm run models:pull -- depth-anything-v2-small`, or send a ready depth map with preprocess `none`.',
  chooseNet: (model: string, nets: readonly string[]) =>
    `The model \`${shown(model)}\` has several ControlNets; choose one with the \`control\` option or \`--control NAME\`: ${list(nets)}.`,
  mapAsIs: 'the control image is used as the map as it is (preprocess none); for a photo add `--preprocess canny` or `depth`',
  /** The button on results, and its refusal on a model without nets. */
  useAsControl: 'Use as control',
  buttonNoNets: (model: string) =>
    `The model \`${shown(model)}\` has no ControlNets, so its images can't guide a new one. Use a model that has some.`,
  netGone: (net: string, model: string) =>
    `The ControlNet \`${shown(net)}\` of this image is no longer installed for \`${shown(model)}\`; run /imagine with another control.`,
  /** The result's line for each unit. */
  unitLine: (net: string, preprocess: string, strength: number) => `🎛 ControlNet \`${shown(net)}\` · ${preprocess} · strength ${strength}`,
} as const;

/** The model's net called `name` (case-insensitively), in its own spelling. */
export function findNet(model: ModelNets, name: string): string | undefined {
  return (model.controlNets ?? []).find((n) => n.toLowerCase() === name.toLowerCase());
}

/**
 * The ControlNet unit of an /imagine: option or flag (they must agree), then the defaults. Without a control image
 * every ControlNet setting is refused rather than ignored. A model with one net needs no `control`; with several,
 * a preprocessor named like one of them picks it (`--preprocess depth` → `depth`), else the user must choose.
 */
export function parseControlOptions(
  input: ControlInput,
  flags: Pick<PromptFlags, 'control' | 'controlStrength' | 'preprocess'>,
  model: ModelNets,
  models: readonly ModelNets[],
  hasImage: boolean,
  /** Whether the depth model is installed; without the answer, the worker reports a missing one. */
  depthInstalled?: () => boolean,
): Result<ControlChoice | undefined, UserError> {
  const netPicked = pick(input.net?.trim() || undefined, flags.control, 'The ControlNet', (a, b) => a.toLowerCase() === b.toLowerCase());
  if (!netPicked.ok) return netPicked;
  const { min, max } = REQUEST_BOUNDS.controlStrength;
  const strengthPicked = optionOrFlag(
    parseNumberOption,
    { option: 'Control strength', flag: '`--control-strength`', both: 'Control strength' },
    input.strength,
    flags.controlStrength,
    min,
    max,
  );
  if (!strengthPicked.ok) return strengthPicked;
  const prePicked = pick(input.preprocess?.trim() || undefined, flags.preprocess, 'The preprocessor', (a, b) => a.toLowerCase() === b.toLowerCase());
  if (!prePicked.ok) return prePicked;
  if (!hasImage) {
    const anySet = netPicked.value !== undefined || strengthPicked.value !== undefined || prePicked.value !== undefined;
    return anySet ? err(invalid(CONTROL_TEXT.needsImage)) : ok(undefined);
  }
  const preprocessRaw = (prePicked.value ?? 'none').toLowerCase();
  if (!(CONTROL_PREPROCESSORS as readonly string[]).includes(preprocessRaw)) return err(invalid(CONTROL_TEXT.unknownPreprocessor(prePicked.value!)));
  const preprocess = preprocessRaw as ControlPreprocessor;
  if (preprocess === 'depth' && depthInstalled?.() === false) return err(new UserError(Identifiers.NotFound, CONTROL_TEXT.depthMissing));
  const nets = model.controlNets ?? [];
  if (nets.length === 0) {
    const others = models.filter((m) => (m.controlNets ?? []).length > 0);
    return err(new UserError(Identifiers.InvalidModel, CONTROL_TEXT.noNets(model.name, others), { model: model.name }));
  }
  let net: string | undefined;
  if (netPicked.value !== undefined) {
    net = findNet(model, netPicked.value);
    if (net === undefined) {
      return err(new UserError(Identifiers.NotFound, CONTROL_TEXT.unknownNet(netPicked.value, model.name, nets), { net: netPicked.value }));
    }
  } else if (nets.length === 1) {
    net = nets[0];
  } else {
    net = preprocess === 'none' ? undefined : nets.find((n) => n.toLowerCase().includes(preprocess));
    if (net === undefined) return err(invalid(CONTROL_TEXT.chooseNet(model.name, nets)));
  }
  return ok({ net, strength: strengthPicked.value ?? REQUEST_DEFAULTS.control.strength, preprocess });
}
