import { say } from '../../../src/i18n/translate.js';
import { describe, expect, it } from 'vitest';
import { Identifiers } from '../../../src/errors.js';
import { GuildSettingsSchema, type GuildSettings } from '../../../src/config/guild-settings.js';
import { parseControlOptions } from '../../../src/discord/options/control-options.js';
import { parseImagineOptions, type ImagineInput } from '../../../src/discord/options/imagine-options.js';
import { extractPromptFlags } from '../../../src/discord/options/prompt-flags.js';

const models = [
  { name: 'plain', defaults: {} },
  { name: 'cn', defaults: { width: 64, height: 64 }, controlNets: ['edges'] },
  { name: 'multi', defaults: {}, controlNets: ['canny', 'depth-v2', 'scribble'] },
];
const settings = GuildSettingsSchema.parse({}) as GuildSettings;

function parse(input: Partial<ImagineInput> & { prompt: string }) {
  return parseImagineOptions(input, { settings, models });
}

function message(result: { ok: boolean; error?: { message: string } } | ReturnType<typeof parse>): string {
  return result.ok ? 'ok' : (result as { error: { message: string } }).error.message;
}

describe('ControlNet prompt flags', () => {
  it('takes --control, --control-strength and --preprocess out of the prompt', () => {
    expect(extractPromptFlags('a house --control edges --control-strength 0.5 --preprocess canny at dusk')).toEqual({
      ok: true,
      value: { prompt: 'a house at dusk', no: [], control: 'edges', controlStrength: '0.5', preprocess: 'canny' },
    });
  });

  it('names the flag as typed when its value is missing', () => {
    expect(message(extractPromptFlags('a house --control-strength'))).toBe(
      '`--control-strength` needs a value after it, e.g. `--control-strength 0.8`.',
    );
  });
});

