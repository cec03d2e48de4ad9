export { buildDiscriminator, buildGenerator, scaledFilters, type BuildOptions } from './dcgan';
export { modelFlops, type ModelFlops } from './flops';
