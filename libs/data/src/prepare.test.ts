import sharp, { type Sharp } from 'sharp';
import { describe, expect, it } from 'vitest';
import { pictureJpeg, solidPng } from '../test/fixtures';
import { mirrorInto, prepareImage, squareAround, type Prepared } from './prepare';

/** Pixels of a successful preparation; fails the test with the reason otherwise. */
function pixelsOf(prepared: Prepared): Buffer {
  if ('skipped' in prepared) throw new Error(`skipped: ${prepared.skipped}`);
  return prepared.pixels;
}

/** An RGB image of vertical bands, e.g. [[50, red], [100, green], [50, blue]]: widths and colours, left to right. */
async function bands(height: number, spec: Array<[number, [number, number, number]]>, encode: (image: Sharp) => Sharp = (image) => image.png()) {
  const width = spec.reduce((sum, [extent]) => sum + extent, 0);
  const raw = Buffer.alloc(width * height * 3);
  for (let y = 0; y < height; y++) {
    let x = 0;
    for (const [extent, color] of spec) for (let end = x + extent; x < end; x++) raw.set(color, (y * width + x) * 3);
  }
  return encode(sharp(raw, { raw: { width, height, channels: 3 } })).toBuffer();
}

const RED: [number, number, number] = [255, 0, 0];
const GREEN: [number, number, number] = [0, 255, 0];
const BLUE: [number, number, number] = [0, 0, 255];
const pixelAt = (pixels: Buffer, resolution: number, x: number, y: number) => [...pixels.subarray((y * resolution + x) * 3, (y * resolution + x) * 3 + 3)];