describe('parseImagineOptions with a control image', () => {
  it('defaults to the only net, strength 1 and preprocess none (the upload is the map), with a note saying so', () => {
    const result = parse({ prompt: 'a house', model: 'cn', controlImage: true });
    expect(result.ok && result.value.control).toEqual({ net: 'edges', strength: 1, preprocess: 'none' });
    expect(result.ok && result.value.notes).toEqual([{ key: 'control.mapAsIs' }]);
    expect(say('en', { key: 'control.mapAsIs' })).toMatch(/used as the map as it is \(preprocess none\)/);
  });

  it('reads the options and the inline flags alike, and the net case-insensitively in its own spelling', () => {
    const fromOptions = parse({ prompt: 'a house', model: 'cn', controlImage: true, control: 'EDGES', controlStrength: 1.5, preprocess: 'canny' });
    expect(fromOptions.ok && fromOptions.value.control).toEqual({ net: 'edges', strength: 1.5, preprocess: 'canny' });
    const fromFlags = parse({ prompt: 'a house --model cn --control edges --control-strength 0.25 --preprocess Depth', controlImage: true });
    expect(fromFlags.ok && fromFlags.value).toMatchObject({ prompt: 'a house', control: { net: 'edges', strength: 0.25, preprocess: 'depth' } });
    expect(fromFlags.ok && fromFlags.value.notes).toEqual([]);
  });

  it('picks the net a preprocessor names among several, and otherwise asks which', () => {
    const depth = parse({ prompt: 'x', model: 'multi', controlImage: true, preprocess: 'depth' });
    expect(depth.ok && depth.value.control).toEqual({ net: 'depth-v2', strength: 1, preprocess: 'depth' });
    expect(message(parse({ prompt: 'x', model: 'multi', controlImage: true }))).toBe(
      'The model `multi` has several ControlNets; choose one with the `control` option or `--control NAME`: `canny`, `depth-v2`, `scribble`.',
    );
  });

  it('refuses an unknown net, naming the ones the model has', () => {
    const result = parse({ prompt: 'x --control pose', model: 'multi', controlImage: true });
    expect(message(result)).toBe('Unknown ControlNet `pose` for the model `multi`; available: `canny`, `depth-v2`, `scribble`.');
    expect(!result.ok && result.error.identifier).toBe(Identifiers.NotFound);
  });

  it('refuses a model without ControlNets, naming the models that have them', () => {
    const result = parse({ prompt: 'x', model: 'plain', controlImage: true });
    expect(message(result)).toBe(
      "The model `plain` has no ControlNets, so it can't use a control image. Choose one that has: `cn` (edges), `multi` (canny, depth-v2, scribble).",
    );
    const none = parseControlOptions({}, {}, { name: 'plain' }, [{ name: 'plain' }], true);
    expect(message(none)).toMatch(/No installed model has one; ask the bot owner/);
  });

  it('refuses preprocess depth when the depth model is not installed, before queueing', () => {
    const depth = (installed: boolean) =>
      parseImagineOptions({ prompt: 'x --preprocess depth', model: 'cn', controlImage: true }, { settings, models, depthInstalled: () => installed });
    expect(message(depth(false))).toBe(
      'The "depth" preprocessor is not installed on this bot: ask its owner to run `npm run models:pull -- depth-anything-v2-small`, or send a ready depth map with preprocess `none`.',
    );
    expect(depth(true)).toMatchObject({ ok: true, value: { control: { net: 'edges', strength: 1, preprocess: 'depth' } } });
    const canny = parseImagineOptions(
      { prompt: 'x --preprocess canny', model: 'cn', controlImage: true },
      { settings, models, depthInstalled: () => false },
    );
    expect(message(canny)).toBe('ok');
  });

  it('refuses ControlNet settings without a control image instead of ignoring them', () => {
    for (const input of [{ control: 'edges' }, { controlStrength: 0.5 }, { preprocess: 'canny' }, { prompt: 'x --control edges' }]) {
      expect(message(parse({ prompt: 'x', model: 'cn', ...input }))).toMatch(
        /^A ControlNet needs a control image: add one with the `control_image` option/,
      );
    }
    const plain = parse({ prompt: 'x', model: 'cn' });
    expect(plain.ok && plain.value.control).toBeUndefined();
  });

  it('refuses a strength outside 0–2, an unknown preprocessor and option and flag that disagree', () => {
    expect(message(parse({ prompt: 'x --control-strength 3', model: 'cn', controlImage: true }))).toBe('`--control-strength` is 3; use 0 to 2.');
    expect(message(parse({ prompt: 'x --control-strength lots', model: 'cn', controlImage: true }))).toMatch(/must be a number from 0 to 2/);
    expect(message(parse({ prompt: 'x --preprocess hed', model: 'cn', controlImage: true }))).toBe(
      'The preprocessor must be one of none, canny, depth; got `hed`.',
    );
    expect(message(parse({ prompt: 'x --control edges', control: 'other', model: 'cn', controlImage: true }))).toMatch(/ControlNet is set twice/);
    // The same value twice is no conflict.
    expect(message(parse({ prompt: 'x --preprocess CANNY', preprocess: 'canny', model: 'cn', controlImage: true }))).toBe('ok');
  });

  it('takes Canny thresholds as --canny-low/--canny-high with preprocess canny, bounded and ordered', () => {
    const tuned = parse({ prompt: 'x --preprocess canny --canny-low 40 --canny-high 90', model: 'cn', controlImage: true });
    expect(tuned.ok && tuned.value.control).toEqual({ net: 'edges', strength: 1, preprocess: 'canny', cannyLow: 40, cannyHigh: 90 });
    const lowOnly = parse({ prompt: 'x --preprocess canny --canny-low 150', model: 'cn', controlImage: true });
    expect(lowOnly.ok && lowOnly.value.control).toEqual({ net: 'edges', strength: 1, preprocess: 'canny', cannyLow: 150 });
    expect(message(parse({ prompt: 'x --preprocess canny --canny-low 250', model: 'cn', controlImage: true }))).toBe(
      'The Canny low threshold (250) must not be above the high one (200); swap them or change one.',
    );
    expect(message(parse({ prompt: 'x --preprocess canny --canny-high 300', model: 'cn', controlImage: true }))).toBe(
      '`--canny-high` is 300; use 1 to 255.',
    );
    expect(message(parse({ prompt: 'x --canny-low 40', model: 'cn', controlImage: true }))).toMatch(
      /^`--canny-low` and `--canny-high` set the edge thresholds of preprocess canny; this job uses none/,
    );
    expect(message(parse({ prompt: 'x --canny-low 40', model: 'cn' }))).toMatch(/^A ControlNet needs a control image/);
  });

  it('tells whether the user chose the size, so an upload may set it otherwise', () => {
    expect(parse({ prompt: 'x', model: 'cn' }).ok && parse({ prompt: 'x', model: 'cn' })).toMatchObject({ value: { sizeGiven: false } });
    expect(parse({ prompt: 'x --ar 16:9', model: 'cn' })).toMatchObject({ value: { sizeGiven: true } });
    expect(parse({ prompt: 'x', size: '64x128', model: 'cn' })).toMatchObject({ value: { sizeGiven: true } });
  });
});
