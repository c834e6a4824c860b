import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  checkAttachment,
  downloadAttachment,
  fitToGrid,
  inspectUpload,
  MAX_UPLOAD_PIXELS,
  parseRegionBox,
  regionMask,
  sniffImageType,
  toMaskPng,
  toRequestPng,
} from '../../../src/discord/attachments/attachments.js';
import { UserError } from '../../../src/errors.js';
import { pngHeaderOnly } from '../../fixtures/png-header.js';

const message = async (promise: Promise<unknown>) => {
  try {
    await promise;
  } catch (error) {
    expect(error).toBeInstanceOf(UserError);
    return (error as Error).message;
  }
  throw new Error('expected a refusal');
};

const picture = (width: number, height: number, format: 'png' | 'jpeg' | 'webp' = 'png') =>
  sharp({ create: { width, height, channels: 3, background: { r: 200, g: 40, b: 40 } } })
    .toFormat(format)
    .toBuffer();

describe('checkAttachment (before the acknowledgement)', () => {
  const base = { url: 'http://x/a.png', name: 'a.png', size: 1000, contentType: 'image/png', width: 512, height: 512 };
  it('takes PNG, JPEG and WebP within the byte cap', () => {
    for (const contentType of ['image/png', 'image/jpeg', 'image/webp', null])
      expect(checkAttachment({ ...base, contentType }, 'image', 8 << 20).ok).toBe(true);
  });
  it('refuses another type, too many bytes and too many pixels, saying what to do', () => {
    const pdf = checkAttachment({ ...base, name: 'doc.pdf', contentType: 'application/pdf' }, 'image', 8 << 20);
    expect(!pdf.ok && pdf.error.message).toMatch(/must be a PNG, JPEG or WebP picture; `doc.pdf` is application\/pdf/);
    const big = checkAttachment({ ...base, size: 9 << 20 }, 'image', 8 << 20);
    expect(!big.ok && big.error.message).toMatch(/is 9 MiB; this server takes pictures up to 8 MiB/);
    const huge = checkAttachment({ ...base, width: 20000, height: 20000 }, 'mask', 8 << 20);
    expect(!huge.ok && huge.error.message).toMatch(/The mask is 20000x20000/);
  });
});

describe('inspectUpload (after the download)', () => {
  it('sniffs the format from the bytes, not the name', async () => {
    expect(sniffImageType(await picture(8, 8, 'png'))).toBe('png');
    expect(sniffImageType(await picture(8, 8, 'jpeg'))).toBe('jpeg');
    expect(sniffImageType(await picture(8, 8, 'webp'))).toBe('webp');
    expect(sniffImageType(Buffer.from('GIF89a....'))).toBeUndefined();
    expect(await inspectUpload(await picture(40, 30, 'webp'), 'image')).toEqual({ width: 40, height: 30, format: 'webp' });
  });
  it('refuses a file that is not a picture', async () => {
    expect(await message(inspectUpload(Buffer.from('%PDF-1.7 not a picture'), 'image'))).toMatch(/not a PNG, JPEG or WebP picture/);
  });
  it('refuses a PNG whose header says 20000x20000 without decoding it', async () => {
    const bomb = pngHeaderOnly(20000, 20000);
    expect(bomb.length).toBeLessThan(100);
    expect(await message(inspectUpload(bomb, 'image'))).toMatch(new RegExp(`20000x20000; the bot takes pictures up to ${MAX_UPLOAD_PIXELS} pixels`));
  });
});

