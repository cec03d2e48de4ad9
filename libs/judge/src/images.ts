/**
 * A batch of square images as the rest of facegan holds them: NHWC, values in [-1, 1]. A `Dataset` from
 * @facegan/data is one, and so are a generator's samples.
 */
export interface ImageSet {
  images: Float32Array;
  count: number;
  resolution: number;
  channels: 1 | 3;
}

export function imageLength(set: ImageSet): number {
  return set.resolution * set.resolution * set.channels;
}

export function checkImageSet(set: ImageSet, name: string): void {
  const { count, resolution, channels } = set;
  if (!Number.isInteger(count) || count < 0) throw new RangeError(`${name}: count must be a non-negative integer, got ${count}`);
  if (!Number.isInteger(resolution) || resolution < 1) throw new RangeError(`${name}: resolution must be a positive integer, got ${resolution}`);
  if (channels !== 1 && channels !== 3) throw new RangeError(`${name}: channels must be 1 or 3, got ${channels}`);
  const expected = count * imageLength(set);
  if (set.images.length < expected) {
    throw new RangeError(`${name}: ${count} images of ${resolution}×${resolution}×${channels} need ${expected} values, got ${set.images.length}`);
  }
}

/** Image `index` of the set (a view, no copy). */
export function imageAt(set: ImageSet, index: number): Float32Array {
  const length = imageLength(set);
  return set.images.subarray(index * length, (index + 1) * length);
}

/** The images at `indices`, copied into a new set in that order. */
export function pickImages(set: ImageSet, indices: ArrayLike<number>): ImageSet {
  const length = imageLength(set);
  const images = new Float32Array(indices.length * length);
  for (let i = 0; i < indices.length; i++) images.set(imageAt(set, indices[i]), i * length);
  return { images, count: indices.length, resolution: set.resolution, channels: set.channels };
}

/** Converts to RGB bytes (0..255), repeating a grey channel three times. */
export function toRgbBytes(image: Float32Array, resolution: number, channels: 1 | 3): Uint8Array {
  const pixels = resolution * resolution;
  const bytes = new Uint8Array(pixels * 3);
  for (let p = 0; p < pixels; p++) {
    for (let c = 0; c < 3; c++) {
      const value = image[p * channels + (channels === 3 ? c : 0)];
      bytes[p * 3 + c] = Math.max(0, Math.min(255, Math.round((value + 1) * 127.5)));
    }
  }
  return bytes;
}
