import sharp from 'sharp';
import type { GridOptions } from './types';

/** Maps values in [-1, 1] to bytes in [0, 255], clamping whatever lies outside (e.g. a generator's overshoot). */
export function toUint8(values: Float32Array): Uint8Array {
  const bytes = new Uint8Array(values.length);
  for (let i = 0; i < values.length; i++) {
    const scaled = Math.round((values[i] + 1) * 127.5);
    bytes[i] = scaled < 0 ? 0 : scaled > 255 ? 255 : scaled; // NaN falls through to 0 via the typed array
  }
  return bytes;
}

const GRID_BACKGROUND = 255;

/**
 * Tiles `count` NHWC images in [-1, 1] row by row into rows × cols, `padding` pixels between tiles (none around the edge),
 * and encodes the sheet as PNG. Cells past `count` stay background (white).
 */
export async function encodeGridPng(images: Float32Array, options: GridOptions): Promise<Buffer> {
  const { count, resolution, channels, rows, cols } = options;
  const padding = options.padding ?? 2;
  requireInteger({ resolution, rows, cols }, 1);
  requireInteger({ count, padding }, 0);
  if (channels !== 1 && channels !== 3) throw new RangeError(`grid channels must be 1 or 3, got ${channels}`);
  if (count > rows * cols) throw new RangeError(`${count} images do not fit a ${rows}×${cols} grid`);
  const tileLength = resolution * resolution * channels;
  if (images.length < count * tileLength) {
    throw new RangeError(`images holds ${images.length} values, ${count} images of ${resolution}×${resolution}×${channels} need ${count * tileLength}`);
  }

  const width = cols * resolution + (cols - 1) * padding;
  const height = rows * resolution + (rows - 1) * padding;
  const sheet = new Uint8Array(width * height * channels).fill(GRID_BACKGROUND);
  const rowLength = resolution * channels;
  for (let n = 0; n < count; n++) {
    const tile = toUint8(images.subarray(n * tileLength, (n + 1) * tileLength));
    const left = (n % cols) * (resolution + padding);
    const top = Math.floor(n / cols) * (resolution + padding);
    for (let y = 0; y < resolution; y++) {
      sheet.set(tile.subarray(y * rowLength, (y + 1) * rowLength), ((top + y) * width + left) * channels);
    }
  }
  return sharp(sheet, { raw: { width, height, channels } })
    .toColourspace(channels === 1 ? 'b-w' : 'srgb')
    .png()
    .toBuffer();
}

function requireInteger(values: Record<string, number>, minimum: number): void {
  for (const [name, value] of Object.entries(values)) {
    if (!Number.isInteger(value) || value < minimum) throw new RangeError(`grid ${name} must be an integer ≥ ${minimum}, got ${value}`);
  }
}
