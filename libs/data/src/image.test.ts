import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import { encodeGridPng, toUint8 } from './image';

describe('toUint8', () => {
  it('maps [-1, 1] to [0, 255] and clamps the rest', () => {
    expect([...toUint8(new Float32Array([-1, 0, 1, -3, 2.5, NaN]))]).toEqual([0, 128, 255, 0, 255, 0]);
  });
});

describe('encodeGridPng', () => {
  it('tiles images into rows × cols with padding between tiles', async () => {
    const resolution = 8;
    const count = 26;
    const tile = resolution * resolution * 3;
    const images = new Float32Array(count * tile);
    for (let n = 0; n < count; n++) images.fill(n % 2 ? -1 : 1.7, n * tile, (n + 1) * tile); // 1.7 must clamp to white
    const png = await encodeGridPng(images, { count, resolution, channels: 3, rows: 4, cols: 7 });
    const { data, info } = await sharp(png).raw().toBuffer({ resolveWithObject: true });
    expect([info.width, info.height, info.channels]).toEqual([7 * 8 + 6 * 2, 4 * 8 + 3 * 2, 3]);
    const at = (x: number, y: number) => data[(y * info.width + x) * 3];
    expect(at(0, 0)).toBe(255); // image 0
    expect(at(10, 0)).toBe(0); // image 1 starts after 8 px + 2 px padding
    expect(at(8, 0)).toBe(255); // padding
    expect(at(6 * 10 + 1, 3 * 10 + 1)).toBe(255); // cell 27 is empty: background
  });

  it('encodes single-channel grids and honours padding 0', async () => {
    const png = await encodeGridPng(new Float32Array(4 * 4 * 4), { count: 4, resolution: 4, channels: 1, rows: 2, cols: 2, padding: 0 });
    const meta = await sharp(png).metadata();
    expect([meta.format, meta.width, meta.height, meta.channels]).toEqual(['png', 8, 8, 1]);
  });

  it('rejects grids that cannot hold the images', async () => {
    const images = new Float32Array(5 * 4 * 4 * 3);
    await expect(encodeGridPng(images, { count: 5, resolution: 4, channels: 3, rows: 2, cols: 2 })).rejects.toThrow(/do not fit/);
    await expect(encodeGridPng(images, { count: 6, resolution: 4, channels: 3, rows: 2, cols: 3 })).rejects.toThrow(/need 288/);
  });
});
