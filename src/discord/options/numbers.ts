import type { UserError } from '../../errors.js';
import { err, ok, type Result } from '../result.js';
import { invalid } from './invalid.js';

/** A value given as a slash option or as an in-prompt flag, parsed and bounded; undefined when neither is given. */
export type Parsed<T> = Result<T | undefined, UserError>;

export function parseIntOption(label: string, raw: string | number | undefined, min: number, max: number, why = ''): Parsed<number> {
  if (raw === undefined) return ok(undefined);
  const value = typeof raw === 'number' ? raw : /^[+-]?\d+$/.test(raw) ? Number(raw) : Number.NaN;
  if (!Number.isInteger(value)) return err(invalid(`${label} must be a whole number from ${min} to ${max}, got \`${raw}\`.`));
  if (value < min || value > max) {
    return err(invalid(`${label} is ${value}; use ${min} to ${max}${why}.`, { value, min, max }));
  }
  return ok(value);
}

export function parseNumberOption(label: string, raw: string | number | undefined, min: number, max: number): Parsed<number> {
  if (raw === undefined) return ok(undefined);
  const value = typeof raw === 'number' ? raw : /^[+-]?(\d+\.?\d*|\.\d+)$/.test(raw) ? Number(raw) : Number.NaN;
  if (!Number.isFinite(value)) return err(invalid(`${label} must be a number from ${min} to ${max}, got \`${raw}\`.`));
  if (value < min || value > max) return err(invalid(`${label} is ${value}; use ${min} to ${max}.`, { value, min, max }));
  return ok(value);
}

/** One value from two places (option and flag): they must agree when both are set. */
export function pick<T>(option: T | undefined, flag: T | undefined, label: string, same: (a: T, b: T) => boolean): Result<T | undefined, UserError> {
  if (option !== undefined && flag !== undefined && !same(option, flag)) {
    return err(invalid(`${label} is set twice, as an option and as a prompt flag, with different values; keep one.`));
  }
  return ok(option ?? flag);
}

/**
 * A number given as a slash option or as an in-prompt flag: each is parsed and bounded under its own name (so the
 * message says which one to fix), then they must agree if both are set.
 */
export function optionOrFlag(
  parse: typeof parseIntOption,
  names: { option: string; flag: string; both: string },
  option: string | number | undefined,
  flag: string | number | undefined,
  min: number,
  max: number,
  why = '',
): Parsed<number> {
  const fromOption = parse(names.option, option, min, max, why);
  if (!fromOption.ok) return fromOption;
  const fromFlag = parse(names.flag, flag, min, max, why);
  if (!fromFlag.ok) return fromFlag;
  return pick(fromOption.value, fromFlag.value, names.both, (a, b) => a === b);
}
