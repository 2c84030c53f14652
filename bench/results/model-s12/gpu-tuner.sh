#!/usr/bin/env bash
# Session 12: the tuner's GPU tests, with the new `tune_steps_ranks_an_engine_key_and_leaves_the_rest_of_the_file`
# (tune-steps on one engine key of a copy of this GPU's shipped file: only that key changes,
# the file passes its checks, the winner is the ranking's first). The test reads the shipped
# file through its build path (/work/main/tests/../tuned-configs): linked to this tree's.
set -u
export LD_LIBRARY_PATH=/usr/local/cuda/lib64:$LD_LIBRARY_PATH VECINFER_CACHE_DIR=/tmp/vc
xz -dc .carry/s12/gpu_tuner.xz > /tmp/gpu_tuner && chmod +x /tmp/gpu_tuner
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader
if [ ! -e /work/main/tuned-configs ]; then mkdir -p /work/main/tests && ln -s "$PWD/tuned-configs" /work/main/tuned-configs; fi
VECINFER_REQUIRE_GPU=1 timeout 250 /tmp/gpu_tuner --include-ignored --test-threads 1 --nocapture > $OUT/gpu-tuner.log 2>&1; echo "gpu_tuner rc $?"
grep -E "^test |test result|panicked" $OUT/gpu-tuner.log | cut -c1-200
grep -E "winner|^d64" $OUT/gpu-tuner.log | cut -c1-160
