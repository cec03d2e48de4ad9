/**
 * Times the SWD of 512 against 512 images at the model resolutions, on the stock wasm backend:
 * `npx tsx libs/judge/src/bench-swd.ts [count]`.
 */
import * as tf from '@tensorflow/tfjs';
import { slicedWassersteinDistance } from './swd';
import { boxBlur, syntheticScenes, useWasmBackend } from './test-support';

const count = Number(process.argv[2] ?? 512);
await useWasmBackend();
for (const resolution of [32, 64, 96]) {
  const real = syntheticScenes(count, resolution, 1);
  const fake = boxBlur(syntheticScenes(count, resolution, 2), 1);
  const started = performance.now();
  const result = await slicedWassersteinDistance(real, fake);
  const seconds = (performance.now() - started) / 1000;
  const levels = result.levels.map((level) => `swd_${level.resolution} ${level.distance.toFixed(1)}`).join(', ');
  process.stdout.write(`${count} × ${resolution} px: ${seconds.toFixed(2)} s (${levels}; mean ${result.mean.toFixed(1)}) on ${tf.getBackend()}\n`);
}
