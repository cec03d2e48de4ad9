// Run by threads.test.ts in a child process: starts the threaded wasm backend, runs a kernel, prints
// the thread count and returns. The process must then exit by itself (the test times it out if not).
import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
import { wasmThreadsCount, withWasmThreads } from './threads';

await withWasmThreads(2, () => tf.setBackend('wasm'));
tf.conv2d(tf.ones([1, 8, 8, 4]) as tf.Tensor4D, tf.ones([3, 3, 4, 4]) as tf.Tensor4D, 1, 'same').dataSync();
process.stdout.write(`threads ${wasmThreadsCount()}\n`);
