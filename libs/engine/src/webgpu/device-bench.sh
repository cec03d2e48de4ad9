#!/usr/bin/env bash
# Runs on the lent GPU machine, from the project root, after `source .device/prelude.sh`
# (see pack-device.sh): the WebGPU training-step benchmark (by default v2-large, version 2 with the forward
# GEMM and 128×128 tiles, measured on 2026-11-26; project, what the engine trains with now; and project with
# the convolution GEMMs autotuned per convolution, and with scalar workgroup tiles everywhere; one process per size) and
# the engine's own trainer (facegan-trainer-webgpu) and PyTorch's torch_dcgan.py at the same configurations on the same card, then a table of img/s,
# dispatches per step and the ratios to v2-large and to PyTorch fp32, and a per-kernel GPU-time comparison
# of one profiled step at the first size. ms/step is, for the variants, the mean step with one step queued ahead (as the
# trainer runs on webgpu, and as torch_dcgan.py times: no sync inside its loop); "synced" the median step
# awaited one by one (what ms/step meant until version 3); for the trainer the median step, "mean" its mean (the ratio that counts).
# Full logs go to $OUT as logs.tgz (the device tool returns at most 8 files), with results.jsonl and summary.txt.
#
#   SIZES="64 96" BATCH=128 WIDTH=1 STEPS=6 WARMUP=2 bash libs/engine/src/webgpu/device-bench.sh
#
# Order: PyTorch, the trainer (the figure that counts), then the variants, then queue-step-bench.
# VARIANTS (default project, which profiles one step at the first size; v2-large, project-nocache, project-autotune and
# project-scalar were the defaults until 2026-11-27; project-nocache is project without
# the dispatch caches (dispatch-cache.ts: the CPU time to queue a step, the "queue" column); project-autotune times every GEMM variant per
# convolution in its first step and keeps the fastest, as training does on a GPU, its table (ms and GFLOP/s per
# convolution, chosen against default) in tfjs-<size>.err; project-scalar (vec4 tiles are the default since
# 2026-11-27), project-prefetch and project-scalar-prefetch fix one
# candidate for every convolution (the table says more, per layer); v1 and v2 are the older
# rounds; add stock to re-measure tfjs as shipped: +40 s at 64 px, +60 s at 96);
# ALT_DAWN_FLAGS (default empty: skipped): the project variant once more at each size, in a process with
# FACEGAN_DAWN_FLAGS set to that; a blank (' ') gives Dawn's own defaults (robustness and validation on), against
# the project's DEFAULT_DAWN_FLAGS (dawn.ts; measured on the H200 on 2026-11-27: 41.5 → 39.1 ms a step at 64 px).
# QUEUE_STEP (default 1; 0 skips): queue-step-bench at each size, the CPU time to queue a step with no GPU work.
# ALT_SUBMIT_BATCH (default empty): the project variant at the first size with that
# many dispatches per queue submit (tfjs's default is 15; 64 was no faster on the H200, 2026-11-26).
# Expected ≈ 4.5–5.5 min on an H100/H200 (an estimate: the first call of 2026-11-27 took 172 s with one trainer run
# and no queue-step runs; tuning compiles up to 8 plans of each convolution GEMM, in project-autotune
# and in the trainer, each compiling its plans' shaders; every variant runs 12 more warm-up steps, in which the
# dispatch caches settle, so that all train as many steps and their losses compare). The runs go most important
# first and append to results.jsonl as they finish; BUDGET_S (below) caps them all; give the device call timeout_s 600.
set -uo pipefail
sizes=${SIZES:-64 96}
batch=${BATCH:-128}
width=${WIDTH:-1}
steps=${STEPS:-6}
warmup=${WARMUP:-2}
variants=${VARIANTS-project}
alt_submit=${ALT_SUBMIT_BATCH-}
alt_dawn=${ALT_DAWN_FLAGS-}
out=${OUT:-$(mktemp -d)}
results=$out/results.jsonl
: > "$results"
first=${sizes%% *}
# Every run's timeout is capped by what is left of BUDGET_S (default 540 s, under the device tool's 600 s a call),
# so that the summary and logs.tgz are always written; a run with under 20 s left is skipped.
budget_end=$((SECONDS + ${BUDGET_S:-540}))
left() { # the smaller of $1 and the seconds left of the budget, or 0 with under 20 s left
  local remaining=$((budget_end - SECONDS))
  if [ "$remaining" -lt 20 ]; then echo 0; elif [ "$remaining" -lt "$1" ]; then echo "$remaining"; else echo "$1"; fi
}