describe('prepareImage', () => {
  it('crops the centred square and resizes it to resolution² RGB', async () => {
    const image = await bands(100, [[50, RED], [100, GREEN], [50, BLUE]]);
    const pixels = pixelsOf(await prepareImage(image, { resolution: 32, channels: 3 }));
    expect(pixels.length).toBe(32 * 32 * 3);
    for (const x of [3, 16, 28]) expect(pixelAt(pixels, 32, x, 16)).toEqual(GREEN);
  });

  it('applies the EXIF orientation before cropping', async () => {
    // Stored 100×50, red left and blue right; orientation 6 shows it turned clockwise: red on top, blue below.
    const image = await bands(50, [[50, RED], [50, BLUE]], (raw) => raw.jpeg({ quality: 100 }).withMetadata({ orientation: 6 }));
    const pixels = pixelsOf(await prepareImage(image, { resolution: 32, channels: 3 }));
    const near = (actual: number[], expected: number[]) => actual.every((value, c) => Math.abs(value - expected[c]) < 40);
    expect(near(pixelAt(pixels, 32, 31, 2), RED)).toBe(true);
    expect(near(pixelAt(pixels, 32, 0, 29), BLUE)).toBe(true);
  });

  it('drops alpha onto the background', async () => {
    const pixels = pixelsOf(await prepareImage(await solidPng(40, 40, { r: 0, g: 0, b: 0, alpha: 0 }), { resolution: 32, channels: 3 }));
    expect(Math.min(...pixels)).toBe(255);
    const gray = pixelsOf(await prepareImage(await solidPng(40, 40, { r: 0, g: 0, b: 0, alpha: 0 }), { resolution: 32, channels: 3, background: '#808080' }));
    expect(gray[0]).toBe(128);
  });

  it('reads 16-bit PNG, grayscale JPEG, CMYK JPEG and WebP as 8-bit sRGB', async () => {
    const color = (encode: (image: Sharp) => Sharp) => bands(40, [[40, [255, 0, 51]]], encode);
    const sixteen = await color((image) => image.toColourspace('rgb16').png());
    expect((await sharp(sixteen).metadata()).depth).toBe('ushort');
    expect(pixelAt(pixelsOf(await prepareImage(sixteen, { resolution: 32, channels: 3 })), 32, 5, 5)).toEqual([255, 0, 51]);

    const gray = await sharp(await pictureJpeg(64, 64, 3)).toColourspace('b-w').jpeg().toBuffer();
    expect((await sharp(gray).metadata()).channels).toBe(1);
    const [r, g, b] = pixelAt(pixelsOf(await prepareImage(gray, { resolution: 32, channels: 3 })), 32, 10, 10);
    expect(r).toBe(g);
    expect(g).toBe(b);

    const cmyk = await color((image) => image.toColourspace('cmyk').jpeg({ quality: 100 }));
    expect((await sharp(cmyk).metadata()).space).toBe('cmyk');
    const [cr, cg, cb] = pixelAt(pixelsOf(await prepareImage(cmyk, { resolution: 32, channels: 3 })), 32, 16, 16);
    expect(cr).toBeGreaterThan(200);
    expect(cg).toBeLessThan(60);
    expect(cb).toBeLessThan(110);

    const webp = await color((image) => image.webp({ lossless: true }));
    expect(pixelAt(pixelsOf(await prepareImage(webp, { resolution: 32, channels: 3 })), 32, 16, 16)).toEqual([255, 0, 51]);
  });

  it('gives one channel of luminance for channels: 1', async () => {
    const image = await bands(40, [[20, [255, 255, 255]], [20, [0, 0, 0]]]);
    const pixels = pixelsOf(await prepareImage(image, { resolution: 32, channels: 1 }));
    expect(pixels.length).toBe(32 * 32);
    expect(pixels[16 * 32 + 1]).toBe(255);
    expect(pixels[16 * 32 + 30]).toBe(0);
  });

  it('antialiases when shrinking: a fine checkerboard becomes mid-gray', async () => {
    const size = 128;
    const board = Buffer.alloc(size * size * 3);
    for (let y = 0; y < size; y++) for (let x = 0; x < size; x++) board.fill((x + y) % 2 ? 255 : 0, (y * size + x) * 3, (y * size + x) * 3 + 3);
    const png = await sharp(board, { raw: { width: size, height: size, channels: 3 } }).png().toBuffer();
    const pixels = pixelsOf(await prepareImage(png, { resolution: 32, channels: 3 }));
    for (const value of pixels.subarray((8 * 32 + 8) * 3, (8 * 32 + 24) * 3)) expect(Math.abs(value - 128)).toBeLessThan(13);
  });

  it('crops the square around a face box', async () => {
    const image = await bands(100, [[100, RED], [100, GREEN], [100, BLUE]]);
    const box = { x: 210, y: 20, width: 60, height: 60 };
    expect(pixelAt(pixelsOf(await prepareImage(image, { resolution: 32, channels: 3, box })), 32, 16, 16)).toEqual(BLUE);
    expect(await prepareImage(image, { resolution: 32, channels: 3, box: { x: 400, y: 0, width: 10, height: 10 } })).toEqual({
      skipped: expect.stringMatching(/^face box .* lies outside the 300×100 image$/),
    });
  });

  it.each([
    ['an empty file', async () => Buffer.alloc(0), /^empty file$/],
    ['a text file', async () => Buffer.from('name,gender\nx,1\n'), /^not an image/],
    ['a truncated JPEG', async () => { const jpeg = await pictureJpeg(200, 200, 1); return jpeg.subarray(0, jpeg.length / 2); }, /^truncated \(/],
    ['a truncated PNG', async () => { const png = await sharp(await pictureJpeg(200, 200, 1)).png().toBuffer(); return png.subarray(0, png.length / 2); }, /^truncated \(/],
    [
      'a JPEG with corrupt data',
      async () => {
        const jpeg = Buffer.from(await pictureJpeg(200, 200, 2));
        // Scramble the middle of the entropy-coded data only: the markers at both ends stay intact.
        for (let i = jpeg.length >> 2; i < (jpeg.length * 3) >> 2; i += 7) jpeg[i] = (jpeg[i] * 31 + 17) & 0xff;
        return jpeg;
      },
      /^corrupt \(/,
    ],
    ['a JPEG with a corrupt header', async () => { const jpeg = Buffer.from(await pictureJpeg(200, 200, 2)); jpeg.fill(0, 20, 200); return jpeg; }, /^corrupt \(/],
    ['a tiny image', async () => solidPng(20, 64, { r: 9, g: 9, b: 9, alpha: 1 }), /^tiny \(20×64 px; the shorter side needs at least 32 px\)$/],
  ])('skips %s, saying why', async (_kind, make, reason) => {
    const prepared = await prepareImage(await make(), { resolution: 32, channels: 3 });
    expect(prepared).toEqual({ skipped: expect.stringMatching(reason) });
  });
});

describe('squareAround', () => {
  it('centres a square of the longer side on the box, moved inside the image', () => {
    expect(squareAround({ x: 40, y: 40, width: 20, height: 40 }, 200, 100)).toEqual({ left: 30, top: 40, width: 40, height: 40 });
    expect(squareAround({ x: -10, y: 80, width: 30, height: 30 }, 200, 100)).toEqual({ left: 0, top: 70, width: 30, height: 30 });
    expect(squareAround({ x: 0, y: 0, width: 500, height: 300 }, 200, 100)).toEqual({ left: 100, top: 0, width: 100, height: 100 });
    expect(squareAround({ x: 300, y: 0, width: 10, height: 10 }, 200, 100)).toBeUndefined();
  });
});

describe('mirrorInto', () => {
  it('flips each row left to right, keeping the channels of a pixel together', () => {
    const source = Float32Array.from([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]); // 2×2, 3 channels
    const target = new Float32Array(12);
    mirrorInto(source, target, 2, 3);
    expect([...target]).toEqual([4, 5, 6, 1, 2, 3, 10, 11, 12, 7, 8, 9]);
  });
});
