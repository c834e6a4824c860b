import sharp from 'sharp';
import { addPngText } from '../../../protocol/png-text.js';

/**
 * Tiles 2–4 images (all the same size) into a 2-column grid PNG, the layout the V/U buttons number (1 2 / 3 4),
 * and embeds `parameters` so the grid can be dropped into A1111-compatible tools like a single image.
 */
export async function imageGrid(images: readonly { png: Uint8Array; width: number; height: number }[], parameters: string): Promise<Buffer> {
  if (images.length === 0) throw new TypeError('Expected at least one image for a grid, got 0');
  if (images.length === 1) return Buffer.from(images[0].png);
  const { width, height } = images[0];
  const columns = 2;
  const rows = Math.ceil(images.length / columns);
  const grid = await sharp({ create: { width: width * columns, height: height * rows, channels: 3, background: { r: 0, g: 0, b: 0 } } })
    .composite(
      images.map((image, index) => ({ input: Buffer.from(image.png), left: (index % columns) * width, top: Math.floor(index / columns) * height })),
    )
    .png()
    .toBuffer();
  return addPngText(grid, 'parameters', parameters);
}