bench() { # seconds allowed, name, then bench-step.mjs arguments
  local seconds=$1 name=$2
  shift 2
  echo "== tfjs webgpu $name: $*" >&2
  seconds=$(left "$seconds")
  [ "$seconds" = 0 ] && { echo "   skipped: out of time" >&2; return; }
  timeout "$seconds" node .device/bench-step.mjs --batch "$batch" --width "$width" --steps "$steps" --warmup "$warmup" "$@" \
    > "$out/tfjs-$name.log" 2> "$out/tfjs-$name.err"
  echo "   exit $? ($(grep -c '^{' "$out/tfjs-$name.log") results)" >&2
  grep '^{' "$out/tfjs-$name.log" >> "$results"
}

echo "== PyTorch" >&2
timeout "$(left 120)" python3 .device/torch_dcgan.py --sizes "${sizes// /,}" --batch "$batch" --width "$width" --steps 20 --bf16 \
  > "$out/torch.log" 2> "$out/torch.err"
echo "   exit $?" >&2
grep '^{' "$out/torch.log" >> "$results"


# The trainer in TRAINER_RUNS processes (default 2): on the H200 (2026-11-27) the same code gave 0.57× to 0.95×
# of PyTorch at 64 px from one process to the next, and its steps got faster for the first few dozen; so each run
# warms up TRAINER_WARMUP steps (default 10) and times TRAINER_STEPS (default 30), and its impl carries the run number.
# Settled steps are replayed without tfjs (step-replay.ts; replayedSteps in each line says how many).
for run in $(seq 1 "${TRAINER_RUNS:-2}"); do
  echo "== the engine's trainer (createTrainer, as runner:bench --backend webgpu), run $run" >&2
  # the first run then times the replayed step's dispatches without the CPU, by program (GPU_BREAKDOWN repeats; 0 skips)
  breakdown=""
  [ "$run" = 1 ] && [ "${GPU_BREAKDOWN:-10}" != 0 ] && breakdown="--gpu-breakdown ${GPU_BREAKDOWN:-10}"
  # shellcheck disable=SC2086
  [ "$(left 200)" = 0 ] && { echo "   skipped: out of time" >&2; continue; }
  timeout "$(left 200)" node .device/trainer-bench.mjs --sizes "${sizes// /,}" --batch "$batch" --width "$width" \
    --steps "${TRAINER_STEPS:-30}" --warmup "${TRAINER_WARMUP:-10}" --run "$run" $breakdown \
    > "$out/trainer-$run.log" 2> "$out/trainer-$run.err"
  echo "   exit $?" >&2
  grep '^{' "$out/trainer-$run.log" >> "$results"
done
# And once with every step through tfjs (TRAINER_TFJS_RUN=0 skips): what replay changes, in the same call.
if [ "${TRAINER_TFJS_RUN:-1}" = 1 ] && [ "$(left 200)" != 0 ]; then
  echo "== the engine's trainer, every step through tfjs (FACEGAN_STEP_REPLAY=0)" >&2
  FACEGAN_STEP_REPLAY=0 timeout "$(left 200)" node .device/trainer-bench.mjs --sizes "${sizes// /,}" --batch "$batch" --width "$width" \
    --steps "${TRAINER_STEPS:-30}" --warmup "${TRAINER_WARMUP:-10}" --run tfjs \
    > "$out/trainer-tfjs.log" 2> "$out/trainer-tfjs.err"
  echo "   exit $?" >&2
  grep '^{' "$out/trainer-tfjs.log" >> "$results"
