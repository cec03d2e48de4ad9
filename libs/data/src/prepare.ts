import sharp from 'sharp';

/** Images whose shorter side is below this are skipped: upscaling them would teach the model blur. */
export const MIN_SOURCE_SIDE = 32;

/** A face in pixels of the upright (EXIF-oriented) image. */
export interface FaceBox {
  x: number;
  y: number;
  width: number;
  height: number;
}

export interface PrepareOptions {
  resolution: number;
  channels: 1 | 3;
  /** Crop a square around this box; without one, the largest centred square. */
  box?: FaceBox;
  /** What transparent pixels become. */
  background?: string;
}

/** Pixels (HWC bytes, resolution² × channels), or why the image cannot be used. */
export type Prepared = { pixels: Buffer } | { skipped: string };

/**
 * Decodes an encoded image (JPEG, PNG, WebP, …; 8 or 16 bit; grayscale, RGB or CMYK), applies its EXIF orientation,
 * drops alpha onto `background`, crops a square and resizes it with Lanczos to resolution², in sRGB or grayscale.
 * Never throws for a bad image: empty, non-image, truncated, corrupt and tiny ones come back as `skipped`.
 */
export async function prepareImage(encoded: Buffer, options: PrepareOptions): Promise<Prepared> {
  const { resolution, channels, box, background = '#ffffff' } = options;
  if (encoded.length === 0) return { skipped: 'empty file' };
  // Any decoder warning fails: a JPEG with corrupt data decodes to garbage pixels with only a warning.
  const input = () => sharp(encoded, { failOn: 'warning' });
  try {
    const meta = await input().metadata();
    const sideways = (meta.orientation ?? 1) >= 5;
    const width = sideways ? meta.height : meta.width;
    const height = sideways ? meta.width : meta.height;
    if (!width || !height) return { skipped: 'not an image (no dimensions)' };
    if (Math.min(width, height) < MIN_SOURCE_SIDE) {
      return { skipped: `tiny (${width}×${height} px; the shorter side needs at least ${MIN_SOURCE_SIDE} px)` };
    }
    let pipeline = input().autoOrient();
    if (box) {
      const square = squareAround(box, width, height);
      if (!square) return { skipped: `face box ${JSON.stringify(box)} lies outside the ${width}×${height} image` };
      pipeline = pipeline.extract(square);
    }
    const { data, info } = await pipeline
      .flatten({ background })
      .resize(resolution, resolution, { kernel: 'lanczos3', fit: 'cover', position: 'centre' })
      .toColourspace(channels === 1 ? 'b-w' : 'srgb')
      .raw({ depth: 'uchar' })
      .toBuffer({ resolveWithObject: true });
    if (info.width !== resolution || info.height !== resolution || info.channels !== channels) {
      return { skipped: `decoded to ${info.width}×${info.height}×${info.channels}, not ${resolution}×${resolution}×${channels}` };
    }
    return { pixels: data };
  } catch (error) {
    return { skipped: describeDecodeError(error, encoded) };
  }
}

/**
 * A decoder's complaint in a few words: `not an image`, `truncated (…)` or `corrupt (…)`. Truncation is read from the
 * file's end rather than from the message: under load libvips sometimes reports only a generic error.
 */
function describeDecodeError(error: unknown, encoded: Buffer): string {
  const detail = firstLine(error);
  if (/unsupported image format/i.test(detail)) return 'not an image (unsupported format)';
  const missing = missingEnd(encoded);
  return missing ? `truncated (${missing})` : `corrupt (${detail})`;
}

/** What a complete file of its format would end with, when it lacks it; undefined when it looks complete or is another format. */
function missingEnd(encoded: Buffer): string | undefined {
  const tail = encoded.subarray(Math.max(0, encoded.length - 16));
  if (encoded[0] === 0xff && encoded[1] === 0xd8) {
    const end = tail.lastIndexOf(Buffer.from([0xff, 0xd9]));
    return end < 0 || tail.subarray(end + 2).some((byte) => byte !== 0) ? 'no JPEG end marker' : undefined;
  }
  if (encoded.subarray(0, 8).equals(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]))) {
    return tail.includes('IEND') ? undefined : 'no PNG end chunk';
  }
  if (encoded.toString('latin1', 0, 4) === 'RIFF' && encoded.toString('latin1', 8, 12) === 'WEBP') {
    const declared = encoded.readUInt32LE(4) + 8;
    return declared > encoded.length ? `${encoded.length} of ${declared} bytes` : undefined;
  }
  return undefined;
}

function firstLine(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  return message.split('\n')[0].replace(/^Input (buffer|file) has corrupt header: /, '').trim();
}

/** The square with the box's centre and longer side, moved (and if need be shrunk) to lie inside the image. */
export function squareAround(box: FaceBox, width: number, height: number): { left: number; top: number; width: number; height: number } | undefined {
  const inside = box.width > 0 && box.height > 0 && box.x < width && box.y < height && box.x + box.width > 0 && box.y + box.height > 0;
  if (!inside) return undefined;
  const side = Math.max(1, Math.min(Math.round(Math.max(box.width, box.height)), width, height));
  const clamp = (start: number, extent: number) => Math.min(Math.max(0, Math.round(start)), extent - side);
  return {
    left: clamp(box.x + box.width / 2 - side / 2, width),
    top: clamp(box.y + box.height / 2 - side / 2, height),
    width: side,
    height: side,
  };
}

/** Writes bytes as x / 127.5 − 1 into `target` at `offset`. */
export function writeNormalized(pixels: Uint8Array, target: Float32Array, offset: number): void {
  for (let i = 0; i < pixels.length; i++) target[offset + i] = pixels[i] / 127.5 - 1;
}

/** Mirrors an HWC image left to right, from `source` into `target`. */
export function mirrorInto(source: Float32Array, target: Float32Array, resolution: number, channels: number): void {
  const rowLength = resolution * channels;
  for (let y = 0; y < resolution; y++) {
    for (let x = 0; x < resolution; x++) {
      const from = y * rowLength + x * channels;
      const to = y * rowLength + (resolution - 1 - x) * channels;
      for (let c = 0; c < channels; c++) target[to + c] = source[from + c];
    }
  }
}
