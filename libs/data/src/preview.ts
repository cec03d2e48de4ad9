import sharp from 'sharp';
import { renderCartoonPng } from './cartoon';
import { encodeGridPng } from './image';
import type { Dataset } from './types';

export interface PreviewOptions {
  /** Images shown (default 16, at most the dataset's source images). */
  count?: number;
  /** Tiles per row (default 8). */
  columns?: number;
  /** Tile size in pixels (default 96). */
  tile?: number;
}

/**
 * A PNG of the first images of a dataset: the raw source images (whole, letterboxed) in the top rows, and the same images
 * as the model sees them (cropped, resized, grayscale or colour; enlarged without smoothing) in the rows below.
 */
export async function encodePreviewPng(dataset: Dataset, options: PreviewOptions = {}): Promise<Buffer> {
  const columns = options.columns ?? 8;
  const tile = options.tile ?? 96;
  const sources = dataset.items.filter((item) => !item.flipped);
  const count = Math.min(options.count ?? 16, sources.length);
  const rowsPerBlock = Math.max(1, Math.ceil(count / columns));
  const tileLength = tile * tile * 3;
  const cells = 2 * rowsPerBlock * columns;
  const sheet = new Float32Array(cells * tileLength).fill(1);
  const { resolution, channels } = dataset;
  const imageLength = resolution * resolution * channels;

  await Promise.all(
    sources.slice(0, count).map(async (item, index) => {
      const raw = item.file ?? (await renderCartoonPng(Number(item.id.slice(item.id.indexOf(':') + 1)), tile));
      const original = await sharp(raw)
        .autoOrient()
        .flatten({ background: '#ffffff' })
        .resize(tile, tile, { fit: 'contain', background: '#ffffff' })
        .toColourspace('srgb')
        .raw({ depth: 'uchar' })
        .toBuffer()
        .catch(() => Buffer.alloc(tileLength, 128));
      writeTile(original, sheet, index * tileLength);

      const floats = dataset.images.subarray(index * imageLength, (index + 1) * imageLength);
      const bytes = Buffer.from(floats.map((value) => Math.round((value + 1) * 127.5)));
      const enlarged = await sharp(bytes, { raw: { width: resolution, height: resolution, channels } })
        .resize(tile, tile, { kernel: 'nearest' })
        .toColourspace('srgb')
        .raw()
        .toBuffer();
      writeTile(enlarged, sheet, (rowsPerBlock * columns + index) * tileLength);
    }),
  );
  return encodeGridPng(sheet, { count: cells, resolution: tile, channels: 3, rows: 2 * rowsPerBlock, cols: columns });
}

function writeTile(bytes: Uint8Array, sheet: Float32Array, offset: number): void {
  for (let i = 0; i < bytes.length; i++) sheet[offset + i] = bytes[i] / 127.5 - 1;
}