fi
# And with Node flags (TRAINER_ALT_NODE_FLAGS, e.g. --max-semi-space-size=64; empty, the default, skips): on this
# project's 2-core box (2026-11-27) the default 16 MB young generation promoted a tfjs step's short-lived objects,
# compacted in 88–111 ms pauses (a 215 ms step on the H200); see docs/benchmarks.md. Replayed steps make few objects.
alt_node=${TRAINER_ALT_NODE_FLAGS-}
if [ -n "$alt_node" ] && [ "$(left 200)" != 0 ]; then
  echo "== the engine's trainer with node $alt_node" >&2
  # shellcheck disable=SC2086
  timeout "$(left 200)" node $alt_node .device/trainer-bench.mjs --sizes "${sizes// /,}" --batch "$batch" --width "$width" \
    --steps "${TRAINER_STEPS:-30}" --warmup "${TRAINER_WARMUP:-10}" --run node-flags \
    > "$out/trainer-node-flags.log" 2> "$out/trainer-node-flags.err"
  echo "   exit $?" >&2
  grep '^{' "$out/trainer-node-flags.log" >> "$results"
fi

for size in $sizes; do
  [ -z "$variants" ] && break # VARIANTS='' runs none
  # One profiled step at the first size (PROFILE=all: at every size): it says which kernel to work on next.
  profile=""
  { [ "$size" = "$first" ] || [ "${PROFILE:-first}" = all ]; } && profile="--profile"
  bench 190 "$size" --resolution "$size" --variants "$variants" $profile
done
if [ "${QUEUE_STEP:-1}" = 1 ]; then
  # The CPU's share alone: queueing the trainer's step with queue.submit stubbed (the GEMMs untuned: compiling
  # every candidate again would cost a minute, and the plans change a handful of dispatches).
  echo "== CPU time to queue one step of the trainer, the GPU taken out (queue-step-bench)" >&2
  for size in $sizes; do
    [ "$(left 90)" = 0 ] && { echo "   $size px: skipped, out of time" >&2; continue; }
    FACEGAN_GEMM_AUTOTUNE=0 timeout "$(left 90)" node .device/queue-step-bench.mjs --resolution "$size" --width "$width" --batch "$batch" --steps 12 \
      > "$out/queue-$size.log" 2> "$out/queue-$size.err"
    echo "   $size px: exit $? $(grep '^{' "$out/queue-$size.log")" >&2
  done
fi

if [ -n "$alt_dawn" ]; then
  for size in $sizes; do
    FACEGAN_DAWN_FLAGS="$alt_dawn" bench 80 "$size-dawn-flags" --resolution "$size" --variants project
  done
fi
if [ -n "$alt_submit" ]; then
  bench 80 "$first-submit$alt_submit" --resolution "$first" --variants project --submit-batch "$alt_submit"
fi

