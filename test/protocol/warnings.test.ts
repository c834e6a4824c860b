import { describe, expect, it } from 'vitest';
import { lanczosOnlyWarning, readWarning, translatorMissingWarning, unknownWordsWarning } from '../../src/protocol/warnings.js';

describe('engine warnings', () => {
  it('read back into the code and parameters they were built from', () => {
    expect(readWarning(translatorMissingWarning('pixel-art'))).toEqual({ code: 'translatorMissing', model: 'pixel-art' });
    expect(readWarning(unknownWordsWarning('tiny', ['猫', 'mars']))).toEqual({ code: 'unknownWords', model: 'tiny', words: '猫, mars' });
    expect(readWarning(lanczosOnlyWarning(2048, 1536))).toEqual({ code: 'lanczosOnly', width: 2048, height: 1536 });
  });

  it('leaves any other text alone (it is shown as it is)', () => {
    expect(readWarning('Something the engine says once in a while.')).toBeUndefined();
    expect(readWarning(`${lanczosOnlyWarning(8, 8)} And more.`)).toBeUndefined();
  });
});
