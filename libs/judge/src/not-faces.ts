import { imageAt, imageLength, type ImageSet } from './images';
import { integerIn } from './random';

/**
 * Images that are not cartoon faces, for the classifier's face head: what a generator draws before it draws faces,
 * or when it fails. Four kinds, in turn:
 * - pixel noise;
 * - smooth noise (noise at 1/2 to 1/8 of the size, enlarged): colour blotches;
 * - a face cut into 4×4 tiles, shuffled: face-like colours and parts without a face's layout;
 * - flat scenes: a gradient with discs and boxes.
 * `faces` supplies the tiles (any cartoon faces at the same size). Values NHWC in [-1, 1].
 */
export function notFaces(count: number, faces: ImageSet, random: () => number): Float32Array {
  const { resolution, channels } = faces;
  const length = imageLength(faces);
  const images = new Float32Array(count * length);
  for (let index = 0; index < count; index++) {
    const target = images.subarray(index * length, (index + 1) * length);
    switch (index % 4) {
      case 0:
        for (let i = 0; i < length; i++) target[i] = random() * 2 - 1;
        break;
      case 1:
        smoothNoise(target, resolution, channels, 2 ** integerIn(random, 1, 4), random);
        break;
      case 2:
        shuffledTiles(target, imageAt(faces, integerIn(random, 0, faces.count)), resolution, channels, random);
        break;
      default:
        scene(target, resolution, channels, random);
    }
  }
  return images;
}

function smoothNoise(target: Float32Array, resolution: number, channels: number, factor: number, random: () => number): void {
  const small = Math.max(1, Math.floor(resolution / factor));
  const noise = Float32Array.from({ length: small * small * channels }, () => random() * 2 - 1);
  for (let y = 0; y < resolution; y++) {
    const sy = Math.min(small - 1, Math.floor((y * small) / resolution));
    for (let x = 0; x < resolution; x++) {
      const sx = Math.min(small - 1, Math.floor((x * small) / resolution));
      for (let c = 0; c < channels; c++) target[(y * resolution + x) * channels + c] = noise[(sy * small + sx) * channels + c];
    }
  }
}

function shuffledTiles(target: Float32Array, face: Float32Array, resolution: number, channels: number, random: () => number): void {
  const tiles = 4;
  const tile = resolution / tiles;
  const order = Array.from({ length: tiles * tiles }, (_, i) => i);
  for (let i = order.length - 1; i > 0; i--) {
    const j = integerIn(random, 0, i + 1);
    [order[i], order[j]] = [order[j], order[i]];
  }
  for (const [to, from] of order.entries()) {
    const [toY, toX] = [Math.floor(to / tiles) * tile, (to % tiles) * tile];
    const [fromY, fromX] = [Math.floor(from / tiles) * tile, (from % tiles) * tile];
    for (let dy = 0; dy < tile; dy++) {
      const source = ((fromY + dy) * resolution + fromX) * channels;
      target.set(face.subarray(source, source + tile * channels), ((toY + dy) * resolution + toX) * channels);
    }
  }
}

function scene(target: Float32Array, resolution: number, channels: number, random: () => number): void {
  const top = Array.from({ length: channels }, () => random() * 2 - 1);
  const bottom = Array.from({ length: channels }, () => random() * 2 - 1);
  for (let y = 0; y < resolution; y++) {
    const t = y / (resolution - 1);
    for (let x = 0; x < resolution; x++) {
      for (let c = 0; c < channels; c++) target[(y * resolution + x) * channels + c] = top[c] * (1 - t) + bottom[c] * t;
    }
  }
  const shapes = integerIn(random, 2, 6);
  for (let shape = 0; shape < shapes; shape++) {
    const colour = Array.from({ length: channels }, () => random() * 2 - 1);
    const [cx, cy, radius] = [random() * resolution, random() * resolution, resolution * (0.08 + 0.25 * random())];
    const disc = random() < 0.5;
    for (let y = 0; y < resolution; y++) {
      for (let x = 0; x < resolution; x++) {
        const inside = disc ? (x - cx) ** 2 + (y - cy) ** 2 < radius ** 2 : Math.abs(x - cx) < radius && Math.abs(y - cy) < radius * 0.6;
        if (inside) for (let c = 0; c < channels; c++) target[(y * resolution + x) * channels + c] = colour[c];
      }
    }
  }
}