python3 - "$results" "$first" <<'PY' | tee "$out/summary.txt"
import json, sys
rows = [json.loads(line) for line in open(sys.argv[1]) if line.strip()]
first = int(sys.argv[2])
torch = {r['size']: r['imgPerSec'] for r in rows if r['impl'] == 'torch-fp32'}
base = {r['size']: r['msPerStep'] for r in rows if r['impl'] == 'tfjs-webgpu-v2-large' and r.get('submitBatch', 15) == 15}
device = next((r['device'] for r in rows if r['impl'].startswith('torch')), '?')
print(f"\ncard: {device}; batch {rows[0]['batch'] if rows else '?'}, width {rows[0]['width'] if rows else '?'}")
print("ms/step, img/s and 'vs torch fp32': the median step; 'mean': all timed steps over their count (throughput, as torch_dcgan.py times)")
print(f"{'impl':<34}{'submit':>7}{'size':>5}{'ms/step':>10}{'mean':>8}{'synced':>10}{'queue':>8}{'img/s':>10}{'disp/step':>10}{'vs v2-large':>12}{'vs torch fp32':>15}{'mean vs torch':>15}  losses d/g (same seeds and data: equal to ~4 decimals)")
for r in sorted(rows, key=lambda r: (r['size'], r['impl'], r.get('submitBatch', 0))):
    ratio = r['imgPerSec'] / torch[r['size']] if r['size'] in torch else float('nan')
    vs_base = f"{base[r['size']] / r['msPerStep']:.2f}x" if r['size'] in base else ''
    submit = str(r.get('submitBatch', ''))
    # the trainer's lines: how many timed steps were replayed without tfjs (step-replay.ts)
    dispatches = str(r.get('dispatchesPerStep', '')) if 'replayedSteps' not in r else f"{r['replayedSteps']}/{r['steps']} rep"
    synced = f"{r['msPerStepSynced']:.1f}" if 'msPerStepSynced' in r else ''
    queue = f"{r['msQueuePerStep']:.1f}" if r.get('msQueuePerStep') is not None else ''
    losses = f"{r['dLoss']}/{r['gLoss']}" if 'dLoss' in r else ''
    mean = f"{r['msPerStepMean']:.1f}" if 'msPerStepMean' in r else ''
    mean_ratio = f"{r['imgPerSecMean'] / torch[r['size']]:.3f}x" if 'imgPerSecMean' in r and r['size'] in torch else ''
    print(f"{r['impl']:<34}{submit:>7}{r['size']:>5}{r['msPerStep']:>10.1f}{mean:>8}{synced:>10}{queue:>8}{r['imgPerSec']:>10.1f}{dispatches:>10}{vs_base:>12}{ratio:>14.3f}x{mean_ratio:>15}  {losses}")

for r in rows:
    b = r.get('gpuBreakdown')
    if not b:
        continue
    print(f"\n{r['impl']} at {r['size']} px: the replayed step's dispatches alone, {b['repeats']} steps back to back: "
          f"{b['msPerStep']:.2f} ms a step (its ms/step above: {r['msPerStep']:.2f}); by program, longest alone first")
    print(f"{'program':<36}{'dispatches':>11}{'alone ms':>10}{'left out: step ms':>19}")
    for g in b['groups'][:24]:
        without = f"{g['withoutMs']:.2f}" if g.get('withoutMs') is not None else ''
        print(f"{g['label']:<36}{g['dispatches']:>11}{g['aloneMs']:>10.3f}{without:>19}")
    if b.get('longestDispatches'):
        print(f"each dispatch alone ({b['repeats']} times in a submit, less an empty submit's time): {b['sumOfDispatchesMs']:.2f} ms in all; the longest")
        print(f"{'#':>5}  {'program':<36}{'workgroups':>18}{'ms':>9}")
        for d in b['longestDispatches']:
            print(f"{d['index']:>5}  {d['label']:<36}{'x'.join(map(str, d['workgroups'])):>18}{d['ms']:>9.3f}")

profiled = [r for r in rows if r['size'] == first and r.get('topKernels')]
if profiled:
    print(f"\none profiled step at {first} px: GPU ms (calls) per kernel; · = not in that variant's top 16")
    names = []
    for r in profiled:
        for k in r['topKernels']:
            if k['name'] not in names:
                names.append(k['name'])
    header = ''.join(f"{r['impl'].replace('tfjs-webgpu-', ''):>22}" for r in profiled)
    print(f"{'kernel':<28}{header}")
    for name in names:
        cells = ''
        for r in profiled:
            k = next((k for k in r['topKernels'] if k['name'] == name), None)
            cells += f"{(str(k['ms']) + ' (' + str(k['calls']) + ')') if k else '·':>22}"
        print(f"{name:<28}{cells}")
    totals = ''.join(f"{(str(r['profile']['kernelMs']) + ' ms'):>22}" for r in profiled)
    calls = ''.join(f"{(str(r['profile']['kernelCalls']) + ' / ' + str(r['profile']['dispatches'])):>22}" for r in profiled)
    print(f"{'all kernels: GPU time':<28}{totals}")
    print(f"{'kernel calls / dispatches':<28}{calls}")
PY
# The device tool brings back at most 8 files: the logs go back as one archive.
(cd "$out" && tar czf logs.tgz ./*.log ./*.err && rm -f ./*.log ./*.err)
