import { describe, expect, it } from 'vitest';
import { decodeProgress, decodeResult, decodeValue, encodeProgress, encodeResult, encodeValue } from '../../src/worker/remote-protocol.js';
import { smallRequest } from '../fixtures/requests.js';

describe('remote protocol codecs', () => {
  it('a request keeps its input image bytes through JSON', () => {
    const request = smallRequest({ mode: { kind: 'img2img', image: new Uint8Array([0, 1, 254, 255]), strength: 0.5 } });
    const back = decodeValue<{ request: typeof request }>(encodeValue({ request }));
    expect(back).toEqual({ request });
    expect((back.request.mode as { image: Uint8Array }).image).toBeInstanceOf(Uint8Array);
  });

  it('a result round-trips as one binary value, PNG bytes and all', () => {
    const result = {
      images: [
        { png: new Uint8Array([1, 2, 3]), seed: 7, width: 64, height: 64, parameters: 'a' },
        { png: new Uint8Array(1000).fill(9), seed: 8, width: 64, height: 64, parameters: 'b' },
      ],
      seed: 7,
      warnings: ['note'],
      timings: { totalMs: 1, inferenceMs: 1, previewMs: 0, loadMs: 0 },
    };
    const encoded = encodeResult(result);
    expect(decodeResult(encoded)).toEqual(result);
    // A value cut short (a bug, a bad write) is refused, not read as smaller images.
    expect(() => decodeResult(encoded.subarray(0, encoded.byteLength - 1))).toThrow(RangeError);
  });

  it("a ControlNet result's maps come back as bytes after the images, in order", () => {
    const result = {
      images: [{ png: new Uint8Array([1, 2, 3]), seed: 7, width: 64, height: 64, parameters: 'a' }],
      seed: 7,
      warnings: [],
      timings: { totalMs: 1, inferenceMs: 1, previewMs: 0, loadMs: 0 },
      controlMaps: [
        { png: new Uint8Array([40, 41]), width: 64, height: 64 },
        { png: new Uint8Array(300).fill(42), width: 32, height: 48 },
      ],
    };
    const back = decodeResult(encodeResult(result));
    expect(back).toEqual(result);
    expect(back.controlMaps![1].png).toBeInstanceOf(Uint8Array);
  });

  it('progress carries its preview as base64 and back', () => {
    const progress = { step: 2, total: 4, image: 0, preview: { png: new Uint8Array([5, 6]), width: 8, height: 8 } };
    const wire = JSON.parse(JSON.stringify(encodeProgress(progress)));
    expect(decodeProgress(wire)).toEqual(progress);
  });
});
