#!/usr/bin/env bash
# Session 17, H100: the GPU tests and gpu-check on the session's final binaries (after the review
# fixes of the streamed search, and the new test of exact distance ties), and the tie test on a
# mutant whose streamed search keeps the last of equal distances (`<=`): it must fail. Run
# again (final2-h100/) after the warp reduction became one helper, without the mutant.
set -u
export LD_LIBRARY_PATH=/usr/local/cuda/lib64:$LD_LIBRARY_PATH VECINFER_CACHE_DIR=/tmp/vc
R=/tmp/r; mkdir -p $R
for b in vi gpu_attention gpu_paged gpu_append gpu_tuner $( [ -f .carry/s17/gpu_append_mutant.xz ] && echo gpu_append_mutant); do xz -dc .carry/s17/$b.xz > $R/$b; done; chmod +x $R/*
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader
for t in gpu_append gpu_paged gpu_attention gpu_tuner; do
  VECINFER_REQUIRE_GPU=1 timeout 200 $R/$t --include-ignored --test-threads 1 > $OUT/$t.log 2>&1; echo "$t rc $?: $(grep -E '^test result' $OUT/$t.log)"
done
if [ -x $R/gpu_append_mutant ]; then  # carried only for the first run (final-h100/)
  VECINFER_REQUIRE_GPU=1 timeout 100 $R/gpu_append_mutant --include-ignored --test-threads 1 exact_distance_ties > $OUT/mutant.log 2>&1
  echo "mutant (must fail) rc $?: $(grep -E '^test result' $OUT/mutant.log)"; grep -m1 -A2 "panicked" $OUT/mutant.log | cut -c1-300
fi
timeout 120 $R/vi gpu-check > $OUT/check.txt 2>&1; echo "gpu-check rc $?: $(grep -cE '^PASS' $OUT/check.txt) PASS"; grep -E "^FAIL" $OUT/check.txt | cut -c1-200
tar czf $OUT/final.tgz -C $OUT $(cd $OUT && ls *.log *.txt) && (cd $OUT && rm -f *.log *.txt)
