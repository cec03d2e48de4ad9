export { buildDiscriminator, buildGenerator, scaledFilters, type BuildOptions, type DropoutLayerFactory } from './dcgan';
export { modelFlops, type ModelFlops } from './flops';
