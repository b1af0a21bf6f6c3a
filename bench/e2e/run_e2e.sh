#!/usr/bin/env bash
# End-to-end table: ctt's bench_e2e_<name> (every weight type) and llama.cpp's llama-bench (f32
# and f16) on the same random weights, at 1 and 2 threads, pp512 and tg128, medians of REPS
# runs, in one run; then ctt's reduced-precision accuracy against f32 over the 512-token prompt.
# MODELS and THREADS (space-separated) narrow the run. Every weight type runs --packed (the
# f32 checkpoint converted at load); the f32 checkpoint, and <model>-bf16/ or <model>-f16/
# where <checkpoints dir> holds them (ctt-random-checkpoint --dtype ...), also run --in-place
# (zero-copy: the projections read where they lie in the mapped file).
#
#   bench/e2e/run_e2e.sh <ctt build dir> <llama.cpp build dir> <checkpoints dir> [out.jsonl]
#
# <checkpoints dir> holds llama-160m/ and llama-1.1b/ (ctt-random-checkpoint --preset ...) and
# llama-160m-f32.gguf, llama-160m-f16.gguf, ... (bench/peers/safetensors_to_gguf.py). The ctt
# build needs -DCTT_BENCH_CHECKPOINTS="<dir>/llama-160m;<dir>/llama-1.1b". Each line of the
# output is one JSON object (ctt's and llama-bench's own fields).
set -euo pipefail
ctt_build=$1
llama_build=$2
ckpt=$3
out=${4:-e2e.jsonl}
reps=${REPS:-3}
: > "$out"
for model in ${MODELS:-llama-160m llama-1.1b}; do
  id=${model//[-.]/_}
  for threads in ${THREADS:-1 2}; do
    for weights in f32 bf16 f16 int8; do
      "$ctt_build/bench/bench_e2e_$id" -t "$threads" -p 512 -n 128 -r "$reps" --weights "$weights" \
        --packed --json >> "$out"
    done
    for weights in f32 bf16 f16; do
      dir="$ckpt/$model"
      [ "$weights" = f32 ] || dir="$ckpt/$model-$weights"
      [ -d "$dir" ] || continue
      "$ctt_build/bench/bench_e2e_$id" --checkpoint "$dir" -t "$threads" -p 512 -n 128 \
        -r "$reps" --weights "$weights" --in-place --json >> "$out"
    done
    for kind in f32 f16; do
      "$llama_build/bin/llama-bench" -m "$ckpt/$model-$kind.gguf" -t "$threads" -p 512 -n 128 \
        -r "$reps" -o jsonl | sed "s/^{/{\"peer\": \"llama.cpp\", \"weights\": \"$kind\", \"model_dir\": \"$model\", /" >> "$out"
    done
  done
  for weights in bf16 f16 int8; do
    "$ctt_build/bench/bench_e2e_$id" --accuracy -p 512 --weights "$weights" --json >> "$out"
  done
done
echo "wrote $out"
