import { describe, expect, it } from 'vitest';
import { say, type LocalizedText } from '../../../src/i18n/translate.js';
import { GuildSettingsSchema, type GuildSettings } from '../../../src/config/guild-settings.js';
import { parseImagineOptions, type ImagineContext, type ImagineInput } from '../../../src/discord/options/imagine-options.js';
import { cleanPromptText, countPromptTokensAtLeast, hasVisibleCharacter } from '../../../src/discord/options/prompt-checks.js';
import { extractPromptFlags } from '../../../src/discord/options/prompt-flags.js';
import { sizeForRatio } from '../../../src/discord/options/size.js';
import { normalizeSamplerName } from '../../../src/protocol/samplers.js';

const english = (notes: readonly LocalizedText[]) => notes.map((note) => say('en', note));

const models = [
  { name: 'tiny', defaults: {} },
  { name: 'emoji', defaults: { steps: 30, cfg: 4, sampler: 'ddim' as const, width: 256, height: 256, negativePrompt: 'blurry' } },
];
const sdxlModels = [
  { name: 'xl', family: 'sdxl', defaults: {} },
  { name: 'xl-turbo', family: 'sdxl', defaults: { sampler: 'euler' as const, steps: 1, cfg: 0, width: 512, height: 512 } },
];

function context(settings: unknown = {}, extra: Partial<ImagineContext> = {}): ImagineContext {
  return { settings: GuildSettingsSchema.parse(settings) as GuildSettings, models, ...extra };
}

function parse(input: Partial<ImagineInput> & { prompt: string }, settings: unknown = {}, extra: Partial<ImagineContext> = {}) {
  return parseImagineOptions(input, context(settings, extra));
}

function expectError(result: ReturnType<typeof parse>, pattern: RegExp) {
  expect(result.ok).toBe(false);
  if (!result.ok) expect(result.error.message).toMatch(pattern);
}

describe('extractPromptFlags', () => {
  it('takes flags out of the prompt and keeps the words', () => {
    const result = extractPromptFlags('a red fox --ar 16:9 --seed 42 in snow --no text, watermark --steps 25');
    expect(result).toEqual({
      ok: true,
      value: { prompt: 'a red fox in snow', no: ['text, watermark'], ar: '16:9', seed: '42', steps: '25' },
    });
  });

  it('reads an em dash typed by a phone keyboard as --', () => {
    const result = extractPromptFlags('a cat —ar 2:3');
    expect(result.ok && result.value.ar).toBe('2:3');
  });

  it('refuses an unknown flag and names the known ones', () => {
    const result = extractPromptFlags('a cat --chaos 50');
    expect(result.ok).toBe(false);
    if (!result.ok) expect(result.error.message).toMatch(/Unknown flag `--chaos`.*--ar W:H/);
  });

  it('refuses a flag without a value', () => {
    const result = extractPromptFlags('a cat --seed');
    expect(!result.ok && result.error.message).toMatch(/`--seed` needs a value after it, e.g. `--seed 42`/);
  });

  it('refuses a flag given twice', () => {
    const result = extractPromptFlags('a cat --steps 5 --steps 6');
    expect(!result.ok && result.error.message).toMatch(/given twice/);
  });
});

describe('clip skip', () => {
  const withAnime = [...models, { name: 'anime', defaults: { clipSkip: 2 } }];
  it('takes --clip-skip from the prompt, the clip_skip option, the model default, else 1', () => {
    expect(extractPromptFlags('a cat --clip-skip 2').ok && extractPromptFlags('a cat --clip-skip 2')).toEqual({
      ok: true,
      value: { prompt: 'a cat', no: [], clipSkip: '2' },
    });
    const value = (input: Partial<ImagineInput> & { prompt: string }) => {
      const result = parse(input, {}, { models: withAnime });
      return result.ok ? result.value.clipSkip : result.error.message;
    };
    expect(value({ prompt: 'a cat --clip-skip 3' })).toBe(3);
    expect(value({ prompt: 'a cat', clipSkip: 2 })).toBe(2);
    expect(value({ prompt: 'a cat', model: 'anime' })).toBe(2);
    expect(value({ prompt: 'a cat --clip-skip 1', model: 'anime' })).toBe(1);
    expect(value({ prompt: 'a cat' })).toBe(1);
  });

  it('refuses a clip skip outside 1–12, saying the range', () => {
    expectError(parse({ prompt: 'a cat --clip-skip 13' }), /`--clip-skip`.*1 to 12/);
    expectError(parse({ prompt: 'a cat --clip-skip two' }), /`--clip-skip`/);
  });
});

