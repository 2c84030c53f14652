#!/usr/bin/env bash
# Session 30, H200: the split merge done online (each part's running max; no block-wide max
# before the value loads). GPU tests on it, then interleaved rounds of three builds:
# s28 = 180008a (session 28: the fp16 tokens on split 0), cur = main (fp16_split), merge = main
# with the online merge; and the merge kernel alone under Nsight Compute.
# Carry .carry/s30b (the three builds, the test binaries, the re-stamped H200 file).
set -u
export LD_LIBRARY_PATH=/usr/local/cuda/lib64:${LD_LIBRARY_PATH:-} VECINFER_CACHE_DIR=/tmp/vc PATH=/usr/local/cuda/bin:$PATH
R=/tmp/r; mkdir -p $R /work/main/tuned-configs
xz -dc .carry/s30b/nvidia-h200.json.xz > /work/main/tuned-configs/nvidia-h200.json
for b in gpu_attention gpu_paged gpu_tuner vi-merge vi-cur vi-s28; do xz -dc .carry/s30b/$b.xz > $R/$b; done; chmod +x $R/*
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader
for t in gpu_attention gpu_paged gpu_tuner; do
  s=$(date +%s)
  VECINFER_REQUIRE_GPU=1 timeout 200 $R/$t --include-ignored --test-threads 1 > $OUT/$t.log 2>&1
  echo "$t rc $? $(( $(date +%s) - s )) s: $(grep -E '^test result' $OUT/$t.log)"
  grep -E "FAILED|panicked" $OUT/$t.log | head -5
done
timeout 120 $R/vi-merge gpu-check > $OUT/check.txt 2>&1; echo "gpu-check rc $?: $(grep -cE '^PASS' $OUT/check.txt) PASS"; grep -E "^FAIL" $OUT/check.txt | cut -c1-200
SMOL="--heads 9 --kv-heads 3 --head-dim 64 --codecs d4b8/d4b8 --runs 50"
LL="--codecs d4b8/d4b8 --runs 50"
for round in 1 2 3; do for v in s28 cur merge; do
  s=$(date +%s)
  timeout 150 $R/vi-$v bench $SMOL --shapes 1x2048,1x32768,8x32768,4x131072 --layouts paged64 > $OUT/smolpg-$v-$round.txt 2>&1
  timeout 150 $R/vi-$v bench $LL --shapes 1x2048,1x8192,1x32768,1x131072,8x32768,64x8192 > $OUT/llama-$v-$round.txt 2>&1
  timeout 100 $R/vi-$v bench $LL --shapes 1x32768,8x32768 --tile 512 --warps 4 --min-blocks 0 > $OUT/t512-$v-$round.txt 2>&1
  echo "round $round $v ($(( $(date +%s) - s )) s):"; for f in smolpg llama t512; do echo "$f $(grep -hE "FAIL|rror" $OUT/$f-$v-$round.txt | head -2) $(grep -hoE "rel err [0-9.e-]+" $OUT/$f-$v-$round.txt | head -1) $(grep -hE "^  [0-9]+x[0-9]+: " $OUT/$f-$v-$round.txt | awk '{printf "%s %s  ", $1, $2}')"; done
done; done
for v in cur merge; do for shape in 1x32768 8x32768; do
  ncu -k regex:vq_merge --launch-skip 8 --launch-count 4 --metrics gpu__time_duration.sum \
    $R/vi-$v bench --shapes $shape --codecs d4b8/d4b8 --runs 5 > $OUT/ncu-$v-$shape.txt 2>&1
  echo "ncu $v $shape: $(grep -E "gpu__time_duration" $OUT/ncu-$v-$shape.txt | awk '{print $NF}' | tr '\n' ' ')"
done; done
cd $OUT && tar czf merge.tgz *.txt *.log && rm -f *.txt *.log
