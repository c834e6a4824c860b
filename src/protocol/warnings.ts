/**
 * Warnings the engine attaches to a finished image, built and read back in one place. They travel and are stored as
 * English text (GenerateResult.warnings, Job.warnings: the CLI prints them as they are); the Discord layer reads the
 * frequent ones back into a code and parameters to say them in the job's language. Changing a sentence here changes
 * its reader with it, and old stored warnings still read.
 */

export type EngineWarning =
  | { code: 'translatorMissing'; model: string }
  | { code: 'unknownWords'; model: string; words: string }
  | { code: 'lanczosOnly'; width: number; height: number };

export function translatorMissingWarning(model: string): string {
  return `Model "${model}" reads English only, so the Chinese in your prompt has little effect. The bot's operator can install the translator with: npm run models:pull -- opus-mt-zh-en (docs/translation.md).`;
}

export function unknownWordsWarning(model: string, words: readonly string[]): string {
  return `The model "${model}" does not know these words, so they had no effect: ${words.join(', ')}.`;
}

export function lanczosOnlyWarning(width: number, height: number): string {
  return `Upscaled with Lanczos only: ${width}x${height} is beyond what this model can refine.`;
}

const READERS: readonly [RegExp, (m: RegExpExecArray) => EngineWarning][] = [
  [/^Model "([^"]*)" reads English only, so the Chinese in your prompt has little effect\. /, (m) => ({ code: 'translatorMissing', model: m[1] })],
  [/^The model "([^"]*)" does not know these words, so they had no effect: (.*)\.$/s, (m) => ({ code: 'unknownWords', model: m[1], words: m[2] })],
  [
    /^Upscaled with Lanczos only: (\d+)x(\d+) is beyond what this model can refine\.$/,
    (m) => ({ code: 'lanczosOnly', width: Number(m[1]), height: Number(m[2]) }),
  ],
];

/** The code and parameters of a warning built above; undefined for any other text (shown as it is). */
export function readWarning(text: string): EngineWarning | undefined {
  for (const [pattern, read] of READERS) {
    const match = pattern.exec(text);
    if (match) return read(match);
  }
  return undefined;
}
