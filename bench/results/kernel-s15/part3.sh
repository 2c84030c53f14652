#!/usr/bin/env bash
# Session 15, part 3 (same warm machine): whatever of part 2 was cut short, the engine keys
# ranked by whole decode steps (tune-steps), then decode-bench with the new file (the FP16
# cache's tiling chosen by steps) and, on the H100, HF transformers in the same command.
source bench/results/kernel-s15/common.sh
[ -f $F ] || { echo "no $F: earlier parts did not run on this machine"; exit 1; }
timeout ${ENGINE_REST_LIMIT:-100} $R/vi tune --shapes $ENGINE_SHAPES --codecs d4b8/d4b8 --heads 9 --kv-heads 3 --head-dim 64 \
  --layouts paged64 --strategy exhaustive --runs 40 --file $F > $OUT/tune-engine-rest.log 2>&1; echo "engine rest rc $?"
start=$(date +%s)
timeout 200 $R/vi tune-steps --file $F --top 12 --rounds 3 > $OUT/tune-steps.txt 2> $OUT/tune-steps.err; echo "tune-steps rc $? in $(( $(date +%s) - start )) s"
grep -E "winner|skip" $OUT/tune-steps.txt $OUT/tune-steps.err | sed 's/d64_g3_kd4b8_vd4b8_layer_smooth_hadamard_//g' | cut -c1-200
gzip -c $F > $OUT/final.json.gz
[ "${SKIP_DECODE:-0}" = 1 ] && exit 0
export VECINFER_TUNED_CONFIGS=$F
timeout 200 $R/vi decode-bench --random-weights --caches fp16,d4b8/d4b8 --batches 1,4 --contexts 8192,131072 --largest-at= --steps 30 \
  --tune-fp16 steps --json $OUT/decode-bench.json > $OUT/decode-bench.txt 2>&1; echo "decode-bench rc $?"
grep -E "^(fp16|vecinfer).* x " $OUT/decode-bench.txt | cut -c1-170
