#!/usr/bin/env bash
# Prepares .device/ for one run on the lent GPU machine: Node.js, the Vulkan loader, Dawn and
# torch_dcgan.py (../shared/tools/device/pack.sh), plus the WebGPU step benchmark and the engine's trainer
# benchmark bundled with esbuild into .device/bench-step.mjs and .device/trainer-bench.mjs (tfjs and the
# project code inside; Dawn stays external, from .device/node_modules/webgpu). Run from anywhere in the checkout, here (needs apt-get download).
#
# Then: the device tool's `run` with carry [".device"] and the command
#   source .device/prelude.sh && bash libs/engine/src/webgpu/device-bench.sh
set -euo pipefail
root=$(git rev-parse --show-toplevel)
cd "$root"

# pack.sh starts by deleting .device/, so it goes first.
"$root/../shared/tools/device/pack.sh"

bundle() { # entry, output
  npx esbuild "$1" \
    --bundle --platform=node --format=esm --target=node20 \
    --tsconfig=libs/engine/tsconfig.json \
    --external:webgpu \
    --banner:js="import { createRequire as __createRequire } from 'node:module'; const require = __createRequire(import.meta.url);" \
    --log-level=warning \
    --outfile="$2"
}
bundle libs/engine/src/webgpu/bench-step.ts .device/bench-step.mjs
# the engine's own trainer, as runner:bench --backend webgpu times it
bundle libs/engine/src/bench/trainer-bench-main.ts .device/trainer-bench.mjs
# the CPU's share of that step, with the GPU taken out
bundle libs/engine/src/bench/queue-step-bench.ts .device/queue-step-bench.mjs

du -sh .device .device/bench-step.mjs .device/trainer-bench.mjs .device/queue-step-bench.mjs
