import { gemmTile, largeAlong, type GemmTile, type GemmVariant } from './conv-gemm';

/**
 * How many outputs along each of M and N one thread of the project's GEMM kernels (the convolution
 * kernels) may compute: 4 (tiles of at most 64×64 for a 16×16 workgroup) or 8 (128×128). Larger
 * tiles need half the workgroup-memory reads per multiply-add (8 + 8 loads feed 64 FMAs, against
 * 4 + 4 for 16) but fewer workgroups; the planners take them only where the grid still has at least
 * LARGE_TILE_MIN_WORKGROUPS workgroups (a few waves on a large GPU). 8 is the default since it was measured
 * (H200, 2026-11-26, with the forward GEMM: 1,034 against 943 img/s at 64 px, 622 against 602 at 96).
 */
export type GemmTileLimit = 4 | 8;

let limit: GemmTileLimit = 8;

export const LARGE_TILE_MIN_WORKGROUPS = 512;
let minWorkgroups = LARGE_TILE_MIN_WORKGROUPS;

/** `largeTileMinWorkgroups` (tests: 1, to reach the large tiles with tiny shapes). */
export function setGemmTileLimit(value: GemmTileLimit, largeTileMinWorkgroups = LARGE_TILE_MIN_WORKGROUPS): void {
  limit = value;
  minWorkgroups = largeTileMinWorkgroups;
}

export function gemmTileLimit(): GemmTileLimit {
  return limit;
}

/** Outputs per thread along one GEMM dimension of size `dim`, up to 4. */
export function outputsPerThread(dim: number): number {
  return dim > 32 ? 4 : dim > 16 ? 2 : 1;
}

/** Outputs per thread along one GEMM dimension of size `dim`: up to 4, or 8 over 64 with large tiles. */
export function outputsAlong(dim: number, large: boolean): number {
  return large && dim > 64 ? 8 : outputsPerThread(dim);
}

/**
 * Outputs per thread along M and N for a grid of `layers` such GEMMs (the z axis): 8 along a
 * dimension over 64 when the limit allows and the grid keeps enough workgroups, else up to 4.
 * A `variant` (a tuned choice) decides the tile size and code itself.
 */
export function planTile(dimM: number, dimN: number, layers = 1, variant?: GemmVariant): GemmTile {
  if (variant) {
    const large = largeAlong(variant);
    return gemmTile(outputsAlong(dimM, large.rows), outputsAlong(dimN, large.cols), variant);
  }
  const medium = gemmTile(outputsPerThread(dimM), outputsPerThread(dimN));
  if (limit < 8) return medium;
  const large = gemmTile(dimM > 64 ? 8 : medium.rowsPerThread, dimN > 64 ? 8 : medium.colsPerThread);
  const workgroups = Math.ceil(dimM / (16 * large.rowsPerThread)) * Math.ceil(dimN / (16 * large.colsPerThread)) * layers;
  return workgroups >= minWorkgroups ? large : medium;
}
