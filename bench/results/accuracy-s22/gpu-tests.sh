#!/usr/bin/env bash
# Session 22, H200, call 1: the GPU tests on the int8-window build (gpu_attention with the new
# int8_windows_match_the_cpu_reference, gpu_append with int8 windows in prefill_then_decode,
# gpu_paged, gpu_model's tiny model with an int8-window perplexity check), then main before
# the change (vi-old, 5ce079c) against it (vi, the int8-window build) on the fp16-window
# kernels, 2 interleaved rounds. Also leaves model part aa in /root/s22 for the eval calls.
# Binaries in .carry/s22 (vi, vi-old, the test binaries), the model's xz parts in .carry/s22m.
set -u
export LD_LIBRARY_PATH=/usr/local/cuda/lib64:$LD_LIBRARY_PATH VECINFER_CACHE_DIR=/tmp/vc
R=/root/s22; mkdir -p $R; cp .carry/s22m/part-* $R/ 2>/dev/null
for b in vi vi-old gpu_attention gpu_append gpu_paged gpu_model; do xz -dc .carry/s22/$b.xz > $R/$b; done; chmod +x $R/*
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader
for t in gpu_attention gpu_append gpu_paged; do
  VECINFER_REQUIRE_GPU=1 timeout 240 $R/$t --include-ignored --test-threads 1 > $OUT/$t.log 2>&1; echo "$t rc $?: $(grep -E '^test result' $OUT/$t.log)"
done
grep -E "win8" $OUT/gpu_attention.log | awk '{print $NF}' | sort -g | tail -1 | sed 's/^/int8 worst rel err /'
VECINFER_REQUIRE_GPU=1 timeout 200 $R/gpu_model --ignored tiny --test-threads 1 > $OUT/gpu_model.log 2>&1; echo "gpu_model tiny rc $?: $(grep -E '^test result' $OUT/gpu_model.log)"; grep -E "int8" $OUT/gpu_model.log | cut -c1-260
SMOL="--heads 9 --kv-heads 3 --head-dim 64 --codecs d4b8/d4b8 --runs 50"
for round in 1 2; do for v in old new; do
  b=$R/vi; [ $v = old ] && b=$R/vi-old
  timeout 90 $b bench $SMOL --shapes 1x32768,8x32768,64x8192,256x2048 > $OUT/smol-$v-$round.txt 2>&1
  timeout 90 $b bench --codecs d4b8/d4b8 --shapes 1x131072,8x32768,64x8192 --runs 50 > $OUT/llama-$v-$round.txt 2>&1
  echo "round $round $v:"; for f in smol llama; do echo "$f $(grep -hE "FAIL|rror" $OUT/$f-$v-$round.txt | head -2) $(grep -hoE "rel err [0-9.e-]+" $OUT/$f-$v-$round.txt | head -1) $(grep -hE "^  [0-9]+x[0-9]+: " $OUT/$f-$v-$round.txt | awk '{printf "%s %s  ", $1, $2}')"; done
done; done
tar czf $OUT/tests.tgz -C $OUT $(cd $OUT && ls *.txt *.log) && (cd $OUT && rm -f *.txt *.log)
