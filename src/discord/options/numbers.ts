import type { UserError } from '../../errors.js';
import { text } from '../../i18n/translate.js';
import { err, ok, type Result } from '../result.js';
import { invalid } from './invalid.js';

/** A value given as a slash option or as an in-prompt flag, parsed and bounded; undefined when neither is given. */
export type Parsed<T> = Result<T | undefined, UserError>;

/** The numeric options, named in messages by the catalogue (an option's name, or its flag when it came as one). */
export type NumberField = 'steps' | 'cfg' | 'clipSkip' | 'seed' | 'count' | 'controlStrength' | 'cannyLow' | 'cannyHigh';
/** Where a value came from: the slash option, the prompt flag, or both (when they disagree). */
export type Via = 'option' | 'flag' | 'both';

export interface Bounds {
  min: number;
  max: number;
  /** The max is this server's own, lower than the bot's (the message says so). */
  lowered?: boolean;
}

export function parseIntOption(field: NumberField, via: Via, raw: string | number | undefined, bounds: Bounds): Parsed<number> {
  if (raw === undefined) return ok(undefined);
  const { min, max } = bounds;
  const value = typeof raw === 'number' ? raw : /^[+-]?\d+$/.test(raw) ? Number(raw) : Number.NaN;
  if (!Number.isInteger(value)) return err(invalid(text('error.notWhole', { field, via, min, max, raw: String(raw) })));
  if (value < min || value > max) {
    return err(invalid(text('error.outOfRange', { field, via, value, min, max, lowered: bounds.lowered ?? false }), { value, min, max }));
  }
  return ok(value);
}

export function parseNumberOption(field: NumberField, via: Via, raw: string | number | undefined, bounds: Bounds): Parsed<number> {
  if (raw === undefined) return ok(undefined);
  const { min, max } = bounds;
  const value = typeof raw === 'number' ? raw : /^[+-]?(\d+\.?\d*|\.\d+)$/.test(raw) ? Number(raw) : Number.NaN;
  if (!Number.isFinite(value)) return err(invalid(text('error.notNumber', { field, via, min, max, raw: String(raw) })));
  if (value < min || value > max) return err(invalid(text('error.outOfRange', { field, via, value, min, max }), { value, min, max }));
  return ok(value);
}

/** One value from two places (option and flag): they must agree when both are set. */
export function pick<T>(
  option: T | undefined,
  flag: T | undefined,
  what: NumberField | 'model' | 'sampler' | 'control' | 'preprocess',
  same: (a: T, b: T) => boolean,
): Result<T | undefined, UserError> {
  if (option !== undefined && flag !== undefined && !same(option, flag)) {
    return err(invalid(text('error.setTwice', { what })));
  }
  return ok(option ?? flag);
}

/**
 * A number given as a slash option or as an in-prompt flag: each is parsed and bounded under its own name (so the
 * message says which one to fix), then they must agree if both are set.
 */
export function optionOrFlag(
  parse: typeof parseIntOption,
  field: NumberField,
  option: string | number | undefined,
  flag: string | number | undefined,
  bounds: Bounds,
): Parsed<number> {
  const fromOption = parse(field, 'option', option, bounds);
  if (!fromOption.ok) return fromOption;
  const fromFlag = parse(field, 'flag', flag, bounds);
  if (!fromFlag.ok) return fromFlag;
  return pick(fromOption.value, fromFlag.value, field, (a, b) => a === b);
}
