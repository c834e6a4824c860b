/**
 * ControlNet on /imagine (issue #15): which of the model's nets, how strongly, and how the control image becomes
 * the map. Checked before the acknowledgement against the nets the bot read from MODELS_DIR (ModelSummary
 * `controlNets`), so an unknown net or a model without any is refused at once instead of failing in the worker.
 * Defaults as sd-webui-controlnet's API: weight 1 and preprocessor "none" (the upload is the map itself).
 * Its sentences are the catalogue's `control.*` messages (src/i18n).
 */
import { Identifiers, type UserError } from '../../errors.js';
import { text } from '../../i18n/translate.js';
import { userError } from '../../i18n/user-error.js';
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
  /** Canny's hysteresis thresholds (`--canny-low`, `--canny-high`); the engine's defaults when left out. */
  cannyLow?: number;
  cannyHigh?: number;
}

/** The ControlNet options as Discord delivers them (unset options are undefined). */
export interface ControlInput {
  net?: string;
  strength?: number;
  preprocess?: string;
}

type ModelNets = Pick<ModelSummary, 'name'> & Partial<Pick<ModelSummary, 'controlNets'>>;

const shown = (name: string) => name.replace(/[`\r\n]/g, '').slice(0, 100);
const list = (names: readonly string[]) => names.map((n) => `\`${shown(n)}\``).join(', ');
/** Models that have nets, as "`model` (net, net)" for the refusal on a model without any. */
const modelsWithNets = (models: readonly ModelNets[]) =>
  models.map((m) => `\`${shown(m.name)}\` (${(m.controlNets ?? []).map(shown).join(', ')})`).join(', ');

/** The refusals other ControlNet checks share (the 🎛 button, the guild re-check of stored jobs). */
export const controlErrors = {
  depthMissing: () => userError(Identifiers.NotFound, text('control.depthMissing')),
  buttonNoNets: (model: string) => userError(Identifiers.InvalidModel, text('control.buttonNoNets', { model: shown(model) }), { model }),
  netGone: (net: string, model: string) =>
    userError(Identifiers.NotFound, text('control.netGone', { net: shown(net), model: shown(model) }), { net }),
};

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
  flags: Pick<PromptFlags, 'control' | 'controlStrength' | 'preprocess' | 'cannyLow' | 'cannyHigh'>,
  model: ModelNets,
  models: readonly ModelNets[],
  hasImage: boolean,
  /** Whether the depth model is installed; without the answer, the worker reports a missing one. */
  depthInstalled?: () => boolean,
): Result<ControlChoice | undefined, UserError> {
  const netPicked = pick(input.net?.trim() || undefined, flags.control, 'control', (a, b) => a.toLowerCase() === b.toLowerCase());
  if (!netPicked.ok) return netPicked;
  const { min, max } = REQUEST_BOUNDS.controlStrength;
  const strengthPicked = optionOrFlag(parseNumberOption, 'controlStrength', input.strength, flags.controlStrength, { min, max });
  if (!strengthPicked.ok) return strengthPicked;
  const prePicked = pick(input.preprocess?.trim() || undefined, flags.preprocess, 'preprocess', (a, b) => a.toLowerCase() === b.toLowerCase());
  if (!prePicked.ok) return prePicked;
  if (!hasImage) {
    const anySet =
      netPicked.value !== undefined ||
      strengthPicked.value !== undefined ||
      prePicked.value !== undefined ||
      flags.cannyLow !== undefined ||
      flags.cannyHigh !== undefined;
    return anySet ? err(invalid(text('control.needsImage'))) : ok(undefined);
  }
  const preprocessRaw = (prePicked.value ?? 'none').toLowerCase();
  if (!(CONTROL_PREPROCESSORS as readonly string[]).includes(preprocessRaw))
    return err(invalid(text('control.unknownPreprocessor', { got: shown(prePicked.value!), choices: CONTROL_PREPROCESSORS.join(', ') })));
  const preprocess = preprocessRaw as ControlPreprocessor;
  if (preprocess === 'depth' && depthInstalled?.() === false) return err(controlErrors.depthMissing());
  const nets = model.controlNets ?? [];
  if (nets.length === 0) {
    const others = models.filter((m) => (m.controlNets ?? []).length > 0);
    return err(
      userError(Identifiers.InvalidModel, text('control.noNets', { model: shown(model.name), others: modelsWithNets(others) }), {
        model: model.name,
      }),
    );
  }
  let net: string | undefined;
  if (netPicked.value !== undefined) {
    net = findNet(model, netPicked.value);
    if (net === undefined) {
      return err(
        userError(Identifiers.NotFound, text('control.unknownNet', { net: shown(netPicked.value), model: shown(model.name), nets: list(nets) }), {
          net: netPicked.value,
        }),
      );
    }
  } else if (nets.length === 1) {
    net = nets[0];
  } else {
    net = preprocess === 'none' ? undefined : nets.find((n) => n.toLowerCase().includes(preprocess));
    if (net === undefined) return err(invalid(text('control.chooseNet', { model: shown(model.name), nets: list(nets) })));
  }
  const thresholds = cannyThresholds(flags, preprocess);
  if (!thresholds.ok) return thresholds;
  return ok({ net, strength: strengthPicked.value ?? REQUEST_DEFAULTS.control.strength, preprocess, ...thresholds.value });
}

/** `--canny-low` / `--canny-high` (flags only, as A1111's threshold sliders): bounded, ordered, and only with canny. */
function cannyThresholds(
  flags: Pick<PromptFlags, 'cannyLow' | 'cannyHigh'>,
  preprocess: ControlPreprocessor,
): Result<Pick<ControlChoice, 'cannyLow' | 'cannyHigh'>, UserError> {
  if (flags.cannyLow === undefined && flags.cannyHigh === undefined) return ok({});
  if (preprocess !== 'canny') return err(invalid(text('control.cannyOnly', { preprocess })));
  const bounds = REQUEST_BOUNDS.cannyThreshold;
  const low = parseNumberOption('cannyLow', 'flag', flags.cannyLow, bounds);
  if (!low.ok) return low;
  const high = parseNumberOption('cannyHigh', 'flag', flags.cannyHigh, bounds);
  if (!high.ok) return high;
  const lowValue = low.value ?? REQUEST_DEFAULTS.control.cannyLow;
  const highValue = high.value ?? REQUEST_DEFAULTS.control.cannyHigh;
  if (lowValue > highValue) return err(invalid(text('control.cannyOrder', { low: lowValue, high: highValue })));
  return ok({ ...(low.value !== undefined ? { cannyLow: low.value } : {}), ...(high.value !== undefined ? { cannyHigh: high.value } : {}) });
}
