#!/usr/bin/env bash
# Session 18, H100 (then H200): the engine's 15 keys of the shipped (re-stamped) file of the GPU ranked again by
# whole decode steps on the new code (`tune-steps`: the 12 fastest candidates alone of each key,
# 3 interleaved rounds). The candidates come from the file's kernel-alone times, which are the
# old code's; the step times are the new code's.
set -u
export LD_LIBRARY_PATH=/usr/local/cuda/lib64:$LD_LIBRARY_PATH VECINFER_CACHE_DIR=/tmp/vc
R=/tmp/r; mkdir -p $R; xz -dc .carry/s18b/vi.xz > $R/vi; chmod +x $R/vi
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader
N=nvidia-h100-80gb-hbm3.json; nvidia-smi -L | grep -q H200 && N=nvidia-h200.json
F=$R/$N; cp tuned-configs/$N $F
start=$(date +%s)
timeout 420 $R/vi tune-steps --file $F --top 12 --rounds 3 > $OUT/tune-steps.txt 2> $OUT/tune-steps.err; echo "tune-steps rc $? in $(( $(date +%s) - start )) s"
grep -E "winner|skip" $OUT/tune-steps.txt $OUT/tune-steps.err | sed 's/d64_g3_kd4b8_vd4b8_layer_smooth_hadamard_//g' | cut -c1-200
gzip -c $F > $OUT/$N.gz
