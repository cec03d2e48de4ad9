#!/usr/bin/env bash
# Runs on the lent GPU machine, from the project root, after `source .device/prelude.sh`
# (see pack-device.sh): the WebGPU training-step benchmark (stock tfjs-backend-webgpu and the
# project's kernels) and PyTorch's torch_dcgan.py at the same configurations on the same card, then
# a table of img/s and the ratio to PyTorch fp32. Full logs go to $OUT (the device tool returns it).
#
# Worst case (every run hitting its timeout) 2×200 + 150 s: give the device call timeout_s 590.
#   SIZES="64 96" BATCH=128 WIDTH=1 STEPS=10 WARMUP=3 bash libs/engine/src/webgpu/device-bench.sh
set -uo pipefail
sizes=${SIZES:-64 96}
batch=${BATCH:-128}
width=${WIDTH:-1}
steps=${STEPS:-10}
warmup=${WARMUP:-3}
out=${OUT:-$(mktemp -d)}
results=$out/results.jsonl
: > "$results"

for size in $sizes; do
  # One profiled step at the first size only: it says which kernel to work on next.
  profile=""
  [ "$size" = "${sizes%% *}" ] && profile="--profile"
  echo "== tfjs webgpu, ${size} px, batch ${batch}, width ${width}" >&2
  timeout 200 node .device/bench-step.mjs --resolution "$size" --batch "$batch" --width "$width" \
    --steps "$steps" --warmup "$warmup" $profile > "$out/tfjs-$size.log" 2> "$out/tfjs-$size.err"
  echo "   exit $? ($(grep -c '^{' "$out/tfjs-$size.log") results)" >&2
  grep '^{' "$out/tfjs-$size.log" >> "$results"
  grep -A 13 'kernels of one profiled step' "$out/tfjs-$size.log" >&2 || true
done

echo "== PyTorch" >&2
timeout 150 python3 .device/torch_dcgan.py --sizes "${sizes// /,}" --batch "$batch" --width "$width" --steps 20 --bf16 \
  > "$out/torch.log" 2> "$out/torch.err"
echo "   exit $?" >&2
grep '^{' "$out/torch.log" >> "$results"

python3 - "$results" <<'PY'
import json, sys
rows = [json.loads(line) for line in open(sys.argv[1]) if line.strip()]
torch = {r['size']: r['imgPerSec'] for r in rows if r['impl'] == 'torch-fp32'}
device = next((r['device'] for r in rows if r['impl'].startswith('torch')), '?')
print(f"\ncard: {device}; batch {rows[0]['batch'] if rows else '?'}, width {rows[0]['width'] if rows else '?'}")
print(f"{'impl':<22}{'size':>5}{'ms/step':>10}{'img/s':>10}{'vs torch fp32':>15}")
for r in sorted(rows, key=lambda r: (r['size'], r['impl'])):
    ratio = r['imgPerSec'] / torch[r['size']] if r['size'] in torch else float('nan')
    print(f"{r['impl']:<22}{r['size']:>5}{r['msPerStep']:>10.1f}{r['imgPerSec']:>10.1f}{ratio:>14.3f}x")
PY