describe('downloadAttachment', () => {
  let server: Server;
  let base: string;
  beforeAll(async () => {
    server = createServer((req, res) => {
      if (req.url === '/small') res.end(Buffer.alloc(100, 1));
      else if (req.url === '/big') res.end(Buffer.alloc(5000, 1));
      else if (req.url === '/chunked-big') {
        // No Content-Length: the cap must hold while streaming.
        res.writeHead(200, { 'transfer-encoding': 'chunked' });
        for (let i = 0; i < 10; i++) res.write(Buffer.alloc(1000, 1));
        res.end();
      } else if (req.url === '/slow') setTimeout(() => res.end('late'), 2000);
      else res.writeHead(404).end();
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(() => {
    server.closeAllConnections();
    server.close();
  });

  it('returns the bytes within the cap', async () => {
    expect((await downloadAttachment(`${base}/small`, 'image', { maxBytes: 1000 })).length).toBe(100);
  });
  it('refuses too many bytes, by Content-Length or while streaming', async () => {
    expect(await message(downloadAttachment(`${base}/big`, 'image', { maxBytes: 1000 }))).toMatch(/over 0 MiB, the most this server takes/);
    expect(await message(downloadAttachment(`${base}/chunked-big`, 'image', { maxBytes: 3000 }))).toMatch(/the most this server takes/);
  });
  it('refuses an unreachable URL, a 404 and a slow server without showing the URL', async () => {
    const unreachable = await message(downloadAttachment('http://127.0.0.1:1/gone.png', 'image', { maxBytes: 1000 }));
    expect(unreachable).toBe('The bot could not download the image from Discord. Upload it again.');
    expect(await message(downloadAttachment(`${base}/missing`, 'mask', { maxBytes: 1000 }))).toMatch(/could not download the mask/);
    expect(await message(downloadAttachment(`${base}/slow`, 'image', { maxBytes: 1000, timeoutMs: 200 }))).toMatch(/took over 0.2 s/);
  });
});

describe('fitToGrid', () => {
  it('keeps the aspect at about the target area, sides multiples of 8, within max pixels', () => {
    expect(fitToGrid(1920, 1080, { area: 512 * 512, maxPixels: 1 << 20 })).toEqual({ width: 680, height: 384 });
    expect(fitToGrid(1000, 1000, { area: 512 * 512, maxPixels: 1 << 20 })).toEqual({ width: 512, height: 512 });
    expect(fitToGrid(600, 1200, { area: 768 * 768, maxPixels: 512 * 512 })).toEqual({ width: 360, height: 728 });
    const tall = fitToGrid(100, 5000, { area: 512 * 512, maxPixels: 1 << 20 });
    expect(tall.width % 8 === 0 && tall.height % 8 === 0 && tall.width >= 64 && tall.height <= 2048).toBe(true);
  });
  it('gives a fixed-size model its size', () => {
    expect(fitToGrid(1920, 1080, { area: 512 * 512, maxPixels: 1 << 20, fixedSize: [256, 256] })).toEqual({ width: 256, height: 256 });
  });
  it('resizes the picture to exactly that size', async () => {
    const png = await toRequestPng(await picture(1920, 1080, 'jpeg'), 680, 384);
    expect(await sharp(png).metadata()).toMatchObject({ format: 'png', width: 680, height: 384 });
  });
});

describe('masks', () => {
  it('stretches a mask to the picture and tells empty and full ones', async () => {
    const black = await sharp({ create: { width: 30, height: 20, channels: 3, background: '#000' } })
      .png()
      .toBuffer();
    const white = await sharp({ create: { width: 30, height: 20, channels: 3, background: '#fff' } })
      .png()
      .toBuffer();
    const dim = await sharp({ create: { width: 30, height: 20, channels: 3, background: { r: 120, g: 120, b: 120 } } })
      .png()
      .toBuffer();
    expect(await toMaskPng(black, 64, 64)).toMatchObject({ empty: true, full: false });
    expect(await toMaskPng(dim, 64, 64)).toMatchObject({ empty: true });
    const full = await toMaskPng(white, 64, 48);
    expect(full).toMatchObject({ empty: false, full: true });
    expect(await sharp(full.png).metadata()).toMatchObject({ width: 64, height: 48, channels: 1 });
  });

  it('draws region masks: white where the picture is redrawn', async () => {
    const stats = async (png: Buffer) => {
      expect((await sharp(png).metadata()).channels).toBe(1);
      const { data, info } = await sharp(png).extractChannel(0).raw().toBuffer({ resolveWithObject: true });
      const at = (x: number, y: number) => data[y * info.width + x];
      return { at, white: data.filter((v) => v === 255).length, info };
    };
    const left = await stats(await regionMask('left', 64, 32));
    expect(left.info).toMatchObject({ width: 64, height: 32, channels: 1 });
    expect([left.at(0, 0), left.at(31, 31), left.at(32, 0), left.at(63, 31)]).toEqual([255, 255, 0, 0]);
    expect(left.white).toBe(32 * 32);
    const bottom = await stats(await regionMask('bottom', 64, 32));
    expect([bottom.at(0, 15), bottom.at(0, 16)]).toEqual([0, 255]);
    const centre = await stats(await regionMask('centre', 64, 64));
    expect(centre.white).toBe(32 * 32);
    expect([centre.at(15, 15), centre.at(16, 16), centre.at(47, 47), centre.at(48, 48)]).toEqual([0, 255, 255, 0]);
    const box = await stats(await regionMask({ x: 50, y: 0, w: 25, h: 50 }, 64, 64));
    expect(box.white).toBe(16 * 32);
    expect([box.at(32, 0), box.at(47, 31), box.at(48, 0), box.at(32, 32)]).toEqual([255, 255, 0, 0]);
  });

  it('parses boxes in percent and says what is wrong', () => {
    expect(parseRegionBox('25, 25, 50%, 50')).toEqual({ ok: true, value: { x: 25, y: 25, w: 50, h: 50 } });
    for (const [text, why] of [
      ['1,2,3', /x,y,w,h in percent/],
      ['0,0,0,50', /box is empty/],
      ['60,0,50,50', /past the picture's edge/],
      ['a,b,c,d', /x,y,w,h/],
    ] as const) {
      const parsed = parseRegionBox(text);
      expect(!parsed.ok && parsed.error.message).toMatch(why);
    }
  });
});
