#!/usr/bin/env bash
# Session 19, after the review (review.md): barrier.sync for team barriers, redux volatile, more
# tests (head dim 256 with 8-dim books in registers, partial blocks of 2-warp teams, the tie test
# at every team size). GPU tests and gpu-check; synccheck and memcheck over the append.
set -u
export LD_LIBRARY_PATH=/usr/local/cuda/lib64:$LD_LIBRARY_PATH VECINFER_CACHE_DIR=/tmp/vc
R=/tmp/r; mkdir -p $R; C=.carry/s19
xz -dc $C/vi.xz > $R/vi-new; for b in gpu_append gpu_paged gpu_tuner; do xz -dc $C/$b.xz > $R/$b; done; chmod +x $R/*
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader
for t in gpu_append gpu_paged gpu_tuner; do
  VECINFER_REQUIRE_GPU=1 timeout 200 $R/$t --include-ignored --test-threads 1 > $OUT/$t.log 2>&1; echo "$t rc $?: $(grep -E '^test result' $OUT/$t.log)"
  grep -E "FAILED|panicked" $OUT/$t.log | head -5 | cut -c1-300
done
timeout 100 $R/vi-new gpu-check > $OUT/check.txt 2>&1; echo "gpu-check rc $?: $(grep -cE '^PASS' $OUT/check.txt) PASS"; grep -E "^FAIL" $OUT/check.txt | cut -c1-200
for w in 4 2 1; do
  timeout 90 compute-sanitizer --tool synccheck --print-limit 20 $R/vi-new bench --codecs d4b8/d4b8 --shapes 3x2048 --runs 2 --append-warps $w > $OUT/synccheck-w$w.txt 2>&1
  echo "synccheck w$w rc $?: $(grep -E 'ERROR SUMMARY' $OUT/synccheck-w$w.txt | tr '\n' ' ')"
done
timeout 90 compute-sanitizer --tool synccheck --print-limit 20 $R/vi-new bench --heads 12 --kv-heads 3 --head-dim 64 --codecs d4b8/d4b8 --shapes 5x2048 --runs 2 --append-warps 2 > $OUT/synccheck-partial.txt 2>&1
echo "synccheck partial w2 rc $?: $(grep -E 'ERROR SUMMARY' $OUT/synccheck-partial.txt | tr '\n' ' ')"
tar czf $OUT/logs.tgz -C $OUT $(cd $OUT && ls *.log *.txt) && (cd $OUT && rm -f *.log *.txt)
