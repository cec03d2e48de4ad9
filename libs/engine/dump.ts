import * as tf from '@tensorflow/tfjs';
import { initWebGpu } from './src/webgpu/index';
await initWebGpu();
const x = tf.randomNormal([8, 16, 16, 128]); const w = tf.randomNormal([3, 3, 128, 128]);
const y = tf.conv2d(x as tf.Tensor4D, w as tf.Tensor4D, 1, 'same'); await y.data();
