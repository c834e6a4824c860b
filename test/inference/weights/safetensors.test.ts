import { mkdtemp, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { encodeSafetensors, SafetensorsFile, WeightsFileError } from '../../../src/inference/weights/safetensors.js';

/** A file from a hand-written header and data section, to build malformed files. */
function raw(header: unknown, data: Uint8Array = new Uint8Array(0)): Uint8Array {
  const json = new TextEncoder().encode(JSON.stringify(header));
  const out = new Uint8Array(8 + json.length + data.length);
  new DataView(out.buffer).setBigUint64(0, BigInt(json.length), true);
  out.set(json, 8);
  out.set(data, 8 + json.length);
  return out;
}

describe('SafetensorsFile', () => {
  it('reads F32, F16 and BF16 tensors and the metadata', () => {
    const bytes = encodeSafetensors(
      {
        a: { shape: [2, 3], data: [1, 2, 3, 4, 5, -6.5] },
        h: { shape: [4], data: [0.5, -2, 65504, 0.0999755859375], dtype: 'F16' },
        b: { shape: [2], data: [1.5, -256], dtype: 'BF16' },
      },
      { format: 'pt' },
    );
    const f = SafetensorsFile.parse(bytes, 'x.safetensors');
    expect(f.names).toEqual(['a', 'h', 'b']);
    expect(f.metadata).toEqual({ format: 'pt' });
    expect(f.tensor('a')).toEqual({ shape: [2, 3], data: Float32Array.from([1, 2, 3, 4, 5, -6.5]) });
    expect(Array.from(f.tensor('h').data)).toEqual([0.5, -2, 65504, 0.0999755859375]);
    expect(Array.from(f.tensor('b').data)).toEqual([1.5, -256]);
  });

  it('reads the header alone from disk', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'st-'));
    const file = path.join(dir, 'w.safetensors');
    await writeFile(file, encodeSafetensors({ w: { shape: [3], data: [1, 2, 3] } }));
    const { entries } = await SafetensorsFile.readHeader(file);
    expect(entries.get('w')).toEqual({ name: 'w', dtype: 'F32', shape: [3], begin: 0, end: 12 });
    expect((await SafetensorsFile.read(file)).tensor('w').data).toEqual(Float32Array.from([1, 2, 3]));
  });

  it('names the tensors it has when asked for a missing one', () => {
    const f = SafetensorsFile.parse(encodeSafetensors({ w: { shape: [1], data: [1] } }), 'x.safetensors');
    expect(() => f.tensor('v')).toThrow('x.safetensors has no tensor "v"; it has: w');
  });

  it.each([
    [
      'a header past the end',
      () => {
        const b = raw({});
        new DataView(b.buffer).setBigUint64(0, 1000n, true);
        return b;
      },
      /header length 1000 runs past the end/,
    ],
    ['a short file', () => new Uint8Array(4), /too short/],
    [
      'offsets past the data',
      () => raw({ w: { dtype: 'F32', shape: [2], data_offsets: [0, 8] } }, new Uint8Array(4)),
      /run past the end of the data \(4 bytes\)/,
    ],
    [
      'overlapping tensors',
      () => raw({ a: { dtype: 'F32', shape: [2], data_offsets: [0, 8] }, b: { dtype: 'F32', shape: [1], data_offsets: [4, 8] } }, new Uint8Array(8)),
      /"a" and "b" overlap/,
    ],
    ['an unknown dtype', () => raw({ w: { dtype: 'F33', shape: [1], data_offsets: [0, 4] } }, new Uint8Array(4)), /unknown dtype "F33"/],
    [
      'shape × dtype ≠ byte length',
      () => raw({ w: { dtype: 'F16', shape: [3], data_offsets: [0, 4] } }, new Uint8Array(4)),
      /shape \[3\] × F16 is 6 bytes but data_offsets span 4/,
    ],
    [
      'a header that is not JSON',
      () => {
        const b = raw({});
        b[8] = 0x7a;
        return b;
      },
      /not valid UTF-8 JSON/,
    ],
  ])('refuses %s', (_what, build, message) => {
    expect(() => SafetensorsFile.parse(build(), 'bad.safetensors')).toThrow(WeightsFileError);
    expect(() => SafetensorsFile.parse(build(), 'bad.safetensors')).toThrow(message);
  });

  it('refuses to decode integer tensors to floats', () => {
    const f = SafetensorsFile.parse(raw({ i: { dtype: 'I32', shape: [1], data_offsets: [0, 4] } }, new Uint8Array(4)), 'i.safetensors');
    expect(() => f.tensor('i')).toThrow('i.safetensors: tensor "i" is I32; only F32, F16, BF16 tensors can be read');
  });
});
