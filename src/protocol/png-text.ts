/**
 * PNG tEXt chunks: how A1111-compatible tools carry generation parameters inside the image (key
 * "parameters"). sharp cannot write tEXt, so chunks are spliced in by hand: the format is length, type, data,
 * CRC-32 over type + data (PNG spec §5.3, §11.3.4.3).
 */
import { crc32 } from 'node:zlib';

export const PNG_SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);

interface Chunk {
  type: string;
  data: Buffer;
  /** Byte offset of the chunk's length field. */
  offset: number;
}

function* chunks(png: Buffer): Generator<Chunk> {
  if (png.length < 8 || !png.subarray(0, 8).equals(PNG_SIGNATURE)) throw new TypeError('Not a PNG file (bad signature)');
  let offset = 8;
  while (offset + 12 <= png.length) {
    const length = png.readUInt32BE(offset);
    const type = png.toString('latin1', offset + 4, offset + 8);
    const end = offset + 12 + length;
    if (end > png.length) throw new TypeError(`Truncated PNG: chunk ${type} runs past the end of the file`);
    yield { type, data: png.subarray(offset + 8, offset + 8 + length), offset };
    offset = end;
  }
}

/** One PNG chunk: length, type, data, CRC-32 over type and data. */
export function makeChunk(type: string, data: Buffer): Buffer {
  const out = Buffer.alloc(12 + data.length);
  out.writeUInt32BE(data.length, 0);
  out.write(type, 4, 'latin1');
  data.copy(out, 8);
  out.writeUInt32BE(crc32(out.subarray(4, 8 + data.length)), 8 + data.length);
  return out;
}

/**
 * Text as PNG text chunks allow it: tEXt text is Latin-1 with line feeds and iTXt text UTF-8, and neither may hold a
 * NUL (PNG spec §11.3.4.3, §11.3.4.5); a NUL would also end the text early for readers that stop at it. CR LF and
 * lone CRs become line feeds, every other control character a space, so words stay apart and lines stay lines.
 */
export function pngSafeText(text: string): string {
  return text.replace(/\r\n?/g, '\n').replace(/(?!\n)\p{Cc}/gu, ' ');
}

/**
 * Insert a text chunk before IEND. ASCII/Latin-1 text goes into tEXt, as A1111 writes it; text with other
 * characters goes into iTXt (UTF-8), which A1111 and most readers also accept. Control characters are replaced
 * first (pngSafeText).
 */
export function addPngText(png: Uint8Array, keyword: string, rawText: string): Buffer {
  // The CLI writes prompts straight from the command line, so the text is made safe here, not only by the bot.
  const text = pngSafeText(rawText);
  const buf = Buffer.from(png.buffer, png.byteOffset, png.byteLength);
  if (!/^[\x20-\x7e]{1,79}$/.test(keyword)) throw new TypeError(`Invalid PNG text keyword "${keyword}"`);
  let iend = -1;
  for (const c of chunks(buf)) if (c.type === 'IEND') iend = c.offset;
  if (iend < 0) throw new TypeError('Not a complete PNG file (no IEND chunk)');
  const latin1 = /^[\x00-\xff]*$/.test(text);
  const data = latin1
    ? Buffer.concat([Buffer.from(keyword, 'latin1'), Buffer.from([0]), Buffer.from(text, 'latin1')])
    : Buffer.concat([Buffer.from(keyword, 'latin1'), Buffer.from([0, 0, 0, 0, 0]), Buffer.from(text, 'utf8')]);
  return Buffer.concat([buf.subarray(0, iend), makeChunk(latin1 ? 'tEXt' : 'iTXt', data), buf.subarray(iend)]);
}

/** All tEXt and (uncompressed) iTXt entries of a PNG, keyword → text. */
export function readPngText(png: Uint8Array): Map<string, string> {
  const buf = Buffer.from(png.buffer, png.byteOffset, png.byteLength);
  const out = new Map<string, string>();
  for (const c of chunks(buf)) {
    if (c.type === 'tEXt') {
      const nul = c.data.indexOf(0);
      if (nul > 0) out.set(c.data.toString('latin1', 0, nul), c.data.toString('latin1', nul + 1));
    } else if (c.type === 'iTXt') {
      const nul = c.data.indexOf(0);
      if (nul <= 0 || c.data[nul + 1] !== 0) continue; // compressed iTXt: not written by us, skipped
      // keyword \0 compression-flag compression-method language \0 translated-keyword \0 text
      const lang = c.data.indexOf(0, nul + 3);
      const translated = lang < 0 ? -1 : c.data.indexOf(0, lang + 1);
      if (translated < 0) continue;
      out.set(c.data.toString('latin1', 0, nul), c.data.toString('utf8', translated + 1));
    }
  }
  return out;
}