describe('parseImagineOptions', () => {
  it('fills unset values from the model defaults, then built-in defaults', () => {
    const result = parse({ prompt: 'a cat', model: 'emoji' });
    expect(result).toEqual({
      ok: true,
      value: {
        model: 'emoji',
        prompt: 'a cat',
        negativePrompt: 'blurry',
        steps: 30,
        cfg: 4,
        sampler: 'ddim',
        width: 256,
        height: 256,
        count: 1,
        seed: undefined,
        clipSkip: 1,
        notes: [],
        sizeGiven: false,
      },
    });
    const plain = parse({ prompt: 'a cat' });
    expect(plain.ok && plain.value).toMatchObject({
      model: 'tiny',
      steps: 20,
      cfg: 7,
      sampler: 'euler_a',
      width: 512,
      height: 512,
      negativePrompt: '',
    });
  });

  it('lets guild defaults win over model defaults and options win over both', () => {
    const settings = { defaults: { steps: 12, cfg: 5, sampler: 'euler', width: 384, height: 384, negativePrompt: 'ugly', count: 2, model: 'emoji' } };
    const guild = parse({ prompt: 'a cat' }, settings);
    expect(guild.ok && guild.value).toMatchObject({
      model: 'emoji',
      steps: 12,
      cfg: 5,
      sampler: 'euler',
      width: 384,
      height: 384,
      negativePrompt: 'ugly',
      count: 2,
    });
    const typed = parse(
      { prompt: 'a cat', steps: 8, cfg: 3.5, sampler: 'ddim', size: '256x320', negative: 'dark', count: 1, model: 'tiny' },
      settings,
    );
    expect(typed.ok && typed.value).toMatchObject({
      model: 'tiny',
      steps: 8,
      cfg: 3.5,
      sampler: 'ddim',
      width: 256,
      height: 320,
      negativePrompt: 'dark',
      count: 1,
    });
  });

  it('applies prompt flags like options', () => {
    const result = parse({ prompt: 'a cat --steps 9 --cfg 6.5 --sampler "dpmpp_2m" --seed 7 --count 3 --no dogs --size 640x448'.replace(/"/g, '') });
    expect(result.ok && result.value).toMatchObject({
      prompt: 'a cat',
      steps: 9,
      cfg: 6.5,
      sampler: 'dpmpp_2m',
      seed: 7,
      count: 3,
      negativePrompt: 'dogs',
      width: 640,
      height: 448,
    });
  });

  it('adds --no to the guild negative prompt instead of replacing it', () => {
    const result = parse({ prompt: 'a cat --no text' }, { defaults: { negativePrompt: 'blurry' } });
    expect(result.ok && result.value.negativePrompt).toBe('blurry, text');
  });

  it('turns --ar into a size with the default area, sides multiples of 8', () => {
    const result = parse({ prompt: 'a cat --ar 16:9' });
    expect(result.ok && result.value).toMatchObject({ width: 680, height: 384 });
    expect(result.ok && english(result.value.notes)).toEqual(['16:9 → 680x384']);
    const preset = parse({ prompt: 'a cat', size: 'portrait', model: 'emoji' });
    expect(preset.ok && preset.value).toMatchObject({ width: 208, height: 312 });
  });

  it('fits SDXL ratios and presets to its 1024×1024-area training buckets, and defaults SDXL to 1024×1024', () => {
    const size = (input: Partial<ImagineInput>, settings: unknown = {}) => {
      const r = parse({ prompt: 'a cat', model: 'xl', ...input }, settings, { models: sdxlModels });
      return r.ok ? `${r.value.width}x${r.value.height}` : r.error.message;
    };
    expect(size({})).toBe('1024x1024');
    expect(size({ size: 'square' })).toBe('1024x1024');
    expect(size({ size: 'portrait' })).toBe('832x1216');
    expect(size({ size: 'landscape' })).toBe('1216x832');
    expect(size({ size: 'wide' })).toBe('1344x768');
    expect(size({ size: 'tall' })).toBe('768x1344');
    expect(size({ size: '4:3' })).toBe('1152x896');
    expect(size({ size: '21:9' })).toBe('1536x640');
    expect(size({ size: '1:4' })).toBe('640x1536');
    const noted = parse({ prompt: 'a cat --ar 16:9', model: 'xl' }, {}, { models: sdxlModels });
    expect(noted.ok && english(noted.value.notes)).toEqual(['16:9 → 1344x768 (SDXL bucket)']);
    // An exact size is the user's choice and is kept.
    expect(size({ size: '1000x600' })).toBe('1000x600');
    // SDXL-Turbo's 512×512 default keeps the bucket shapes at its area.
    const turbo = parse({ prompt: 'a cat --ar 16:9', model: 'xl-turbo' }, {}, { models: sdxlModels });
    expect(turbo.ok && `${turbo.value.width}x${turbo.value.height}`).toBe('672x384');
    // /config limits still apply: a bucket over the server's max pixels is refused with a size that fits.
    expect(size({ size: 'wide' }, { limits: { maxPixels: 768 * 768 } })).toMatch(/1344x768 is 1032192 pixels; this server allows 589824 per image/);
    expect(size({}, { limits: { maxPixels: 768 * 768 } })).toBe('768x768');
  });

  it('refuses out-of-range values with the allowed range', () => {
    expectError(parse({ prompt: 'a cat --steps 500' }), /`--steps` is 500; use 1 to 50 \(this server's max steps\)/);
    expectError(parse({ prompt: 'a cat --cfg 99' }), /`--cfg` is 99; use 0 to 30/);
    expectError(parse({ prompt: 'a cat --count 4' }, { limits: { maxCount: 2 } }), /`--count` is 4; use 1 to 2 \(this server's max count\)/);
    expectError(parse({ prompt: 'a cat --seed -1' }), /`--seed` is -1; use 0 to 4294967295/);
    expectError(parse({ prompt: 'a cat --steps ten' }), /must be a whole number from 1 to 50, got `ten`/);
  });

  it('accepts steps up to the raised guild limit', () => {
    const result = parse({ prompt: 'a cat', steps: 60 }, { limits: { maxSteps: 150 } });
    expect(result.ok && result.value.steps).toBe(60);
  });

  it('clamps a model default above the guild max instead of refusing', () => {
    const result = parse({ prompt: 'a cat', model: 'emoji' }, { limits: { maxSteps: 10 } });
    expect(result.ok && result.value.steps).toBe(10);
  });

  it('refuses sizes that are not multiples of 8 or over the pixel limit, with a size to try', () => {
    expectError(parse({ prompt: 'a cat', size: '500x500' }), /multiple of 8 from 64 to 2048\. Try 504x504/);
    expectError(
      parse({ prompt: 'a cat', size: '1024x1024' }, { limits: { maxPixels: 512 * 512 } }),
      /1048576 pixels; this server allows 262144 per image\. Try 512x512/,
    );
    expectError(parse({ prompt: 'a cat', size: 'huge' }), /Size `huge` is not one I understand/);
    expectError(parse({ prompt: 'a cat --ar 10:1' }), /between 1:4 and 4:1/);
  });

  it('refuses a value set both as option and as flag with different values', () => {
    expectError(parse({ prompt: 'a cat --steps 5', steps: 6 }), /Steps is set twice/);
    const same = parse({ prompt: 'a cat --steps 5', steps: 5 });
    expect(same.ok && same.value.steps).toBe(5);
  });

  it('refuses unknown samplers and models, listing the valid names', () => {
    expectError(parse({ prompt: 'a cat --sampler plms' }), /Unknown sampler `plms`; use one of: euler, euler_a, dpmpp_2m/);
    expectError(parse({ prompt: 'a cat', model: 'sdxl' }), /^Unknown model `sdxl`; choose one of: `tiny`, `emoji`\.$/);
  });

  it('takes installed model names only: never a server path, even before the worker is up', () => {
    expectError(parse({ prompt: 'a cat', model: '/etc/passwd' }), /^Name an installed model, not a folder path; choose one of: `tiny`, `emoji`\.$/);
    expectError(parse({ prompt: 'a cat --model ../../x' }), /^Name an installed model, not a folder path;/);
    expectError(parse({ prompt: 'a cat' }, { defaults: { model: 'gone' } }), /^Unknown model `gone` \(this server's default\)/);
    const none = parseImagineOptions({ prompt: 'a cat' }, { settings: GuildSettingsSchema.parse({}), models: [] });
    expect(none.ok).toBe(false);
    expect(!none.ok && none.error.message).toBe('No model is installed yet; ask the bot owner to add one under MODELS_DIR.');
  });

  it('names a model set aside after a failed load and offers the others', () => {
    const result = parseImagineOptions(
      { prompt: 'a cat', model: 'broken' },
      { settings: GuildSettingsSchema.parse({}), models, brokenReason: (m) => (m === 'broken' ? 'Cannot load unet' : undefined) },
    );
    expect(!result.ok && result.error.message).toBe(
      'The model `broken` could not be loaded and is set aside until the bot owner fixes it; choose one of: `tiny`, `emoji`.',
    );
  });

  it("fits every request to a fixed-size model's one size, with a note when the user or server asked for another", () => {
    const fixedModels = [{ name: 'pixel', defaults: { width: 256, height: 256 }, fixedSize: [256, 256] as [number, number] }];
    const parseFixed = (input: ImagineInput, settings: Partial<GuildSettings> = {}) =>
      parseImagineOptions(input, { settings: GuildSettingsSchema.parse(settings), models: fixedModels });
    const plain = parseFixed({ prompt: 'a cat' });
    expect(plain.ok && [plain.value.width, plain.value.height, english(plain.value.notes)]).toEqual([256, 256, []]);
    const wide = parseFixed({ prompt: 'a cat --ar 16:9' });
    expect(wide.ok && [wide.value.width, wide.value.height]).toEqual([256, 256]);
    expect(wide.ok && english(wide.value.notes).at(-1)).toMatch(/^pixel draws 256x256 only; used that instead of \d+x\d+$/);
    // A server default made for another model (the first-run bug: 512x512 on the bundled 256x256 model).
    const serverDefault = parseFixed({ prompt: 'a cat' }, { defaults: { width: 512, height: 512 } });
    expect(serverDefault.ok && [serverDefault.value.width, serverDefault.value.height, english(serverDefault.value.notes)]).toEqual([
      256,
      256,
      ['pixel draws 256x256 only; used that instead of 512x512'],
    ]);
    const tooBig = parseFixed({ prompt: 'a cat' }, { limits: { ...GuildSettingsSchema.parse({}).limits, maxPixels: 128 * 128 } });
    expect(!tooBig.ok && tooBig.error.message).toMatch(/^`pixel` draws 256x256 \(65536 pixels\) only, over this server's max pixels \(16384\)/);
  });

  it('accepts A1111 sampler names', () => {
    expect(normalizeSamplerName('DPM++ 2M Karras')).toBe('dpmpp_2m_karras');
    expect(normalizeSamplerName('Euler a')).toBe('euler_a');
    expect(normalizeSamplerName('LMS')).toBeUndefined();
  });

  it('refuses banned words as whole words, case-insensitively', () => {
    const settings = { bannedWords: ['Gore', 'red panda'] };
    // The negative prompt is public in the result message too.
    expectError(
      parse({ prompt: 'a cat', negative: 'blurry, gore' }, settings),
      /does not allow `gore` in prompts; remove it from the negative prompt/,
    );
    expectError(parse({ prompt: 'a cat --no red panda' }, settings), /does not allow `red panda`/);
    expectError(parse({ prompt: 'a GORE scene' }, settings), /does not allow `gore`/);
    expectError(parse({ prompt: 'a Red Panda, eating' }, settings), /does not allow `red panda`/);
    expect(parse({ prompt: 'a gorey cathedral' }, settings).ok).toBe(true);
    expectError(parse({ prompt: 'a g\u200bore scene' }, settings), /does not allow `gore`/);
  });

  it('accepts prompts over 75 tokens and refuses one certainly over 8 chunks of 75', () => {
    const words = (n: number) => Array.from({ length: n }, (_, i) => `word${String.fromCharCode(97 + (i % 26))}`).join(' ');
    expect(parse({ prompt: words(80) }).ok).toBe(true);
    // 600 tokens of text plus attention syntax that is not counted.
    expect(parse({ prompt: `(${'a '.repeat(300)}:1.3) [x] BREAK ${'a '.repeat(299)}` }).ok).toBe(true);
    expectError(
      parse({ prompt: 'a,'.repeat(330) }),
      /^The prompt is at least 660 tokens and the most is 8 chunks of 75 \(600 tokens\); remove about 60 words or symbols\.$/,
    );
    expectError(parse({ prompt: 'a cat', negative: 'a,'.repeat(320) }), /^The negative prompt is at least 640 tokens/);
  });

  it('refuses an empty prompt once the flags are taken out', () => {
    expectError(parse({ prompt: '--ar 1:1' }), /The prompt is empty/);
  });

  it('refuses a prompt with no visible character as empty', () => {
    const invisible = [
      '\u200b',
      '\u200c\u200d',
      '\u2060\ufeff',
      '\u0000\u0007\u001b',
      '\u0301\u0308',
      '\u00a0\u3000\u2003',
      '\ufe0f',
      '\u3164\u2800',
      '\u200b --ar 1:1',
    ];
    for (const prompt of invisible) expectError(parse({ prompt }), /^The prompt is empty: describe the image/);
  });

  it('takes control and zero-width characters out of the prompt and the negative prompt', () => {
    const result = parse({ prompt: 'a\u0000 c\u200bat\tin\nspace\u0085 --no dog\u2060s', negative: 'blur\ufeffry\u0007' });
    expect(result.ok && result.value).toMatchObject({ prompt: 'a cat in space', negativePrompt: 'blurry, dogs' });
    // A flag hidden by a zero-width character still reads as a flag.
    const flagged = parse({ prompt: 'a cat -\u200b-steps 9' });
    expect(flagged.ok && flagged.value).toMatchObject({ prompt: 'a cat', steps: 9 });
  });

  it('drops a negative prompt with nothing visible in it', () => {
    const result = parse({ prompt: 'a cat', negative: '\u200b\u0000' }, { defaults: { negativePrompt: 'blurry' } });
    expect(result.ok && result.value.negativePrompt).toBe('');
  });

  it('uses DEFAULT_MODEL from the environment when the guild sets none', () => {
    const result = parse({ prompt: 'a cat' }, {}, { defaultModel: 'emoji' });
    expect(result.ok && result.value.model).toBe('emoji');
  });
});

describe('cleanPromptText', () => {
  it('turns tabs and line breaks into spaces and drops other control and zero-width characters', () => {
    expect(cleanPromptText('a\tb\r\nc\u2028d')).toBe('a b  c d');
    expect(cleanPromptText('x\u0000\u0001\u007f\u0080\u009fy')).toBe('xy');
    expect(cleanPromptText('x\u200b\u2060\ufeff\u180e\u202e\u2066y')).toBe('xy');
  });

  it('keeps the joiners inside emoji and words, and everything visible', () => {
    expect(cleanPromptText('👩\u200d🚀 astronaut')).toBe('👩\u200d🚀 astronaut');
    expect(cleanPromptText('می\u200cخواهم')).toBe('می\u200cخواهم');
    expect(cleanPromptText('café, 宇宙, 🏳️‍🌈')).toBe('café, 宇宙, 🏳️‍🌈');
    expect(cleanPromptText('\u200dcat\u200c')).toBe('cat');
  });

  it('tells visible text from text that only looks empty', () => {
    expect(hasVisibleCharacter('\u200b\u0301\u3000\u3164')).toBe(false);
    expect(hasVisibleCharacter('é')).toBe(true);
    expect(hasVisibleCharacter('🚀')).toBe(true);
    expect(hasVisibleCharacter('!')).toBe(true);
  });
});

describe('countPromptTokensAtLeast', () => {
  it('counts words, single digits and punctuation runs', () => {
    expect(countPromptTokensAtLeast('a cat, 42 dogs!!')).toBe(7);
    expect(countPromptTokensAtLeast("it's")).toBe(2);
    expect(countPromptTokensAtLeast('')).toBe(0);
  });

  it('does not count attention syntax, which never reaches the text encoder', () => {
    expect(countPromptTokensAtLeast('(cat:1.3) [dog] ((bird)) BREAK fish \\(x\\)')).toBe(5);
    expect(countPromptTokensAtLeast('BREAKfast')).toBe(1);
  });
});

describe('sizeForRatio', () => {
  it('keeps about the same area and rounds sides to multiples of 8', () => {
    const { width, height } = sizeForRatio([3, 2], 512 * 512);
    expect([width % 8, height % 8]).toEqual([0, 0]);
    expect(width / height).toBeCloseTo(1.5, 1);
    expect(Math.abs(width * height - 512 * 512) / (512 * 512)).toBeLessThan(0.05);
  });
});
