import type { ModelSettings } from '@facegan/spec';
import { assertResolution, scaledFilters } from './dcgan';
import { phaseGroups } from './upsample-conv';

export interface ModelFlops {
  /** One generator forward pass over `batch` latent vectors. */
  generatorForward: number;
  /** One discriminator forward pass over `batch` images. */
  discriminatorForward: number;
  /** One training step (a discriminator update then a generator update) on `batch` real images. */
  trainStep: number;
  /**
   * trainStep as the engine runs it with the generator's upsample ×s + conv blocks fused into sub-pixel
   * convolutions (UpsampleConv2D): 16·(h+1)² for s = 2, 16·(h+1)² + 8·(s−2)·(h+1)·h + (s−2)²·h² from s = 3,
   * instead of 9·s²·h² multiply-adds per channel pair for an h×h input. trainStep stays the figure speeds are
   * quoted against ("effective" FLOP/s).
   */
  subPixelTrainStep: number;
}

/**
 * Floating-point operations of the conv and dense layers (2 per multiply-add; BN, activations,
 * upsampling, padding and the optimizer are left out: they are a few percent).
 *
 * With G and D the forward FLOPs per image, and a backward pass costing about 2× its forward
 * (gradient with respect to the input + gradient with respect to the weights), a step as PyTorch's DCGAN
 * and the engine's trainer run it (one generator forward pass serving both updates):
 *   generator forward on the latents (1·G)
 *   discriminator update = D forward and backward on real and fake (2 · 3·D)
 *   generator update     = D forward and input-gradient only (2·D): D's weights are not in the generator's
 *                          variable list; then G backward (2·G)
 *   trainStep = batch · (3·G + 8·D)
 * (Until 2026-11-27 the trainer ran the generator forward twice and this counted 4·G.)
 */
export function modelFlops(m: ModelSettings, batch: number): ModelFlops {
  const generator = 2 * generatorMultiplyAdds(m, false);
  const subPixelGenerator = 2 * generatorMultiplyAdds(m, true);
  const discriminator = 2 * discriminatorMultiplyAdds(m);
  return {
    generatorForward: batch * generator,
    discriminatorForward: batch * discriminator,
    trainStep: batch * (3 * generator + 8 * discriminator),
    subPixelTrainStep: batch * (3 * subPixelGenerator + 8 * discriminator),
  };
}

/** Multiply-adds of a 3×3 'same' convolution producing a size×size×outChannels map. */
function conv3x3(size: number, inChannels: number, outChannels: number): number {
  return size * size * 9 * inChannels * outChannels;
}

/**
 * Multiply-adds of the sub-pixel form of upsample ×scale + 3×3 'same' conv from an inSize×inSize map: one
 * convolution per phase group (UpsampleConv2D), each a kh×kw window over a map of (inSize + padding)² positions.
 */
function subPixelConv(inSize: number, scale: number, inChannels: number, outChannels: number): number {
  return phaseGroups(scale).reduce((sum, g) => {
    const positions = (inSize + (g.rowEdge ? 1 : 0)) * (inSize + (g.colEdge ? 1 : 0));
    return sum + positions * g.filterHeight * g.filterWidth * g.rows * g.cols * inChannels * outChannels;
  }, 0);
}

function generatorMultiplyAdds(m: ModelSettings, subPixel: boolean): number {
  assertResolution(m.resolution);
  const f = (n: number) => scaledFilters(n, m.width);
  const upsampleConv = (inSize: number, scale: number, inChannels: number, outChannels: number) =>
    subPixel ? subPixelConv(inSize, scale, inChannels, outChannels) : conv3x3(inSize * scale, inChannels, outChannels);
  let total = m.latentDim * 4 * 4 * f(256);
  total += upsampleConv(4, 2, f(256), f(256));
  total += upsampleConv(8, 2, f(256), f(256));
  total += upsampleConv(16, 2, f(256), f(128));
  if (m.resolution > 32) total += upsampleConv(32, m.resolution / 32, f(128), f(128));
  total += conv3x3(m.resolution, f(128), 3);
  return total;
}

function discriminatorMultiplyAdds(m: ModelSettings): number {
  assertResolution(m.resolution);
  const f = (n: number) => scaledFilters(n, m.width);
  const half = m.resolution / 2;
  const quarter = m.resolution / 4;
  const eighth = Math.ceil((quarter + 1) / 2); // after ZeroPadding2D([[0,1],[0,1]]) and a stride-2 'same' conv
  let total = conv3x3(half, 3, f(32));
  total += conv3x3(quarter, f(32), f(64));
  total += conv3x3(eighth, f(64), f(128));
  total += conv3x3(eighth, f(128), f(256));
  total += conv3x3(eighth, f(256), f(512));
  total += eighth * eighth * f(512); // Dense(1)
  return total;
}
