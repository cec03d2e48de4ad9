/*
 * The pthread worker of tfjs-backend-wasm's threaded SIMD build, for Node's worker_threads (see threads.ts).
 *
 * tfjs hands emscripten its worker script and its main script as Blob URLs, which Node can neither start a
 * Worker from nor read with fs. threads.ts points the main thread's Worker at this file instead; here the
 * worker script tfjs ships is run as is, except that the main script it receives (a Blob holding the
 * factory's source) is read from the package's own copy of that factory, wasm-out/…-threaded-simd.js:
 * the same emscripten build, with plain require() calls where the bundled copy has bundler variables.
 */
/* eslint-disable @typescript-eslint/no-require-imports -- a CommonJS worker script */
'use strict';
const path = require('node:path');

const wasmOut = path.join(path.dirname(require.resolve('@tensorflow/tfjs-backend-wasm/package.json')), 'wasm-out');
const factoryScript = path.join(wasmOut, 'tfjs-backend-wasm-threaded-simd.js');
const { wasmWorkerContents } = require(path.join(wasmOut, 'tfjs-backend-wasm-threaded-simd.worker.js'));

// The worker script turns the Blob it is sent into an object URL and importScripts() it (fs.readFileSync).
URL.createObjectURL = () => factoryScript;
URL.revokeObjectURL = () => undefined;
// It runs as a classic script (indirect eval below) and expects these two CommonJS names as globals.
globalThis.require = require;
globalThis.__filename = __filename;
// tfjs escapes newlines the same way before it makes its Blob: the script holds "\n" inside string literals.
(0, eval)(wasmWorkerContents.replace(/\n/g, '\\n'));
