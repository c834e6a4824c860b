import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import { addPngText, PNG_SIGNATURE, readPngText } from '../../src/protocol/png-text.js';

/** The text of the first tEXt or iTXt chunk: the bytes after its header (keyword and, for iTXt, flags, language, translated keyword). */
function textBytes(file: Buffer): { type: string; text: Buffer } {
  let offset = PNG_SIGNATURE.length;
  while (offset < file.length) {
    const length = file.readUInt32BE(offset);
    const type = file.toString('latin1', offset + 4, offset + 8);
    const data = file.subarray(offset + 8, offset + 8 + length);
    if (type === 'tEXt') return { type, text: data.subarray(data.indexOf(0) + 1) };
    if (type === 'iTXt') {
      const keywordEnd = data.indexOf(0);
      const languageEnd = data.indexOf(0, keywordEnd + 3);
      return { type, text: data.subarray(data.indexOf(0, languageEnd + 1) + 1) };
    }
    offset += 12 + length;
  }
  throw new Error('no text chunk');
}

const png = await sharp({ create: { width: 4, height: 4, channels: 3, background: '#336699' } })
  .png()
  .toBuffer();

describe('PNG text chunks', () => {
  it('round-trips a tEXt "parameters" chunk and keeps the image readable', async () => {
    const text = 'a cat\nSteps: 20, Sampler: Euler a, CFG scale: 7, Seed: 1, Size: 4x4, Model: m';
    const out = addPngText(png, 'parameters', text);
    expect(readPngText(out).get('parameters')).toBe(text);
    expect(out.includes(Buffer.from('tEXtparameters'))).toBe(true);
    const { data } = await sharp(out).raw().toBuffer({ resolveWithObject: true });
    expect([...data.subarray(0, 3)]).toEqual([0x33, 0x66, 0x99]);
  });

  it('stores text beyond Latin-1 as UTF-8 iTXt', () => {
    const out = addPngText(png, 'parameters', '宇宙服を着た猫 🚀');
    expect(out.includes(Buffer.from('iTXtparameters'))).toBe(true);
    expect(readPngText(out).get('parameters')).toBe('宇宙服を着た猫 🚀');
  });

  it('never writes a NUL or another control character into the text; line feeds stay', async () => {
    const out = addPngText(png, 'parameters', 'a\u0000cat\u0007\tin\r\nspace\u001b\u0085suit\u007f\nSteps: 20');
    const { type, text } = textBytes(out);
    expect(type).toBe('tEXt');
    expect(text.includes(0)).toBe(false);
    expect(readPngText(out).get('parameters')).toBe('a cat  in\nspace  suit \nSteps: 20');
    await sharp(out).raw().toBuffer();
  });

  it('never writes a NUL into UTF-8 iTXt text either', () => {
    const out = addPngText(png, 'parameters', '宇宙\u0000猫 🚀\u0001');
    const { type, text } = textBytes(out);
    expect(type).toBe('iTXt');
    expect(text.includes(0)).toBe(false);
    expect(readPngText(out).get('parameters')).toBe('宇宙 猫 🚀 ');
  });

  it('keeps ordinary text, Latin-1 and line feeds exactly', () => {
    for (const text of ['café à la crème, 50°\nSteps: 20', 'line one\nline two\n"quoted", ½', '']) {
      expect(readPngText(addPngText(png, 'parameters', text)).get('parameters')).toBe(text);
    }
  });

  it('writes the CRC-32 the PNG spec defines over chunk type and data', () => {
    // Bitwise CRC-32 (PNG spec Annex D), independent of the zlib implementation the code uses.
    const crc = (bytes: Buffer) => {
      let c = 0xffffffff;
      for (const b of bytes) {
        c ^= b;
        for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
      }
      return (c ^ 0xffffffff) >>> 0;
    };
    const out = addPngText(png, 'parameters', 'x');
    const at = out.indexOf(Buffer.from('tEXt'));
    const length = out.readUInt32BE(at - 4);
    expect(length).toBe('parameters'.length + 2);
    expect(out.readUInt32BE(at + 4 + length)).toBe(crc(out.subarray(at, at + 4 + length)));
  });

  it('rejects data that is not a PNG', () => {
    expect(() => addPngText(Buffer.from('GIF89a'), 'parameters', 'x')).toThrow(/Not a PNG/);
    expect(() => readPngText(png.subarray(0, 20))).toThrow(/Truncated PNG/);
  });
});
